"""Compact encoding of tree layouts, and the task-by-task growth that builds every layout once.

A layout of ``T`` tasks over ``B`` blocks is one ``uint8`` row of pairwise branch points over
the task pairs in *insertion order* ``(0,1), (0,2), (1,2), (0,3), ...`` (:func:`pair_index`),
plus each task's attach depth ``M[i] = max_{j<i} bp[i, j]`` (``M[0] = -1``), which gives the
block-copy counts (and so costs) in closed form. See ``docs/advanced/method.md``, "Design space".

Growth inserts tasks one at a time: task ``i`` attaches to a layout of tasks ``0..i-1`` by
choosing a depth ``d`` (0..B) and one existing task set at that depth, sharing exactly ``d``
blocks with it. Every layout of ``0..i`` arises from exactly one layout of ``0..i-1`` and one
such choice, so the result is complete and duplicate-free without a dedup pass. The design-space
enumerator and the exact branch-and-bound search are both this growth (:func:`grow`), the
second with a pruning ``select`` step.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..checks import check_int
from ..errors import ConfigError

#: Rows per chunk when streaming the whole design space.
DEFAULT_CHUNK_ROWS = 1 << 17
#: Largest number of blocks a uint8 row can hold (plus the "share everything" value B).
MAX_BLOCKS = 254


def pair_index(num_tasks: int) -> list[tuple[int, int]]:
    """Task pairs ``(j, i)``, ``j < i``, in the column order of a compact row."""
    return [(j, i) for i in range(1, num_tasks) for j in range(i)]


def pair_columns(num_tasks: int) -> np.ndarray:
    """``cols[i, j]`` = column of pair (i, j) in a compact row; -1 on the diagonal."""
    cols = -np.ones((num_tasks, num_tasks), dtype=np.int64)
    for c, (j, i) in enumerate(pair_index(num_tasks)):
        cols[i, j] = cols[j, i] = c
    return cols


def matrix_to_row(bp_matrix) -> np.ndarray:
    """A (T, T) branch-point matrix as one compact row over ``pair_index(T)``."""
    m = np.asarray(bp_matrix)
    return np.array([m[j, i] for j, i in pair_index(len(m))], dtype=np.uint8)


def full_matrix(rows: np.ndarray, num_tasks: int, num_blocks: int) -> np.ndarray:
    """(n, T, T) symmetric branch points of compact rows, with the diagonal set to B."""
    n = len(rows)
    full = np.full((n, num_tasks, num_tasks), num_blocks, dtype=np.uint8)
    cols = pair_columns(num_tasks)
    off = cols >= 0
    full[:, off] = rows[:, cols[off]]
    return full


def attach_depths(rows: np.ndarray, num_tasks: int) -> np.ndarray:
    """(n, T) attach depths ``M`` of compact rows (``M[:, 0] = -1``)."""
    cols = pair_columns(num_tasks)
    depth = np.full((len(rows), num_tasks), -1, dtype=np.int16)
    for i in range(1, num_tasks):
        depth[:, i] = rows[:, [cols[i, j] for j in range(i)]].max(axis=1)
    return depth


def sets_per_block(attach_depth: np.ndarray, num_blocks: int) -> np.ndarray:
    """(n, B) number of task sets (block copies) at each block, from attach depths.

    Task ``i`` opens a new set at every block ``b >= M[i]`` (it shares only the first ``M[i]``
    blocks with earlier tasks), so ``|L[b]| = #{i : M[i] <= b}``.
    """
    depth = np.asarray(attach_depth, dtype=np.int16)
    blocks = np.arange(num_blocks, dtype=np.int16)
    return (depth[:, :, None] <= blocks[None, None, :]).sum(axis=1)


@dataclass
class LayoutChunk:
    """A batch of layouts (complete or partial) in compact form."""
    branch_points: np.ndarray   # (n, P) uint8, columns as in pair_index(T)
    attach_depth: np.ndarray    # (n, T) int16

    def __len__(self) -> int:
        return len(self.branch_points)

    def take(self, rows) -> 'LayoutChunk':
        """The rows ``rows`` (indices, a slice or a mask), in that order."""
        return LayoutChunk(self.branch_points[rows], self.attach_depth[rows])

    def sets_per_block(self, num_blocks: int) -> np.ndarray:
        """(n, B) number of block copies at each block."""
        return sets_per_block(self.attach_depth, num_blocks)


def root_chunk() -> LayoutChunk:
    """The layout of task 0 alone (the start of every growth)."""
    return LayoutChunk(np.zeros((1, 0), dtype=np.uint8), np.full((1, 1), -1, dtype=np.int16))


def extend(chunk: LayoutChunk, task: int, num_blocks: int) -> LayoutChunk:
    """Every way to attach ``task`` to every layout of the chunk (one vectorised pass).

    Option (row, j, d): the task joins the set that task ``j`` represents at depth ``d``; task
    ``j`` represents its depth-``d`` set iff it shares fewer than ``d`` blocks with all earlier
    tasks. Deepest sharing first, so that the all-shared layout is the first row.
    """
    bp, depth = chunk.branch_points, chunk.attach_depth
    d_range = np.arange(num_blocks, -1, -1, dtype=np.int16)
    valid = d_range[None, None, :] > depth[:, :, None]
    rows, reps, d_pos = np.nonzero(valid)
    d = (num_blocks - d_pos).astype(np.uint8)
    full = full_matrix(bp, task, num_blocks)
    new_cols = np.minimum(full[rows, reps, :], d[:, None])
    out_bp = np.empty((len(rows), bp.shape[1] + task), dtype=np.uint8)
    out_bp[:, :bp.shape[1]] = bp[rows]
    out_bp[:, bp.shape[1]:] = new_cols
    out_depth = np.empty((len(rows), task + 1), dtype=np.int16)
    out_depth[:, :task] = depth[rows]
    out_depth[:, task] = d
    return LayoutChunk(out_bp, out_depth)


def num_children(attach_depth: np.ndarray, num_blocks: int) -> np.ndarray:
    """How many rows :func:`extend` makes from each row."""
    return (num_blocks - attach_depth.astype(np.int64)).sum(axis=1)


Select = Callable[[LayoutChunk, int], np.ndarray]


def grow(num_tasks: int, num_blocks: int, chunk_rows: int = DEFAULT_CHUNK_ROWS,
         select: Select | None = None, counter: list | None = None) -> Iterator[LayoutChunk]:
    """Depth-first, chunked growth: yields chunks of complete layouts of ``num_tasks`` tasks.

    Each extension step makes at most ~``chunk_rows`` rows, so memory stays bounded by about
    ``num_tasks * chunk_rows`` rows whatever the space size. ``select(chunk, inserted)``, if
    given, returns the rows of each new chunk to keep, in the order to expand them (the exact
    search prunes and orders with it); ``counter[0]`` accumulates the rows generated.
    """
    check_space(num_tasks, num_blocks)
    if num_tasks == 1:
        yield root_chunk()
        return

    def step(chunk: LayoutChunk, task: int) -> Iterator[LayoutChunk]:
        children = np.cumsum(num_children(chunk.attach_depth, num_blocks))
        start = 0
        while start < len(chunk):
            base = children[start - 1] if start else 0
            stop = max(int(np.searchsorted(children, base + chunk_rows, side='right')),
                       start + 1)
            child = extend(chunk.take(slice(start, stop)), task, num_blocks)
            start = stop
            if counter is not None:
                counter[0] += len(child)
            if select is not None:
                rows = select(child, task + 1)
                if len(rows) == 0:
                    continue
                child = child.take(rows)
            if task + 1 == num_tasks:
                yield child
            else:
                yield from step(child, task + 1)

    yield from step(root_chunk(), 1)


def check_space(num_tasks, num_blocks) -> None:
    """A design space the compact encoding can hold (at least one task, 1..254 blocks)."""
    check_int('num_tasks', num_tasks, low=1)
    check_int('num_blocks', num_blocks, low=1)
    if num_blocks > MAX_BLOCKS:
        raise ConfigError(f'num_blocks={num_blocks} is too many branching points (max '
                          f'{MAX_BLOCKS}); group blocks into coarse branching points')
