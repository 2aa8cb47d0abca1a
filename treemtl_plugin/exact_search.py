"""Exact top-k layouts under a budget, and the Pareto front, without enumerating the space.

Depth-first branch-and-bound over the design-space enumerator's construction: tasks are
inserted one at a time (every layout arises exactly once), a whole chunk of partial layouts
is extended and pruned per numpy operation, and promising rows are expanded first.

* **Cost** only grows as tasks are inserted (task ``i`` adds the blocks it does not share
  with earlier tasks), so a partial layout over budget is pruned exactly.
* **Score bound**: the pairs among inserted tasks are known; the pairs of each future task
  with the inserted ones are at most its best attachment to the current partial tree; pairs
  of two future tasks contribute at most their best value over all branch points.
* A partial layout is dropped when its bound cannot reach the k-th best complete layout
  found so far (ties kept), or, for the Pareto front, when a found layout costs no more and
  scores at least its bound.

The result is identical to enumeration: candidates are re-scored and ranked with the same
canonical rows and :func:`~treemtl_plugin.recommender.rank_order`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .cost import Budget, CostModel
from .design_space import (LayoutChunk, _extend, _full_matrix, _num_children, pair_columns,
                           pair_index)
from .estimator import TaskAccuracyEstimator

SEARCH_CHUNK_ROWS = 1 << 15


@dataclass
class SearchResult:
    branch_points: np.ndarray    # canonical rows (pair_index order of the table's tasks)
    scores: np.ndarray
    flops: np.ndarray
    params: np.ndarray | None
    nodes: int                   # partial layouts generated
    seconds: float


def _insertion_order(estimator: TaskAccuracyEstimator) -> list[int]:
    """Tasks with the widest spread of pair values first: their choices matter most."""
    n = estimator.num_tasks
    spread = np.zeros(n)
    for p, (j, i) in enumerate(estimator.pairs):
        gain = estimator.pair_gain[p]
        spread[i] += gain.max() - gain.min()
        spread[j] += gain.max() - gain.min()
    return [int(k) for k in np.argsort(-spread, kind='stable')]


class _Problem:
    """Pair gains and costs re-indexed to the insertion order."""

    def __init__(self, estimator: TaskAccuracyEstimator, cost: CostModel, order: list[int]):
        n, B = estimator.num_tasks, estimator.num_blocks
        self.n, self.B, self.order = n, B, order
        canon_cols = pair_columns(n)
        self.pairs = pair_index(n)                       # insertion-order pairs (j<i)
        self.gain = np.array([estimator.pair_gain[canon_cols[order[j], order[i]]]
                              for j, i in self.pairs])   # (P, B+1)
        # best value of a pair given an upper limit on its branch point: prefix maxima
        self.best_upto = np.maximum.accumulate(self.gain, axis=1)
        # pairs with both tasks still to come contribute at most their overall maximum
        start = [i * (i - 1) // 2 for i in range(n + 1)]
        self.col_start = start
        pair_max = self.gain.max(axis=1)
        # pairs whose later task is not inserted yet: at most their best value each
        self.future_pairs = np.array([sum(pair_max[c] for c, (_, later) in
                                          enumerate(self.pairs) if later >= i)
                                      for i in range(n + 1)])
        flops = np.asarray(cost.flops_of(np.eye(B)))
        self.suffix_flops = np.concatenate([np.cumsum(flops[::-1])[::-1], [0.0]])
        params = cost.params_of(np.eye(B))
        self.suffix_params = None if params is None else \
            np.concatenate([np.cumsum(np.asarray(params)[::-1])[::-1], [0.0]])

    def known_score(self, bp: np.ndarray) -> np.ndarray:
        total = np.zeros(len(bp))
        for c in range(bp.shape[1]):
            total += self.gain[c][bp[:, c]]
        return total

    def partial_cost(self, depth: np.ndarray, suffix) -> np.ndarray:
        """Cost of the inserted tasks: task i pays the blocks from its attach depth on."""
        return suffix[np.maximum(depth.astype(np.int64), 0)].sum(axis=1)

    def bound(self, bp: np.ndarray, depth: np.ndarray, inserted: int) -> np.ndarray:
        """Upper bound on the final score: known pairs + each undecided pair's best value.

        The pairs between inserted and future tasks are bounded jointly: a future task ``j``
        relates to the inserted ones as if it attached to the current tree at some task ``r``'s
        set and depth ``d`` (``b_kj = min(d, b_kr)``), so their sum is at most the best such
        attachment (far tighter than each pair's own maximum: ~100x fewer nodes at T=12).
        """
        ub = self.known_score(bp) + self.future_pairs[inserted]
        if inserted >= self.n:
            return ub
        full = _full_matrix(bp, inserted, self.B)
        for j in range(inserted, self.n):
            start = self.col_start[j]
            loose = sum(self.gain[start + k].max() for k in range(inserted))
            gains = self.gain[start:start + inserted]            # (k, B+1)
            best = np.full(len(bp), -np.inf)
            for d in range(self.B + 1):
                limited = np.minimum(full, d)                     # (rows, r, k)
                value = gains[np.arange(inserted)[None, None, :], limited].sum(axis=2)
                best = np.maximum(best, value.max(axis=1))
            ub += best - loose
        return ub


def _depth_first(prob: _Problem, select: Callable, accept: Callable) -> int:
    """Depth-first over task insertion in bounded chunks; returns partial layouts generated.

    ``select(chunk, inserted)`` returns the rows to keep, in the order to expand them;
    ``accept(chunk)`` receives the surviving complete layouts.
    """
    nodes = 0

    def grow(chunk: LayoutChunk, task: int) -> None:
        nonlocal nodes
        children = np.cumsum(_num_children(chunk.attach_depth, prob.B))
        pos = 0
        while pos < len(chunk):
            base = children[pos - 1] if pos else 0
            stop = max(int(np.searchsorted(children, base + SEARCH_CHUNK_ROWS, 'right')),
                       pos + 1)
            part = LayoutChunk(chunk.branch_points[pos:stop], chunk.attach_depth[pos:stop])
            pos = stop
            child = _extend(part, task, prob.B)
            nodes += len(child)
            rows = select(child, task + 1)
            if len(rows) == 0:
                continue
            child = LayoutChunk(child.branch_points[rows], child.attach_depth[rows])
            if task + 1 == prob.n:
                accept(child)
            else:
                grow(child, task + 1)

    root = LayoutChunk(np.zeros((1, 0), np.uint8), np.full((1, 1), -1, np.int16))
    if prob.n == 1:
        accept(root)
    else:
        grow(root, 1)
    return nodes


def _canonical_rows(bp: np.ndarray, order: list[int], n: int, B: int) -> np.ndarray:
    """Rows in insertion order -> rows in the table's task order (pair_index(n))."""
    ins_cols = pair_columns(n)
    out = np.empty_like(bp)
    for c, (j, i) in enumerate(pair_index(n)):     # canonical pair (j, i) of tasks j < i
        pos_j, pos_i = order.index(j), order.index(i)
        out[:, c] = bp[:, ins_cols[pos_j, pos_i]]
    return out


def search_top_layouts(estimator: TaskAccuracyEstimator, cost: CostModel, budget: Budget,
                       tasks: Sequence[str], topk: int,
                       progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Exact top-``topk`` layouts within ``budget`` by depth-first branch-and-bound."""
    from .recommender import rank_order
    start = time.perf_counter()
    n, B = estimator.num_tasks, estimator.num_blocks
    order = _insertion_order(estimator)
    prob = _Problem(estimator, cost, order)
    budget_flops, budget_params = _budget_limits(budget, cost, tasks)
    scale = max(1.0, float(np.abs(prob.gain).max()))
    tol = 1e-9 * scale * max(1, len(prob.pairs))
    best = dict(bp=np.zeros((0, len(prob.pairs)), np.uint8), score=np.zeros(0),
                threshold=_beam_threshold(prob, budget_flops, budget_params, topk) - tol)
    def accept(chunk: LayoutChunk) -> None:
        scores = prob.known_score(chunk.branch_points)
        merged_bp = np.concatenate([best['bp'], chunk.branch_points])
        merged = np.concatenate([best['score'], scores])
        keep = np.argsort(-merged, kind='stable')
        if len(keep) > topk:
            kth = merged[keep[topk - 1]]
            keep = keep[merged[keep] >= kth - tol]      # keep every tie of the k-th
            best['threshold'] = kth - tol
        best['bp'], best['score'] = merged_bp[keep], merged[keep]

    def select(child: LayoutChunk, inserted: int) -> np.ndarray:
        rows = np.flatnonzero(_within(prob, child.attach_depth, budget_flops, budget_params))
        if len(rows) == 0:
            return rows
        ub = prob.bound(child.branch_points[rows], child.attach_depth[rows], inserted)
        good = ub >= best['threshold']
        rows, ub = rows[good], ub[good]
        return rows[np.argsort(-ub, kind='stable')]     # promising rows first

    nodes = _depth_first(prob, select, accept)
    rows = _canonical_rows(best['bp'], order, n, B)
    scores = estimator.scores(rows)
    counts = _counts(rows, n, B)
    flops = cost.flops_of(counts)
    params = cost.params_of(counts)
    order_idx = rank_order(scores, flops, rows)[:topk]
    return SearchResult(rows[order_idx], scores[order_idx], flops[order_idx],
                        None if params is None else params[order_idx], nodes,
                        time.perf_counter() - start)


def _within(prob: _Problem, depth: np.ndarray, budget_flops, budget_params) -> np.ndarray:
    keep = np.ones(len(depth), dtype=bool)
    if budget_flops is not None:
        keep &= prob.partial_cost(depth, prob.suffix_flops) <= budget_flops
    if budget_params is not None:
        keep &= prob.partial_cost(depth, prob.suffix_params) <= budget_params
    return keep


def _beam_threshold(prob: _Problem, budget_flops, budget_params, topk: int,
                    width: int = 2048) -> float:
    """Score of the k-th best of a few good layouts found by beam search: a valid lower
    bound on the k-th best score, so the exact search can prune from the start."""
    chunk = LayoutChunk(np.zeros((1, 0), np.uint8), np.full((1, 1), -1, np.int16))
    for task in range(1, prob.n):
        chunk = _extend(chunk, task, prob.B)
        keep = _within(prob, chunk.attach_depth, budget_flops, budget_params)
        chunk = LayoutChunk(chunk.branch_points[keep], chunk.attach_depth[keep])
        if len(chunk) == 0:
            return -np.inf
        if len(chunk) > width:
            ub = prob.bound(chunk.branch_points, chunk.attach_depth, task + 1)
            sel = np.argpartition(-ub, width)[:width]
            chunk = LayoutChunk(chunk.branch_points[sel], chunk.attach_depth[sel])
    scores = np.sort(prob.known_score(chunk.branch_points))[::-1]
    return float(scores[topk - 1]) if len(scores) >= topk else -np.inf


def _counts(rows: np.ndarray, n: int, B: int) -> np.ndarray:
    """(rows, B) number of task sets per block of canonical rows."""
    cols = pair_columns(n)
    depth = np.full((len(rows), n), -1, dtype=np.int16)
    for i in range(1, n):
        depth[:, i] = rows[:, [cols[i, j] for j in range(i)]].max(axis=1)
    return LayoutChunk(rows, depth).sets_per_block(B)


def _budget_limits(budget: Budget, cost: CostModel, tasks) -> tuple[float | None, float | None]:
    """The budget as limits on backbone FLOPs and params (heads are the same everywhere)."""
    from .cost import BUDGET_RTOL
    one = cost.backbone_flops
    flops_limits = []
    if budget.max_flops is not None:
        flops_limits.append(budget.max_flops - cost.head_flops_total(tasks))
    if budget.max_models is not None:
        flops_limits.append(budget.max_models * one)
    if budget.max_flops_ratio is not None:
        flops_limits.append(budget.max_flops_ratio * len(tasks) * one)
    params_limit = None
    if budget.max_params is not None:
        budget.check_cost_model(cost)
        params_limit = (budget.max_params - cost.head_params_total(tasks)) * (1 + BUDGET_RTOL)
    flops_limit = min(flops_limits) * (1 + BUDGET_RTOL) if flops_limits else None
    return flops_limit, params_limit


def search_pareto_front(estimator: TaskAccuracyEstimator, cost: CostModel,
                        tasks: Sequence[str]) -> SearchResult:
    """Best score at each cost level (the score-vs-FLOPs Pareto front), exactly.

    A partial layout is dropped when a complete layout already found costs no more (its cost
    only grows) and scores at least the partial layout's bound.
    """
    start = time.perf_counter()
    n, B = estimator.num_tasks, estimator.num_blocks
    order = _insertion_order(estimator)
    prob = _Problem(estimator, cost, order)
    scale = max(1.0, float(np.abs(prob.gain).max()))
    tol = 1e-9 * scale * max(1, len(prob.pairs))
    front = dict(flops=np.zeros(0), best=np.zeros(0), bp=[], score=[], cost=[])

    def dominated(flops: np.ndarray, ub: np.ndarray) -> np.ndarray:
        if len(front['flops']) == 0:
            return np.zeros(len(ub), dtype=bool)
        idx = np.searchsorted(front['flops'], flops * (1 + 1e-12), side='right') - 1
        best = np.where(idx >= 0, front['best'][np.maximum(idx, 0)], -np.inf)
        return ub < best - tol

    def accept(chunk: LayoutChunk) -> None:
        bp = chunk.branch_points
        scores = prob.known_score(bp)
        flops = prob.partial_cost(chunk.attach_depth, prob.suffix_flops)
        keep = ~dominated(flops, scores)
        if not keep.any():
            return
        front['bp'].append(bp[keep])
        front['score'].append(scores[keep])
        front['cost'].append(flops[keep])
        all_flops = np.concatenate(front['cost'])
        all_scores = np.concatenate(front['score'])
        order_ = np.lexsort((-all_scores, all_flops))
        levels, first = np.unique(all_flops[order_], return_index=True)
        best = np.maximum.accumulate(all_scores[order_][first])
        front['flops'], front['best'] = levels, best

    def select(child: LayoutChunk, inserted: int) -> np.ndarray:
        ub = prob.bound(child.branch_points, child.attach_depth, inserted)
        flops = prob.partial_cost(child.attach_depth, prob.suffix_flops)
        keep = np.flatnonzero(~dominated(flops, ub))
        return keep[np.lexsort((-ub[keep], flops[keep]))]    # cheap and promising first

    nodes = _depth_first(prob, select, accept)
    rows = _canonical_rows(np.concatenate(front['bp']), order, n, B)
    scores = estimator.scores(rows)
    flops = cost.flops_of(_counts(rows, n, B))
    params = cost.params_of(_counts(rows, n, B))
    return SearchResult(rows, scores, flops, params, nodes, time.perf_counter() - start)
