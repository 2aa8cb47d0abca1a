"""Tests for treemtl_plugin.estimator: SVD entropy, SVDE task weights, weight specs, scores.

Ground truth: hand arithmetic (in the comments) and the slow oracle in tests/oracle.py.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from treemtl_plugin.core.design_space import iter_layout_chunks
from treemtl_plugin.core.encoding import matrix_to_row, pair_index
from treemtl_plugin.core.estimator import (
    ESTIMATORS,
    BlockwiseEstimator,
    TaskAccuracyEstimator,
    build_estimator,
    resolve_task_weights,
    svd_entropy,
    svde_task_weights,
)
from treemtl_plugin.core.table import TwoTaskTable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

LOG2_3 = math.log2(3)
REFERENCE_NAMES = ('nyuv2_deeplab_resnet34', 'nyuv2_mobilenetv2',
                   'taskonomy_deeplab_resnet34', 'taskonomy_mobilenetv2')
#: the authors' published two-task tables, as the repository ships them
REF_DIRS = (Path(__file__).resolve().parents[1] / 'configs' / 'paper' / 'data',)


@lru_cache(maxsize=None)
def reference_table(name: str) -> TwoTaskTable:
    for folder in REF_DIRS:
        path = folder / f'{name}.csv'
        if path.is_file():
            return TwoTaskTable.from_csv(path)
    raise FileNotFoundError(f'reference two-task table {name}.csv not found in '
                            f'{[str(d) for d in REF_DIRS]}')


def random_values(seed: int, num_tasks: int, num_blocks: int, integers: bool = False):
    rng = np.random.default_rng(seed)
    if integers:
        values = rng.integers(-3, 4, size=(num_tasks, num_tasks, num_blocks + 1)).astype(float)
    else:
        values = rng.normal(0.0, 5.0, size=(num_tasks, num_tasks, num_blocks + 1))
    values[:, :, 0] = 0.0
    idx = np.arange(num_tasks)
    values[idx, idx, :] = 0.0
    return values


@lru_cache(maxsize=None)
def oracle_space(num_tasks: int, num_blocks: int) -> tuple:
    return tuple(oracle.brute_force_layouts_by_partitions(num_tasks, num_blocks))


def oracle_rows(olayouts, num_tasks):
    """Compact branch-point rows (pair_index order) computed by the oracle."""
    return np.array([[oracle.branch_point(layout, j, i) for j, i in pair_index(num_tasks)]
                     for layout in olayouts], dtype=np.uint8).reshape(len(olayouts), -1)


# ------------------------------------------------------------------ svd_entropy

def test_svd_entropy_permutation_is_maximal():
    # x = [0,0,1,0,0], order 3: rows [0,0,1], [0,1,0], [1,0,0] (a permutation matrix)
    # singular values 1,1,1 -> p = 1/3 each -> H = log2(3) bits -> / log2(3) = 1.0
    assert svd_entropy([0, 0, 1, 0, 0]) == pytest.approx(1.0, abs=1e-12)


def test_svd_entropy_two_orthogonal_rows():
    # x = [1,0,0,1]: rows [1,0,0], [0,0,1], orthonormal -> singular values 1, 1
    # p = 1/2, 1/2 -> H = 1 bit -> normalised 1 / log2(3)
    assert svd_entropy([1, 0, 0, 1]) == pytest.approx(1 / LOG2_3, abs=1e-12)
    # x = [2,0,0,0,0,2]: rows [2,0,0],[0,0,0],[0,0,0],[0,0,2]; X^T X = diag(4, 0, 4)
    # singular values 2, 2, 0 -> p = 1/2, 1/2, 0 -> 1 bit -> 1 / log2(3)
    assert svd_entropy([2, 0, 0, 0, 0, 2]) == pytest.approx(1 / LOG2_3, abs=1e-12)


def test_svd_entropy_rank_one_is_zero():
    # constant: every row [c,c,c] -> rank 1 -> one non-zero singular value -> p = [1] -> 0
    assert svd_entropy([4.2] * 5) == pytest.approx(0.0, abs=1e-9)
    # a geometric sequence is rank 1 too: rows [1,2,4], [2,4,8], [4,8,16] = multiples
    assert svd_entropy([1, 2, 4, 8, 16]) == pytest.approx(0.0, abs=1e-9)
    # a single row (3 values) has one singular value
    assert svd_entropy([3.0, -1.0, 2.0]) == pytest.approx(0.0, abs=1e-12)
    # all zeros: every singular value 0 -> defined as 0 (fully predictable)
    assert svd_entropy([0, 0, 0, 0, 0]) == 0.0


def test_svd_entropy_other_orders():
    # order 2: x = [1,0,1] -> rows [1,0], [0,1] = identity -> p = 1/2, 1/2 -> 1 bit / log2(2)
    assert svd_entropy([1, 0, 1], order=2) == pytest.approx(1.0, abs=1e-12)
    # delay 2, order 2: x = [1,5,0,7] -> rows [x0, x2], [x1, x3] = [1,0], [5,7]
    # X X^T = [[1, 5], [5, 74]]: eigenvalues (75 +- sqrt(75^2 - 4*49)) / 2
    lam = np.array([(75 + math.sqrt(75 ** 2 - 196)) / 2, (75 - math.sqrt(75 ** 2 - 196)) / 2])
    p = np.sqrt(lam) / np.sqrt(lam).sum()
    expected = float(-(p * np.log2(p)).sum())
    assert svd_entropy([1, 5, 0, 7], order=2, delay=2) == pytest.approx(expected, abs=1e-12)


def test_svd_entropy_is_scale_invariant_and_matches_oracle():
    rng = np.random.default_rng(0)
    for n in (3, 4, 5, 8, 17):
        for _ in range(5):
            x = rng.normal(size=n)
            h = svd_entropy(x)
            assert 0.0 <= h <= 1.0 + 1e-12
            assert h == pytest.approx(oracle.svd_entropy(x), abs=1e-12)
            assert svd_entropy(7.5 * x) == pytest.approx(h, abs=1e-12)


@pytest.mark.parametrize('x, kwargs, pattern', [
    ([1.0, 2.0], {}, r'svd_entropy needs at least 3 values for order=3, delay=1; got 2'),
    ([], {}, r'needs at least 3 values .*got 0'),
    ([1, 2, 3, 4], {'delay': 2}, r'needs at least 5 values for order=3, delay=2; got 4'),
])
def test_svd_entropy_too_short(x, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        svd_entropy(x, **kwargs)


# ------------------------------------------------------------------ SVDE weights

@pytest.mark.parametrize('name', REFERENCE_NAMES)
def test_svde_weights_match_oracle_on_reference_tables(name):
    table = reference_table(name)
    weights = svde_task_weights(table.values)
    assert weights.shape == (table.num_tasks,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights, oracle.task_weights(table.values), rtol=0, atol=1e-12)
    resolved, note = resolve_task_weights(table.values, table.tasks)
    np.testing.assert_allclose(resolved, weights, rtol=0, atol=0)
    assert note == 'SVD-entropy (1 - H) task weights'


def test_published_nyuv2_resnet34_weights():
    table = reference_table('nyuv2_deeplab_resnet34')
    assert table.tasks == ('segment_semantic', 'normal', 'depth_zbuffer')
    weights = svde_task_weights(table.values)
    np.testing.assert_allclose(weights, [0.0935, 0.5781, 0.3285], rtol=0, atol=1e-4)


@pytest.mark.parametrize('seed, num_tasks, num_blocks', [
    (0, 2, 3), (1, 3, 5), (2, 4, 4), (3, 5, 5), (4, 6, 7), (5, 3, 17)])
def test_svde_weights_match_oracle_on_random_tables(seed, num_tasks, num_blocks):
    values = random_values(seed, num_tasks, num_blocks)
    weights = svde_task_weights(values)
    np.testing.assert_allclose(weights, oracle.task_weights(values), rtol=0, atol=1e-12)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_svde_weights_hand_example():
    # 2 tasks, B=5. Task 0's curve vs task 1: [0,0,1,0,0] -> H = 1 (permutation, above);
    # task 1's curve vs task 0: constant -> H = 0. Raw weights 1 - 1 = 0 and 1 - 0 = 1,
    # normalised: [0, 1].
    values = np.zeros((2, 2, 6))
    values[0, 1, 1:] = [0, 0, 1, 0, 0]
    values[1, 0, 1:] = [2, 2, 2, 2, 2]
    np.testing.assert_allclose(svde_task_weights(values), [0.0, 1.0], atol=1e-9)
    # branch 0 is excluded: a non-zero value there would not change anything
    values[1, 0, 0] = 100.0
    np.testing.assert_allclose(svde_task_weights(values), [0.0, 1.0], atol=1e-9)


def test_svde_weights_all_maximal_entropy_fall_back_to_uniform():
    # every curve is [0,0,1,0,0] (H = 1): all raw weights are 0 -> uniform
    values = np.zeros((3, 3, 6))
    for i in range(3):
        for j in range(3):
            if i != j:
                values[i, j, 1:] = [0, 0, 1, 0, 0]
    np.testing.assert_allclose(svde_task_weights(values), [1 / 3] * 3, atol=1e-9)


@pytest.mark.parametrize('num_blocks', [1, 2])
def test_svde_needs_three_branching_points(num_blocks):
    values = random_values(7, 3, num_blocks)
    with pytest.raises(ValueError, match=rf'SVDE weights need at least 3 branching points .*'
                                         rf'got B={num_blocks}.*task_weights=.uniform.'):
        svde_task_weights(values)
    tasks = ['a', 'b', 'c']
    with pytest.warns(UserWarning, match=rf'SVDE needs >= 3 branching points, the table has '
                                         rf'{num_blocks}: uniform task weights used'):
        weights, note = resolve_task_weights(values, tasks, 'svde')
    np.testing.assert_array_equal(weights, [1 / 3] * 3)
    assert 'uniform task weights used' in note
    # asking for uniform explicitly does not warn
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        weights, note = resolve_task_weights(values, tasks, 'uniform')
    np.testing.assert_array_equal(weights, [1 / 3] * 3)
    assert note == 'uniform task weights'


# ------------------------------------------------------------------ weight specs

def test_resolve_task_weights_specs():
    values = random_values(3, 3, 4)
    tasks = ['seg', 'depth', 'normal']
    w, note = resolve_task_weights(values, tasks, 'uniform')
    np.testing.assert_array_equal(w, [1 / 3] * 3)
    w, note = resolve_task_weights(values, tasks, [1, 2, 1])
    np.testing.assert_allclose(w, [0.25, 0.5, 0.25], atol=1e-15)
    assert note == 'user-given task weights'
    w, _ = resolve_task_weights(values, tasks, (0.0, 3.0, 1.0))
    np.testing.assert_allclose(w, [0.0, 0.75, 0.25], atol=1e-15)
    w, _ = resolve_task_weights(values, tasks, np.array([2.0, 2.0, 4.0]))
    np.testing.assert_allclose(w, [0.25, 0.25, 0.5], atol=1e-15)
    # a dict is keyed by task, in any order
    w, note = resolve_task_weights(values, tasks, {'normal': 1, 'seg': 3, 'depth': 4})
    np.testing.assert_allclose(w, [0.375, 0.5, 0.125], atol=1e-15)
    assert note == 'user-given task weights'
    w, _ = resolve_task_weights(values, tasks, 'svde')
    np.testing.assert_allclose(w, oracle.task_weights(values), atol=1e-12)


@pytest.mark.parametrize('spec, pattern', [
    ('entropy', r"task_weights='entropy' is not known; use 'svde', 'uniform', a list"),
    ([1, 2], r'task_weights must be 3 finite non-negative numbers with a positive, finite sum '
             r"\(one per task \['seg', 'depth', 'normal'\]; only their ratios matter, e\.g\. "
             r'\[1, 1, 2\]\); got \[1\.0, 2\.0\]'),
    ([1, 2, 3, 4], r'task_weights must be 3 finite non-negative numbers'),
    ([1, -1, 3], r'task_weights must be 3 finite non-negative numbers.*got \[1\.0, -1\.0, 3\.0\]'),
    ([0, 0, 0], r'with a positive, finite sum'),
    ([1e308, 1e308, 1e308], r'with a positive, finite sum'),       # the sum overflows
    ([1, float('nan'), 1], r'task_weights must be 3 finite'),
    ([1, float('inf'), 1], r'task_weights must be 3 finite'),
    ({'seg': 1, 'depth': 1, 'normal': 1, 'edge': 1},
     r"task_weights dict must give every task exactly once: unknown \['edge'\], missing \[\]"),
    ({'seg': 1, 'depth': 1},
     r"task_weights dict must give every task exactly once: unknown \[\], missing \['normal'\]"),
    ({'seg': 1, 'depth': -2, 'normal': 1}, r'task_weights must be 3 finite non-negative'),
])
def test_resolve_task_weights_errors(spec, pattern):
    values = random_values(3, 3, 4)
    with pytest.raises(ValueError, match=pattern):
        resolve_task_weights(values, ['seg', 'depth', 'normal'], spec)


# ------------------------------------------------------------------ estimator vs oracle

def check_estimator_against_oracle(values, weights, num_tasks, num_blocks):
    estimator = TaskAccuracyEstimator(values, weights)
    olayouts = oracle_space(num_tasks, num_blocks)
    rows = oracle_rows(olayouts, num_tasks)
    scores = estimator.scores(rows)
    est = estimator.estimates_matrix(rows)
    assert scores.shape == (len(olayouts),) and est.shape == (len(olayouts), num_tasks)
    expected_scores = np.array([oracle.score(layout, values, weights) for layout in olayouts])
    expected_est = np.array([oracle.estimates(layout, values) for layout in olayouts])
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-11)
    np.testing.assert_allclose(est, expected_est, rtol=0, atol=1e-11)
    # the score is the weighted sum of the estimates
    np.testing.assert_allclose(est @ np.asarray(weights), scores, rtol=0, atol=1e-11)
    # one-layout helpers take the full (T, T) matrix
    for k in (0, len(olayouts) // 2, len(olayouts) - 1):
        bp = np.array([[oracle.branch_point(olayouts[k], i, j) for j in range(num_tasks)]
                       for i in range(num_tasks)])
        assert matrix_to_row(bp).tolist() == rows[k].tolist()
        assert estimator.score(bp) == pytest.approx(expected_scores[k], abs=1e-11)
        np.testing.assert_allclose(estimator.estimate(bp), expected_est[k], atol=1e-11)
    return scores


@pytest.mark.parametrize('name', REFERENCE_NAMES)
def test_estimator_matches_oracle_on_every_layout_of_reference_tables(name):
    table = reference_table(name)
    weights = svde_task_weights(table.values)
    check_estimator_against_oracle(table.values, weights, table.num_tasks, table.num_blocks)


@pytest.mark.parametrize('seed, num_tasks, num_blocks, weights', [
    (10, 2, 4, 'svde'), (11, 3, 5, 'svde'), (12, 4, 4, 'svde'), (13, 4, 3, [1, 0, 2, 5]),
    (14, 3, 2, 'uniform'), (15, 5, 3, 'svde'), (16, 3, 1, [0.2, 0.3, 0.5])])
def test_estimator_matches_oracle_on_random_tables(seed, num_tasks, num_blocks, weights):
    values = random_values(seed, num_tasks, num_blocks)
    w, _ = resolve_task_weights(values, [f't{k}' for k in range(num_tasks)], weights)
    check_estimator_against_oracle(values, w, num_tasks, num_blocks)


def test_estimator_on_enumerator_rows():
    """Scores of the enumerator's own rows agree with the oracle scores of the same layouts."""
    values = random_values(21, 4, 3)
    weights = svde_task_weights(values)
    estimator = TaskAccuracyEstimator(values, weights)
    rows = np.concatenate([c.branch_points for c in iter_layout_chunks(4, 3)])
    by_row = {tuple(r): s for r, s in zip(oracle_rows(oracle_space(4, 3), 4),
                                         (oracle.score(layout, values, weights)
                                          for layout in oracle_space(4, 3)))}
    scores = estimator.scores(rows)
    assert sorted(by_row) == sorted(tuple(r) for r in rows.tolist())
    np.testing.assert_allclose(scores, [by_row[tuple(r)] for r in rows.tolist()], atol=1e-11)


def _hand_table() -> np.ndarray:
    """T=3, B=2: A[i, j] = [0, 2k+1, 2k+2] for the k-th off-diagonal entry in row order."""
    values = np.zeros((3, 3, 3))
    values[0, 1] = [0, 1, 2]
    values[0, 2] = [0, 3, 4]
    values[1, 0] = [0, 5, 6]
    values[1, 2] = [0, 7, 8]
    values[2, 0] = [0, 9, 10]
    values[2, 1] = [0, 11, 12]
    return values


def test_estimator_hand_example():
    # T=3, B=2. Layout: all share block 1, {0,1} | {2} at block 2:
    # b01 = 2, b02 = 1, b12 = 1.
    values = _hand_table()
    estimator = TaskAccuracyEstimator(values, np.array([0.5, 0.25, 0.25]))
    bp = np.array([[2, 2, 1], [2, 2, 1], [1, 1, 2]])
    # task 0: mean(A[0,1,2], A[0,2,1]) = (2 + 3)/2 = 2.5
    # task 1: mean(A[1,0,2], A[1,2,1]) = (6 + 7)/2 = 6.5
    # task 2: mean(A[2,0,1], A[2,1,1]) = (9 + 11)/2 = 10
    np.testing.assert_allclose(estimator.estimate(bp), [2.5, 6.5, 10.0])
    # score = 0.5*2.5 + 0.25*6.5 + 0.25*10 = 1.25 + 1.625 + 2.5 = 5.375
    assert estimator.score(bp) == pytest.approx(5.375, abs=1e-12)
    # independent layout: all branch points 0 -> every estimate 0
    assert estimator.score(np.diag([2, 2, 2])) == 0.0


def test_estimator_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'two-task values must have shape \(T, T, B\+1\), got '
                                         r'\(3, 2, 4\)'):
        TaskAccuracyEstimator(np.zeros((3, 2, 4)), np.ones(3) / 3)
    with pytest.raises(ValueError, match=r'two-task values must have shape'):
        TaskAccuracyEstimator(np.zeros((3, 3)), np.ones(3) / 3)


# -- the blockwise estimator -------------------------------------------------------------

@pytest.mark.parametrize('seed, num_tasks, num_blocks', [(30, 2, 4), (31, 3, 4), (32, 4, 3),
                                                         (33, 3, 1), (34, 5, 2)])
def test_blockwise_estimator_matches_oracle_on_every_layout(seed, num_tasks, num_blocks):
    values = random_values(seed, num_tasks, num_blocks)
    weights = np.random.default_rng(seed).random(num_tasks)
    weights /= weights.sum()
    estimator = BlockwiseEstimator(values, weights)
    olayouts = oracle_space(num_tasks, num_blocks)
    rows = oracle_rows(olayouts, num_tasks)
    expected = np.array([oracle.blockwise_estimates(lay, values) for lay in olayouts])
    np.testing.assert_allclose(estimator.estimates_matrix(rows), expected, atol=1e-11)
    np.testing.assert_allclose(estimator.scores(rows), expected @ weights, atol=1e-11)


@pytest.mark.parametrize('name', sorted(ESTIMATORS))
def test_estimates_are_linear_in_the_table_through_their_coefficients(name):
    values = random_values(40, 4, 3)
    estimator = build_estimator(name, values, np.full(4, 0.25))
    rows = np.concatenate([c.branch_points for c in iter_layout_chunks(4, 3)])
    coef = estimator.coefficients(rows)
    assert coef.shape == (len(rows), 4, 4, 4)
    np.testing.assert_allclose(np.einsum('nijb,ijb->ni', coef, values),
                               estimator.estimates_matrix(rows), atol=1e-11)
    assert np.all(coef[:, np.arange(4), np.arange(4)] == 0)     # the diagonal is never read


def test_blockwise_estimator_hand_example():
    # the paper's hand example: all share block 1, {0,1} | {2} at block 2
    values = _hand_table()
    estimator = BlockwiseEstimator(values, np.array([0.5, 0.25, 0.25]))
    bp = np.array([[2, 2, 1], [2, 2, 1], [1, 1, 2]])
    # task 0: block 1 with {1, 2}: mean(1 - 0, 3 - 0) = 2; block 2 with {1}: 2 - 1 = 1 -> 3
    # task 1: block 1: mean(5, 7) = 6; block 2 with {0}: 6 - 5 = 1 -> 7
    # task 2: block 1: mean(9, 11) = 10; block 2 alone -> 10
    np.testing.assert_allclose(estimator.estimate(bp), [3.0, 7.0, 10.0])
    assert estimator.score(bp) == pytest.approx(0.5 * 3 + 0.25 * 7 + 0.25 * 10, abs=1e-12)
    assert estimator.score(np.diag([2, 2, 2])) == 0.0


def test_blockwise_estimator_is_the_table_for_a_pair_and_the_group_mean_for_a_group():
    values = random_values(41, 4, 3)
    blockwise = BlockwiseEstimator(values, np.full(4, 0.25))
    paper = TaskAccuracyEstimator(values, np.full(4, 0.25))
    # tasks 0 and 1 share b blocks, 2 and 3 alone: task 0 gets its whole pair value
    for b in range(4):
        bp = np.diag([3, 3, 3, 3])
        bp[0, 1] = bp[1, 0] = b
        np.testing.assert_allclose(blockwise.estimate(bp)[:2], [values[0, 1, b], values[1, 0, b]])
        np.testing.assert_allclose(paper.estimate(bp)[:2],
                                   [values[0, 1, b] / 3, values[1, 0, b] / 3])
    # the grouping {0, 1, 2} {3}: each member gets the mean of its pair values in the group
    # (Standley et al.'s higher-order approximation); all shared: the paper's estimate
    bp = np.full((4, 4), 3)
    bp[3, :3] = bp[:3, 3] = 0
    expected = [np.mean([values[i, j, 3] for j in range(3) if j != i]) for i in range(3)]
    np.testing.assert_allclose(blockwise.estimate(bp)[:3], expected)
    np.testing.assert_allclose(blockwise.estimate(np.full((4, 4), 3)),
                               paper.estimate(np.full((4, 4), 3)))


def test_an_unknown_estimator_names_the_known_ones():
    with pytest.raises(ValueError, match=r"recommender.estimator='mean' is not known; use one "
                                         r"of \['paper', 'blockwise'\]"):
        build_estimator('mean', np.zeros((2, 2, 3)), np.ones(2) / 2)
