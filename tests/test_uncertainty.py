"""Score uncertainty from the table's noise: closed form vs sampling, zero and pure noise."""
from __future__ import annotations

import numpy as np
import pytest

from treemtl_plugin.core.design_space import enumerate_layouts
from treemtl_plugin.core.encoding import matrix_to_row
from treemtl_plugin.core.estimator import ESTIMATORS
from treemtl_plugin.core.uncertainty import (
    TableNoise,
    noise_from_seed_tables,
    probability_best,
    runs_to_train_next,
    score_covariance,
    shrink_table,
    tied_with_best,
)
from treemtl_plugin.errors import ConfigError

T, B = 3, 4
WEIGHTS = np.array([0.5, 0.3, 0.2])


def _layouts():
    layouts = enumerate_layouts(['a', 'b', 'c'], B)
    return np.stack([layout.branch_points() for layout in layouts])


def _rows(bp) -> np.ndarray:
    return np.stack([matrix_to_row(m) for m in bp])


def _scores(values, bp, estimator: str = 'paper') -> np.ndarray:
    return ESTIMATORS[estimator](values, WEIGHTS).scores(_rows(bp))


def _coefficients(bp, estimator: str = 'paper') -> np.ndarray:
    """The layouts' estimator coefficients (they do not depend on the table's values)."""
    return ESTIMATORS[estimator](np.zeros((T, T, B + 1)), WEIGHTS).coefficients(_rows(bp))


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
    cov = score_covariance(_coefficients(bp), WEIGHTS, zero)
    assert np.allclose(cov, 0)
    p = probability_best(scores, cov)
    assert p[np.argmax(scores)] == pytest.approx(1.0)
    assert tied_with_best(scores, cov).sum() == 1       # only the best itself


@pytest.mark.parametrize('estimator', sorted(ESTIMATORS))
def test_a_table_without_signal_ties_every_layout(estimator):
    bp = _layouts()
    noise = TableNoise(np.full((T, T, B + 1), 4.0), np.full(T, 1.0))
    scores = _scores(np.zeros((T, T, B + 1)), bp, estimator)
    cov = score_covariance(_coefficients(bp, estimator), WEIGHTS, noise)
    assert tied_with_best(scores, cov).all()
    # the independent layout (no shared entry) is exact: its variance is 0
    independent = np.where(~(bp > 0).any(axis=(1, 2)))[0]
    assert cov[independent, independent] == pytest.approx(0.0)


@pytest.mark.parametrize('estimator', sorted(ESTIMATORS))
def test_closed_form_covariance_matches_sampling_within_5_percent(estimator):
    rng = np.random.default_rng(1)
    bp = _layouts()
    mean = _signal(rng)
    entry_sd, baseline_sd, seeds = 2.0, np.array([1.5, 0.5, 1.0]), 3
    entry_var = np.full((T, T, B + 1), entry_sd ** 2 / seeds)
    entry_var[:, :, 0] = 0
    noise = TableNoise(entry_var, baseline_sd ** 2 / seeds, seeds=seeds)
    cov = score_covariance(_coefficients(bp, estimator), WEIGHTS, noise)
    scores = np.stack([_scores(t.mean(axis=0), bp, estimator)
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


def test_shrinkage_keeps_a_noiseless_table_and_pulls_pure_noise_onto_the_fit():
    rng = np.random.default_rng(3)
    values = _signal(rng)
    zero = TableNoise(np.zeros((T, T, B + 1)), np.zeros(T))
    assert np.allclose(shrink_table(values, zero), values)
    # rows that are exactly additive (partner effect + block curve) plus small noise: the
    # residuals are noise, so the shrunk table is the fit
    curve = np.linspace(-2, 2, B)
    additive = np.zeros((T, T, B + 1))
    for i in range(T):
        for j in range(T):
            if i != j:
                additive[i, j, 1:] = curve + j
    noisy = additive + rng.normal(size=additive.shape) * 0.01 * (additive != 0)
    loud = TableNoise(np.full((T, T, B + 1), 100.0), np.zeros(T))
    assert np.allclose(shrink_table(noisy, loud), additive, atol=0.05)
    assert np.allclose(shrink_table(noisy, loud)[:, :, 0], 0)


def test_shrinkage_keeps_half_of_a_residual_as_large_as_the_noise():
    """Signal beyond the additive fit with the noise's variance: the right keep factor is
    signal / (signal + noise) = 0.5. Simulated on rows with enough residual degrees of freedom
    (6 x 15) that the per-row estimate is tight: dividing by ``block.size`` instead of the
    residual dof kept 0.44 here (0.21 on a 3-task, 4-block table)."""
    rng = np.random.default_rng(11)
    num_tasks, blocks, keeps = 8, 16, []
    noise = TableNoise(np.full((num_tasks, num_tasks, blocks + 1), 1.0), np.zeros(num_tasks))
    for _ in range(60):
        seen = np.zeros((num_tasks, num_tasks, blocks + 1))
        seen[:, :, 1:] = rng.normal(size=(2, num_tasks, num_tasks, blocks)).sum(axis=0)
        shrunk = shrink_table(seen, noise)                   # signal N(0, 1) + noise N(0, 1)
        for i in range(num_tasks):
            partners = [j for j in range(num_tasks) if j != i]
            block = seen[i, partners, 1:]
            fit = block.mean(1, keepdims=True) + block.mean(0, keepdims=True) - block.mean()
            resid = (block - fit).ravel()
            keeps.append(float(resid @ ((shrunk[i, partners, 1:] - fit).ravel())
                               / (resid @ resid)))
    assert abs(np.mean(keeps) - 0.5) < 0.03, np.mean(keeps)


def test_runs_to_train_next_pick_the_runs_that_decide_the_top1():
    bp = _layouts()
    values = _signal(np.random.default_rng(4))
    scores = _scores(values, bp)
    var = np.zeros((T, T, B + 1))
    var[:, :, 1:] = 1.0
    noise = TableNoise(var, np.zeros(T), seeds=1)
    runs = runs_to_train_next(_coefficients(bp), scores, WEIGHTS, noise, 3)
    assert len(runs) == 3 and len(set(runs)) == 3
    assert all(i < j and 1 <= b <= B for i, j, b in runs)
    # a run that neither the best layout nor any other uses at its branch point moves nothing;
    # with the best layout's own entries exact, the picks are entries the best does not use
    best = bp[np.argmax(scores)]
    exact_best = var.copy()
    for i in range(T):
        for j in range(T):
            if i != j and best[i, j] >= 1:
                exact_best[i, j, best[i, j]] = 0.0
    picked = runs_to_train_next(_coefficients(bp), scores, WEIGHTS,
                                TableNoise(exact_best, np.zeros(T)), 2)
    assert all(best[i, j] != b for i, j, b in picked)


@pytest.mark.parametrize('estimator', sorted(ESTIMATORS))
def test_prefer_cheapest_tied_recommends_the_cheaper_of_two_tied_layouts(estimator):
    from treemtl_plugin.core.cost import CostModel
    from treemtl_plugin.core.table import TwoTaskTable
    from treemtl_plugin.recommenders import TreeRecommender
    values = np.zeros((T, T, B + 1))
    values[:, :, 1:] = 1.0                       # sharing helps a little everywhere
    for i in range(T):
        values[i, i] = 0
    noise = TableNoise(np.where(values != 0, 25.0, 0.0), np.zeros(T))
    table = TwoTaskTable(('a', 'b', 'c'), B, values, noise=noise)
    cost = CostModel([1.0, 2.0, 3.0, 4.0])
    plain = TreeRecommender(topk=5, task_weights='uniform',
                            estimator=estimator).recommend(table, cost)
    cheap = TreeRecommender(topk=5, task_weights='uniform', prefer='cheapest_tied',
                            estimator=estimator).recommend(table, cost)
    assert all(c.tied_with_best for c in plain.top)
    assert cheap.top[0].flops == min(c.flops for c in plain.top)
    assert cheap.top[0].flops < plain.top[0].flops or plain.top[0].flops == cheap.top[0].flops
    assert [c.rank for c in cheap.top] == [1, 2, 3, 4, 5]
    assert "prefer='cheapest_tied'" in cheap.uncertainty_note
    with pytest.raises(ConfigError, match="recommender.prefer='cheap' is not supported"):
        TreeRecommender(prefer='cheap')


def test_the_recommender_scores_the_shrunk_table_only_when_asked_and_noise_is_known():
    from treemtl_plugin.core.cost import CostModel
    from treemtl_plugin.core.table import TwoTaskTable
    from treemtl_plugin.recommenders import TreeRecommender
    values = _signal(np.random.default_rng(5))
    noise = TableNoise(np.where(values != 0, 9.0, 0.0), np.zeros(T))
    cost = CostModel([1.0] * B)
    noisy = TwoTaskTable(('a', 'b', 'c'), B, values, noise=noise)
    shrunk = TwoTaskTable(('a', 'b', 'c'), B, shrink_table(values, noise))
    on = TreeRecommender(topk=3, task_weights=list(WEIGHTS), shrink=True).recommend(noisy, cost)
    expected = TreeRecommender(topk=3, task_weights=list(WEIGHTS)).recommend(shrunk, cost)
    assert [c.score for c in on.top] == pytest.approx([c.score for c in expected.top])
    assert 'shrunk (empirical-Bayes) table' in on.uncertainty_note
    bare = TwoTaskTable(('a', 'b', 'c'), B, values)
    off = TreeRecommender(topk=3, task_weights=list(WEIGHTS), shrink=True).recommend(bare, cost)
    assert 'the raw table is scored' in off.uncertainty_note
    assert off.top[0].score == pytest.approx(
        TreeRecommender(topk=3, task_weights=list(WEIGHTS)).recommend(bare, cost).top[0].score)
