"""Tests for treemtl_plugin.layout: canonical form, validation, cuts, branch points, JSON, drawing.

Ground truth for the combinatorics is the independent slow oracle in tests/oracle.py (layouts
there are tuples over blocks of frozensets of frozensets of task *indices*).
"""
from __future__ import annotations

import json
import os
import random
import sys
from collections import deque
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treemtl_plugin.core.layout import Layout, as_layout
from treemtl_plugin.errors import LayoutError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

NAMES = ('seg', 'depth', 'normal', 'edge', 'key')
HYP = settings(max_examples=60, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ helpers

def to_oracle(layout: Layout, tasks=None) -> tuple:
    """Layout -> the oracle's canonical form over task indices of ``tasks``."""
    tasks = layout.tasks if tasks is None else tasks
    index = {t: k for k, t in enumerate(tasks)}
    return tuple(frozenset(frozenset(index[t] for t in s) for s in layout.task_sets(b))
                 for b in range(layout.num_blocks))


def from_oracle(olayout, names) -> Layout:
    num_tasks = sum(len(s) for s in olayout[0])
    return Layout([[[names[i] for i in sorted(s)] for s in sorted(block, key=min)]
                   for block in olayout], tasks=names[:num_tasks])


@lru_cache(maxsize=None)
def oracle_space(num_tasks: int, num_blocks: int) -> tuple:
    return tuple(sorted(oracle.brute_force_layouts_by_partitions(num_tasks, num_blocks),
                        key=oracle.layout_sort_key))


def shuffled_copy(olayout, names, rng: random.Random) -> list:
    """The list form of ``olayout`` with sets, and names inside sets, in random order."""
    out = []
    for block in olayout:
        sets = [[names[i] for i in s] for s in block]
        for s in sets:
            rng.shuffle(s)
        rng.shuffle(sets)
        out.append(sets)
    return out


SMALL_SPACES = [(t, b) for t in range(1, 5) for b in range(1, 5)]


@st.composite
def oracle_layouts(draw, max_tasks=4, max_blocks=4):
    """(T, B, oracle layout) drawn uniformly from the oracle's design space."""
    num_tasks = draw(st.integers(1, max_tasks))
    num_blocks = draw(st.integers(1, max_blocks))
    olayout = draw(st.sampled_from(oracle_space(num_tasks, num_blocks)))
    return num_tasks, num_blocks, olayout


# ------------------------------------------------------------------ canonical form

def test_equal_and_hash_regardless_of_set_and_task_order():
    a = Layout([[['seg', 'depth', 'normal']], [['seg', 'normal'], ['depth']],
                [['seg'], ['normal'], ['depth']]])
    b = Layout([[['normal', 'depth', 'seg']], [['depth'], ['normal', 'seg']],
                [['depth'], ['normal'], ['seg']]])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    # display order follows first appearance unless given; equality ignores it
    assert a.tasks == ('seg', 'depth', 'normal')
    assert b.tasks == ('normal', 'depth', 'seg')
    c = a.with_tasks(['depth', 'seg', 'normal'])
    assert c == a and hash(c) == hash(a)
    assert c.tasks == ('depth', 'seg', 'normal')
    assert c.task_sets(1) == [('depth',), ('seg', 'normal')]
    # a different tree is different
    d = Layout([[['seg', 'depth', 'normal']], [['seg', 'depth'], ['normal']],
                [['seg'], ['normal'], ['depth']]])
    assert d != a
    assert a != a.to_list()  # not equal to its plain list form


def test_task_sets_and_blocks_follow_display_order():
    layout = Layout([[['c'], ['a', 'b']], [['c'], ['b'], ['a']]], tasks=['a', 'b', 'c'])
    assert layout.task_sets(0) == [('a', 'b'), ('c',)]
    assert layout.blocks == [[('a', 'b'), ('c',)], [('a',), ('b',), ('c',)]]
    assert layout.num_tasks == 3 and layout.num_blocks == 2
    assert repr(layout) == "Layout([[['a', 'b'], ['c']], [['a'], ['b'], ['c']]])"


@HYP
@given(oracle_layouts(), st.randoms(use_true_random=False))
def test_property_canonical_whatever_the_input_order(drawn, rng):
    num_tasks, num_blocks, olayout = drawn
    names = list(NAMES[:num_tasks])
    first = Layout(shuffled_copy(olayout, names, rng))
    second = Layout(shuffled_copy(olayout, names, rng))
    order = names[:]
    rng.shuffle(order)
    third = Layout(shuffled_copy(olayout, names, rng), tasks=order)
    assert first == second == third
    assert hash(first) == hash(second) == hash(third)
    assert third.tasks == tuple(order)
    assert to_oracle(first, names) == olayout
    assert to_oracle(third, names) == olayout


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize('blocks, pattern', [
    # a block that is not a partition: task 'c' missing from block 1
    ([[['a', 'b', 'c']], [['a', 'b']]],
     r"block 1 does not hold the same tasks as block 0 \(missing \['c'\], extra \[\]\)"),
    # a task in block 1 that is not in block 0
    ([[['a', 'b']], [['a'], ['b'], ['z']]],
     r"block 1 does not hold the same tasks as block 0 \(missing \[\], extra \['z'\]\)"),
    # overlap: 'b' in two sets of one block
    ([[['a', 'b'], ['b', 'c']]],
     r"block 0: task\(s\) \['b'\] appear in more than one task set"),
    # a task repeated inside one set
    ([[['a', 'a', 'b']]], r"block 0: task set \['a', 'a', 'b'\] repeats a task"),
    # re-joining tasks after a split
    ([[['a'], ['b', 'c']], [['a', 'b'], ['c']]],
     r"block 1: task set \['a', 'b'\] joins tasks that were separate in block 0"),
    ([[['a', 'b', 'c']], [['a'], ['b', 'c']], [['a', 'b', 'c']]],
     r"block 2: task set \['a', 'b', 'c'\] joins tasks that were separate in block 1; "
     r"once tasks branch apart they cannot share again"),
    # empty task set / empty block / empty layout
    ([[['a', 'b'], []]], r'block 0 has an empty task set'),
    ([[['a', 'b']], []], r'block 1 has no task sets'),
    ([], r'a layout is a non-empty list over blocks'),
    # empty and blank names
    ([[['a', '']]], r"task names must be non-empty strings, got ''"),
    ([[['a', '   ']]], r"task names must be non-empty strings, got '   '"),
    # bad types
    ([[['a', 3]]], r'task names must be non-empty strings, got 3'),
    ([[['a', None]]], r'task names must be non-empty strings, got None'),
    ('abc', r'a layout is a non-empty list over blocks'),
    (5, r'a layout is a non-empty list over blocks'),
    ({'a': 1}, r'a layout is a non-empty list over blocks'),
    (['ab'], r"block 0 must be a list of task sets, got 'ab'"),
    ([5], r'block 0 must be a list of task sets, got 5'),
    ([['ab', 'c']], r"block 0: a task set must be a list of task names, got the string 'ab' "
                    r"\(write \['ab'\]\)"),
    ([[1]], r'block 0: a task set must be a list of task names, got 1'),
])
def test_invalid_layouts_raise_layout_error(blocks, pattern):
    with pytest.raises(LayoutError, match=pattern):
        Layout(blocks)
    assert issubclass(LayoutError, ValueError)


def test_invalid_json_layouts():
    with pytest.raises(LayoutError, match='layout is not valid JSON'):
        Layout.from_json('[[["a"]')
    with pytest.raises(LayoutError, match='block 1 must be a list of task sets, got 3'):
        as_layout('[[["a"]], 3]')
    with pytest.raises(LayoutError, match='a task set must be a list of task names, got 1'):
        as_layout('[[1]]')
    with pytest.raises(LayoutError, match='a layout is a non-empty list over blocks'):
        as_layout('{"a": [["b"]]}')


def test_tasks_argument_must_match_layout():
    blocks = [[['a', 'b']], [['a'], ['b']]]
    with pytest.raises(LayoutError, match=r"tasks \['a', 'c'\] do not match the layout's "
                                          r"tasks \['a', 'b'\]"):
        Layout(blocks, tasks=['a', 'c'])
    with pytest.raises(LayoutError, match=r"tasks \['a', 'b', 'b'\] do not match"):
        Layout(blocks, tasks=['a', 'b', 'b'])
    with pytest.raises(LayoutError, match=r'tasks \[\'a\'\] do not match'):
        Layout(blocks, tasks=['a'])
    with pytest.raises(LayoutError, match='task names must be non-empty strings'):
        Layout(blocks, tasks=['a', ''])


# ------------------------------------------------------------------ all-shared / independent

@pytest.mark.parametrize('num_blocks', [1, 3, 5])
def test_all_shared_and_independent(num_blocks):
    tasks = ['seg', 'depth', 'normal', 'edge']
    shared = Layout.all_shared(tasks, num_blocks)
    indep = Layout.independent(tasks, num_blocks)
    assert shared.tasks == indep.tasks == tuple(tasks)
    assert shared.num_blocks == indep.num_blocks == num_blocks
    assert shared.blocks == [[tuple(tasks)]] * num_blocks
    assert indep.blocks == [[(t,) for t in tasks]] * num_blocks
    assert shared.sets_per_block().tolist() == [1] * num_blocks
    assert indep.sets_per_block().tolist() == [4] * num_blocks
    assert shared.branch_points().tolist() == [[num_blocks] * 4] * 4
    expected = np.where(np.eye(4, dtype=bool), num_blocks, 0)
    assert np.array_equal(indep.branch_points(), expected)
    assert to_oracle(shared) == oracle.all_shared_layout(4, num_blocks)
    assert shared != indep


@pytest.mark.parametrize('bad', [0, -1, 2.0, '3', None])
def test_all_shared_rejects_bad_num_blocks(bad):
    with pytest.raises(LayoutError, match='num_blocks must be a positive integer'):
        Layout.all_shared(['a', 'b'], bad)
    with pytest.raises(LayoutError, match='num_blocks must be a positive integer'):
        Layout.independent(['a', 'b'], bad)


def test_single_task_layout():
    layout = Layout.all_shared(['only'], 3)
    assert layout == Layout.independent(['only'], 3)
    assert layout.branch_points().tolist() == [[3]]
    assert layout.branch_point('only', 'only') == 3


# ------------------------------------------------------------------ cuts

def test_cut_splits_the_set_at_the_block_and_deeper():
    start = Layout.all_shared(['a', 'b', 'c'], 3)
    one = start.cut(1, ['a', 'b', 'c'], ['c'])
    assert one == Layout([[['a', 'b', 'c']], [['a', 'b'], ['c']], [['a', 'b'], ['c']]])
    assert one.tasks == ('a', 'b', 'c')
    two = one.cut(2, {'a', 'b'}, {'a'})
    assert two == Layout([[['a', 'b', 'c']], [['a', 'b'], ['c']], [['a'], ['b'], ['c']]])
    # cutting an earlier block intersects every deeper descendant with both parts
    three = two.cut(0, ('a', 'b', 'c'), ('a',))
    assert three == Layout([[['a'], ['b', 'c']], [['a'], ['b'], ['c']],
                            [['a'], ['b'], ['c']]])
    # the original layouts are untouched (immutability)
    assert start == Layout.all_shared(['a', 'b', 'c'], 3)
    # same as the oracle's cut
    assert to_oracle(three) == oracle.apply_cut(to_oracle(two), 0, {0, 1, 2}, {0})


def test_cut_errors():
    layout = Layout([[['a', 'b', 'c']], [['a', 'b'], ['c']]])
    with pytest.raises(LayoutError, match=r"\['a', 'c'\] is not a task set of block 1; its "
                                          r"sets are \[\('a', 'b'\), \('c',\)\]"):
        layout.cut(1, ['a', 'c'], ['a'])
    with pytest.raises(LayoutError, match=r"\['a', 'b'\] is not a task set of block 0"):
        layout.cut(0, ['a', 'b'], ['a'])
    with pytest.raises(LayoutError, match=r"cut part \['a', 'b'\] must be a non-empty proper "
                                          r"subset of \['a', 'b'\]"):
        layout.cut(1, ['a', 'b'], ['a', 'b'])
    with pytest.raises(LayoutError, match=r'cut part \[\] must be a non-empty proper subset'):
        layout.cut(1, ['a', 'b'], [])
    with pytest.raises(LayoutError, match=r"cut part \['c'\] must be a non-empty proper "
                                          r"subset of \['a', 'b'\]"):
        layout.cut(1, ['a', 'b'], ['c'])
    with pytest.raises(LayoutError, match=r'cut part .* must be a non-empty proper subset'):
        layout.cut(1, ['c'], ['c'])  # a singleton cannot be cut
    with pytest.raises(LayoutError, match=r'block 2 out of range 0\.\.1'):
        layout.cut(2, ['a'], ['a'])
    with pytest.raises(LayoutError, match=r'block -1 out of range 0\.\.1'):
        layout.cut(-1, ['a', 'b', 'c'], ['a'])


@pytest.mark.parametrize('num_tasks, num_blocks', [(1, 3), (2, 3), (3, 1), (3, 3), (4, 2),
                                                   (4, 3)])
def test_cuts_from_all_shared_reach_the_whole_space(num_tasks, num_blocks):
    """BFS with Layout.cut from the all-shared layout reaches exactly the oracle's space."""
    names = NAMES[:num_tasks]
    start = Layout.all_shared(names, num_blocks)
    seen = {start}
    queue = deque([start])
    while queue:
        layout = queue.popleft()
        for b in range(num_blocks):
            for task_set in layout.task_sets(b):
                first, rest = task_set[0], task_set[1:]
                for mask in range(2 ** len(rest) - 1):  # every unordered two-part split
                    part = [first] + [rest[k] for k in range(len(rest)) if mask >> k & 1]
                    new = layout.cut(b, task_set, part)
                    assert new.tasks == names
                    if new not in seen:
                        seen.add(new)
                        queue.append(new)
    reached = {to_oracle(layout) for layout in seen}
    assert len(reached) == len(seen)
    assert reached == set(oracle_space(num_tasks, num_blocks))


@st.composite
def cut_sequences(draw):
    num_tasks = draw(st.integers(2, 5))
    num_blocks = draw(st.integers(1, 5))
    cuts = draw(st.lists(st.tuples(st.integers(0, num_blocks - 1), st.integers(0, 10 ** 6),
                                   st.integers(0, 10 ** 6)), max_size=8))
    return num_tasks, num_blocks, cuts


@HYP
@given(cut_sequences())
def test_property_random_cuts_match_the_oracle(drawn):
    num_tasks, num_blocks, cuts = drawn
    names = NAMES[:num_tasks]
    layout = Layout.all_shared(names, num_blocks)
    olayout = oracle.all_shared_layout(num_tasks, num_blocks)
    for b, pick_set, pick_part in cuts:
        sets = [s for s in layout.task_sets(b) if len(s) > 1]
        if not sets:
            continue
        task_set = sets[pick_set % len(sets)]
        size = pick_part % (2 ** len(task_set) - 2) + 1  # non-empty proper subset mask
        part = [t for k, t in enumerate(task_set) if size >> k & 1]
        layout = layout.cut(b, task_set, part)
        index = {t: k for k, t in enumerate(names)}
        olayout = oracle.apply_cut(olayout, b, {index[t] for t in task_set},
                                   {index[t] for t in part})
        assert to_oracle(layout) == olayout
        assert oracle.is_valid_layout(olayout, num_tasks)
    # every layout reached by cuts survives the other representations
    assert Layout.from_branch_points(names, layout.branch_points(), num_blocks) == layout
    assert Layout.from_json(layout.to_json(), tasks=names) == layout


# ------------------------------------------------------------------ branch points

def test_branch_point_hand_example():
    # all share block 1; {seg, normal} | {depth} at blocks 2-3; all separate at block 4
    layout = Layout([[['seg', 'depth', 'normal']], [['seg', 'normal'], ['depth']],
                     [['seg', 'normal'], ['depth']], [['seg'], ['normal'], ['depth']]],
                    tasks=['seg', 'depth', 'normal'])
    assert layout.branch_point('seg', 'normal') == 3
    assert layout.branch_point('normal', 'seg') == 3
    assert layout.branch_point('seg', 'depth') == 1
    assert layout.branch_point('depth', 'normal') == 1
    assert layout.branch_point('depth', 'depth') == 4
    assert layout.branch_points().tolist() == [[4, 1, 3], [1, 4, 1], [3, 1, 4]]
    assert layout.branch_points().dtype == np.int64
    with pytest.raises(LayoutError, match=r"unknown task 'edge'; layout tasks are "
                                          r"\['seg', 'depth', 'normal'\]"):
        layout.branch_point('seg', 'edge')


@pytest.mark.parametrize('num_tasks, num_blocks', [(2, 3), (3, 3), (4, 2), (4, 3)])
def test_branch_points_match_oracle_on_whole_space(num_tasks, num_blocks):
    names = NAMES[:num_tasks]
    for olayout in oracle_space(num_tasks, num_blocks):
        layout = from_oracle(olayout, names)
        bp = layout.branch_points()
        expected = [[oracle.branch_point(olayout, i, j) for j in range(num_tasks)]
                    for i in range(num_tasks)]
        assert bp.tolist() == expected
        for i in range(num_tasks):
            for j in range(num_tasks):
                assert layout.branch_point(names[i], names[j]) == expected[i][j]


def test_branch_points_follow_display_order():
    layout = Layout([[['a', 'b', 'c']], [['a', 'b'], ['c']]], tasks=['c', 'a', 'b'])
    # rows/columns in order c, a, b
    assert layout.branch_points().tolist() == [[2, 1, 1], [1, 2, 2], [1, 2, 2]]


# ------------------------------------------------------------------ from_branch_points

@pytest.mark.parametrize('num_tasks, num_blocks', [(1, 2), (2, 4), (3, 3), (4, 3)])
def test_from_branch_points_round_trip_whole_space(num_tasks, num_blocks):
    names = NAMES[:num_tasks]
    for olayout in oracle_space(num_tasks, num_blocks):
        layout = from_oracle(olayout, names)
        again = Layout.from_branch_points(names, layout.branch_points(), num_blocks)
        assert again == layout
        assert again.tasks == names
        # the diagonal is ignored
        bp = layout.branch_points()
        np.fill_diagonal(bp, 0)
        assert Layout.from_branch_points(names, bp, num_blocks) == layout


def test_from_branch_points_rejects_non_tree_matrices():
    names = ['a', 'b', 'c']
    # a,b share 1 block and a,c share 1 block, but b,c share none: not ultrametric
    non_tree = [[2, 1, 1], [1, 2, 0], [1, 0, 2]]
    with pytest.raises(LayoutError, match=r'branch-point matrix is not a tree'):
        Layout.from_branch_points(names, non_tree, 2)
    # not symmetric
    with pytest.raises(LayoutError, match=r'branch-point matrix is not a tree'):
        Layout.from_branch_points(names, [[2, 2, 0], [1, 2, 0], [0, 0, 2]], 2)
    # more shared blocks than the backbone has
    with pytest.raises(LayoutError, match=r'branch-point matrix is not a tree'):
        Layout.from_branch_points(names, [[2, 3, 0], [3, 2, 0], [0, 0, 2]], 2)
    # a,b share 2, b,c share 1, a,c share 0: also not a tree (the greedy grouping
    # already overlaps here; either way it must be a LayoutError)
    with pytest.raises(LayoutError):
        Layout.from_branch_points(names, [[2, 2, 0], [2, 2, 1], [0, 1, 2]], 2)
    with pytest.raises(LayoutError, match=r'branch-point matrix must be 3x3, got shape '
                                          r'\(2, 2\)'):
        Layout.from_branch_points(names, [[2, 0], [0, 2]], 2)
    with pytest.raises(LayoutError, match='num_blocks must be a positive integer'):
        Layout.from_branch_points(names, np.zeros((3, 3)), 0)


# ------------------------------------------------------------------ JSON

def test_json_round_trip_design_md_format():
    # the exact JSON example of docs/advanced/method.md, "Layouts"
    text = '[[["depth","normal","seg"]], [["normal","seg"],["depth"]]]'
    layout = as_layout(text)
    assert layout.tasks == ('depth', 'normal', 'seg')
    assert layout.num_blocks == 2
    assert layout.branch_point('normal', 'seg') == 2
    assert layout.branch_point('depth', 'seg') == 1
    assert layout.to_list() == [[['depth', 'normal', 'seg']], [['depth'], ['normal', 'seg']]]
    assert json.loads(layout.to_json()) == layout.to_list()
    assert layout.to_json() == '[[["depth", "normal", "seg"]], [["depth"], ["normal", "seg"]]]'
    assert Layout.from_json(layout.to_json()) == layout
    assert as_layout(json.loads(text)) == layout
    assert Layout.from_list(json.loads(text)) == layout
    assert as_layout(layout) is layout
    with_order = as_layout(text, tasks=['seg', 'normal', 'depth'])
    assert with_order == layout and with_order.tasks == ('seg', 'normal', 'depth')
    assert with_order.to_list() == [[['seg', 'normal', 'depth']], [['seg', 'normal'],
                                                                    ['depth']]]
    reordered = as_layout(layout, tasks=['seg', 'normal', 'depth'])
    assert reordered == layout and reordered.tasks == ('seg', 'normal', 'depth')


@HYP
@given(oracle_layouts(max_tasks=5, max_blocks=3), st.randoms(use_true_random=False))
def test_property_json_round_trip(drawn, rng):
    num_tasks, num_blocks, olayout = drawn
    names = list(NAMES[:num_tasks])
    rng.shuffle(names)
    layout = Layout(shuffled_copy(olayout, list(NAMES), rng), tasks=names)
    data = json.loads(layout.to_json())
    assert data == layout.to_list()
    # list of blocks -> list of task sets -> list of names, sets in display order
    assert len(data) == num_blocks
    for b, block in enumerate(data):
        assert sorted(map(sorted, block)) == sorted(sorted(NAMES[i] for i in s)
                                                    for s in olayout[b])
        firsts = [names.index(s[0]) for s in block]
        assert firsts == sorted(firsts)
        for s in block:
            assert [names.index(t) for t in s] == sorted(names.index(t) for t in s)
    again = Layout.from_json(layout.to_json(), tasks=names)
    assert again == layout and again.tasks == layout.tasks
    assert as_layout(layout.to_list(), tasks=names).to_json() == layout.to_json()


# ------------------------------------------------------------------ drawing

def test_draw_three_tasks_exact():
    layout = Layout([[['normal', 'depth', 'seg']], [['depth'], ['normal', 'seg']],
                     [['seg', 'normal'], ['depth']], [['seg'], ['normal'], ['depth']]],
                    tasks=['seg', 'depth', 'normal'])
    assert layout.draw() == '\n'.join([
        'input',
        '└── block 1: seg, depth, normal',
        '    ├── blocks 2-3: seg, normal',
        '    │   ├── block 4: seg -> head',
        '    │   └── block 4: normal -> head',
        '    └── blocks 2-4: depth -> head',
    ])


def test_draw_forest_and_all_shared_exact():
    layout = Layout([[['c'], ['a', 'b']], [['c'], ['b'], ['a']]], tasks=['c', 'a', 'b'])
    assert layout.draw() == '\n'.join([
        'input',
        '├── blocks 1-2: c -> head',
        '└── block 1: a, b',
        '    ├── block 2: a -> head',
        '    └── block 2: b -> head',
    ])
    assert Layout.all_shared(['x', 'y'], 2).draw() == 'input\n└── blocks 1-2: x, y -> heads'
    assert Layout.independent(['x', 'y'], 1).draw() == '\n'.join([
        'input', '├── block 1: x -> head', '└── block 1: y -> head'])


@HYP
@given(oracle_layouts(max_tasks=4, max_blocks=4))
def test_property_draw_has_one_line_per_tree_node(drawn):
    num_tasks, num_blocks, olayout = drawn
    layout = from_oracle(olayout, NAMES)
    lines = layout.draw().split('\n')
    # nodes = distinct task sets over all blocks; each runs over consecutive blocks
    nodes = set().union(*olayout)
    assert lines[0] == 'input'
    assert len(lines) == 1 + len(nodes)
    assert sum(line.endswith(' -> head') or line.endswith(' -> heads')
               for line in lines) == len(olayout[-1])


# ------------------------------------------------------------------ sets per block

def test_sets_per_block_hand_example():
    layout = Layout([[['a', 'b', 'c', 'd']], [['a', 'b'], ['c', 'd']], [['a', 'b'], ['c'], ['d']],
                     [['a'], ['b'], ['c'], ['d']]])
    spb = layout.sets_per_block()
    assert spb.tolist() == [1, 2, 3, 4]
    assert spb.dtype == np.int64


@HYP
@given(oracle_layouts(max_tasks=4, max_blocks=5))
def test_property_sets_per_block_and_branch_points(drawn):
    num_tasks, num_blocks, olayout = drawn
    layout = from_oracle(olayout, NAMES)
    assert layout.sets_per_block().tolist() == [len(block) for block in olayout]
    expected = [[oracle.branch_point(olayout, i, j) for j in range(num_tasks)]
                for i in range(num_tasks)]
    assert layout.branch_points().tolist() == expected
    assert Layout.from_branch_points(layout.tasks, np.array(expected), num_blocks) == layout
