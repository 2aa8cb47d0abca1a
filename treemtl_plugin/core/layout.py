"""Tree layouts: which tasks share which backbone blocks.

A layout over ``B`` blocks is a list ``L[0..B-1]``; ``L[b]`` is a partition of the task set and
tasks in the same set share block ``b``. Partitions only refine going deeper (two tasks that
separate never re-join). See ``docs/advanced/method.md``, "Layouts".
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Union

import numpy as np

from ..checks import check_int
from ..errors import LayoutError

__all__ = ['Layout', 'LayoutError', 'LayoutLike', 'as_layout', 'blocks_from_branch_points']

LayoutLike = Union['Layout', Sequence[Sequence[Sequence[str]]]]


def _check_task_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise LayoutError(f'task names must be non-empty strings, got {name!r}')
    return name


class Layout:
    """An immutable, canonical tree layout.

    Equal layouts compare and hash equal whatever the order of their task sets; ``tasks`` only
    fixes the display order (and the row/column order of :meth:`branch_points`).
    """

    __slots__ = ('_tasks', '_blocks', '_hash')

    def __init__(self, blocks: Sequence[Iterable[Iterable[str]]],
                 tasks: Sequence[str] | None = None):
        if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or not blocks:
            raise LayoutError('a layout is a non-empty list over blocks of lists of task-name '
                              f'lists, e.g. [[["a", "b"]], [["a"], ["b"]]]; got {blocks!r}')
        canonical = []
        for b, block in enumerate(blocks):
            if isinstance(block, (str, bytes)) or not isinstance(block, Iterable):
                raise LayoutError(f'block {b} must be a list of task sets, got {block!r}')
            sets = []
            seen: set[str] = set()
            for task_set in block:
                if isinstance(task_set, (str, bytes)):
                    raise LayoutError(f'block {b}: a task set must be a list of task names, '
                                      f'got the string {task_set!r} (write [{task_set!r}])')
                if not isinstance(task_set, Iterable):
                    raise LayoutError(f'block {b}: a task set must be a list of task names, '
                                      f'got {task_set!r}')
                names = [_check_task_name(t) for t in task_set]
                if not names:
                    raise LayoutError(f'block {b} has an empty task set')
                if len(set(names)) != len(names):
                    raise LayoutError(f'block {b}: task set {names} repeats a task')
                overlap = seen.intersection(names)
                if overlap:
                    raise LayoutError(f'block {b}: task(s) {sorted(overlap)} appear in more '
                                      'than one task set; each block must partition the tasks')
                seen.update(names)
                sets.append(frozenset(names))
            if not sets:
                raise LayoutError(f'block {b} has no task sets')
            canonical.append(frozenset(sets))
        all_tasks = frozenset().union(*canonical[0])
        for b, block in enumerate(canonical[1:], start=1):
            here = frozenset().union(*block)
            if here != all_tasks:
                missing, extra = sorted(all_tasks - here), sorted(here - all_tasks)
                raise LayoutError(f'block {b} does not hold the same tasks as block 0 '
                                  f'(missing {missing}, extra {extra})')
            parents = canonical[b - 1]
            for task_set in block:
                if not any(task_set <= parent for parent in parents):
                    raise LayoutError(
                        f'block {b}: task set {sorted(task_set)} joins tasks that were separate '
                        f'in block {b - 1}; once tasks branch apart they cannot share again')
        if tasks is None:
            order: list[str] = []
            for block in blocks:
                for task_set in block:
                    order.extend(t for t in task_set if t not in order)
            tasks = order
        else:
            tasks = [_check_task_name(t) for t in tasks]
            if len(set(tasks)) != len(tasks) or frozenset(tasks) != all_tasks:
                raise LayoutError(f'tasks {list(tasks)} do not match the layout\'s tasks '
                                  f'{sorted(all_tasks)}')
        self._tasks = tuple(tasks)
        self._blocks = tuple(canonical)
        self._hash = hash(self._blocks)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def all_shared(cls, tasks: Sequence[str], num_blocks: int) -> 'Layout':
        """Every task shares every block (the cheapest layout: one backbone)."""
        _check_num_blocks(num_blocks)
        return cls([[list(tasks)]] * num_blocks, tasks=tasks)

    @classmethod
    def independent(cls, tasks: Sequence[str], num_blocks: int) -> 'Layout':
        """No sharing at all: one backbone per task."""
        _check_num_blocks(num_blocks)
        return cls([[[t] for t in tasks]] * num_blocks, tasks=tasks)

    @classmethod
    def from_branch_points(cls, tasks: Sequence[str], branch_points,
                           num_blocks: int) -> 'Layout':
        """Build from a symmetric matrix ``bp[i, j]`` = leading blocks tasks i, j share."""
        _check_num_blocks(num_blocks)
        bp = np.asarray(branch_points)
        n = len(tasks)
        if bp.shape != (n, n):
            raise LayoutError(f'branch-point matrix must be {n}x{n}, got shape {bp.shape}')
        blocks = blocks_from_branch_points(tasks, bp, num_blocks)
        try:
            layout = cls(blocks, tasks=tasks)
        except LayoutError:
            raise LayoutError('branch-point matrix is not a tree (needs bp[i,j] >= '
                              'min(bp[i,k], bp[k,j]) for all i, j, k)') from None
        if not np.array_equal(layout.branch_points(), np.where(np.eye(n, dtype=bool),
                                                               num_blocks, bp)):
            raise LayoutError('branch-point matrix is not a tree (needs bp[i,j] >= '
                              'min(bp[i,k], bp[k,j]) for all i, j, k)')
        return layout

    @classmethod
    def _from_canonical(cls, blocks: tuple, tasks: tuple) -> 'Layout':
        """Wrap blocks already in canonical form (a tuple of frozensets of frozensets) that
        are known to be a valid tree, e.g. the enumerator's: no validation (a fast path)."""
        layout = cls.__new__(cls)
        layout._tasks = tasks
        layout._blocks = blocks
        layout._hash = hash(blocks)
        return layout

    @classmethod
    def from_list(cls, data, tasks: Sequence[str] | None = None) -> 'Layout':
        """From the JSON form (``docs/advanced/method.md``): blocks -> task sets -> task names."""
        return cls(data, tasks=tasks)

    @classmethod
    def from_json(cls, text: str, tasks: Sequence[str] | None = None) -> 'Layout':
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise LayoutError(f'layout is not valid JSON: {err}') from None
        return cls.from_list(data, tasks=tasks)

    # -- accessors ----------------------------------------------------------------------
    @property
    def tasks(self) -> tuple[str, ...]:
        return self._tasks

    @property
    def num_tasks(self) -> int:
        return len(self._tasks)

    @property
    def num_blocks(self) -> int:
        return len(self._blocks)

    def task_sets(self, block: int) -> list[tuple[str, ...]]:
        """Task sets of ``block`` in display order (by their first task in ``tasks``)."""
        pos = {t: k for k, t in enumerate(self._tasks)}
        sets = [tuple(sorted(s, key=pos.__getitem__)) for s in self._blocks[block]]
        return sorted(sets, key=lambda s: pos[s[0]])

    @property
    def blocks(self) -> list[list[tuple[str, ...]]]:
        return [self.task_sets(b) for b in range(self.num_blocks)]

    def sets_per_block(self) -> np.ndarray:
        """Number of copies of each block the tree model holds."""
        return np.array([len(block) for block in self._blocks], dtype=np.int64)

    def with_tasks(self, tasks: Sequence[str]) -> 'Layout':
        """Same layout, another display order."""
        return Layout(self.blocks, tasks=tasks)

    def branch_point(self, a: str, b: str) -> int:
        """Number of leading blocks tasks ``a`` and ``b`` share (0..B)."""
        for name in (a, b):
            if name not in self._tasks:
                raise LayoutError(f'unknown task {name!r}; layout tasks are {list(self._tasks)}')
        if a == b:
            return self.num_blocks
        for depth, block in enumerate(self._blocks):
            if not any(a in s and b in s for s in block):
                return depth
        return self.num_blocks

    def branch_points(self) -> np.ndarray:
        """Matrix ``bp[i, j]`` over ``tasks`` (diagonal = B)."""
        n = self.num_tasks
        index = {t: k for k, t in enumerate(self._tasks)}
        bp = np.zeros((n, n), dtype=np.int64)
        for depth, block in enumerate(self._blocks):
            for task_set in block:
                ids = [index[t] for t in task_set]
                bp[np.ix_(ids, ids)] = depth + 1
        return bp

    # -- layout cut ---------------------------------------------------------------------
    def cut(self, block: int, task_set: Iterable[str], part: Iterable[str]) -> 'Layout':
        """Split ``task_set`` of ``block`` into ``part`` and the rest, at ``block`` and deeper."""
        if not 0 <= block < self.num_blocks:
            raise LayoutError(f'block {block} out of range 0..{self.num_blocks - 1}')
        task_set, part = frozenset(task_set), frozenset(part)
        if task_set not in self._blocks[block]:
            raise LayoutError(f'{sorted(task_set)} is not a task set of block {block}; '
                              f'its sets are {self.task_sets(block)}')
        if not part or not part < task_set:
            raise LayoutError(f'cut part {sorted(part)} must be a non-empty proper subset of '
                              f'{sorted(task_set)}')
        rest = task_set - part
        new_blocks = []
        for depth, sets in enumerate(self._blocks):
            if depth < block:
                new_blocks.append(sets)
                continue
            new_sets = []
            for s in sets:
                if s <= task_set:
                    # deeper sets inside the cut set already lie in one side or are split further
                    new_sets.append(s if (s <= part or s <= rest) else None)
                    if new_sets[-1] is None:
                        new_sets[-1:] = [s & part, s & rest]
                else:
                    new_sets.append(s)
            new_blocks.append(new_sets)
        return Layout(new_blocks, tasks=self._tasks)

    # -- serialisation and display -----------------------------------------------------
    def to_list(self) -> list[list[list[str]]]:
        return [[list(s) for s in self.task_sets(b)] for b in range(self.num_blocks)]

    def to_json(self) -> str:
        return json.dumps(self.to_list())

    def _nodes(self):
        """Tree nodes as (first_block, last_block, task_set, children)."""
        def build(task_set: frozenset, start: int):
            end = start
            while end + 1 < self.num_blocks and task_set in self._blocks[end + 1]:
                end += 1
            children = []
            if end + 1 < self.num_blocks:
                kids = [s for s in self._blocks[end + 1] if s <= task_set]
                children = [build(s, end + 1) for s in self._sorted(kids)]
            return start, end, task_set, children
        return [build(s, 0) for s in self._sorted(self._blocks[0])]

    def _sorted(self, sets):
        pos = {t: k for k, t in enumerate(self._tasks)}
        return sorted(sets, key=lambda s: min(pos[t] for t in s))

    def draw(self) -> str:
        """Text drawing of the tree: each node is a run of blocks one task set shares."""
        pos = {t: k for k, t in enumerate(self._tasks)}
        lines = ['input']

        def emit(node, prefix: str, last: bool):
            start, end, task_set, children = node
            span = f'block {start + 1}' if start == end else f'blocks {start + 1}-{end + 1}'
            names = ', '.join(sorted(task_set, key=pos.__getitem__))
            leaf = ' -> head' + ('s' if len(task_set) > 1 else '') if not children else ''
            lines.append(f'{prefix}{"└── " if last else "├── "}{span}: {names}{leaf}')
            for k, child in enumerate(children):
                emit(child, prefix + ('    ' if last else '│   '), k == len(children) - 1)

        roots = self._nodes()
        for k, node in enumerate(roots):
            emit(node, '', k == len(roots) - 1)
        return '\n'.join(lines)

    def short(self) -> str:
        """One-line form: the task sets at block 1 and wherever they change, e.g.
        ``b1: {a, b, c} -> b4: {a, b} {c}`` (breaks at spaces when it wraps)."""
        parts = []
        for b in range(self.num_blocks):
            if b == 0 or self._blocks[b] != self._blocks[b - 1]:
                parts.append(f'b{b + 1}: ' + ' '.join('{' + ', '.join(s) + '}'
                                                      for s in self.task_sets(b)))
        return ' -> '.join(parts)

    def __eq__(self, other) -> bool:
        return isinstance(other, Layout) and self._blocks == other._blocks

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f'Layout({self.to_list()!r})'


def blocks_from_branch_points(tasks: Sequence[str], bp, num_blocks: int) -> list:
    """Task sets per block (JSON form) of a (T, T) branch-point matrix: at block ``b`` task
    ``i``'s set holds the tasks sharing more than ``b`` blocks with it. No validation."""
    n = len(tasks)
    blocks = []
    for b in range(num_blocks):
        sets: list[list[str]] = []
        assigned = [False] * n
        for i in range(n):
            if assigned[i]:
                continue
            members = [j for j in range(n) if j == i or bp[i, j] > b]
            for j in members:
                assigned[j] = True
            sets.append([tasks[j] for j in members])
        blocks.append(sets)
    return blocks


def _check_num_blocks(num_blocks) -> None:
    check_int('num_blocks', num_blocks, low=1, error=LayoutError)


def as_layout(obj: LayoutLike, tasks: Sequence[str] | None = None) -> Layout:
    """Accept a Layout, its JSON text, or its list form."""
    if isinstance(obj, Layout):
        return obj if tasks is None else obj.with_tasks(tasks)
    if isinstance(obj, str):
        return Layout.from_json(obj, tasks=tasks)
    return Layout.from_list(obj, tasks=tasks)
