"""How well an estimated ranking of layouts agrees with a measured one, and how well the
measurement agrees with itself (its noise floor). numpy + scipy only.

* ``spearman`` / ``kendall``: rank correlations (tau-b) between estimated and measured scores;
  ``spearman_p``: the two-sided p-value of no correlation (as scipy gives it);
* ``top1_regret``: best measured score minus the measured score of the estimated best layout
  (0 = the estimate picked the best; in the score's unit, % relative performance);
* ``precision_at_k``: share of the estimated top-k among the measured top-k.

The noise floor applies the same statistics to two independent measurements: the mean over
one half of the seeds against the mean over the other half, for every split of the seeds
into two disjoint halves. An estimate cannot agree with the truth much better than the truth
agrees with itself.

``reliability`` says why: it splits the measured scores' variance into the spread of the
layouts' true scores, a common per-seed shift and the seed noise (two-way), gives the
reliability of an N-seed mean (the share of its variance that is the layouts' spread;
Spearman-Brown) and the number of seeds a reliability of 0.8 would need.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

__all__ = ['agreement', 'noise_floor', 'seed_splits', 'reliability', 'stored']


def stored(value) -> float:
    """A statistic read back from a study: None (undefined, kept strict JSON) is NaN."""
    return float('nan') if value is None else float(value)


def _corr(fn, a, b) -> tuple[float, float]:
    """(correlation, p-value); NaN where undefined (fewer than 3 or constant scores)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan'), float('nan')
    result = fn(a, b)
    return float(result[0]), float(result[1])


def agreement(estimated, measured, k: int = 5) -> dict:
    """Statistics of how well ``estimated`` scores rank the ``measured`` ones (higher = better).

    Ties in the measured top-k are resolved by the estimate, then by position."""
    est = np.asarray(estimated, dtype=np.float64)
    mea = np.asarray(measured, dtype=np.float64)
    if est.shape != mea.shape or est.ndim != 1 or len(est) == 0:
        raise ValueError(f'need two equally long score vectors, got {est.shape}, {mea.shape}')
    k = min(k, len(est))
    est_order = np.lexsort((np.arange(len(est)), -est))
    mea_order = np.lexsort((np.arange(len(est)), -est, -mea))
    spearman, spearman_p = _corr(stats.spearmanr, est, mea)
    return dict(
        spearman=spearman, spearman_p=spearman_p,
        kendall=_corr(stats.kendalltau, est, mea)[0],
        top1_regret=float(mea.max() - mea[est_order[0]]),
        precision_at_k=float(len(set(est_order[:k]) & set(mea_order[:k])) / k),
        k=k)


def seed_splits(num_seeds: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every split of seed positions into two disjoint halves (sizes floor/ceil of N/2),
    each split once."""
    if num_seeds < 2:
        return []
    half = num_seeds // 2
    out, seen = [], set()
    for first in itertools.combinations(range(num_seeds), half):
        second = tuple(s for s in range(num_seeds) if s not in first)
        key = frozenset((first, second))
        if key not in seen:
            seen.add(key)
            out.append((first, second))
    return out


def noise_floor(per_seed, k: int = 5) -> dict:
    """The agreement statistics between half-seed means, over every split of the seeds.

    ``per_seed`` is (layouts, seeds). Returns ``{stat: {'mean', 'min', 'max'}}`` plus the
    number of splits; empty when fewer than 2 seeds."""
    scores = np.asarray(per_seed, dtype=np.float64)
    splits = seed_splits(scores.shape[1])
    if not splits:
        return {}
    rows = [agreement(scores[:, list(a)].mean(axis=1), scores[:, list(b)].mean(axis=1), k)
            for a, b in splits]
    out = {}
    for key in ('spearman', 'kendall', 'top1_regret', 'precision_at_k'):
        values = np.array([r[key] for r in rows], dtype=np.float64)
        values = values[np.isfinite(values)]          # undefined splits (constant halves)
        out[key] = (dict(mean=float(values.mean()), min=float(values.min()),
                         max=float(values.max())) if len(values) else
                    dict(mean=float('nan'), min=float('nan'), max=float('nan')))
    out['splits'] = len(splits)
    return out


def reliability(per_seed, target: float = 0.8) -> dict:
    """Layout spread vs seed noise of (layouts, seeds) scores, and what it means for ranking.

    Two-way decomposition ``score[l, s] = layout_l + shift_s + noise``: a seed shifts every
    layout alike (the same single-task baselines, initialisation and data order), which no
    ranking sees, so only the rest counts as noise. ``seed_sd``: the noise's standard
    deviation; ``seed_shift_sd``: that of the common per-seed shift; ``layout_sd``: that of
    the layouts' true scores (at least 0); ``reliability``: ``layout_var / (layout_var +
    seed_var / N)``, the highest squared correlation any estimate can reach with the N-seed
    means (Spearman-Brown); ``seeds_for_target``: seeds whose mean would reach ``target``
    (None when the layouts show no spread beyond the noise: no number of seeds would).
    Empty when fewer than 2 seeds or 2 layouts."""
    scores = np.asarray(per_seed, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] < 2 or scores.shape[1] < 2:
        return {}
    num_layouts, n = scores.shape
    layout_means, seed_means = scores.mean(axis=1), scores.mean(axis=0)
    resid = scores - layout_means[:, None] - seed_means[None, :] + scores.mean()
    seed_var = float((resid ** 2).sum() / ((num_layouts - 1) * (n - 1)))
    layout_var = max(float(layout_means.var(ddof=1)) - seed_var / n, 0.0)
    shift_var = max(float(seed_means.var(ddof=1)) - seed_var / num_layouts, 0.0)
    total = layout_var + seed_var / n
    rel = layout_var / total if total > 0 else 1.0
    if seed_var == 0:
        needed = 1.0
    elif layout_var == 0:
        needed = None
    else:
        needed = float(target / (1 - target) * seed_var / layout_var)
    return dict(seed_sd=seed_var ** 0.5, seed_shift_sd=shift_var ** 0.5,
                layout_sd=layout_var ** 0.5, seeds=n, reliability=rel, target=target,
                seeds_for_target=needed)
