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
canonical rows, :func:`~treemtl_plugin.core.ranking.rank_order` and
:func:`~treemtl_plugin.core.ranking.pareto_front`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..cost import BudgetLimits, CostModel
from ..encoding import (
    LayoutChunk,
    attach_depths,
    extend,
    full_matrix,
    grow,
    pair_columns,
    pair_index,
    root_chunk,
    sets_per_block,
)
from ..estimator import TaskAccuracyEstimator
from ..ranking import Rows, pareto_front, rank_order

__all__ = ['SearchResult', 'search_top_layouts', 'search_pareto_front']

SEARCH_CHUNK_ROWS = 1 << 15


@dataclass
class SearchResult:
    rows: Rows                   # canonical rows (pair_index order of the table's tasks)
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

    @property
    def tolerance(self) -> float:
        """Scores equal up to float rounding of their sums count as ties."""
        return 1e-9 * max(1.0, float(np.abs(self.gain).max())) * max(1, len(self.pairs))

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
        full = full_matrix(bp, inserted, self.B)
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


def _canonical_rows(bp: np.ndarray, order: list[int], n: int, B: int) -> np.ndarray:
    """Rows in insertion order -> rows in the table's task order (pair_index(n))."""
    ins_cols = pair_columns(n)
    out = np.empty_like(bp)
    for c, (j, i) in enumerate(pair_index(n)):     # canonical pair (j, i) of tasks j < i
        pos_j, pos_i = order.index(j), order.index(i)
        out[:, c] = bp[:, ins_cols[pos_j, pos_i]]
    return out


def search_top_layouts(estimator: TaskAccuracyEstimator, cost: CostModel,
                       limits: BudgetLimits, topk: int) -> SearchResult:
    """Exact top-``topk`` layouts within ``limits`` by depth-first branch-and-bound."""
    start = time.perf_counter()
    n, B = estimator.num_tasks, estimator.num_blocks
    order = _insertion_order(estimator)
    prob = _Problem(estimator, cost, order)
    tol = prob.tolerance
    best = dict(bp=np.zeros((0, len(prob.pairs)), np.uint8), score=np.zeros(0),
                threshold=_beam_threshold(prob, limits, topk) - tol)

    def select(child: LayoutChunk, inserted: int) -> np.ndarray:
        rows = np.flatnonzero(_within(prob, child.attach_depth, limits))
        if len(rows) == 0:
            return rows
        ub = prob.bound(child.branch_points[rows], child.attach_depth[rows], inserted)
        good = ub >= best['threshold']
        rows, ub = rows[good], ub[good]
        return rows[np.argsort(-ub, kind='stable')]     # promising rows first

    nodes = [0]
    for chunk in grow(n, B, SEARCH_CHUNK_ROWS, select, nodes):
        scores = prob.known_score(chunk.branch_points)
        merged_bp = np.concatenate([best['bp'], chunk.branch_points])
        merged = np.concatenate([best['score'], scores])
        keep = np.argsort(-merged, kind='stable')
        if len(keep) > topk:
            kth = merged[keep[topk - 1]]
            keep = keep[merged[keep] >= kth - tol]      # keep every tie of the k-th
            best['threshold'] = kth - tol
        best['bp'], best['score'] = merged_bp[keep], merged[keep]
    rows = _scored_rows(_canonical_rows(best['bp'], order, n, B), estimator, cost, limits)
    return SearchResult(rows.take(rank_order(rows.scores, rows.flops,
                                             rows.branch_points)[:topk]),
                        nodes[0], time.perf_counter() - start)


def _scored_rows(rows: np.ndarray, estimator: TaskAccuracyEstimator, cost: CostModel,
                 limits: BudgetLimits) -> Rows:
    counts = sets_per_block(attach_depths(rows, estimator.num_tasks), estimator.num_blocks)
    flops, params = cost.flops_of(counts), cost.params_of(counts)
    return Rows(rows, estimator.scores(rows), flops, params, limits.allows(flops, params))


def _within(prob: _Problem, depth: np.ndarray, limits: BudgetLimits) -> np.ndarray:
    keep = np.ones(len(depth), dtype=bool)
    if limits.flops is not None:
        keep &= prob.partial_cost(depth, prob.suffix_flops) <= limits.flops
    if limits.params is not None:
        keep &= prob.partial_cost(depth, prob.suffix_params) <= limits.params
    return keep


def _beam_threshold(prob: _Problem, limits: BudgetLimits, topk: int,
                    width: int = 2048) -> float:
    """Score of the k-th best of a few good layouts found by beam search: a valid lower
    bound on the k-th best score, so the exact search can prune from the start."""
    chunk = root_chunk()
    for task in range(1, prob.n):
        chunk = extend(chunk, task, prob.B)
        chunk = chunk.take(_within(prob, chunk.attach_depth, limits))
        if len(chunk) == 0:
            return -np.inf
        if len(chunk) > width:
            ub = prob.bound(chunk.branch_points, chunk.attach_depth, task + 1)
            sel = np.argpartition(-ub, width)[:width]
            chunk = chunk.take(sel)
    scores = np.sort(prob.known_score(chunk.branch_points))[::-1]
    return float(scores[topk - 1]) if len(scores) >= topk else -np.inf


def search_pareto_front(estimator: TaskAccuracyEstimator, cost: CostModel,
                        limits: BudgetLimits | None = None) -> SearchResult:
    """Best score at each cost level (the score-vs-FLOPs Pareto front), exactly, cheapest first.

    A partial layout is dropped when a complete layout already found costs no more (its cost
    only grows) and scores at least the partial layout's bound. ``limits`` only marks which
    front layouts are within budget.
    """
    start = time.perf_counter()
    n, B = estimator.num_tasks, estimator.num_blocks
    order = _insertion_order(estimator)
    prob = _Problem(estimator, cost, order)
    tol = prob.tolerance
    front = dict(flops=np.zeros(0), best=np.zeros(0), bp=[], score=[], cost=[])

    def dominated(flops: np.ndarray, ub: np.ndarray) -> np.ndarray:
        if len(front['flops']) == 0:
            return np.zeros(len(ub), dtype=bool)
        idx = np.searchsorted(front['flops'], flops * (1 + 1e-12), side='right') - 1
        best = np.where(idx >= 0, front['best'][np.maximum(idx, 0)], -np.inf)
        return ub < best - tol

    def select(child: LayoutChunk, inserted: int) -> np.ndarray:
        ub = prob.bound(child.branch_points, child.attach_depth, inserted)
        flops = prob.partial_cost(child.attach_depth, prob.suffix_flops)
        keep = np.flatnonzero(~dominated(flops, ub))
        return keep[np.lexsort((-ub[keep], flops[keep]))]    # cheap and promising first

    nodes = [0]
    for chunk in grow(n, B, SEARCH_CHUNK_ROWS, select, nodes):
        bp = chunk.branch_points
        scores = prob.known_score(bp)
        flops = prob.partial_cost(chunk.attach_depth, prob.suffix_flops)
        keep = ~dominated(flops, scores)
        if not keep.any():
            continue
        front['bp'].append(bp[keep])
        front['score'].append(scores[keep])
        front['cost'].append(flops[keep])
        all_flops = np.concatenate(front['cost'])
        all_scores = np.concatenate(front['score'])
        order_ = np.lexsort((-all_scores, all_flops))
        levels, first = np.unique(all_flops[order_], return_index=True)
        front['flops'], front['best'] = levels, np.maximum.accumulate(all_scores[order_][first])
    rows = _scored_rows(_canonical_rows(np.concatenate(front['bp']), order, n, B), estimator,
                        cost, limits or BudgetLimits(None, None))
    rows = rows.take(rank_order(rows.scores, rows.flops, rows.branch_points))
    return SearchResult(rows.take(pareto_front(rows.flops, rows.scores)), nodes[0],
                        time.perf_counter() - start)
