"""How well an estimated ranking of layouts agrees with a trained one, and how well the trained
measurement can be trusted. numpy + scipy only.

* :func:`agreement` -- rank correlations (Spearman with a bootstrap CI over layouts and its
  p-value, Kendall tau-b), the top-1 regret, and precision@k with ties broken pessimistically
  and its chance level ``k / n``.
* :func:`anova` -- the two-way decomposition ``score[l, s] = layout_l + shift_s + noise`` of
  (layouts, seeds) scores: ``F = MS_layout / MS_residual`` and its p-value. With ``F`` near 1
  the layouts do not differ beyond seed noise and no estimator can be validated.
* :func:`reliability` -- the share of the N-seed means' variance that is the layouts' true
  spread (``1 - 1/F``, Spearman-Brown) with its exact CI from the F distribution (McGraw &
  Wong 1996, ICC(C,k)). Its square root is the *ceiling* of any estimate's correlation with
  the N-seed means: an estimate cannot agree with the truth better than the measurement does.
* :func:`difference_se` -- the standard error of a difference of two N-seed layout means,
  ``sqrt(MS_residual) * sqrt(2 / N)``: the yardstick of a regret. (A seed shifts every layout
  alike -- the same baselines, initial weights and data order -- so only the residual counts.)
* :func:`budget_regrets` -- within budgets set at the FLOPs quantiles, the best estimated
  layout's trained score against the best trained one's.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ['agreement', 'anova', 'reliability', 'difference_se', 'budget_regrets',
           'precision_at_k', 'spearman_ci', 'stored']


def stored(value) -> float:
    """A statistic read back from a study: None (undefined, kept strict JSON) is NaN."""
    return float('nan') if value is None else float(value)


def _corr(fn, a, b) -> tuple[float, float]:
    """(correlation, p-value); NaN where undefined (fewer than 3 or constant scores)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan'), float('nan')
    result = fn(a, b)
    return float(result[0]), float(result[1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank), vectorised."""
    return stats.rankdata(x, axis=-1)


def spearman_ci(estimated, measured, level: float = 0.95, resamples: int = 2000,
                seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of Spearman's rho, resampling layouts with replacement.

    Resamples whose estimate or measurement is constant are left out. (NaN, NaN) with fewer
    than 4 layouts."""
    est = np.asarray(estimated, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    n = len(est)
    if n < 4:
        return float('nan'), float('nan')
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    a, b = _ranks(est[idx]), _ranks(mea[idx])
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    ok = norm > 0
    if not ok.any():
        return float('nan'), float('nan')
    rho = (a * b).sum(axis=1)[ok] / norm[ok]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(rho, [tail, 100 - tail])
    return float(lo), float(hi)


def precision_at_k(estimated, measured, k: int) -> float:
    """Share of the estimated top-k among the measured top-k, ties broken pessimistically:
    among layouts the estimate ties, those that trained worse count as its top; among layouts
    the measurement ties, those outside the estimated top-k count as the measured top."""
    est = np.asarray(estimated, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    k = min(int(k), len(est))
    est_top = np.lexsort((mea, -est))[:k]            # est desc, then measured asc (worst)
    in_est = np.zeros(len(est), dtype=bool)
    in_est[est_top] = True
    mea_top = np.lexsort((in_est, -mea))[:k]         # measured desc, outsiders first
    return float(in_est[mea_top].sum() / k) if k else float('nan')


def agreement(estimated, measured, k: int = 5, ci_level: float = 0.95) -> dict:
    """Statistics of how well ``estimated`` scores rank the ``measured`` ones (higher = better).

    ``top1_regret``: best measured score minus the measured score of the estimated best (ties in
    the estimate: the worst of them). ``precision_at_k`` with ``precision_chance`` = k / n."""
    est = np.asarray(estimated, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    if est.shape != mea.shape or est.ndim != 1 or len(est) == 0:
        raise ValueError(f'need two equally long score vectors, got {est.shape}, {mea.shape}')
    k = min(k, len(est))
    best_estimated = int(np.lexsort((mea, -est))[0])
    spearman, spearman_p = _corr(stats.spearmanr, est, mea)
    lo, hi = spearman_ci(est, mea, ci_level) if np.isfinite(spearman) else (np.nan, np.nan)
    return dict(
        spearman=spearman, spearman_p=spearman_p, spearman_ci=[float(lo), float(hi)],
        ci_level=ci_level, kendall=_corr(stats.kendalltau, est, mea)[0],
        top1_regret=float(mea.max() - mea[best_estimated]),
        precision_at_k=precision_at_k(est, mea, k), precision_chance=k / len(est), k=k)


def anova(per_seed) -> dict:
    """Two-way ANOVA without replication of (layouts, seeds) scores: layouts' F and p-value,
    the residual mean square (seed noise) and the degrees of freedom. Empty with fewer than 2
    layouts or seeds."""
    scores = np.asarray(per_seed, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] < 2 or scores.shape[1] < 2:
        return {}
    num_layouts, n = scores.shape
    layout_means, seed_means = scores.mean(axis=1), scores.mean(axis=0)
    resid = scores - layout_means[:, None] - seed_means[None, :] + scores.mean()
    df_layout, df_seed = num_layouts - 1, n - 1
    df_resid = df_layout * df_seed
    ms_layout = float(n * layout_means.var(ddof=1))
    ms_seed = float(num_layouts * seed_means.var(ddof=1))
    ms_resid = float((resid ** 2).sum() / df_resid)
    if ms_resid > 0:
        f = ms_layout / ms_resid
        p = float(stats.f.sf(f, df_layout, df_resid))
    else:
        f, p = (float('inf'), 0.0) if ms_layout > 0 else (float('nan'), float('nan'))
    return dict(F=f, p=p, df_layout=df_layout, df_resid=df_resid, ms_layout=ms_layout,
                ms_seed=ms_seed, ms_resid=ms_resid, layouts=num_layouts, seeds=n)


def difference_se(per_seed) -> float:
    """SE of the difference of two layouts' N-seed means: ``sqrt(MS_residual * 2 / N)``."""
    table = anova(per_seed)
    if not table:
        return float('nan')
    return float(np.sqrt(table['ms_resid'] * 2 / table['seeds']))


def reliability(per_seed, target: float = 0.8, level: float = 0.95) -> dict:
    """Layout spread vs seed noise of (layouts, seeds) scores, and what it means for ranking.

    ``seed_sd``: the residual noise's SD; ``seed_shift_sd``: the common per-seed shift's SD
    (which no ranking sees); ``layout_sd``: the SD of the layouts' true scores (at least 0);
    ``reliability``: ``layout_var / (layout_var + seed_var / N) = 1 - 1/F``, the highest squared
    correlation any estimate can reach with the N-seed means, with ``reliability_ci``;
    ``ceiling`` = sqrt(reliability) and ``ceiling_ci``: the highest correlation;
    ``seeds_for_target``: seeds whose mean would reach ``target`` (None when the layouts show
    no spread beyond the noise). Empty with fewer than 2 layouts or seeds."""
    table = anova(per_seed)
    if not table:
        return {}
    n, num_layouts = table['seeds'], table['layouts']
    seed_var = table['ms_resid']
    layout_var = max((table['ms_layout'] - seed_var) / n, 0.0)
    shift_var = max((table['ms_seed'] - seed_var) / num_layouts, 0.0)
    total = layout_var + seed_var / n
    rel = layout_var / total if total > 0 else 1.0
    f = table['F']
    if np.isfinite(f) and f > 0:
        upper_q = stats.f.ppf(1 - (1 - level) / 2, table['df_layout'], table['df_resid'])
        lower_q = stats.f.ppf(1 - (1 - level) / 2, table['df_resid'], table['df_layout'])
        rel_ci = [max(0.0, 1 - upper_q / f), max(0.0, 1 - 1 / (f * lower_q))]
    else:
        rel_ci = [rel, rel]
    if seed_var == 0:
        needed = 1.0
    elif layout_var == 0:
        needed = None
    else:
        needed = float(target / (1 - target) * seed_var / layout_var)
    return dict(seed_sd=seed_var ** 0.5, seed_shift_sd=shift_var ** 0.5,
                layout_sd=layout_var ** 0.5, seeds=n, reliability=rel,
                reliability_ci=[float(v) for v in rel_ci], ceiling=rel ** 0.5,
                ceiling_ci=[float(v) ** 0.5 for v in rel_ci], ci_level=level, target=target,
                seeds_for_target=needed)


def budget_regrets(estimated, measured, flops, se: float,
                   quantiles=tuple(np.arange(1, 11) / 10)) -> dict:
    """At each budget ``FLOPs <= quantile of the layouts' FLOPs``: the best estimated layout
    within it (ties: the worst trained) against the best trained one within it.

    Returns one row per budget (quantile, max_flops, layouts, regret, within_se) and the share
    of budgets whose regret is within ``se`` (None, and no share, when ``se`` is not finite:
    one seed has no SE)."""
    est = np.asarray(estimated, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    cost = np.asarray(flops, dtype=np.float64)
    rows = []
    for q in quantiles:
        limit = float(np.quantile(cost, q, method='inverted_cdf'))
        inside = np.flatnonzero(cost <= limit * (1 + 1e-9))
        pick = inside[np.lexsort((mea[inside], -est[inside]))[0]]
        regret = float(mea[inside].max() - mea[pick])
        rows.append(dict(quantile=float(q), max_flops=limit, layouts=int(len(inside)),
                         regret=regret,
                         within_se=bool(regret <= se) if np.isfinite(se) else None))
    share = float(np.mean([r['within_se'] for r in rows])) \
        if rows and np.isfinite(se) else None
    return dict(budgets=rows, within_se_share=share, se=float(se))
