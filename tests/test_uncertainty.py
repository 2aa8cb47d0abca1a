"""Score uncertainty from the table's noise: closed form vs sampling, zero and pure noise."""
from __future__ import annotations

import numpy as np
import pytest

from treemtl_plugin.core.design_space import enumerate_layouts
from treemtl_plugin.core.encoding import matrix_to_row
from treemtl_plugin.core.estimator import TaskAccuracyEstimator
from treemtl_plugin.core.uncertainty import (TableNoise, noise_from_seed_tables,
                                             probability_best, score_covariance,
                                             tied_with_best)
from treemtl_plugin.errors import ConfigError

T, B = 3, 4
WEIGHTS = np.array([0.5, 0.3, 0.2])


def _layouts():
    layouts = enumerate_layouts(['a', 'b', 'c'], B)
    return np.stack([layout.branch_points() for layout in layouts])


def _scores(values, bp) -> np.ndarray:
    rows = np.stack([matrix_to_row(m) for m in bp])
    return TaskAccuracyEstimator(values, WEIGHTS).scores(rows)


def _signal(rng) -> np.ndarray:
    values = rng.normal(size=(T, T, B + 1)) * 3
    values[:, :, 0] = 0
    values[np.arange(T), np.arange(T)] = 0
    return values


def _draw_seed_tables(rng, mean, seeds, entry_sd, baseline_sd):
    """Per-seed tables of the noise model: entry noise plus a per-seed shift of each row."""
    off = ~np.eye(T, dtype=bool)
    noise = rng.normal(size=(seeds, T, T, B + 1)) * entry_sd
    shift = rng.normal(size=(seeds, T))[:, :, None, None] * baseline_sd[None, :, None, None]
    tables = mean + (noise + shift) * off[None, :, :, None]
    tables[..., 0] = 0
    return tables


def test_zero_noise_gives_zero_se_and_the_raw_best():
    bp = _layouts()
    values = _signal(np.random.default_rng(0))
    scores = _scores(values, bp)
    zero = TableNoise(np.zeros((T, T, B + 1)), np.zeros(T))
    cov = score_covariance(bp, WEIGHTS, zero)
    assert np.allclose(cov, 0)
    p = probability_best(scores, cov)
    assert p[np.argmax(scores)] == pytest.approx(1.0)
    assert tied_with_best(scores, cov).sum() == 1       # only the best itself


def test_a_table_without_signal_ties_every_layout():
    bp = _layouts()
    noise = TableNoise(np.full((T, T, B + 1), 4.0), np.full(T, 1.0))
    scores = _scores(np.zeros((T, T, B + 1)), bp)
    cov = score_covariance(bp, WEIGHTS, noise)
    assert tied_with_best(scores, cov).all()
    # the independent layout (no shared entry) is exact: its variance is 0
    independent = np.where(~(bp > 0).any(axis=(1, 2)))[0]
    assert cov[independent, independent] == pytest.approx(0.0)


def test_closed_form_covariance_matches_sampling_within_5_percent():
    rng = np.random.default_rng(1)
    bp = _layouts()
    mean = _signal(rng)
    entry_sd, baseline_sd, seeds = 2.0, np.array([1.5, 0.5, 1.0]), 3
    entry_var = np.full((T, T, B + 1), entry_sd ** 2 / seeds)
    entry_var[:, :, 0] = 0
    noise = TableNoise(entry_var, baseline_sd ** 2 / seeds, seeds=seeds)
    cov = score_covariance(bp, WEIGHTS, noise)
    scores = np.stack([_scores(t.mean(axis=0), bp)
                       for t in (_draw_seed_tables(rng, mean, seeds, entry_sd, baseline_sd)
                                 for _ in range(6000))])
    sampled = np.cov(scores, rowvar=False)
    shared = np.diag(cov) > 0
    assert np.allclose(np.sqrt(np.diag(sampled))[shared], np.sqrt(np.diag(cov))[shared],
                       rtol=0.05)
    # the covariance of two layouts that share entries or baselines, too
    a, b = np.unravel_index(np.argmax(cov - np.diag(np.diag(cov))), cov.shape)
    assert sampled[a, b] == pytest.approx(cov[a, b], rel=0.05)


def test_noise_estimated_from_seed_tables_recovers_the_model():
    rng = np.random.default_rng(2)
    mean = _signal(rng)
    entry_sd, baseline_sd = 1.0, np.array([2.0, 0.0, 1.0])
    estimates = [noise_from_seed_tables(_draw_seed_tables(rng, mean, 3, entry_sd, baseline_sd))
                 for _ in range(400)]
    entry = np.mean([e.entry_var[0, 1, 2] for e in estimates]) * 3
    baseline = np.mean([e.baseline_var for e in estimates], axis=0) * 3
    assert entry == pytest.approx(entry_sd ** 2, rel=0.1)
    assert baseline == pytest.approx(baseline_sd ** 2, abs=0.15)
    assert estimates[0].entry_var[:, :, 0].max() == 0 and estimates[0].seeds == 3


def test_probability_best_sums_to_one_and_favours_a_clear_winner():
    cov = np.diag([0.01, 0.01, 1.0])
    p = probability_best([5.0, 1.0, 4.9], cov)
    assert p.sum() == pytest.approx(1.0) and p[1] < 1e-3 and 0.3 < p[0] < 0.7


def test_bad_noise_is_a_config_error():
    with pytest.raises(ConfigError, match=r'entry_var \(T, T, B\+1\)'):
        TableNoise(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ConfigError, match='finite and >= 0'):
        TableNoise(np.full((2, 2, 3), -1.0), np.zeros(2))
    with pytest.raises(ConfigError, match='S >= 2'):
        noise_from_seed_tables(np.zeros((1, 3, 3, 5)))
