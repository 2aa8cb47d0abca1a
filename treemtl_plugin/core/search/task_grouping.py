"""Task grouping (Standley et al., ICML 2020) on the same two-task results: exact top-k.

Candidates are networks that share a whole backbone among a group of tasks (cost 1 backbone),
and optionally half-width single-task networks (cost 1/2) when their results are given. A
group's performance for a member task is its two-task value at branch ``B`` (everything
shared) for pairs, 0 for a full single-task network, and for three or more tasks the mean of
the task's pair values with each other member (the higher-order approximation) unless measured
values are supplied. A solution is a set of networks within the budget; every task must be in
one, takes its best network, and the solution's score is ``sum_i w_i * best_i``.

Exact search. Assigning every task to its best network in a solution splits the tasks into
parts, each served by one network containing it; conversely any such partition plus network
choice describes a solution at least as good. So the best value for covering a task set
``M`` within ``u`` half-backbone units is a DP over subsets (``best[M][u]``), and this exact
completion bound drives a best-first branch-and-bound over partial partitions that pops
complete solutions in non-increasing value; distinct network sets are collected until no
unseen one can reach the k-th best (ties included, then ordered by cost and a canonical key).
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import BudgetError, ConfigError
from ..cost import BudgetLimits, CostModel
from ..table import TwoTaskTable

__all__ = ['Network', 'GroupingSearch', 'group_performance', 'GroupingCandidates',
           'budget_units', 'search_groupings']

NEG = -math.inf
#: Task grouping enumerates 2^T candidate networks.
MAX_GROUPING_TASKS = 16


@dataclass(frozen=True, order=True)
class Network:
    """One network of a grouping: ``tasks`` share a whole backbone (half width if flagged)."""
    tasks: tuple[str, ...]
    half_width: bool = False

    @property
    def cost(self) -> float:
        """Cost in backbone-equivalents."""
        return 0.5 if self.half_width else 1.0


@dataclass
class GroupingSearch:
    """Result of :func:`search_groupings`: the best network sets, best first."""
    candidates: 'GroupingCandidates'
    solutions: list[tuple[int, ...]]      # candidate indices of each network set
    max_units: int                        # the budget in half-backbone units
    expansions: int


def group_performance(values: np.ndarray, members: Sequence[int], branch: int) -> np.ndarray:
    """Per-member performance of a network shared by ``members`` (higher-order approx.)."""
    members = list(members)
    perf = np.zeros(len(members))
    if len(members) == 1:
        return perf
    for k, i in enumerate(members):
        perf[k] = np.mean([values[i, j, branch] for j in members if j != i])
    return perf


class GroupingCandidates:
    """Every network with its cost (half units) and per-task performance (-inf if absent)."""

    def __init__(self, table: TwoTaskTable, weights: np.ndarray,
                 half_width: Mapping[str, float] | None,
                 measured_groups: Mapping | None):
        tasks = table.tasks
        if len(tasks) > MAX_GROUPING_TASKS:
            raise ConfigError(f'task grouping enumerates 2^T candidate networks; T={len(tasks)} '
                              f'is too many (at most {MAX_GROUPING_TASKS})')
        self.tasks = tuple(tasks)
        self.num_tasks = n = len(tasks)
        index = {t: k for k, t in enumerate(tasks)}
        overrides = {}
        for group, perfs in (measured_groups or {}).items():
            names = [group] if isinstance(group, str) else list(group)
            unknown = [t for t in names if t not in index]
            if len(set(names)) != len(names):
                raise ConfigError(f'measured_groups key {group!r} repeats a task')
            if unknown or len(names) < 2:
                raise ConfigError(f'measured_groups key {group!r}: needs >= 2 known tasks '
                                 f'(unknown {unknown}; tasks are {list(tasks)})')
            mask = sum(1 << index[t] for t in names)
            missing = [t for t in names if t not in perfs]
            if missing:
                raise ConfigError(f'measured_groups[{group!r}] lacks values for {missing}')
            overrides[mask] = {index[t]: float(perfs[t]) for t in names}
        self.masks, self.units, self.perf, self.half = [], [], [], []
        for mask in range(1, 1 << n):
            members = [i for i in range(n) if mask >> i & 1]
            perf = np.full(n, NEG)
            perf[members] = group_performance(table.values, members, table.num_blocks)
            for i, value in overrides.get(mask, {}).items():
                perf[i] = value
            self._add(mask, 2, perf, False)
        for task, value in (half_width or {}).items():
            if task not in index:
                raise ConfigError(f'half_width has unknown task {task!r}; tasks are '
                                 f'{list(tasks)}')
            if not np.isfinite(value):
                raise ConfigError(f'half_width[{task!r}] must be finite, got {value!r}')
            perf = np.full(n, NEG)
            perf[index[task]] = float(value)
            self._add(1 << index[task], 1, perf, True)
        self.perf = np.array(self.perf)
        finite = np.isfinite(self.perf)
        self.weighted = np.full_like(self.perf, NEG)
        np.multiply(self.perf, weights[None, :], out=self.weighted, where=finite)

    def _add(self, mask, units, perf, half):
        self.masks.append(mask)
        self.units.append(units)
        self.perf.append(perf)
        self.half.append(half)

    def __len__(self):
        return len(self.masks)


def _submasks_with(mask: int, bit: int):
    """Non-empty submasks of ``mask`` that contain ``bit``."""
    rest = mask & ~bit
    sub = rest
    while True:
        yield sub | bit
        if sub == 0:
            return
        sub = (sub - 1) & rest


def budget_units(limits: BudgetLimits, cost: CostModel, num_tasks: int) -> int:
    """The budget as a whole number of half-backbone units (every network is 1 or 1/2)."""
    units = [float(num_tasks)]   # more than T backbones never helps
    if limits.flops is not None:
        units.append(limits.flops / cost.backbone_flops)
    if limits.params is not None:
        units.append(limits.params / cost.backbone_params)
    return int(math.floor(2 * min(units)))


def search_groupings(cand: GroupingCandidates, max_units: int, topk: int,
                     budget_text: str = '') -> GroupingSearch:
    """Exact top-``topk`` network sets within ``max_units`` half-backbones (module docstring)."""
    n = cand.num_tasks
    if max_units < 2:   # the cheapest grouping: one network shared by every task
        raise BudgetError(
            f'no task grouping fits the budget ({budget_text}): the cheapest, one network '
            'shared by all tasks, costs 1 backbone-equivalent (+ heads).')

    full_mask = (1 << n) - 1
    # options[P]: (weighted value, units, candidate index) of every network containing P
    options: dict[int, list[tuple[float, int, int]]] = {}
    for c, mask in enumerate(cand.masks):
        members = [i for i in range(n) if mask >> i & 1]
        wperf = cand.weighted[c]
        for sub in _all_submasks(mask):
            value = float(sum(wperf[i] for i in members if sub >> i & 1))
            options.setdefault(sub, []).append((value, cand.units[c], c))
    for sub in options:
        options[sub].sort(key=lambda o: (-o[0], o[1], o[2]))

    # best[M][u]: exact best value covering exactly the tasks in M with <= u units
    best = np.full((1 << n, max_units + 1), NEG)
    best[0, :] = 0.0
    for mask in range(1, 1 << n):
        low = mask & -mask
        row = best[mask]
        for part in _submasks_with(mask, low):
            rest = best[mask ^ part]
            for units in (1, 2):
                value = max((o[0] for o in options.get(part, ()) if o[1] == units),
                            default=None)
                if value is None or units > max_units:
                    continue
                np.maximum(row[units:], rest[:max_units + 1 - units] + value,
                           out=row[units:])

    if not np.isfinite(best[full_mask, max_units]):
        raise BudgetError(f'no task grouping covers every task within the budget '
                          f'({budget_text})')

    # best-first search over partial partitions, ordered by (score bound desc, cost bound asc)
    scale = max(1.0, float(np.abs(cand.weighted[np.isfinite(cand.weighted)]).max(initial=1.0)))
    tol = 1e-9 * scale
    min_units = _min_units(cand, n)
    counter = itertools.count()
    heap = [(-best[full_mask, max_units], min_units[full_mask], next(counter), 0.0, 0,
             full_mask, max_units, ())]
    found: dict[tuple, tuple[float, int]] = {}
    kth = (NEG, math.inf)        # (value, units) of the k-th best solution so far
    expansions = 0

    def beaten(bound: float, units_lb: int) -> bool:
        """Can no completion reach the k-th solution (score first, then cost)?"""
        return bound < kth[0] - tol or (bound <= kth[0] + tol and units_lb > kth[1])

    while heap:
        neg_bound, units_lb, _, value, used, remaining, units_left, chosen = \
            heapq.heappop(heap)
        if beaten(-neg_bound, units_lb):
            break
        if remaining == 0:
            key = tuple(sorted(chosen))
            if key in found:
                continue
            true_value, units_used = _evaluate(cand, key, n)
            if _redundant(cand, key, n, true_value, tol):
                continue
            found[key] = (true_value, units_used)
            if len(found) >= topk:
                ordered = sorted(found.values(), key=lambda vu: (-_quantise(vu[0], tol), vu[1]))
                kth = ordered[topk - 1]
            continue
        expansions += 1
        low = remaining & -remaining
        for part in _submasks_with(remaining, low):
            rest = remaining ^ part
            for option_value, units, c in options.get(part, ()):
                if units > units_left or c in chosen:   # a network serves one part
                    continue
                completion = best[rest, units_left - units]
                if not np.isfinite(completion):
                    continue
                bound = value + option_value + completion
                lb = used + units + min_units[rest]
                if beaten(bound, lb):
                    continue
                heapq.heappush(heap, (-bound, lb, next(counter), value + option_value,
                                      used + units, rest, units_left - units,
                                      chosen + (c,)))
    ranked = sorted(found.items(),
                    key=lambda kv: (-_quantise(kv[1][0], tol), kv[1][1], kv[0]))
    return GroupingSearch(cand, [key for key, _ in ranked[:topk]], max_units, expansions)


def _quantise(value: float, tol: float) -> int:
    """Scores equal up to float rounding compare as ties (then cost and key decide)."""
    return int(round(value / tol))


def _min_units(cand: GroupingCandidates, n: int) -> np.ndarray:
    """Fewest half-backbone units that can cover each task subset (a cost lower bound):
    one full network covers any subset; a lone task may have a half-width network."""
    low_cost = np.full(1 << n, 2, dtype=np.int64)
    low_cost[0] = 0
    for c, mask in enumerate(cand.masks):
        if cand.units[c] == 1:
            low_cost[mask] = 1
    return low_cost


def _all_submasks(mask: int):
    sub = mask
    while sub:
        yield sub
        sub = (sub - 1) & mask


def _evaluate(cand: GroupingCandidates, key: tuple[int, ...], n: int) -> tuple[float, int]:
    """True score of a network set (each task takes its best network) and its cost."""
    best = cand.weighted[list(key)].max(axis=0)
    return float(best.sum()), int(sum(cand.units[c] for c in key))


def _redundant(cand, key, n, value, tol) -> bool:
    """A network that can be dropped without losing score or coverage makes a set redundant."""
    if len(key) == 1:
        return False
    for drop in key:
        rest = [c for c in key if c != drop]
        best = cand.weighted[rest].max(axis=0)
        if np.all(np.isfinite(best)) and best.sum() >= value - tol:
            return True
    return False
