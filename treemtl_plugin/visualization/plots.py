"""Plots (matplotlib, headless): score vs FLOPs of a recommendation, strategy comparison."""
from __future__ import annotations

import numpy as np

from ..evaluation.agreement import stored
from ..recommenders.base import Recommendation

__all__ = ['plot_pareto', 'plot_comparison', 'plot_validation', 'place_labels']

MAX_SCATTER_POINTS = 50_000


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> None:
    """savefig to a temporary file, then rename (concurrent writers never leave half a PNG)."""
    from ..io.atomic import atomic_write
    atomic_write(path, lambda f: fig.savefig(f, format='png'), mode='wb')


def _marker_style(n: int) -> tuple[float, float]:
    """Point size and alpha: big and opaque for a few points, small and light for many."""
    if n <= 100:
        return 36.0, 0.85
    if n <= 5_000:
        return 14.0, 0.5
    return 5.0, 0.3


def place_labels(ax, xs, ys, texts, fontsize: float = 8.0, color: str = 'tab:red') -> list:
    """Annotate points with labels that overlap neither each other nor the labelled points
    (greedy, in pixel space).

    Each label tries offsets on growing rings around its point and takes the first whose box
    overlaps nothing placed before; a thin line joins a displaced label to its point.
    """
    fig = ax.figure
    fig.canvas.draw()
    out = []
    marker = 9.0      # the points themselves (their circles) are kept free too
    placed = [(px - marker, py - marker, px + marker, py + marker)
              for px, py in (ax.transData.transform((x, y)) for x, y in zip(xs, ys))]
    char_w, line_h = 0.62 * fontsize * fig.dpi / 72, 1.3 * fontsize * fig.dpi / 72
    rings = [(dx * r, dy * r) for r in (2, 3, 4, 6, 8, 11)
             for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (0, 1), (-1, 0), (0, -1))]
    for x, y, text in zip(xs, ys, texts):
        px, py = ax.transData.transform((x, y))
        w, h = char_w * len(text), line_h
        for dx, dy in rings:
            ox, oy = 6 * dx + (0 if dx >= 0 else -w), 6 * dy + (0 if dy >= 0 else -h)
            box = (px + ox, py + oy, px + ox + w, py + oy + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in placed):
                break
        placed.append(box)
        far = abs(dx) > 1 or abs(dy) > 1
        out.append(ax.annotate(
            text, (x, y), xytext=(box[0] - px, box[1] - py), textcoords='offset pixels',
            fontsize=fontsize, color=color, zorder=6,
            arrowprops=dict(arrowstyle='-', color=color, lw=0.6) if far else None))
    return out


def plot_pareto(rec: Recommendation, path: str) -> list[str]:
    """Evaluated candidates (score vs backbone FLOPs), the Pareto front, the top-k and the
    budget line, with every point visible and non-overlapping top-k labels; returns the
    legend's labels."""
    plt = _pyplot()
    flops, scores, inside = rec.evaluated_points()
    n = len(scores)
    idx = np.arange(n)
    if n > MAX_SCATTER_POINTS:   # a deterministic, evenly spread sample keeps the PNG readable
        idx = np.linspace(0, n - 1, MAX_SCATTER_POINTS).astype(np.int64)
    size, alpha = _marker_style(len(idx))
    fig, ax = plt.subplots(figsize=(8.5, 5.5), dpi=120)
    what = rec.space_description
    ax.scatter(flops[idx][inside[idx]], scores[idx][inside[idx]], s=size, c='tab:blue',
               alpha=alpha, linewidths=0,
               label=f'{int(inside.sum()):,} of {what} (within budget)', zorder=2)
    if (~inside[idx]).any():
        ax.scatter(flops[idx][~inside[idx]], scores[idx][~inside[idx]], s=size, c='0.55',
                   alpha=alpha, linewidths=0,
                   label=f'{int((~inside).sum()):,} of {what} (over budget)', zorder=2)
    if rec.pareto:
        front_x = [p.flops for p in rec.pareto]
        front_y = [p.score for p in rec.pareto]
        ax.step(front_x, front_y, where='post', c='tab:orange', lw=1.5, zorder=3)
        ax.scatter(front_x, front_y, s=max(size, 20), c='tab:orange', zorder=4,
                   label='Pareto front')
    top_x = [c.flops for c in rec.top]
    top_y = [c.score for c in rec.top]
    ax.scatter(top_x, top_y, s=110, facecolors='none', edgecolors='tab:red', linewidths=1.6,
               zorder=5, label=f'top-{len(rec.top)}')
    limit = rec.budget.limits(rec.cost_model, rec.tasks).flops
    if limit is not None:
        ax.axvline(limit, c='tab:red', ls='--', lw=1,
                   label=f'budget ({rec.budget.describe(rec.cost_model)})')
    one = rec.cost_model.backbone_flops
    for k in range(1, len(rec.tasks) + 1):
        ax.axvline(k * one, c='0.85', lw=0.6, zorder=0)
    ax.set_xlabel(f'backbone FLOPs ({rec.cost_model.flops_unit}); grey lines = k backbones')
    ax.set_ylabel('estimated score (weighted relative performance, %)')
    ax.set_title(rec.summary_line.split(':')[0] + f': {what}', fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(x=0.08, y=0.12)
    legend = ax.legend(fontsize=7, loc='best', framealpha=0.85)
    fig.tight_layout()
    place_labels(ax, top_x, top_y, [f'#{c.rank}' for c in rec.top])
    _save(fig, path)
    plt.close(fig)
    return [t.get_text() for t in legend.get_texts()]


def plot_comparison(rows: list[dict], path: str, flops_unit: str = '') -> None:
    """Best tree layout vs best task grouping per budget. Left: both on the tree estimator's
    scale (the comparable numbers). Right: the grouping on Standley's own scale, kept apart
    because the two estimators average over different task sets."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=120)
    for ax, series, title in (
            (left, (('tree_score', 'best tree layout', 'o'),
                    ('grouping_score_tree_estimator', 'best task grouping', 's')),
             "common scale: the tree recommender's estimator"),
            (right, (('grouping_score', 'best task grouping', '^'),),
             "task grouping on Standley's estimator (not comparable)")):
        for key, label, marker in series:
            pts = [(r['max_models'], r[key]) for r in rows if r[key] is not None]
            if pts:
                ax.plot(*zip(*pts), marker=marker, label=label)
        ax.set_xlabel('budget (backbone-equivalents of FLOPs)')
        ax.set_ylabel('estimated score (%)')
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle('Tree layouts vs task grouping on the same two-task results', fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_validation(study: dict, path: str, k: int = 5) -> None:
    """Estimated vs trained score of every validated layout (mean ± SE of an N-seed mean,
    coloured by backbone FLOPs), the estimated top-k, the recommended layout and the known right
    tree marked; the spread, agreement and cost-alone figures in the title."""
    plt = _pyplot()
    tasks, seeds = study['tasks'], study['seeds']
    w = study['task_weights']
    items = study['layouts']
    est = np.array([item['estimated_score'] for item in items])
    per_seed = np.array([[sum(w[t] * item['measured'][str(s)][t] for t in tasks)
                          for s in seeds] for item in items])
    mean = per_seed.mean(axis=1)
    summary = study['summary']['weighted']
    noise = (summary.get('reliability') or {}).get('seed_sd')
    se = np.full(len(mean), stored(noise) / np.sqrt(len(seeds)))
    order = np.lexsort((mean, -est))
    top = order[:k]
    fig, ax = plt.subplots(figsize=(7.5, 5.8), dpi=120)
    flops = np.array([item.get('flops', np.nan) for item in items], dtype=np.float64)
    ax.errorbar(est, mean, yerr=np.where(np.isfinite(se), se, 0), fmt='none', ecolor='0.65',
                elinewidth=1, capsize=2, zorder=1)
    points = ax.scatter(est, mean, c=flops if np.isfinite(flops).all() else 'tab:blue', s=28,
                        cmap='viridis', zorder=3,
                        label=f'layouts (mean ± SE over {len(seeds)} seeds)')
    if np.isfinite(flops).all():
        bar = fig.colorbar(points, ax=ax, pad=0.01)
        bar.set_label(f'backbone {study.get("flops_unit", "GFLOPs")} (fvcore)', fontsize=8)
    ax.scatter(est[top], mean[top], s=120, facecolors='none', edgecolors='tab:red',
               linewidths=1.5, zorder=4, label=f'estimated top-{k}')
    for key, marker, colour, label in (('recommended_layout', '*', 'gold', 'recommended (rank 1)'),
                                       ('right_tree', 'D', 'tab:pink', 'known right tree')):
        if study.get(key) is None:
            continue
        hits = [n for n, item in enumerate(items) if item['layout'] == study[key]]
        if hits:
            n = hits[0]
            ax.scatter([est[n]], [mean[n]], marker=marker, s=260 if marker == '*' else 90,
                       c=colour, edgecolors='k', zorder=5, label=label)
    agree = summary['agreement']
    lo, hi = (stored(v) for v in agree.get('spearman_ci') or [None, None])
    rel = summary.get('reliability') or {}
    f = (summary.get('anova') or {}).get('F')
    title = (f'Spearman ρ = {stored(agree["spearman"]):.2f} [{lo:.2f}, {hi:.2f}], ceiling '
             f'{stored(rel.get("ceiling")):.2f}; layouts F = {stored(f):.1f}')
    cost = summary.get('cost_alone')
    if cost:
        title += f'; FLOPs alone ρ = {stored(cost["spearman_flops"]):+.2f}'
    title += (f'\ntop-1 regret {agree["top1_regret"]:.2f} (SE of a difference '
              f'{stored(summary.get("difference_se")):.2f}); P@{agree["k"]} = '
              f'{agree["precision_at_k"]:.1f} (chance {agree["precision_chance"]:.2f})')
    ax.set_title(title, fontsize=8.5)
    ax.set_xlabel('estimated score (from the two-task table)')
    ax.set_ylabel('trained score (independent seeds, weighted relative performance, %)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='best')
    fig.tight_layout()
    place_labels(ax, est[top], mean[top], [f'#{r + 1}' for r in range(len(top))])
    _save(fig, path)
    plt.close(fig)
