"""Coarse branching points: group adjacent detected blocks (pure python, no torch).

The paper merges fine blocks into N coarse branching points (5 in its experiments) to keep the
design space and the two-task sweep small. ``balanced_groups`` splits a chain of block FLOPs
into N contiguous groups minimising the largest group's FLOPs (exact dynamic programme);
``check_block_groups`` validates user-given groups.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..checks import is_int
from ..errors import ConfigError


def balanced_groups(block_flops: Sequence[float], num_groups: int) -> list[list[int]]:
    """Split blocks ``0..K-1`` into ``num_groups`` contiguous groups with balanced FLOPs.

    Minimises the maximum group FLOPs; among optimal splits, prefers the one whose groups end
    as early as possible (deterministic).
    """
    flops = [float(f) for f in block_flops]
    num_blocks = len(flops)
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1:
        raise ConfigError(f'num_branch_points must be a positive integer, got {num_groups!r}')
    if num_groups > num_blocks:
        raise ConfigError(f'num_branch_points={num_groups} is more than the {num_blocks} '
                         'detected blocks; use at most that many')
    prefix = [0.0]
    for f in flops:
        prefix.append(prefix[-1] + f)
    inf = float('inf')
    # best[g][i]: min over splits of blocks[:i] into g groups of the largest group
    best = [[inf] * (num_blocks + 1) for _ in range(num_groups + 1)]
    cut = [[0] * (num_blocks + 1) for _ in range(num_groups + 1)]
    best[0][0] = 0.0
    for g in range(1, num_groups + 1):
        for i in range(g, num_blocks + 1):
            for j in range(g - 1, i):
                value = max(best[g - 1][j], prefix[i] - prefix[j])
                if value < best[g][i] - 1e-12 * max(1.0, abs(value)):
                    best[g][i], cut[g][i] = value, j
    groups, end = [], num_blocks
    for g in range(num_groups, 0, -1):
        start = cut[g][end]
        groups.append(list(range(start, end)))
        end = start
    return groups[::-1]


def check_block_groups(groups: Sequence[Sequence[int]], num_blocks: int) -> list[list[int]]:
    """Validate ``block_groups``: contiguous, in order, covering ``0..num_blocks-1`` once."""
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not all(
            isinstance(g, Sequence) and not isinstance(g, (str, bytes))
            and all(is_int(i) for i in g) for g in groups):
        raise ConfigError(f'block_groups must be a list of lists of detected block indices, '
                          f'e.g. [[0], [1, 2], [3]], got {groups!r}')
    flat = [int(i) for group in groups for i in group]
    if any(len(group) == 0 for group in groups):
        raise ConfigError(f'block_groups {list(map(list, groups))} has an empty group')
    if flat != list(range(num_blocks)):
        raise ConfigError(f'block_groups must list the detected blocks 0..{num_blocks - 1} '
                         f'once each, in order, as contiguous groups (e.g. [[0], [1, 2], '
                         f'[3, ..., {num_blocks - 1}]]); got {[list(g) for g in groups]}')
    return [[int(i) for i in group] for group in groups]
