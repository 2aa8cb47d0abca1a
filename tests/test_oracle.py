"""Tests of the slow reference implementation in tests/oracle.py (the oracle itself).

Every expected number here is worked out by hand in the comments, not computed by the code
under test.
"""

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

LOG2_3 = math.log2(3)


def L(*blocks):
    """Build a canonical layout from lists of lists, e.g. L([[0, 1, 2]], [[0, 1], [2]])."""
    return tuple(frozenset(frozenset(s) for s in block) for block in blocks)


# ---------------------------------------------------------------------------
# Design space
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("T", [1, 2, 3, 4])
@pytest.mark.parametrize("B", [1, 2, 3, 4])
def test_generators_agree(T, B):
    by_cuts = oracle.brute_force_layouts(T, B)
    by_partitions = oracle.brute_force_layouts_by_partitions(T, B)
    assert by_cuts == by_partitions
    assert all(oracle.is_valid_layout(layout, T) for layout in by_cuts)
    assert all(len(layout) == B for layout in by_cuts)


@pytest.mark.parametrize(
    "T, B, expected",
    # docs/advanced/method.md, "Design space"
    [(3, 5, 51), (4, 5, 561), (5, 5, 7556), (3, 17, 477)],
)
def test_design_space_sizes(T, B, expected):
    by_cuts = oracle.brute_force_layouts(T, B)
    assert len(by_cuts) == expected
    assert by_cuts == oracle.brute_force_layouts_by_partitions(T, B)


def test_small_counts_by_hand():
    # T=1: only one layout. T=2, B blocks: the pair shares the first b blocks, b = 0..B,
    # so B+1 layouts. T=3, B=1: the 5 set partitions of {0,1,2} (Bell number 5).
    assert len(oracle.brute_force_layouts(1, 4)) == 1
    assert len(oracle.brute_force_layouts(2, 4)) == 5
    assert len(oracle.brute_force_layouts(3, 1)) == 5
    # T=3, B=2: chains (P0, P1) with P1 refining P0. P0 = {012}: 5 choices of P1;
    # P0 one of the 3 two-set partitions: 2 choices each (itself or all singletons);
    # P0 = all singletons: 1. Total 5 + 3*2 + 1 = 12.
    assert len(oracle.brute_force_layouts(3, 2)) == 12


def test_set_partitions_bell_numbers():
    assert [len(oracle.set_partitions(range(n))) for n in range(6)] == [1, 1, 2, 5, 15, 52]


def test_apply_cut_splits_block_and_all_later_blocks():
    start = oracle.all_shared_layout(3, 3)
    cut = oracle.apply_cut(start, 1, {0, 1, 2}, {2})
    assert cut == L([[0, 1, 2]], [[0, 1], [2]], [[0, 1], [2]])
    cut2 = oracle.apply_cut(cut, 2, {0, 1}, {0})
    assert cut2 == L([[0, 1, 2]], [[0, 1], [2]], [[0], [1], [2]])
    # cutting block 0 into {0} | {1, 2} after that: later descendants are intersected
    cut3 = oracle.apply_cut(cut2, 0, {0, 1, 2}, {0})
    assert cut3 == L([[0], [1, 2]], [[0], [1], [2]], [[0], [1], [2]])


# ---------------------------------------------------------------------------
# Branch point
# ---------------------------------------------------------------------------

# T=3, B=5: all share block 0; {0,1} | {2} at blocks 1,2; all separate at blocks 3,4.
EXAMPLE_LAYOUT = L(
    [[0, 1, 2]],
    [[0, 1], [2]],
    [[0, 1], [2]],
    [[0], [1], [2]],
    [[0], [1], [2]],
)


def test_branch_point():
    # 0 and 1 together in blocks 0, 1, 2 -> 3; 0/2 and 1/2 only in block 0 -> 1.
    assert oracle.branch_point(EXAMPLE_LAYOUT, 0, 1) == 3
    assert oracle.branch_point(EXAMPLE_LAYOUT, 1, 0) == 3
    assert oracle.branch_point(EXAMPLE_LAYOUT, 0, 2) == 1
    assert oracle.branch_point(EXAMPLE_LAYOUT, 1, 2) == 1
    assert oracle.branch_point(oracle.all_shared_layout(3, 5), 0, 2) == 5
    separate = L(*[[[0], [1], [2]]] * 5)
    assert oracle.branch_point(separate, 0, 1) == 0


# ---------------------------------------------------------------------------
# SVD entropy, by hand
# ---------------------------------------------------------------------------

def test_svd_entropy_constant_is_zero():
    # x = [2,2,2,2,2] -> rows [2,2,2] three times = 2 * ones(3,3): rank 1, singular values
    # (6, 0, 0) -> p = (1, 0, 0) -> H = -1*log2(1) = 0.
    assert oracle.svd_entropy([2, 2, 2, 2, 2]) == pytest.approx(0.0, abs=1e-9)


def test_svd_entropy_length_three_is_zero():
    # B = 3: x has 3 values -> a single embedding row -> one singular value -> H = 0.
    assert oracle.svd_entropy([1, 5, 2]) == pytest.approx(0.0, abs=1e-12)


def test_svd_entropy_all_zero_is_zero():
    # all singular values 0: defined as 0 (antropy returns -0.0 here too).
    assert oracle.svd_entropy([0, 0, 0, 0, 0]) == 0.0


def test_svd_entropy_permutation_is_one():
    # x = [0,0,1,0,0] -> rows [0,0,1], [0,1,0], [1,0,0]: a permutation matrix,
    # singular values (1,1,1) -> p = (1/3,1/3,1/3) -> H = log2(3) bits -> / log2(3) = 1.
    assert oracle.svd_entropy([0, 0, 1, 0, 0]) == pytest.approx(1.0, abs=1e-12)
    # scaling does not change the normalised singular values
    assert oracle.svd_entropy([0, 0, -4, 0, 0]) == pytest.approx(1.0, abs=1e-12)


def test_svd_entropy_two_equal_singular_values():
    # x = [1,0,0,1] -> rows [1,0,0], [0,0,1]: orthonormal rows, singular values (1,1)
    # -> p = (1/2,1/2) -> H = 1 bit -> normalised 1/log2(3) ~= 0.6309.
    assert oracle.svd_entropy([1, 0, 0, 1]) == pytest.approx(1 / LOG2_3, abs=1e-12)


def test_svd_entropy_unequal_orthogonal_rows():
    # x = [1,0,0,3] -> rows [1,0,0], [0,0,3]: orthogonal rows, singular values = row norms
    # (3, 1) -> p = (3/4, 1/4).
    # H = -(3/4 log2 3/4 + 1/4 log2 1/4) = 3/4 (2 - log2 3) + 1/4 * 2 = 2 - (3/4) log2 3
    # normalised: 2/log2(3) - 3/4 ~= 0.51186.
    assert oracle.svd_entropy([1, 0, 0, 3]) == pytest.approx(2 / LOG2_3 - 0.75, abs=1e-12)

    # x = [1,0,0,2,0] -> rows [1,0,0], [0,0,2], [0,2,0]: orthogonal, norms (1,2,2)
    # -> p = (1/5, 2/5, 2/5).
    # H = 1/5 log2 5 + 4/5 log2(5/2) = 1/5 log2 5 + 4/5 log2 5 - 4/5 = log2(5) - 0.8
    # normalised: (log2 5 - 0.8) / log2 3 ~= 0.96027.
    expected = (math.log2(5) - 0.8) / LOG2_3
    assert oracle.svd_entropy([1, 0, 0, 2, 0]) == pytest.approx(expected, abs=1e-12)


def test_svd_entropy_golden_ratio_and_delay():
    # x = [1,1,0,0,0,0], delay 1 -> rows [1,1,0], [1,0,0], [0,0,0], [0,0,0].
    # M M^T on the two nonzero rows = [[2,1],[1,1]], eigenvalues (3 +- sqrt5)/2 = phi^2, 1/phi^2
    # -> singular values phi, 1/phi (phi = (1+sqrt5)/2), sum phi + 1/phi = sqrt5
    # -> p1 = phi/sqrt5, p2 = 1/(phi sqrt5).
    phi = (1 + math.sqrt(5)) / 2
    p1, p2 = phi / math.sqrt(5), 1 / (phi * math.sqrt(5))
    expected = -(p1 * math.log2(p1) + p2 * math.log2(p2)) / LOG2_3
    assert oracle.svd_entropy([1, 1, 0, 0, 0, 0]) == pytest.approx(expected, abs=1e-12)
    # delay 2 -> rows [x0,x2,x4] = [1,0,0], [x1,x3,x5] = [1,0,0]: rank 1 -> H = 0.
    assert oracle.svd_entropy([1, 1, 0, 0, 0, 0], delay=2) == pytest.approx(0.0, abs=1e-9)


def test_svd_entropy_order_two():
    # order 2: x = [1,0,1] -> rows [1,0], [0,1]: identity, singular values (1,1)
    # -> H = 1 bit, / log2(2) = 1.
    assert oracle.svd_entropy([1, 0, 1], order=2) == pytest.approx(1.0, abs=1e-12)


def test_svd_entropy_too_short_raises():
    with pytest.raises(ValueError):
        oracle.svd_entropy([1, 2])


def test_svd_entropy_matches_antropy():
    """Against values antropy computed (recorded in ``tests/data``, so the check needs no
    antropy install): 121 sequences of 3-17 values, order 3 / delay 1 and order 4 / delay 2."""
    import json
    path = Path(__file__).with_name('data') / 'antropy_svd_entropy.json'
    cases = json.loads(path.read_text())['cases']
    assert len(cases) == 121
    for case in cases:
        assert oracle.svd_entropy(np.array(case['x']), order=case['order'],
                                  delay=case['delay']) == pytest.approx(case['value'], abs=1e-10)


# ---------------------------------------------------------------------------
# Task weights, estimates, score, cost: a hand-worked 3-task example with B = 5
# ---------------------------------------------------------------------------

def weights_table():
    """values (3, 3, 6) whose sequences values[i, j, 1:] have entropies known by hand."""
    v = np.zeros((3, 3, 6))
    v[0, 1, 1:] = [2, 2, 2, 2, 2]       # constant: H = 0
    v[0, 2, 1:] = [2, 2, 2, 2, 2]       # H = 0          -> w0 = 1 - 0 = 1
    v[1, 0, 1:] = [0, 0, 1, 0, 0]       # permutation: H = 1
    v[1, 2, 1:] = [0, 0, 1, 0, 0]       # H = 1          -> w1 = 1 - 1 = 0
    v[2, 0, 1:] = [-3, -3, -3, -3, -3]  # constant: H = 0
    v[2, 1, 1:] = [0, 0, 4, 0, 0]       # scaled permutation: H = 1 -> w2 = 1 - 1/2 = 1/2
    v[0, 0, :] = v[1, 1, :] = v[2, 2, :] = 99.0  # diagonal must be ignored
    return v


def test_task_weights_by_hand():
    # raw (1, 0, 1/2), sum 3/2 -> normalised (2/3, 0, 1/3).
    w = oracle.task_weights(weights_table())
    assert w == pytest.approx([2 / 3, 0.0, 1 / 3], abs=1e-9)


def test_task_weights_need_three_blocks():
    with pytest.raises(ValueError):
        oracle.task_weights(np.zeros((3, 3, 3)))  # B = 2


def test_estimates_and_score_with_weights_table():
    # EXAMPLE_LAYOUT: b01 = 3, b02 = 1, b12 = 1.
    # est0 = (v[0,1,3] + v[0,2,1]) / 2 = (2 + 2) / 2 = 2
    # est1 = (v[1,0,3] + v[1,2,1]) / 2 = (1 + 0) / 2 = 0.5
    # est2 = (v[2,0,1] + v[2,1,1]) / 2 = (-3 + 0) / 2 = -1.5
    # score = 2/3 * 2 + 0 * 0.5 + 1/3 * (-1.5) = 4/3 - 1/2 = 5/6
    v = weights_table()
    assert oracle.estimates(EXAMPLE_LAYOUT, v) == pytest.approx([2.0, 0.5, -1.5])
    w = oracle.task_weights(v)
    assert oracle.score(EXAMPLE_LAYOUT, v, w) == pytest.approx(5 / 6, abs=1e-9)


def index_table():
    """values[i, j, b] = 100 i + 10 j + b: every entry tells where it came from."""
    v = np.zeros((3, 3, 6))
    for i in range(3):
        for j in range(3):
            for b in range(6):
                v[i, j, b] = 100 * i + 10 * j + b
    return v


def test_estimates_and_score_index_table():
    v = index_table()
    # EXAMPLE_LAYOUT: b01 = 3, b02 = 1, b12 = 1.
    # est0 = (v[0,1,3] + v[0,2,1]) / 2 = (13 + 21) / 2 = 17
    # est1 = (v[1,0,3] + v[1,2,1]) / 2 = (103 + 121) / 2 = 112
    # est2 = (v[2,0,1] + v[2,1,1]) / 2 = (201 + 211) / 2 = 206
    assert oracle.estimates(EXAMPLE_LAYOUT, v) == pytest.approx([17, 112, 206])
    # weights (0.5, 0.25, 0.25): 8.5 + 28 + 51.5 = 88
    assert oracle.score(EXAMPLE_LAYOUT, v, [0.5, 0.25, 0.25]) == pytest.approx(88.0)
    # all shared: every b_ij = 5 -> est0 = (15 + 25)/2 = 20, est1 = (105 + 125)/2 = 115,
    # est2 = (205 + 215)/2 = 210
    shared = oracle.all_shared_layout(3, 5)
    assert oracle.estimates(shared, v) == pytest.approx([20, 115, 210])
    # all separate: every b_ij = 0 -> est0 = (10 + 20)/2 = 15, est1 = (100 + 120)/2 = 110,
    # est2 = (200 + 210)/2 = 205
    separate = L(*[[[0], [1], [2]]] * 5)
    assert oracle.estimates(separate, v) == pytest.approx([15, 110, 205])


def test_flops():
    # EXAMPLE_LAYOUT has (1, 2, 2, 3, 3) sets per block; F = (1, 2, 3, 4, 5):
    # 1*1 + 2*2 + 2*3 + 3*4 + 3*5 = 1 + 4 + 6 + 12 + 15 = 38
    assert oracle.flops(EXAMPLE_LAYOUT, [1, 2, 3, 4, 5]) == 38
    assert oracle.flops(oracle.all_shared_layout(3, 5), [1, 2, 3, 4, 5]) == 15
    assert oracle.flops(L(*[[[0], [1], [2]]] * 5), [1, 2, 3, 4, 5]) == 45


def test_rank_layouts():
    v = index_table()
    ranked = oracle.rank_layouts(v)
    assert len(ranked) == 51
    scores = [s for s, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    # values grow with b, so sharing everything is best: all b_ij = 5.
    assert ranked[0][1] == oracle.all_shared_layout(3, 5)
    w = oracle.task_weights(v)
    for s, layout in ranked:
        assert s == pytest.approx(oracle.score(layout, v, w))
    # with block FLOPs the cost rides along as a third element
    ranked_f = oracle.rank_layouts(v, block_flops=[1, 1, 1, 1, 1])
    assert ranked_f[0][2] == 5 and ranked_f[-1][0] == pytest.approx(ranked[-1][0])
    # explicit weights
    ranked_w = oracle.rank_layouts(v, weights=[1, 0, 0])
    # only task 0 counts; its best is b01 = b02 = 5 -> 20; worst b = 0 -> 15
    assert ranked_w[0][0] == pytest.approx(20) and ranked_w[-1][0] == pytest.approx(15)
