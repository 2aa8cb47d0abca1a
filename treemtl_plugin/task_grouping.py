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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .cost import BUDGET_RTOL, Budget, BudgetError, CostModel
from .estimator import resolve_task_weights
from .two_task_table import TwoTaskTable

NEG = -math.inf


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
class GroupingSolution:
    """A set of networks with each task's chosen network, score and cost."""
    rank: int
    networks: list[Network]
    chosen: dict[str, int]            # task -> index into networks
    score: float
    estimates: dict[str, float]
    models: float                     # backbone-equivalents
    flops: float
    flops_ratio: float
    params: float | None
    head_flops: float
    head_params: float
    within_budget: bool = True

    @property
    def flops_saving(self) -> float:
        return 100.0 * (1.0 - self.flops_ratio)

    @property
    def groups(self) -> list[list[str]]:
        return [list(n.tasks) for n in self.networks]

    def draw(self) -> str:
        lines = ['input']
        for k, net in enumerate(self.networks):
            last = k == len(self.networks) - 1
            served = [t for t, idx in self.chosen.items() if idx == k]
            width = ' (half width)' if net.half_width else ''
            lines.append(f'{"└── " if last else "├── "}network {k + 1}{width}: '
                         f'{", ".join(net.tasks)} -> serves {", ".join(served)}')
        return '\n'.join(lines)

    def to_dict(self) -> dict:
        return dict(rank=self.rank, strategy='task_grouping', groups=self.groups,
                    half_width=[n.half_width for n in self.networks], chosen=self.chosen,
                    chosen_group={t: list(self.networks[i].tasks)
                                  for t, i in self.chosen.items()},
                    score=self.score, estimates=self.estimates, models=self.models,
                    flops=self.flops, flops_ratio=self.flops_ratio,
                    flops_saving_pct=self.flops_saving, params=self.params,
                    head_flops=self.head_flops, head_params=self.head_params,
                    within_budget=self.within_budget, tree=self.draw())


@dataclass
class GroupingRecommendation:
    tasks: tuple[str, ...]
    weights: np.ndarray
    weights_note: str
    budget: Budget
    cost_model: CostModel
    top: list[GroupingSolution]
    num_candidates: int
    max_models: float
    seconds: float
    method: str = 'task grouping: exact best-first branch-and-bound with a subset-DP bound'
    expansions: int = 0


def group_performance(values: np.ndarray, members: Sequence[int], branch: int) -> np.ndarray:
    """Per-member performance of a network shared by ``members`` (higher-order approx.)."""
    members = list(members)
    perf = np.zeros(len(members))
    if len(members) == 1:
        return perf
    for k, i in enumerate(members):
        perf[k] = np.mean([values[i, j, branch] for j in members if j != i])
    return perf


class _Candidates:
    """Every network with its cost (half units) and per-task performance (-inf if absent)."""

    def __init__(self, table: TwoTaskTable, weights: np.ndarray,
                 half_width: Mapping[str, float] | None,
                 measured_groups: Mapping | None):
        tasks = table.tasks
        self.num_tasks = n = len(tasks)
        index = {t: k for k, t in enumerate(tasks)}
        overrides = {}
        for group, perfs in (measured_groups or {}).items():
            names = [group] if isinstance(group, str) else list(group)
            unknown = [t for t in names if t not in index]
            if len(set(names)) != len(names):
                raise ValueError(f'measured_groups key {group!r} repeats a task')
            if unknown or len(names) < 2:
                raise ValueError(f'measured_groups key {group!r}: needs >= 2 known tasks '
                                 f'(unknown {unknown}; tasks are {list(tasks)})')
            mask = sum(1 << index[t] for t in names)
            missing = [t for t in names if t not in perfs]
            if missing:
                raise ValueError(f'measured_groups[{group!r}] lacks values for {missing}')
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
                raise ValueError(f'half_width has unknown task {task!r}; tasks are '
                                 f'{list(tasks)}')
            if not np.isfinite(value):
                raise ValueError(f'half_width[{task!r}] must be finite, got {value!r}')
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


def _budget_units(budget: Budget, cost: CostModel, tasks: Sequence[str]) -> int:
    """The budget as a whole number of half-backbone units (every network is 1 or 1/2)."""
    limits = [float(len(tasks))]   # more than T backbones never helps
    one = cost.backbone_flops
    if budget.max_models is not None:
        limits.append(budget.max_models)
    if budget.max_flops_ratio is not None:
        limits.append(budget.max_flops_ratio * len(tasks))
    if budget.max_flops is not None:
        limits.append((budget.max_flops - cost.head_flops_total(tasks)) / one)
    if budget.max_params is not None:
        budget.check_cost_model(cost)
        limits.append((budget.max_params - cost.head_params_total(tasks))
                      / cost.backbone_params)
    return int(math.floor(2 * min(limits) * (1 + BUDGET_RTOL) + 1e-9))


def recommend_task_groups(table: TwoTaskTable, cost_model: CostModel,
                          budget: Budget | None = None, topk: int = 5,
                          task_weights='svde', half_width: Mapping[str, float] | None = None,
                          measured_groups: Mapping | None = None) -> GroupingRecommendation:
    """Exact top-``topk`` task groupings under ``budget`` (see the module docstring)."""
    start = time.perf_counter()
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f'topk must be a positive integer, got {topk!r}')
    budget = budget or Budget()
    tasks = table.tasks
    n = len(tasks)
    if n > 16:
        raise ValueError(f'task grouping enumerates 2^T candidate networks; T={n} is too many '
                         '(at most 16)')
    weights, note = resolve_task_weights(table.values, tasks, task_weights)
    cand = _Candidates(table, weights, half_width, measured_groups)
    max_units = _budget_units(budget, cost_model, tasks)
    if max_units < 2:   # the cheapest grouping: one network shared by every task
        raise BudgetError(
            f'no task grouping fits the budget ({budget.describe(cost_model)}): the cheapest, '
            'one network shared by all tasks, costs 1 backbone-equivalent '
            f'({cost_model.backbone_flops:g} {cost_model.flops_unit} + heads).')

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
                          f'({budget.describe(cost_model)})')

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
    top = [_solution(rank, key, cand, tasks, weights, cost_model, budget)
           for rank, (key, _) in enumerate(ranked[:topk], start=1)]
    return GroupingRecommendation(tasks=tasks, weights=weights, weights_note=note,
                                  budget=budget, cost_model=cost_model, top=top,
                                  num_candidates=len(cand), max_models=max_units / 2,
                                  seconds=time.perf_counter() - start, expansions=expansions)


def _quantise(value: float, tol: float) -> int:
    """Scores equal up to float rounding compare as ties (then cost and key decide)."""
    return int(round(value / tol))


def _min_units(cand: _Candidates, n: int) -> np.ndarray:
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


def _evaluate(cand: _Candidates, key: tuple[int, ...], n: int) -> tuple[float, int]:
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


def _solution(rank, key, cand, tasks, weights, cost, budget) -> GroupingSolution:
    n = len(tasks)
    nets = [(Network(tuple(tasks[i] for i in range(n) if cand.masks[c] >> i & 1),
                     cand.half[c]), c) for c in key]
    # display order: full networks before half-width ones, then by their tasks' order
    nets.sort(key=lambda nc: (nc[0].half_width, [tasks.index(t) for t in nc[0].tasks]))
    networks = [nc[0] for nc in nets]
    chosen, estimates = {}, {}
    for i, task in enumerate(tasks):
        scores = [cand.perf[c, i] for _, c in nets]
        k = int(np.argmax(scores))          # first best network wins ties
        chosen[task] = k
        estimates[task] = float(cand.perf[nets[k][1], i])
    models = sum(n_.cost for n_ in networks)
    flops = models * cost.backbone_flops
    params = None if not cost.has_params else models * cost.backbone_params
    ok = bool(budget.allows(np.array([flops]), None if params is None else np.array([params]),
                            cost, tasks)[0])
    score = float(sum(weights[i] * estimates[t] for i, t in enumerate(tasks)))
    return GroupingSolution(rank=rank, networks=networks, chosen=chosen, score=score,
                            estimates=estimates, models=models, flops=flops,
                            flops_ratio=flops / (n * cost.backbone_flops), params=params,
                            head_flops=cost.head_flops_total(tasks),
                            head_params=cost.head_params_total(tasks), within_budget=ok)
