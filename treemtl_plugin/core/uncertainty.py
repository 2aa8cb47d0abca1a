"""How sure the estimate is: the table's seed noise carried to every layout's score.

A layout's score is linear in the two-task table (``docs/advanced/method.md``, "Estimate and
score"):
with fixed task weights ``w``, entry ``A[i, j, b]`` enters with coefficient ``w_i C[i, j, b]``,
``C`` the estimator's coefficients for that layout (the paper's: ``1 / (T-1)`` when the layout
gives the pair ``(i, j)`` branch point ``b``). The noise of a (mean) table has
two parts (``docs/advanced/method.md``, "Score uncertainty"):

* entry noise ``entry_var[i, j, b]``: independent per entry (b >= 1; ``b = 0`` is exact);
* baseline noise ``baseline_var[i]``: an error in task ``i``'s single-task baseline shifts
  every entry of row ``i`` with ``b >= 1`` alike, so layouts that let ``i`` share covary.

Both give a closed-form covariance of the scores of any set of layouts; the probability that
a candidate is the best and the candidates tied with the best follow from it.
``shrink_table`` pulls noisy entries toward a structured fit of the table (empirical Bayes);
``runs_to_train_next`` names the pair runs whose next seed is most likely to change the top-1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ['TableNoise', 'noise_from_seed_tables', 'score_covariance', 'probability_best',
           'tied_with_best', 'shrink_table', 'runs_to_train_next']


@dataclass(frozen=True)
class TableNoise:
    """Variances of a (mean) two-task table: ``entry_var`` (T, T, B+1), ``baseline_var`` (T,)."""

    entry_var: np.ndarray
    baseline_var: np.ndarray
    seeds: int = 1

    def __post_init__(self):
        entry = np.asarray(self.entry_var, dtype=np.float64)
        base = np.asarray(self.baseline_var, dtype=np.float64)
        if entry.ndim != 3 or entry.shape[0] != entry.shape[1] or base.shape != entry.shape[:1]:
            raise ConfigError(f'table noise needs entry_var (T, T, B+1) and baseline_var (T,), '
                              f'got {entry.shape} and {base.shape}')
        if not (np.all(np.isfinite(entry)) and np.all(entry >= 0)
                and np.all(np.isfinite(base)) and np.all(base >= 0)):
            raise ConfigError('table noise variances must be finite and >= 0')
        object.__setattr__(self, 'entry_var', entry)
        object.__setattr__(self, 'baseline_var', base)


def noise_from_seed_tables(tables) -> TableNoise:
    """The noise of the mean of ``S >= 2`` per-seed tables (S, T, T, B+1).

    Per seed, a task's row deviates from the mean by a common shift (its baseline's error:
    the mean deviation over the row's ``b >= 1`` entries) plus entry noise. Entry variance is
    pooled over each row's entries (2-3 seeds cannot estimate each entry's own); the shift's
    variance is what its seed-to-seed spread leaves beyond the entry noise it averages. Both
    are divided by ``S``: they are the variances of the mean table."""
    tables = np.asarray(tables, dtype=np.float64)
    if tables.ndim != 4 or tables.shape[0] < 2:
        raise ConfigError(f'noise needs per-seed tables (S >= 2, T, T, B+1), got {tables.shape}')
    num_seeds, num_tasks = tables.shape[:2]
    off = ~np.eye(num_tasks, dtype=bool)
    dev = (tables - tables.mean(axis=0))[:, :, :, 1:]               # (S, T, T, B)
    cells = off[None, :, :, None] & np.ones(dev.shape, dtype=bool)
    per_row = (num_tasks - 1) * dev.shape[-1]
    shift = np.where(cells, dev, 0).sum(axis=(2, 3)) / per_row        # (S, T)
    resid = np.where(cells, dev - shift[:, :, None, None], 0)
    entry = (resid ** 2).sum(axis=(0, 2, 3)) / ((num_seeds - 1) * (per_row - 1))
    baseline = np.maximum((shift ** 2).sum(axis=0) / (num_seeds - 1) - entry / per_row, 0.0)
    entry_var = np.zeros(tables.shape[1:])
    entry_var[:, :, 1:] = (entry[:, None, None] * off[:, :, None]) / num_seeds
    return TableNoise(entry_var, baseline / num_seeds, seeds=num_seeds)


def score_covariance(coefficients: np.ndarray, weights, noise: TableNoise) -> np.ndarray:
    """(N, N) covariance of the scores of N layouts, given each layout's estimator
    coefficients (N, T, T, B+1) (``estimator.coefficients``: ``estimate_i = sum_{j,b}
    C[i, j, b] A[i, j, b]``). Entry noise is independent per entry; a task's baseline error
    shifts every ``b >= 1`` entry of its row alike."""
    coef = np.asarray(coefficients, dtype=np.float64)
    if coef.shape[1] < 2:
        return np.zeros((len(coef), len(coef)))
    weighted = coef * np.asarray(weights, dtype=np.float64)[None, :, None, None]
    entry = np.einsum('nijb,mijb,ijb->nm', weighted, weighted, noise.entry_var)
    shift = weighted[..., 1:].sum(axis=(2, 3))                              # (N, T)
    return entry + np.einsum('ni,mi,i->nm', shift, shift, noise.baseline_var)


def probability_best(scores, cov, draws: int = 20000, seed: int = 0) -> np.ndarray:
    """P(each candidate has the highest score) under a normal draw around ``scores``."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 1:
        return np.ones(1)
    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    root = vectors * np.sqrt(np.clip(values, 0, None))
    rng = np.random.default_rng(seed)
    sample = scores + rng.standard_normal((draws, len(scores))) @ root.T
    best = sample.max(axis=1, keepdims=True)
    wins = (sample >= best - 1e-12)
    return (wins / wins.sum(axis=1, keepdims=True)).mean(axis=0)    # ties split evenly


def tied_with_best(scores, cov, z: float = 1.0) -> np.ndarray:
    """Candidates whose score is within ``z`` SEs of a difference of the best one's."""
    scores = np.asarray(scores, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    best = int(np.argmax(scores))
    diff_var = np.diag(cov) + cov[best, best] - 2 * cov[:, best]
    return scores[best] - scores <= z * np.sqrt(np.clip(diff_var, 0, None)) + 1e-12


def shrink_table(values: np.ndarray, noise: TableNoise) -> np.ndarray:
    """Empirical-Bayes table: each row's entries pulled toward an additive fit (a partner
    effect plus a curve over branching points), by signal variance / (signal + noise).

    Per row ``i`` the ``(T-1) x B`` block of ``b >= 1`` entries is fit by row and column means;
    the residuals' signal variance is what their spread leaves beyond the entry noise
    (method of moments over the residuals' ``(T-2)(B-1)`` degrees of freedom, clipped at 0:
    ``E[sum resid^2] = dof * (signal + noise)``). No noise leaves the table as it is; no
    signal beyond the fit shrinks the row onto the fit."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    num_tasks, _, width = values.shape
    blocks = width - 1
    if num_tasks < 3 or blocks < 2:
        return out                           # the fit would reproduce the row exactly
    for i in range(num_tasks):
        partners = [j for j in range(num_tasks) if j != i]
        block = values[i, partners, 1:]
        fit = block.mean(axis=1, keepdims=True) + block.mean(axis=0, keepdims=True) \
            - block.mean()
        resid = block - fit
        var = noise.entry_var[i, partners, 1:]
        dof = (len(partners) - 1) * (blocks - 1)
        signal = max(0.0, (resid ** 2).sum() / dof - var.mean())
        keep = np.divide(signal, signal + var, out=np.ones_like(var), where=signal + var > 0)
        out[i, partners, 1:] = fit + keep * resid
    return out


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(-np.asarray(x, dtype=float) / math.sqrt(2))


def runs_to_train_next(coefficients: np.ndarray, scores, weights, noise: TableNoise,
                       count: int) -> list[tuple[int, int, int]]:
    """The ``count`` pair runs ``(i, j, b)`` (``i < j``) whose next seed most raises the
    expected number of candidates that overtake the current best.

    ``coefficients``: the candidates' estimator coefficients (see :func:`score_covariance`).
    A run's next seed moves the mean of its two entries by a normal shift whose variance is
    the drop of their variance (``entry_var / (S+1)``); candidate ``k`` overtakes the best
    with probability ``Phi(-gap_k / sd_k)``, ``sd_k`` the SD of the shift of the score
    difference. Runs are picked greedily, each given those already picked."""
    coef = np.asarray(coefficients, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    num_tasks = coef.shape[1]
    best = int(np.argmax(scores))
    gap = scores[best] - scores
    weights = np.asarray(weights, dtype=np.float64)
    drop = noise.entry_var / (noise.seeds + 1)                    # per entry
    runs = [(i, j, b) for i in range(num_tasks) for j in range(i + 1, num_tasks)
            for b in range(1, noise.entry_var.shape[2])]

    def shift_var(run) -> np.ndarray:
        i, j, b = run
        out = np.zeros(len(coef))
        for row, col in ((i, j), (j, i)):
            diff = weights[row] * (coef[best, row, col, b] - coef[:, row, col, b])
            out += diff ** 2 * drop[row, col, b]
        return out

    per_run = {run: shift_var(run) for run in runs}
    chosen: list[tuple[int, int, int]] = []
    total = np.zeros(len(coef))
    others = np.arange(len(coef)) != best
    for _ in range(min(count, len(runs))):
        def gain(run):
            sd = np.sqrt(total + per_run[run])[others]
            moving = sd > 0                  # a candidate the run cannot move stays behind
            return _normal_cdf(-gap[others][moving] / sd[moving]).sum()
        pick = max((r for r in runs if r not in chosen), key=gain)
        chosen.append(pick)
        total = total + per_run[pick]
    return chosen
