"""Pareto plot of a recommendation: estimated score vs backbone FLOPs (matplotlib, headless)."""
from __future__ import annotations

import numpy as np

from .recommender import Recommendation

MAX_SCATTER_POINTS = 50_000


def budget_flops_limit(rec: Recommendation) -> float | None:
    """The budget as a limit on backbone FLOPs (for the plot's budget line), if it has one."""
    cost, budget = rec.cost_model, rec.budget
    limits = []
    if budget.max_flops is not None:
        limits.append(budget.max_flops - cost.head_flops_total(rec.tasks))
    if budget.max_models is not None:
        limits.append(budget.max_models * cost.backbone_flops)
    if budget.max_flops_ratio is not None:
        limits.append(budget.max_flops_ratio * len(rec.tasks) * cost.backbone_flops)
    return min(limits) if limits else None


def plot_pareto(rec: Recommendation, path: str) -> None:
    """Scatter of evaluated layouts, the Pareto front, the top-k and the budget line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    ev = rec.evaluated
    unit = rec.cost_model.flops_unit
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    n = len(ev.scores)
    idx = np.arange(n)
    if n > MAX_SCATTER_POINTS:  # a deterministic, evenly spread sample keeps the PNG readable
        idx = np.linspace(0, n - 1, MAX_SCATTER_POINTS).astype(np.int64)
    inside = ev.within_budget[idx]
    label = 'layouts' if rec.evaluated_is_complete else f'best {n:,} layouts'
    ax.scatter(ev.flops[idx][inside], ev.scores[idx][inside], s=6, c='tab:blue', alpha=0.35,
               linewidths=0, label=f'{label} (within budget)')
    if (~inside).any():
        ax.scatter(ev.flops[idx][~inside], ev.scores[idx][~inside], s=6, c='0.6', alpha=0.35,
                   linewidths=0, label=f'{label} (over budget)')
    front_x = [p.flops for p in rec.pareto]
    front_y = [p.score for p in rec.pareto]
    ax.step(front_x, front_y, where='post', c='tab:orange', lw=1.5)
    ax.scatter(front_x, front_y, s=18, c='tab:orange', zorder=3, label='Pareto front')
    for item in rec.top:
        ax.scatter([item.flops], [item.score], s=90, facecolors='none', edgecolors='tab:red',
                   linewidths=1.5, zorder=4)
        ax.annotate(f'#{item.rank}', (item.flops, item.score), textcoords='offset points',
                    xytext=(5, 5), fontsize=8, color='tab:red')
    ax.scatter([], [], s=90, facecolors='none', edgecolors='tab:red', label=f'top-{len(rec.top)}')
    limit = budget_flops_limit(rec)
    if limit is not None:
        ax.axvline(limit, c='tab:red', ls='--', lw=1, label=f'budget ({rec.budget.describe(rec.cost_model)})')
    one = rec.cost_model.backbone_flops
    for k in range(1, len(rec.tasks) + 1):
        ax.axvline(k * one, c='0.85', lw=0.6, zorder=0)
    ax.set_xlabel(f'backbone FLOPs ({unit}); grey lines = k backbones')
    ax.set_ylabel('estimated score (weighted relative performance, %)')
    ax.set_title(f'{len(rec.tasks)} tasks, {rec.num_blocks} branching points: '
                 f'{rec.num_layouts:,} layouts')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
