"""Tests for treemtl_plugin.design_space: counts, completeness, no duplicates, chunking.

Ground truth: the table of design-space sizes in docs/advanced/method.md ("Design space") and the
two
independent generators of tests/oracle.py (repeated layout cuts; chains of refining set
partitions).
"""
from __future__ import annotations

import os
import sys
import time
from functools import lru_cache

import numpy as np
import pytest

from treemtl_plugin.core.design_space import (
    chunk_to_layouts,
    count_layouts,
    enumerate_layouts,
    iter_layout_chunks,
    iter_layouts,
)
from treemtl_plugin.core.encoding import (
    DEFAULT_CHUNK_ROWS,
    LayoutChunk,
    matrix_to_row,
    pair_columns,
    pair_index,
)
from treemtl_plugin.core.layout import Layout
from treemtl_plugin.errors import LayoutError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

NAMES = ('seg', 'depth', 'normal', 'edge', 'key', 'curv', 'pose')

# docs/advanced/method.md, "Design space": sizes (complete, deduplicated)
DESIGN_SIZES = [(3, 5, 51), (4, 5, 561), (5, 5, 7_556), (6, 5, 120_196), (3, 17, 477),
                (7, 5, 2_201_856), (10, 5, 26_740_775_306)]


def to_oracle(layout: Layout, tasks) -> tuple:
    index = {t: k for k, t in enumerate(tasks)}
    return tuple(frozenset(frozenset(index[t] for t in s) for s in layout.task_sets(b))
                 for b in range(layout.num_blocks))


def all_rows(num_tasks, num_blocks, chunk_rows=DEFAULT_CHUNK_ROWS):
    chunks = list(iter_layout_chunks(num_tasks, num_blocks, chunk_rows))
    return (np.concatenate([c.branch_points for c in chunks]),
            np.concatenate([c.attach_depth for c in chunks]), chunks)


def full_matrices(rows: np.ndarray, num_tasks: int, num_blocks: int) -> np.ndarray:
    """(n, T, T) branch-point matrices from compact rows, built from pair_index directly."""
    full = np.full((len(rows), num_tasks, num_tasks), num_blocks, dtype=np.int64)
    for c, (j, i) in enumerate(pair_index(num_tasks)):
        full[:, i, j] = full[:, j, i] = rows[:, c]
    return full


@lru_cache(maxsize=None)
def enumerated(num_tasks, num_blocks):
    return enumerate_layouts(list(NAMES[:num_tasks]), num_blocks)


# ------------------------------------------------------------------ counts

@pytest.mark.parametrize('num_tasks, num_blocks, expected', DESIGN_SIZES)
def test_count_layouts_matches_design_md(num_tasks, num_blocks, expected):
    assert count_layouts(num_tasks, num_blocks) == expected
    assert isinstance(count_layouts(num_tasks, num_blocks), int)


def test_count_layouts_small_cases_by_hand():
    # one task: one layout; two tasks: they share the first b blocks, b = 0..B
    assert [count_layouts(1, b) for b in range(1, 6)] == [1] * 5
    assert [count_layouts(2, b) for b in range(1, 6)] == [2, 3, 4, 5, 6]
    # B = 1: the set partitions of T tasks (Bell numbers 1, 2, 5, 15, 52)
    assert [count_layouts(t, 1) for t in range(1, 6)] == [1, 2, 5, 15, 52]
    # T=3, B=2: P0 = {012} -> 5 choices of P1; P0 one of 3 two-set partitions -> 2 each;
    # P0 all singletons -> 1: 5 + 6 + 1 = 12
    assert count_layouts(3, 2) == 12
    assert count_layouts(0, 3) == 1 and count_layouts(3, 0) == 1


@pytest.mark.parametrize('num_tasks, num_blocks', [(t, b) for t in range(1, 5)
                                                   for b in range(1, 5)])
def test_count_layouts_matches_oracle(num_tasks, num_blocks):
    assert count_layouts(num_tasks, num_blocks) == \
        len(oracle.brute_force_layouts_by_partitions(num_tasks, num_blocks))


def test_count_layouts_rejects_negative():
    with pytest.raises(ValueError, match='num_tasks and num_blocks must be >= 0'):
        count_layouts(-1, 3)
    with pytest.raises(ValueError, match='num_tasks and num_blocks must be >= 0'):
        count_layouts(3, -2)


@pytest.mark.parametrize('num_tasks, num_blocks, expected', DESIGN_SIZES[:5])
def test_enumeration_sizes_match_design_md(num_tasks, num_blocks, expected):
    rows, depth, chunks = all_rows(num_tasks, num_blocks)
    assert len(rows) == expected == sum(len(c) for c in chunks)
    assert rows.shape == (expected, num_tasks * (num_tasks - 1) // 2)
    assert depth.shape == (expected, num_tasks)
    assert rows.dtype == np.uint8


def test_enumeration_size_seven_tasks():
    """T=7, B=5: 2,201,856 layouts, counted by streaming the chunks (no Python objects)."""
    start = time.perf_counter()
    total = 0
    for chunk in iter_layout_chunks(7, 5):
        assert len(chunk) <= DEFAULT_CHUNK_ROWS
        total += len(chunk)
    assert total == 2_201_856
    assert time.perf_counter() - start < 3.0


def test_enumerate_layouts_sizes():
    assert len(enumerate_layouts(3, 5)) == 51
    assert len(enumerate_layouts(['a', 'b', 'c'], 17)) == 477
    assert len(enumerated(4, 4)) == 315


# ------------------------------------------------------------------ completeness

@pytest.mark.parametrize('num_tasks, num_blocks', [(t, b) for t in range(1, 5)
                                                   for b in range(1, 5)])
def test_complete_and_duplicate_free_against_both_oracles(num_tasks, num_blocks):
    names = list(NAMES[:num_tasks])
    layouts = enumerated(num_tasks, num_blocks)
    assert all(layout.tasks == tuple(names) for layout in layouts)
    assert len(set(layouts)) == len(layouts)  # Layout equality/hash: no duplicates
    mine = [to_oracle(layout, names) for layout in layouts]
    assert len(set(mine)) == len(mine)
    assert all(oracle.is_valid_layout(layout, num_tasks) for layout in mine)
    assert set(mine) == oracle.brute_force_layouts_by_partitions(num_tasks, num_blocks)
    assert set(mine) == oracle.brute_force_layouts(num_tasks, num_blocks)


def test_t5_b3_complete_against_oracle():
    layouts = enumerated(5, 3)
    names = list(NAMES[:5])
    mine = {to_oracle(layout, names) for layout in layouts}
    assert len(mine) == len(layouts) == 1304
    assert mine == oracle.brute_force_layouts_by_partitions(5, 3)


def test_rows_match_layouts_and_oracle_branch_points():
    """Compact rows hold oracle branch points in pair_index order; attach depths are maxima."""
    names = list(NAMES[:4])
    rows, depth, chunks = all_rows(4, 4)
    layouts = [layout for chunk in chunks for layout in chunk_to_layouts(chunk, names, 4)]
    assert layouts == enumerated(4, 4)
    for row, dep, layout in zip(rows, depth, layouts):
        olayout = to_oracle(layout, names)
        assert row.tolist() == [oracle.branch_point(olayout, j, i) for j, i in pair_index(4)]
        assert dep.tolist() == [-1] + [max(oracle.branch_point(olayout, i, j) for j in range(i))
                                       for i in range(1, 4)]


@pytest.mark.parametrize('num_tasks, num_blocks', [(4, 4), (5, 3), (3, 7)])
def test_unvalidated_layouts_equal_validated_ones(num_tasks, num_blocks):
    """enumerate_layouts skips Layout's validation: the objects must be the validated ones."""
    for layout in enumerate_layouts(num_tasks, num_blocks):
        checked = Layout(layout.to_list(), tasks=layout.tasks)
        assert checked == layout and hash(checked) == hash(layout)
        assert checked.tasks == layout.tasks and checked.to_list() == layout.to_list()
        assert checked.short() == layout.short()
        np.testing.assert_array_equal(checked.branch_points(), layout.branch_points())
        assert Layout.from_branch_points(layout.tasks, layout.branch_points(),
                                         num_blocks) == layout


def test_no_duplicates_and_valid_trees_in_a_big_space():
    num_tasks, num_blocks = 6, 5
    rows, depth, _ = all_rows(num_tasks, num_blocks)
    assert len(rows) == 120_196
    assert len(np.unique(rows, axis=0)) == len(rows)
    full = full_matrices(rows, num_tasks, num_blocks).astype(np.uint8)
    # ultrametric (tree) condition: bp[i, j] >= min(bp[i, k], bp[k, j]) for all i, j, k;
    # lower[n, i, k, j] = min(bp[i, k], bp[k, j])
    lower = np.minimum(full[:, :, :, None], full[:, None, :, :])
    assert np.all(full[:, :, None, :] >= lower)
    assert rows.max() <= num_blocks
    # attach depth M[i] = max_{j<i} bp[i, j], M[0] = -1
    assert np.all(depth[:, 0] == -1)
    for i in range(1, num_tasks):
        assert np.array_equal(depth[:, i], full[:, i, :i].max(axis=1))


def test_many_blocks_beyond_int8():
    """B >= 128 (attach depths above 127) must still enumerate correctly."""
    num_blocks = 200
    rows, depth, chunks = all_rows(3, num_blocks)
    assert len(rows) == count_layouts(3, num_blocks) == 60_501
    assert len(np.unique(rows, axis=0)) == len(rows)
    full = full_matrices(rows, 3, num_blocks)
    for i in range(1, 3):
        assert np.array_equal(depth[:, i], full[:, i, :i].max(axis=1))
    spb = np.concatenate([c.sets_per_block(num_blocks) for c in chunks])
    assert spb[0].tolist() == [1] * num_blocks  # all shared first
    assert spb.min() >= 1 and spb.max() <= 3
    # spot-check against Layout objects
    names = ['a', 'b', 'c']
    for k in (0, 1, 137, 5000, len(rows) - 1):
        layout = Layout.from_branch_points(names, full[k], num_blocks)
        assert spb[k].tolist() == layout.sets_per_block().tolist()


# ------------------------------------------------------------------ chunking

def test_chunking_does_not_change_results():
    reference, ref_depth, _ = all_rows(5, 5)
    for chunk_rows in (1, 7, 21, 1000):
        rows, depth, chunks = all_rows(5, 5, chunk_rows)
        assert np.array_equal(rows, reference)
        assert np.array_equal(depth, ref_depth)
        assert len(chunks) > 1
    names = list(NAMES[:4])
    assert list(iter_layouts(names, 3, chunk_rows=5)) == list(iter_layouts(names, 3))


@pytest.mark.parametrize('num_tasks, num_blocks', [(4, 3), (5, 5), (6, 2)])
def test_chunks_are_bounded_when_limit_exceeds_children(num_tasks, num_blocks):
    # one layout has at most (B + 1) + (T - 2) * B children when the last task is attached
    # (task 0 offers depths 0..B, every other task depths 1..B at most)
    max_children = (num_blocks + 1) + (num_tasks - 2) * num_blocks
    total = count_layouts(num_tasks, num_blocks)
    for chunk_rows in (max_children, 2 * max_children + 3, 1000):
        sizes = [len(c) for c in iter_layout_chunks(num_tasks, num_blocks, chunk_rows)]
        assert sum(sizes) == total
        assert max(sizes) <= chunk_rows
        if total > chunk_rows:
            assert len(sizes) > 1


def test_single_task_space():
    chunks = list(iter_layout_chunks(1, 4))
    assert len(chunks) == 1 and len(chunks[0]) == 1
    assert chunks[0].branch_points.shape == (1, 0)
    assert chunks[0].sets_per_block(4).tolist() == [[1, 1, 1, 1]]
    assert enumerate_layouts(['solo'], 4) == [Layout.all_shared(['solo'], 4)]


# ------------------------------------------------------------------ names, order

def test_enumerate_layouts_with_a_count_names_tasks():
    layouts = enumerate_layouts(3, 2)
    assert len(layouts) == 12
    assert all(layout.tasks == ('task0', 'task1', 'task2') for layout in layouts)
    assert layouts[0] == Layout.all_shared(['task0', 'task1', 'task2'], 2)
    assert len(enumerate_layouts(np.int64(2), 2)) == 3


@pytest.mark.parametrize('num_tasks, num_blocks', [(2, 3), (3, 5), (4, 4), (5, 3)])
def test_all_shared_comes_first(num_tasks, num_blocks):
    names = list(NAMES[:num_tasks])
    first = next(iter_layouts(names, num_blocks))
    assert first == Layout.all_shared(names, num_blocks)
    chunk = next(iter_layout_chunks(num_tasks, num_blocks))
    assert chunk.branch_points[0].tolist() == [num_blocks] * (num_tasks * (num_tasks - 1) // 2)


@pytest.mark.parametrize('num_tasks, num_blocks', [(3, 5), (4, 4), (5, 3)])
def test_chunk_sets_per_block_equals_layout_sets_per_block(num_tasks, num_blocks):
    names = list(NAMES[:num_tasks])
    for chunk in iter_layout_chunks(num_tasks, num_blocks, chunk_rows=100):
        spb = chunk.sets_per_block(num_blocks)
        assert spb.shape == (len(chunk), num_blocks)
        layouts = chunk_to_layouts(chunk, names, num_blocks)
        expected = np.array([layout.sets_per_block() for layout in layouts])
        assert np.array_equal(spb, expected)


def test_layout_chunk_sets_per_block_by_hand():
    # attach depths: task 0 -1 (opens a set everywhere), task 1 at 2, task 2 at 0
    chunk = LayoutChunk(np.zeros((1, 3), dtype=np.uint8),
                        np.array([[-1, 2, 0]], dtype=np.int16))
    # |L[b]| = #{i : M[i] <= b}: b=0 -> {0, 2}; b=1 -> {0, 2}; b=2,3 -> {0, 1, 2}
    assert chunk.sets_per_block(4).tolist() == [[2, 2, 3, 3]]
    assert len(chunk) == 1


# ------------------------------------------------------------------ pair helpers

def test_pair_index_and_columns():
    assert pair_index(1) == []
    assert pair_index(4) == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    cols = pair_columns(4)
    assert cols.tolist() == [[-1, 0, 1, 3], [0, -1, 2, 4], [1, 2, -1, 5], [3, 4, 5, -1]]
    bp = np.array([[5, 3, 1, 0], [3, 5, 1, 0], [1, 1, 5, 0], [0, 0, 0, 5]])
    row = matrix_to_row(bp)
    assert row.dtype == np.uint8
    assert row.tolist() == [3, 1, 1, 0, 0, 0]
    layout = Layout.from_branch_points(['a', 'b', 'c', 'd'], bp, 5)
    assert matrix_to_row(layout.branch_points()).tolist() == row.tolist()


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize('num_tasks, num_blocks, pattern', [
    (0, 5, r'num_tasks must be a positive integer, got 0'),
    (-2, 5, r'num_tasks must be a positive integer, got -2'),
    (2.0, 5, r'num_tasks must be a positive integer, got 2\.0'),
    (3, 0, r'num_blocks must be a positive integer, got 0'),
    (3, -1, r'num_blocks must be a positive integer, got -1'),
    (3, 2.5, r'num_blocks must be a positive integer, got 2\.5'),
    (3, '5', r"num_blocks must be a positive integer, got '5'"),
    (3, 255, r'num_blocks=255 is too many branching points \(max 254\)'),
])
def test_iter_layout_chunks_errors(num_tasks, num_blocks, pattern):
    with pytest.raises(ValueError, match=pattern):
        next(iter_layout_chunks(num_tasks, num_blocks))


def test_enumerate_layouts_errors():
    with pytest.raises(ValueError, match=r'need at least one task, got 0'):
        enumerate_layouts(0, 3)
    with pytest.raises(ValueError, match=r'need at least one task, got an empty task list'):
        enumerate_layouts([], 3)
    with pytest.raises(ValueError, match=r"duplicate task names \['a'\]"):
        enumerate_layouts(['a', 'b', 'a'], 3)
    with pytest.raises(LayoutError, match=r"task names must be non-empty strings, got ''"):
        enumerate_layouts(['a', ''], 3)
    with pytest.raises(LayoutError, match=r'task names must be non-empty strings, got 7'):
        enumerate_layouts(['a', 7], 3)
    with pytest.raises(ValueError, match=r'num_blocks must be a positive integer, got 0'):
        enumerate_layouts(['a', 'b'], 0)
    with pytest.raises(ValueError, match=r'need at least one task'):
        next(iter_layouts([], 2))
