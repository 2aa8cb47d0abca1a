"""Recommender: the top-k layouts under a budget, and the score-vs-FLOPs Pareto front.

Evaluates the design space in compact chunks (numpy arrays of branch points, no per-layout
Python objects on the hot path) and keeps only bounded buffers: the best rows within budget,
the best rows overall (for the CSV of the evaluated space) and the best row per cost level.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .cost import Budget, CostModel
from .design_space import (DEFAULT_CHUNK_ROWS, _full_matrix, count_layouts,
                           iter_layout_chunks)
from .estimator import TaskAccuracyEstimator, resolve_task_weights
from .layout import Layout
from .two_task_table import TwoTaskTable

DEFAULT_MAX_LAYOUTS = 50_000_000
DEFAULT_CSV_ROWS = 200_000
# 'auto' enumerates spaces up to this size (T=7 with B=5 is 2.2 M) and searches beyond it
DEFAULT_SEARCH_THRESHOLD = 5_000_000
METHODS = ('auto', 'enumerate', 'search')


class SpaceTooLargeError(ValueError):
    """The design space is too large to enumerate within the configured limit."""


@dataclass
class RankedLayout:
    """One recommended layout with its estimated accuracy and cost."""
    rank: int
    layout: Layout
    score: float
    estimates: dict[str, float]
    flops: float                     # backbone FLOPs of the layout (block copies)
    flops_ratio: float               # vs T independent backbones
    models: float                    # backbone-equivalents
    params: float | None
    head_flops: float
    head_params: float
    sets_per_block: list[int]
    within_budget: bool = True

    @property
    def flops_saving(self) -> float:
        """FLOPs saved vs independent models, in % (the paper's "FLOPs -x%")."""
        return 100.0 * (1.0 - self.flops_ratio)

    def to_dict(self) -> dict:
        return dict(rank=self.rank, layout=self.layout.to_list(), score=self.score,
                    estimates=self.estimates, flops=self.flops, flops_ratio=self.flops_ratio,
                    flops_saving_pct=self.flops_saving, models=self.models,
                    params=self.params, head_flops=self.head_flops,
                    head_params=self.head_params, sets_per_block=self.sets_per_block,
                    within_budget=self.within_budget, tree=self.layout.draw())


@dataclass
class EvaluatedRows:
    """Compact evaluated layouts in rank order (the CSV of the space)."""
    branch_points: np.ndarray
    scores: np.ndarray
    flops: np.ndarray
    params: np.ndarray | None
    within_budget: np.ndarray


@dataclass
class Recommendation:
    """Result of :func:`recommend`."""
    tasks: tuple[str, ...]
    num_blocks: int
    weights: np.ndarray
    weights_note: str
    budget: Budget
    cost_model: CostModel
    top: list[RankedLayout]
    pareto: list[RankedLayout]
    num_layouts: int
    num_within_budget: int | None       # None when the space was searched, not enumerated
    evaluated: EvaluatedRows
    method: str = 'enumeration'
    seconds: float = 0.0
    search_nodes: int = 0               # partial layouts the exact search generated
    estimator: TaskAccuracyEstimator | None = field(default=None, repr=False)

    @property
    def evaluated_is_complete(self) -> bool:
        return len(self.evaluated.scores) == self.num_layouts

    def ranked_from_rows(self, rows: np.ndarray, start_rank: int = 1) -> list[RankedLayout]:
        return _ranked(rows, self.tasks, self.num_blocks, self.estimator, self.cost_model,
                       self.budget, start_rank)


def rank_order(scores: np.ndarray, flops: np.ndarray, branch_points: np.ndarray) -> np.ndarray:
    """Total order used everywhere: score desc, then FLOPs asc, then branch points asc.

    The last key makes ties deterministic (every layout has a distinct branch-point row).
    """
    keys = [branch_points[:, p] for p in range(branch_points.shape[1] - 1, -1, -1)]
    return np.lexsort(keys + [flops, -scores])


class _BestRows:
    """Keeps the best ``capacity`` rows seen so far under :func:`rank_order`."""

    def __init__(self, capacity: int, width: int, with_params: bool):
        self.capacity = capacity
        self.bp = np.zeros((0, width), dtype=np.uint8)
        self.score = np.zeros(0)
        self.flops = np.zeros(0)
        self.params = np.zeros(0) if with_params else None
        self.ok = np.zeros(0, dtype=bool)

    def add(self, bp, score, flops, params, ok) -> None:
        if self.capacity <= 0 or len(score) == 0:
            return
        if len(self.score) >= self.capacity:
            keep = score >= self.score[-1]   # cannot beat the current worst otherwise
            if not keep.any():
                return
            bp, score, flops, ok = bp[keep], score[keep], flops[keep], ok[keep]
            params = None if params is None else params[keep]
        bp = np.concatenate([self.bp, bp])
        score = np.concatenate([self.score, score])
        flops = np.concatenate([self.flops, flops])
        ok = np.concatenate([self.ok, ok])
        order = rank_order(score, flops, bp)[:self.capacity]
        self.bp, self.score, self.flops, self.ok = bp[order], score[order], flops[order], \
            ok[order]
        if self.params is not None:
            self.params = np.concatenate([self.params, params])[order]


class _ParetoLevels:
    """Best row (under :func:`rank_order`) for each distinct backbone-FLOPs value."""

    def __init__(self, width: int, with_params: bool):
        self.rows = _BestRows(np.iinfo(np.int64).max, width, with_params)

    def add(self, bp, score, flops, params, ok) -> None:
        levels, inverse = np.unique(flops, return_inverse=True)
        best = np.full(len(levels), -np.inf)
        np.maximum.at(best, inverse, score)
        cand = score == best[inverse]
        merged_bp = np.concatenate([self.rows.bp, bp[cand]])
        merged_score = np.concatenate([self.rows.score, score[cand]])
        merged_flops = np.concatenate([self.rows.flops, flops[cand]])
        merged_ok = np.concatenate([self.rows.ok, ok[cand]])
        order = rank_order(merged_score, merged_flops, merged_bp)
        _, first = np.unique(merged_flops[order], return_index=True)
        pick = order[first]
        self.rows.bp, self.rows.score = merged_bp[pick], merged_score[pick]
        self.rows.flops, self.rows.ok = merged_flops[pick], merged_ok[pick]
        if params is not None:
            self.rows.params = np.concatenate([self.rows.params, params[cand]])[pick]

    def front(self) -> np.ndarray:
        """Indices (cheapest first) of levels that beat every cheaper level's score."""
        order = np.argsort(self.rows.flops, kind='stable')
        keep, best = [], -np.inf
        for k in order:
            if self.rows.score[k] > best:
                keep.append(k)
                best = self.rows.score[k]
        return np.array(keep, dtype=np.int64)


def _ranked(rows: np.ndarray, tasks, num_blocks, estimator, cost, budget,
            start_rank=1) -> list[RankedLayout]:
    """Materialise compact rows as :class:`RankedLayout` objects."""
    if len(rows) == 0:
        return []
    rows = np.asarray(rows)
    num_tasks = len(tasks)
    full = _full_matrix(rows, num_tasks, num_blocks)
    est = estimator.estimates_matrix(rows)
    scores = estimator.scores(rows)
    head_flops, head_params = cost.head_flops_total(tasks), cost.head_params_total(tasks)
    out = []
    for k in range(len(rows)):
        layout = Layout.from_branch_points(tasks, full[k], num_blocks)
        counts = layout.sets_per_block()
        flops = float(cost.flops_of(counts[None])[0])
        params = cost.params_of(counts[None])
        params = None if params is None else float(params[0])
        ok = bool(budget.allows(np.array([flops]), None if params is None else
                                np.array([params]), cost, tasks)[0])
        out.append(RankedLayout(
            rank=start_rank + k, layout=layout, score=float(scores[k]),
            estimates={t: float(est[k, i]) for i, t in enumerate(tasks)},
            flops=flops, flops_ratio=flops / (num_tasks * cost.backbone_flops),
            models=flops / cost.backbone_flops, params=params, head_flops=head_flops,
            head_params=head_params, sets_per_block=counts.tolist(), within_budget=ok))
    return out


def recommend(table: TwoTaskTable, cost_model: CostModel, budget: Budget | None = None,
              topk: int = 5, task_weights='svde', csv_rows: int = DEFAULT_CSV_ROWS,
              max_layouts: int = DEFAULT_MAX_LAYOUTS, chunk_rows: int = DEFAULT_CHUNK_ROWS,
              progress: Callable[[int, int], None] | None = None, method: str = 'auto',
              search_threshold: int = DEFAULT_SEARCH_THRESHOLD) -> Recommendation:
    """Score every layout and return the top-``topk`` within ``budget``.

    ``method``: 'enumerate' evaluates the whole space (every layout in layouts.csv up to
    ``csv_rows``); 'search' runs the exact branch-and-bound of ``exact_search`` (same top-k
    and Pareto front, without enumerating); 'auto' enumerates spaces of at most
    ``search_threshold`` layouts and searches larger ones.

    ``task_weights``: 'svde' (the paper's), 'uniform', a list or a {task: weight} dict.
    ``csv_rows``: how many best layouts (ignoring the budget) to keep for the CSV of the space.
    ``progress(done, total)`` is called after each chunk.
    """
    start = time.perf_counter()
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f'topk must be a positive integer, got {topk!r}')
    if method not in METHODS:
        raise ValueError(f'method must be one of {list(METHODS)}, got {method!r}')
    budget = budget or Budget()
    tasks = table.tasks
    num_blocks = table.num_blocks
    if cost_model.num_blocks != num_blocks:
        raise ValueError(f'the cost model has {cost_model.num_blocks} blocks but the two-task '
                         f'table {table.source} has B={num_blocks} branching points; give one '
                         'block_flops entry per branching point')
    budget.check_feasible(cost_model, tasks)
    total = count_layouts(len(tasks), num_blocks)
    if method == 'search' or (method == 'auto' and total > search_threshold):
        weights, note = resolve_task_weights(table.values, tasks, task_weights)
        estimator = TaskAccuracyEstimator(table.values, weights)
        return _recommend_by_search(table, cost_model, budget, topk, estimator, weights, note,
                                    total, start)
    if total > max_layouts:
        raise SpaceTooLargeError(
            f'{len(tasks)} tasks over {num_blocks} blocks give {total:,} layouts, above the '
            f'enumeration limit max_layouts={max_layouts:,}. Use fewer tasks or coarser '
            'branching points, or raise the limit.')
    weights, note = resolve_task_weights(table.values, tasks, task_weights)
    estimator = TaskAccuracyEstimator(table.values, weights)

    width = len(tasks) * (len(tasks) - 1) // 2
    with_params = cost_model.has_params
    best_in_budget = _BestRows(topk, width, with_params)
    best_overall = _BestRows(csv_rows, width, with_params)
    levels = _ParetoLevels(width, with_params)
    done = within = 0
    for chunk in iter_layout_chunks(len(tasks), num_blocks, chunk_rows):
        bp = chunk.branch_points
        counts = chunk.sets_per_block(num_blocks)
        flops = cost_model.flops_of(counts)
        params = cost_model.params_of(counts)
        scores = estimator.scores(bp)
        ok = budget.allows(flops, params, cost_model, tasks)
        within += int(ok.sum())
        sel = np.flatnonzero(ok)
        best_in_budget.add(bp[sel], scores[sel], flops[sel],
                           None if params is None else params[sel], ok[sel])
        best_overall.add(bp, scores, flops, params, ok)
        levels.add(bp, scores, flops, params, ok)
        done += len(bp)
        if progress is not None:
            progress(done, total)

    top = _ranked(best_in_budget.bp, tasks, num_blocks, estimator, cost_model, budget)
    front = levels.front()
    pareto = _ranked(levels.rows.bp[front], tasks, num_blocks, estimator, cost_model, budget)
    for item in pareto:
        item.rank = 0  # the front is ordered by cost, not by score
    evaluated = EvaluatedRows(best_overall.bp, best_overall.score, best_overall.flops,
                              best_overall.params, best_overall.ok)
    return Recommendation(
        tasks=tasks, num_blocks=num_blocks, weights=weights, weights_note=note,
        budget=budget, cost_model=cost_model, top=top, pareto=pareto, num_layouts=done,
        num_within_budget=within, evaluated=evaluated, method='enumeration',
        seconds=time.perf_counter() - start, estimator=estimator)


def _recommend_by_search(table, cost_model, budget, topk, estimator, weights, note, total,
                         start) -> Recommendation:
    """Top-k and Pareto front by exact branch-and-bound (no enumeration)."""
    from .exact_search import search_pareto_front, search_top_layouts
    tasks, num_blocks = table.tasks, table.num_blocks
    top_rows = search_top_layouts(estimator, cost_model, budget, tasks, topk)
    front_rows = search_pareto_front(estimator, cost_model, tasks)
    order = rank_order(front_rows.scores, front_rows.flops, front_rows.branch_points)
    keep, best = [], -np.inf
    for k in sorted(order, key=lambda k: (front_rows.flops[k], -front_rows.scores[k])):
        if front_rows.scores[k] > best:
            keep.append(k)
            best = front_rows.scores[k]
    top = _ranked(top_rows.branch_points, tasks, num_blocks, estimator, cost_model, budget)
    pareto = _ranked(front_rows.branch_points[keep], tasks, num_blocks, estimator, cost_model,
                     budget)
    for item in pareto:
        item.rank = 0
    rows = np.concatenate([top_rows.branch_points, front_rows.branch_points[keep]])
    scores = estimator.scores(rows)
    flops = np.array([r.flops for r in top + pareto])
    params = None if not cost_model.has_params else np.array([r.params for r in top + pareto])
    ok = np.array([r.within_budget for r in top + pareto])
    order = rank_order(scores, flops, rows)
    evaluated = EvaluatedRows(rows[order], scores[order], flops[order],
                              None if params is None else params[order], ok[order])
    return Recommendation(
        tasks=tasks, num_blocks=num_blocks, weights=weights, weights_note=note, budget=budget,
        cost_model=cost_model, top=top, pareto=pareto, num_layouts=total,
        num_within_budget=None, evaluated=evaluated,
        method='exact search (branch-and-bound)', seconds=time.perf_counter() - start,
        estimator=estimator, search_nodes=top_rows.nodes + front_rows.nodes)
