"""How sure the estimate is: the table's seed noise carried to every layout's score.

A layout's score is linear in the two-task table (``docs/method.md``, "Estimate and score"):
with fixed task weights ``w``, entry ``A[i, j, b]`` enters with coefficient ``w_i / (T-1)``
when the layout gives the pair ``(i, j)`` branch point ``b``. The noise of a (mean) table has
two parts (``docs/method.md``, "Score uncertainty"):

* entry noise ``entry_var[i, j, b]``: independent per entry (b >= 1; ``b = 0`` is exact);
* baseline noise ``baseline_var[i]``: an error in task ``i``'s single-task baseline shifts
  every entry of row ``i`` with ``b >= 1`` alike, so layouts that let ``i`` share covary.

Both give a closed-form covariance of the scores of any set of layouts; the probability that
a candidate is the best and the candidates tied with the best follow from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ['TableNoise', 'noise_from_seed_tables', 'score_covariance', 'probability_best',
           'tied_with_best']


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


def score_covariance(branch_points: np.ndarray, weights, noise: TableNoise) -> np.ndarray:
    """(N, N) covariance of the scores of N layouts given as (N, T, T) branch-point matrices."""
    bp = np.asarray(branch_points, dtype=np.int64)
    num_tasks = bp.shape[1]
    if num_tasks < 2:
        return np.zeros((len(bp), len(bp)))
    scale = np.asarray(weights, dtype=np.float64) / (num_tasks - 1)        # (T,)
    rows = np.arange(num_tasks)[:, None]
    cols = np.arange(num_tasks)[None, :]
    var = noise.entry_var[rows, cols, bp] * ~np.eye(num_tasks, dtype=bool)  # (N, T, T)
    same = bp[:, None] == bp[None, :]                                        # (N, N, T, T)
    entry = np.einsum('nij,nmij,i->nm', var, same, scale ** 2)
    shares = ((bp >= 1) & ~np.eye(num_tasks, dtype=bool)).sum(axis=2)        # (N, T)
    base = np.einsum('ni,mi,i->nm', shares, shares, scale ** 2 * noise.baseline_var)
    return entry + base


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
