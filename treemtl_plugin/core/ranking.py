"""The one ranking order, bounded best-row buffers, and the Pareto filter.

Every search (enumeration, branch-and-bound) ranks compact layout rows with :func:`rank_order`
and reduces candidates to a score-vs-FLOPs front with :func:`pareto_front`, so their results are
identical row for row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['rank_order', 'pareto_front', 'Rows', 'BestRows', 'FrontLevels']


def rank_order(scores: np.ndarray, flops: np.ndarray, branch_points: np.ndarray) -> np.ndarray:
    """Total order used everywhere: score desc, then FLOPs asc, then branch points asc.

    The last key makes ties deterministic (every layout has a distinct branch-point row).
    """
    keys = [branch_points[:, p] for p in range(branch_points.shape[1] - 1, -1, -1)]
    return np.lexsort(keys + [flops, -scores])


def pareto_front(flops: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the rows on the score-vs-FLOPs front, cheapest first.

    A row is kept when it scores strictly higher than every cheaper-or-equal row before it;
    among rows of equal FLOPs the first in ``rank_order`` should come first in the input.
    """
    order = np.lexsort((-np.asarray(scores), np.asarray(flops)))   # cheap first, best first
    keep, best = [], -np.inf
    for k in order:
        if scores[k] > best:
            keep.append(k)
            best = scores[k]
    return np.array(keep, dtype=np.int64)


class BestRows:
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
        self._set(np.concatenate([self.bp, bp]), np.concatenate([self.score, score]),
                  np.concatenate([self.flops, flops]),
                  None if self.params is None else np.concatenate([self.params, params]),
                  np.concatenate([self.ok, ok]), slice(0, self.capacity))

    def rows(self, idx=slice(None)) -> 'Rows':
        return Rows(self.bp, self.score, self.flops, self.params, self.ok).take(idx)

    def _set(self, bp, score, flops, params, ok, pick) -> None:
        order = rank_order(score, flops, bp)[pick]
        self.bp, self.score, self.flops, self.ok = bp[order], score[order], flops[order], \
            ok[order]
        if self.params is not None:
            self.params = params[order]


class FrontLevels(BestRows):
    """The best row (under :func:`rank_order`) at each distinct backbone-FLOPs value."""

    def __init__(self, width: int, with_params: bool):
        super().__init__(np.iinfo(np.int64).max, width, with_params)

    def add(self, bp, score, flops, params, ok) -> None:
        levels, inverse = np.unique(flops, return_inverse=True)
        best = np.full(len(levels), -np.inf)
        np.maximum.at(best, inverse, score)
        cand = score == best[inverse]
        bp = np.concatenate([self.bp, bp[cand]])
        score = np.concatenate([self.score, score[cand]])
        flops = np.concatenate([self.flops, flops[cand]])
        ok = np.concatenate([self.ok, ok[cand]])
        params = None if self.params is None else np.concatenate([self.params, params[cand]])
        order = rank_order(score, flops, bp)
        _, first = np.unique(flops[order], return_index=True)
        self.bp, self.score, self.flops, self.ok = (a[order[first]] for a in (bp, score, flops,
                                                                               ok))
        if self.params is not None:
            self.params = params[order[first]]

    def front(self) -> np.ndarray:
        """Indices (cheapest first) of levels that beat every cheaper level's score."""
        return pareto_front(self.flops, self.score)


@dataclass
class Rows:
    """Compact layouts with their scores and costs, in rank order."""
    branch_points: np.ndarray
    scores: np.ndarray
    flops: np.ndarray
    params: np.ndarray | None
    within_budget: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, idx) -> 'Rows':
        return Rows(self.branch_points[idx], self.scores[idx], self.flops[idx],
                    None if self.params is None else self.params[idx], self.within_budget[idx])

    def concat(self, other: 'Rows') -> 'Rows':
        return Rows(np.concatenate([self.branch_points, other.branch_points]),
                    np.concatenate([self.scores, other.scores]),
                    np.concatenate([self.flops, other.flops]),
                    None if self.params is None else np.concatenate([self.params, other.params]),
                    np.concatenate([self.within_budget, other.within_budget]))
