"""Top-k and Pareto front by evaluating every layout of the design space.

The space is streamed in compact chunks (numpy arrays of branch points, no per-layout Python
objects on the hot path) and only bounded buffers are kept: the best rows within budget, the
best rows overall (the CSV of the evaluated space) and the best row per cost level.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..cost import BudgetLimits, CostModel
from ..design_space import iter_layout_chunks
from ..encoding import DEFAULT_CHUNK_ROWS
from ..estimator import TaskAccuracyEstimator
from ..ranking import BestRows, FrontLevels, Rows

__all__ = ['EnumerationResult', 'enumerate_space']


@dataclass
class EnumerationResult:
    top: Rows                 # best ``topk`` within budget, rank order
    front: Rows               # Pareto front, cheapest first
    evaluated: Rows           # best ``csv_rows`` overall, rank order
    num_layouts: int
    num_within_budget: int


def enumerate_space(estimator: TaskAccuracyEstimator, cost: CostModel, limits: BudgetLimits,
                    topk: int, csv_rows: int, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    progress: Callable[[int, int], None] | None = None,
                    total: int | None = None) -> EnumerationResult:
    """Score every layout; keep the top-``topk`` within ``limits``, the front and the best
    ``csv_rows`` overall. ``progress(done, total)`` is called after each chunk."""
    num_tasks, num_blocks = estimator.num_tasks, estimator.num_blocks
    width = num_tasks * (num_tasks - 1) // 2
    with_params = cost.has_params
    in_budget = BestRows(topk, width, with_params)
    overall = BestRows(csv_rows, width, with_params)
    levels = FrontLevels(width, with_params)
    done = within = 0
    for chunk in iter_layout_chunks(num_tasks, num_blocks, chunk_rows):
        bp = chunk.branch_points
        counts = chunk.sets_per_block(num_blocks)
        flops = cost.flops_of(counts)
        params = cost.params_of(counts)
        scores = estimator.scores(bp)
        ok = limits.allows(flops, params)
        within += int(ok.sum())
        sel = np.flatnonzero(ok)
        in_budget.add(bp[sel], scores[sel], flops[sel],
                      None if params is None else params[sel], ok[sel])
        overall.add(bp, scores, flops, params, ok)
        levels.add(bp, scores, flops, params, ok)
        done += len(bp)
        if progress is not None:
            progress(done, total or done)
    return EnumerationResult(top=in_budget.rows(), front=levels.rows(levels.front()),
                             evaluated=overall.rows(), num_layouts=done,
                             num_within_budget=within)
