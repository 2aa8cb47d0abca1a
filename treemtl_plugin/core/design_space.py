"""Design-space enumerator: every tree layout of T tasks over B blocks, once each.

Layouts are grown task by task (:func:`~treemtl_plugin.core.encoding.grow`): each layout of
tasks ``0..i`` arises from exactly one layout of ``0..i-1`` plus one attachment choice, so the
enumeration is complete and duplicate-free by construction, with no dedup pass. Rows stay in the
compact ``uint8`` encoding of :mod:`~treemtl_plugin.core.encoding`; huge spaces are streamed in
bounded-size chunks. See ``docs/advanced/method.md``, "Design space".
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from math import comb

import numpy as np

from ..errors import ConfigError, LayoutError
from .encoding import DEFAULT_CHUNK_ROWS, LayoutChunk, full_matrix, grow
from .layout import Layout

__all__ = ['count_layouts', 'iter_layout_chunks', 'iter_layouts', 'enumerate_layouts',
           'chunk_to_layouts', 'task_names']


@lru_cache(maxsize=None)
def count_layouts(num_tasks: int, num_blocks: int) -> int:
    """Exact size of the design space (a Python int; no enumeration).

    The set holding task 0 at block 0 has ``k`` tasks and is itself a layout over the other
    ``B-1`` blocks; the remaining ``n-k`` tasks form a layout over ``B`` blocks.
    """
    if num_tasks < 0 or num_blocks < 0:
        raise ConfigError('num_tasks and num_blocks must be >= 0')
    if num_tasks == 0 or num_blocks == 0:
        return 1
    return sum(comb(num_tasks - 1, k - 1) * count_layouts(k, num_blocks - 1)
               * count_layouts(num_tasks - k, num_blocks) for k in range(1, num_tasks + 1))


def iter_layout_chunks(num_tasks: int, num_blocks: int,
                       chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[LayoutChunk]:
    """Stream the whole design space as compact chunks of at most ~``chunk_rows`` layouts.

    Memory stays bounded by about ``num_tasks * chunk_rows`` rows whatever the space size.
    """
    return grow(num_tasks, num_blocks, chunk_rows)


def task_names(tasks: Sequence[str] | int) -> list[str]:
    """Task names from a list of names (checked) or a count (``task0``, ``task1``, ...)."""
    if isinstance(tasks, (int, np.integer)):
        if tasks < 1:
            raise ConfigError(f'need at least one task, got {tasks}')
        return [f'task{k}' for k in range(tasks)]
    names = list(tasks)
    if not names:
        raise ConfigError('need at least one task, got an empty task list')
    if len(set(names)) != len(names):
        dup = sorted({t for t in names if names.count(t) > 1})
        raise ConfigError(f'duplicate task names {dup}')
    for t in names:
        if not isinstance(t, str) or not t:
            raise LayoutError(f'task names must be non-empty strings, got {t!r}')
    return names


def chunk_to_layouts(chunk: LayoutChunk, tasks: Sequence[str], num_blocks: int) -> list[Layout]:
    """Materialise compact rows as :class:`Layout` objects (~10 µs each; the hot paths stay on
    the compact rows).

    Rows of the enumerator are valid trees by construction, so they skip :class:`Layout`'s
    validation: each task's set at block ``b`` is computed for the whole chunk at once as a
    bitmask over tasks, and equal bitmasks are one set.
    """
    names = tuple(tasks)
    full = full_matrix(chunk.branch_points, len(names), num_blocks)
    weights = 1 << np.arange(len(names), dtype=np.int64)
    # masks[n, b, i]: the set of task i at block b of layout n (bit j: task j in it)
    masks = np.stack([((full > b) * weights).sum(axis=-1) for b in range(num_blocks)], axis=1)
    sets: dict[int, frozenset] = {}

    def task_set(mask: int) -> frozenset:
        found = sets.get(mask)
        if found is None:
            found = sets[mask] = frozenset(t for j, t in enumerate(names) if mask >> j & 1)
        return found

    return [Layout._from_canonical(
        tuple(frozenset(task_set(m) for m in set(block)) for block in row), names)
        for row in masks.tolist()]


def iter_layouts(tasks: Sequence[str] | int, num_blocks: int,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Layout]:
    """Stream every layout as a :class:`Layout` (slow per item: use chunks for big spaces)."""
    names = task_names(tasks)
    for chunk in iter_layout_chunks(len(names), num_blocks, chunk_rows):
        yield from chunk_to_layouts(chunk, names, num_blocks)


def enumerate_layouts(tasks: Sequence[str] | int, num_blocks: int) -> list[Layout]:
    """Every tree layout of ``tasks`` (names, or a count) over ``num_blocks`` blocks.

    Complete and duplicate-free; the all-shared layout comes first. This materialises Python
    objects (tens of µs each): for spaces beyond ~10^5 layouts use
    :func:`iter_layout_chunks` or the recommender, which work on compact arrays.
    """
    return list(iter_layouts(tasks, num_blocks))
