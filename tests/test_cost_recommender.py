"""Tests for treemtl_plugin.cost (CostModel, Budget, BudgetError) and treemtl_plugin.recommender.

Ground truth: the slow oracle in tests/oracle.py (brute-force layouts, scores, FLOPs, ranking)
and the paper's Table 1 (NYUv2, Deeplab-ResNet34).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from treemtl_plugin.core.cost import Budget, CostModel
from treemtl_plugin.core.design_space import chunk_to_layouts, count_layouts, iter_layout_chunks
from treemtl_plugin.core.encoding import pair_index
from treemtl_plugin.core.estimator import svde_task_weights
from treemtl_plugin.core.layout import Layout
from treemtl_plugin.core.ranking import rank_order
from treemtl_plugin.core.table import TwoTaskTable
from treemtl_plugin.errors import BudgetError, SpaceTooLargeError
from treemtl_plugin.recommenders import Recommendation, TreeCandidate
from treemtl_plugin.recommenders import recommend_layouts as recommend

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

#: the authors' published two-task tables, as the repository ships them
REF_DIRS = (Path(__file__).resolve().parents[1] / 'configs' / 'paper' / 'data',)
# Deeplab-ResNet34 block GFLOPs at 321x321 (stem, layer1..layer4); MobileNetV2's 5 blocks.
RESNET34_FLOPS = (0.250500544, 1.458746496, 1.87841664, 11.473618432, 22.05041664)
MOBILENETV2_FLOPS = (0.086152192, 0.081611264, 0.06002304, 0.070911232, 0.02025856)
REFERENCE = {
    'nyuv2_deeplab_resnet34': RESNET34_FLOPS,
    'nyuv2_mobilenetv2': MOBILENETV2_FLOPS,
    'taskonomy_deeplab_resnet34': RESNET34_FLOPS,
    'taskonomy_mobilenetv2': MOBILENETV2_FLOPS,
}
UNLIMITED = 10 ** 9


# ------------------------------------------------------------------ helpers

@lru_cache(maxsize=None)
def reference_table(name: str) -> TwoTaskTable:
    for folder in REF_DIRS:
        path = folder / f'{name}.csv'
        if path.is_file():
            return TwoTaskTable.from_csv(path)
    raise FileNotFoundError(f'reference two-task table {name}.csv not found in '
                            f'{[str(d) for d in REF_DIRS]}')


def to_oracle(layout: Layout, tasks) -> tuple:
    index = {t: k for k, t in enumerate(tasks)}
    return tuple(frozenset(frozenset(index[t] for t in s) for s in layout.task_sets(b))
                 for b in range(layout.num_blocks))


def oracle_row(olayout, num_tasks) -> tuple:
    return tuple(oracle.branch_point(olayout, j, i) for j, i in pair_index(num_tasks))


@lru_cache(maxsize=None)
def oracle_ranking(name: str):
    """[(score, layout, flops)] of the whole space, best first (the oracle's ranking)."""
    table = reference_table(name)
    return oracle.rank_layouts(table.values, list(REFERENCE[name]))


def check_no_ties(ranking):
    scores = np.array([row[0] for row in ranking])
    assert np.all(np.diff(scores) < -1e-9), 'reference tables are expected to have no ties'


def make_table(values, tasks=None) -> TwoTaskTable:
    num_tasks = values.shape[0]
    tasks = tasks or tuple(f't{k}' for k in range(num_tasks))
    return TwoTaskTable(tuple(tasks), values.shape[2] - 1, values)


def random_values(seed, num_tasks, num_blocks, integers=False):
    rng = np.random.default_rng(seed)
    if integers:
        values = rng.integers(-3, 4, size=(num_tasks, num_tasks, num_blocks + 1)).astype(float)
    else:
        values = rng.normal(0.0, 5.0, size=(num_tasks, num_tasks, num_blocks + 1))
    values[:, :, 0] = 0.0
    idx = np.arange(num_tasks)
    values[idx, idx, :] = 0.0
    return values


# ------------------------------------------------------------------ CostModel

def test_cost_model_matches_oracle_flops_on_whole_space():
    block_flops = [0.5, 1.25, 3.0, 7.75]
    block_params = [0.1, 0.2, 0.4, 0.8]
    cost = CostModel(block_flops, block_params=block_params)
    names = ['a', 'b', 'c', 'd']
    seen = 0
    for chunk in iter_layout_chunks(4, 4, chunk_rows=64):
        counts = chunk.sets_per_block(4)
        flops, params = cost.flops_of(counts), cost.params_of(counts)
        for k, layout in enumerate(chunk_to_layouts(chunk, names, 4)):
            olayout = to_oracle(layout, names)
            assert flops[k] == pytest.approx(oracle.flops(olayout, block_flops), abs=1e-12)
            assert params[k] == pytest.approx(oracle.flops(olayout, block_params), abs=1e-12)
            # FLOPs(L) = sum_b |L[b]| F_b, from the Layout object too
            summary = cost.layout_cost(layout)
            assert summary['flops'] == pytest.approx(flops[k], abs=1e-12)
            assert summary['params'] == pytest.approx(params[k], abs=1e-12)
            seen += 1
    assert seen == count_layouts(4, 4)


def test_cost_model_basics_and_layout_cost():
    cost = CostModel([1.0, 2.0, 3.0], block_params=[10.0, 20.0, 30.0], head_flops=0.5,
                     head_params={'a': 1.0, 'b': 2.0, 'c': 4.0})
    assert cost.num_blocks == 3 and cost.has_params
    assert cost.backbone_flops == 6.0 and cost.backbone_params == 60.0
    assert cost.head_flops_total(['a', 'b', 'c']) == 1.5
    assert cost.head_params_total(['a', 'b', 'c']) == 7.0
    assert cost.head_params_total(['c']) == 4.0
    assert cost.flops_unit == 'GFLOPs' and cost.params_unit == 'M'
    layout = Layout([[['a', 'b', 'c']], [['a', 'b'], ['c']], [['a'], ['b'], ['c']]])
    # 1*1 + 2*2 + 3*3 = 14 FLOPs; params 10 + 40 + 90 = 140
    assert cost.layout_cost(layout) == dict(
        flops=14.0, params=140.0, head_flops=1.5, head_params=7.0,
        flops_ratio=14.0 / 18.0, models=14.0 / 6.0, sets_per_block=[1, 2, 3])
    no_params = CostModel([1.0, 2.0, 3.0])
    assert not no_params.has_params and no_params.backbone_params is None
    assert no_params.params_of(np.ones((2, 3))) is None
    assert no_params.head_flops_total(['a', 'b']) == 0.0
    assert no_params.layout_cost(layout)['params'] is None
    np.testing.assert_array_equal(no_params.flops_of([[1, 1, 1], [3, 3, 3], [1, 2, 3]]),
                                  [6.0, 18.0, 14.0])


@pytest.mark.parametrize('kwargs, pattern', [
    (dict(block_flops=[]), r'block_flops must be a non-empty list with one number per block'),
    (dict(block_flops=[[1.0, 2.0]]), r'block_flops must be a list with one number per block'),
    (dict(block_flops=5.0), r'block_flops must be a list with one number per block'),
        (dict(block_flops=['1', '2']), r'block_flops must be a list with one number per block'),
        (dict(block_flops=[True, 2.0]), r'block_flops must be a list with one number per block'),
        (dict(block_flops=[0.0, 0.0]), r'block_flops \[0\.0, 0\.0\] add up to 0'),
    (dict(block_flops=[1.0, -2.0]), r'block_flops must be finite and >= 0, got \[1\.0, -2\.0\]'),
    (dict(block_flops=[1.0, float('nan')]), r'block_flops must be finite and >= 0'),
    (dict(block_flops=[1.0, float('inf')]), r'block_flops must be finite and >= 0'),
    (dict(block_flops=[1.0, 2.0, 3.0], block_params=[1.0, 2.0]),
     r'block_params has 2 entries but block_flops has 3; give one value per block'),
    (dict(block_flops=[1.0, 2.0], block_params=[1.0, -1.0]),
     r'block_params must be finite and >= 0'),
])
def test_cost_model_bad_inputs(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        CostModel(**kwargs)


def test_head_cost_errors():
    cost = CostModel([1.0], head_flops={'a': 1.0, 'b': 2.0})
    assert cost.head_flops_total(['b', 'a']) == 3.0
    with pytest.raises(ValueError, match=r"head_flops has no entry for task\(s\) \['c'\]"):
        cost.head_flops_total(['a', 'b', 'c'])
    with pytest.raises(ValueError, match=r'head_params must be finite, >= 0 and <= 1e\+15, got -1'):
        CostModel([1.0], head_params=-1).head_params_total(['a'])
    with pytest.raises(ValueError, match=r'head_flops must be finite, >= 0'):
        CostModel([1.0], head_flops={'a': float('nan')}).head_flops_total(['a'])


# ------------------------------------------------------------------ Budget

def test_budget_max_flops_includes_heads():
    cost = CostModel([1.0, 2.0, 3.0], head_flops=0.5)
    tasks = ['a', 'b', 'c']  # heads: 1.5
    flops = np.array([6.0, 7.0, 12.0, 18.0])
    np.testing.assert_array_equal(Budget(max_flops=8.5).allows(flops, None, cost, tasks),
                                  [True, True, False, False])  # 7 + 1.5 = 8.5 fits exactly
    np.testing.assert_array_equal(Budget(max_flops=8.4).allows(flops, None, cost, tasks),
                                  [True, False, False, False])
    np.testing.assert_array_equal(Budget(max_flops=7.4).allows(flops, None, cost, tasks),
                                  [False, False, False, False])


def test_budget_max_models_and_ratio():
    cost = CostModel([1.0, 2.0, 3.0], head_flops=100.0)  # heads do not count here
    tasks = ['a', 'b', 'c']
    flops = np.array([6.0, 9.0, 12.0, 12.5, 18.0])
    # 2 models <=> FLOPs <= 2 * 6 = 12
    np.testing.assert_array_equal(Budget(max_models=2).allows(flops, None, cost, tasks),
                                  [True, True, True, False, False])
    # ratio 0.5 of T=3 independent backbones <=> FLOPs <= 0.5 * 18 = 9
    np.testing.assert_array_equal(Budget(max_flops_ratio=0.5).allows(flops, None, cost, tasks),
                                  [True, True, False, False, False])
    np.testing.assert_array_equal(Budget(max_flops_ratio=1).allows(flops, None, cost, tasks),
                                  [True] * 5)
    # every limit given must hold
    both = Budget(max_models=2, max_flops_ratio=0.6)  # <= 12 and <= 10.8
    np.testing.assert_array_equal(both.allows(flops, None, cost, tasks),
                                  [True, True, False, False, False])
    # float noise at the boundary is tolerated (relative 1e-9)
    assert Budget(max_models=2).allows(np.array([12.0 * (1 + 1e-12)]), None, cost, tasks)[0]


def test_budget_max_params():
    cost = CostModel([1.0, 2.0], block_params=[10.0, 20.0], head_params={'a': 1.0, 'b': 1.0})
    tasks = ['a', 'b']
    params = np.array([30.0, 50.0, 60.0])
    np.testing.assert_array_equal(
        Budget(max_params=52).allows(np.zeros(3), params, cost, tasks), [True, True, False])
    with pytest.raises(ValueError, match=r'max_params needs per-block parameter counts: set '
                                         r'block_params'):
        Budget(max_params=52).limits(CostModel([1.0, 2.0]), tasks)
    with pytest.raises(ValueError, match=r'max_params needs per-block parameter counts'):
        Budget(max_params=52).allows(np.zeros(3), None, CostModel([1.0, 2.0]), tasks)
    table = make_table(random_values(0, 2, 2))
    with pytest.raises(ValueError, match=r'max_params needs per-block parameter counts'):
        recommend(table, CostModel([1.0, 2.0]), Budget(max_params=100), task_weights='uniform')


@pytest.mark.parametrize('kwargs, pattern', [
    (dict(max_flops=0), r'max_flops must be a positive number, got 0'),
    (dict(max_flops=-1.5), r'max_flops must be a positive number, got -1\.5'),
    (dict(max_models=float('nan')), r'max_models must be a positive number, got nan'),
    (dict(max_models=float('inf')), r'max_models must be a positive number, got inf'),
    (dict(max_params=True), r'max_params must be a positive number, got True'),
    (dict(max_params='5'), r"max_params must be a positive number, got '5'"),
    (dict(max_flops_ratio=0.0), r'max_flops_ratio must be a positive number, got 0\.0'),
    (dict(max_flops_ratio=1.5), r'max_flops_ratio=1\.5 is above 1; it is a fraction of the '
                                r'cost of independent models'),
    (dict(max_flops_ratio=60), r'max_flops_ratio=60 is above 1'),
])
def test_budget_validation(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Budget(**kwargs)


def test_budget_describe_and_unlimited():
    assert Budget().is_unlimited
    assert Budget().describe() == 'no budget'
    assert not Budget(max_models=2).is_unlimited
    cost = CostModel([1.0], flops_unit='GMac', params_unit='M')
    text = Budget(max_flops=3, max_flops_ratio=0.5, max_models=2, max_params=7).describe(cost)
    assert text == ('FLOPs <= 3 GMac, FLOPs <= 50% of independent models, '
                    '<= 2 backbone-equivalents, params <= 7 M')


def test_budget_error_states_the_cheapest_cost():
    cost = CostModel([1.0, 2.0, 3.0], head_flops=0.5)
    tasks = ['a', 'b', 'c']
    Budget(max_flops=7.5).check_feasible(cost, tasks)  # 6 + 1.5 fits exactly
    with pytest.raises(BudgetError, match=r'no layout fits the budget \(FLOPs <= 7 GFLOPs\): '
                                          r'the cheapest layout, all tasks sharing the whole '
                                          r'backbone, costs 7\.5 GFLOPs \(33\.33% of '
                                          r'independent models, 1 backbone-equivalent\)\. '
                                          r'Raise the budget to at least that\.'):
        Budget(max_flops=7).check_feasible(cost, tasks)
    with_params = CostModel([1.0, 2.0], block_params=[3.0, 4.0], head_params=1.0)
    with pytest.raises(BudgetError, match=r'costs 3 GFLOPs \(50\.00% of independent models, '
                                          r'1 backbone-equivalent\), 9 M params'):
        Budget(max_params=8).check_feasible(with_params, ['a', 'b'])
    with pytest.raises(BudgetError, match=r'<= 0\.5 backbone-equivalents'):
        Budget(max_models=0.5).check_feasible(cost, tasks)
    assert issubclass(BudgetError, ValueError)
    table = make_table(random_values(1, 3, 3))
    with pytest.raises(BudgetError, match=r'costs 7\.5 GFLOPs'):
        recommend(table, cost, Budget(max_flops=7))


# ------------------------------------------------------------------ recommend: full ranking

@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_full_ranking_matches_oracle(name):
    table = reference_table(name)
    block_flops = REFERENCE[name]
    ranking = oracle_ranking(name)
    check_no_ties(ranking)
    total = count_layouts(table.num_tasks, table.num_blocks)
    assert len(ranking) == total
    rec = recommend(table, CostModel(list(block_flops)), topk=total)
    assert isinstance(rec, Recommendation)
    assert rec.num_layouts == rec.num_within_budget == total
    assert rec.evaluated_is_complete
    assert rec.tasks == table.tasks and rec.num_blocks == table.num_blocks
    np.testing.assert_allclose(rec.weights, oracle.task_weights(table.values), atol=1e-12)
    assert len(rec.top) == total
    backbone = sum(block_flops)
    weights = oracle.task_weights(table.values)
    assert [item.rank for item in rec.top] == list(range(1, total + 1))
    assert all(isinstance(item, TreeCandidate) for item in rec.top)
    assert [to_oracle(item.layout, table.tasks) for item in rec.top] == \
        [row[1] for row in ranking]
    assert all(item.layout.tasks == table.tasks for item in rec.top)
    assert all(item.within_budget for item in rec.top)
    assert [item.sets_per_block for item in rec.top] == \
        [[len(block) for block in row[1]] for row in ranking]
    expected_flops = np.array([row[2] for row in ranking])
    np.testing.assert_allclose([item.score for item in rec.top], [row[0] for row in ranking],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose([item.flops for item in rec.top], expected_flops, rtol=1e-12)
    np.testing.assert_allclose([item.flops_ratio for item in rec.top],
                               expected_flops / (table.num_tasks * backbone), rtol=1e-12)
    np.testing.assert_allclose([item.models for item in rec.top], expected_flops / backbone,
                               rtol=1e-12)
    for item, (score, olayout, _) in zip(rec.top[:20], ranking):
        est = oracle.estimates(olayout, table.values)
        assert list(item.estimates) == list(table.tasks)
        np.testing.assert_allclose(list(item.estimates.values()), est, rtol=0, atol=1e-12)
        assert float(np.dot(weights, est)) == pytest.approx(item.score, abs=1e-12)
    # the compact evaluated rows are the same ranking
    np.testing.assert_allclose(rec.evaluated.scores, [row[0] for row in ranking], atol=1e-12)
    assert [tuple(r) for r in rec.evaluated.branch_points.tolist()] == \
        [oracle_row(row[1], table.num_tasks) for row in ranking]


BUDGETS = [
    ('nyuv2_deeplab_resnet34', Budget(max_flops_ratio=0.7), None),
    ('nyuv2_deeplab_resnet34', Budget(max_flops=86.0), dict(head_flops=3.0)),
    ('nyuv2_mobilenetv2', Budget(max_models=1.9), None),
    ('taskonomy_deeplab_resnet34', Budget(max_models=2.5), None),
    ('taskonomy_mobilenetv2', Budget(max_flops_ratio=0.45, max_models=2.1), None),
    ('taskonomy_deeplab_resnet34', Budget(max_params=50.0),
     dict(block_params=[0.009536, 0.221952, 1.116416, 6.8224, 13.114368], head_params=0.5)),
]


@pytest.mark.parametrize('name, budget, extra', BUDGETS)
def test_topk_under_budget_matches_filtered_oracle_ranking(name, budget, extra):
    table = reference_table(name)
    block_flops = list(REFERENCE[name])
    extra = extra or {}
    cost = CostModel(block_flops, **extra)
    num_tasks = table.num_tasks
    heads_f = cost.head_flops_total(table.tasks)
    heads_p = cost.head_params_total(table.tasks)
    backbone = sum(block_flops)

    def limit_margin(olayout, flops):
        """Smallest relative distance to a limit (>0 inside, <0 outside)."""
        margins = []
        if budget.max_flops is not None:
            margins.append(1 - (flops + heads_f) / budget.max_flops)
        if budget.max_models is not None:
            margins.append(1 - flops / (budget.max_models * backbone))
        if budget.max_flops_ratio is not None:
            margins.append(1 - flops / (budget.max_flops_ratio * num_tasks * backbone))
        if budget.max_params is not None:
            params = oracle.flops(olayout, extra['block_params'])
            margins.append(1 - (params + heads_p) / budget.max_params)
        return min(margins)

    ranking = oracle_ranking(name)
    margins = [limit_margin(olayout, flops) for _, olayout, flops in ranking]
    # the budgets are chosen away from every layout's cost, so the filter is unambiguous
    assert min(abs(m) for m in margins) > 1e-6
    allowed = [row for row, m in zip(ranking, margins) if m > 0]
    assert 10 < len(allowed) < len(ranking)
    rec = recommend(table, cost, budget, topk=10)
    assert rec.num_within_budget == len(allowed)
    assert rec.num_layouts == len(ranking)
    assert [to_oracle(item.layout, table.tasks) for item in rec.top] == \
        [row[1] for row in allowed[:10]]
    np.testing.assert_allclose([item.score for item in rec.top],
                               [row[0] for row in allowed[:10]], atol=1e-12)
    assert [item.rank for item in rec.top] == list(range(1, 11))
    assert all(item.within_budget for item in rec.top)
    if extra.get('block_params'):
        for item in rec.top:
            assert item.params == pytest.approx(
                oracle.flops(to_oracle(item.layout, table.tasks), extra['block_params']),
                rel=1e-12)
            assert item.head_params == pytest.approx(heads_p)


def test_fewer_layouts_than_topk_within_budget():
    table = reference_table('nyuv2_deeplab_resnet34')
    # only the all-shared layout costs <= 1 backbone
    rec = recommend(table, CostModel(list(RESNET34_FLOPS)), Budget(max_models=1), topk=5)
    assert rec.num_within_budget == 1
    assert [item.layout for item in rec.top] == [Layout.all_shared(table.tasks, 5)]


# ------------------------------------------------------------------ the paper's Table 1

def test_nyuv2_resnet34_top5_flops_savings():
    table = reference_table('nyuv2_deeplab_resnet34')
    rec = recommend(table, CostModel(list(RESNET34_FLOPS)), topk=5)
    savings = [item.flops_saving for item in rec.top]
    # the paper reports 36.56, 66.67, 46.87, 34.87, 46.87 (rounding of their costs)
    np.testing.assert_allclose(savings, [36.56, 66.67, 46.86, 34.87, 46.86], atol=0.01)
    assert rec.top[1].layout == Layout.all_shared(table.tasks, 5)
    assert rec.top[1].sets_per_block == [1] * 5
    assert rec.top[1].flops_saving == pytest.approx(100 * (1 - 1 / 3), abs=1e-9)
    d = rec.top[0].to_dict()
    assert d['rank'] == 1 and d['layout'] == rec.top[0].layout.to_list()
    assert d['flops_saving_pct'] == pytest.approx(savings[0])
    assert set(d['estimates']) == set(table.tasks)
    assert d['tree'] == rec.top[0].layout.draw()
    for key in ('score', 'flops', 'flops_ratio', 'params', 'models', 'sets_per_block',
                'within_budget'):
        assert key in d


# ------------------------------------------------------------------ Pareto front

def brute_force_front(ranking, key=lambda f: round(f, 9)):
    """(flops, score, layout) of the cost levels that beat every cheaper level."""
    levels = {}
    for score, olayout, flops in ranking:
        k = key(flops)
        if k not in levels or score > levels[k][1]:
            levels[k] = (flops, score, olayout)
    front, best = [], -np.inf
    for k in sorted(levels):
        if levels[k][1] > best:
            front.append(levels[k])
            best = levels[k][1]
    return front, levels


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_pareto_front_matches_brute_force(name):
    table = reference_table(name)
    rec = recommend(table, CostModel(list(REFERENCE[name])), topk=1, chunk_rows=500)
    front = rec.pareto
    flops = np.array([p.flops for p in front])
    scores = np.array([p.score for p in front])
    assert len(front) >= 2
    assert np.all(np.diff(flops) > 0) and np.all(np.diff(scores) > 0)
    assert all(p.rank == 0 for p in front)
    # the cheapest layout is on the front; the best overall layout ends it
    assert front[0].layout == Layout.all_shared(table.tasks, table.num_blocks)
    assert front[-1].score == pytest.approx(oracle_ranking(name)[0][0], abs=1e-12)
    expected, levels = brute_force_front(oracle_ranking(name))
    assert len(front) == len(expected)
    for item, (f, s, olayout) in zip(front, expected):
        assert item.flops == pytest.approx(f, rel=1e-12)
        assert item.score == pytest.approx(s, abs=1e-12)
        assert to_oracle(item.layout, table.tasks) == olayout
        # best score at its cost level
        assert item.score == pytest.approx(levels[round(f, 9)][1], abs=1e-12)


# ------------------------------------------------------------------ ties

def test_rank_order_by_hand():
    scores = np.array([1.0, 2.0, 2.0, 2.0, 0.5])
    flops = np.array([1.0, 3.0, 2.0, 3.0, 1.0])
    bp = np.array([[0, 0], [1, 2], [0, 0], [1, 1], [2, 2]], dtype=np.uint8)
    # score desc -> {1, 2, 3}; then FLOPs asc -> 2 first; then rows (1,1) < (1,2) -> 3, 1
    assert rank_order(scores, flops, bp).tolist() == [2, 3, 1, 0, 4]


def test_ties_are_broken_deterministically():
    """Integer two-task values and dyadic weights: exact scores, many ties."""
    num_tasks, num_blocks = 5, 3
    values = random_values(42, num_tasks, num_blocks, integers=True)
    weights = [0.25, 0.25, 0.25, 0.125, 0.125]  # exact in binary; / (T-1) = 4 exact too
    block_flops = [1.0, 1.0, 2.0]
    table = make_table(values)
    olayouts = oracle.brute_force_layouts_by_partitions(num_tasks, num_blocks)
    keyed = []
    for olayout in olayouts:
        s = oracle.score(olayout, values, weights)
        keyed.append((-s, oracle.flops(olayout, block_flops), oracle_row(olayout, num_tasks)))
    keyed.sort()
    assert len({k[0] for k in keyed}) < len(keyed) / 4  # plenty of score ties
    assert len({k[:2] for k in keyed}) < len(keyed) / 2  # and of (score, FLOPs) ties
    expected_rows = [k[2] for k in keyed]
    total = len(keyed)
    rec = recommend(table, CostModel(block_flops), topk=total, task_weights=weights)
    got = [tuple(r) for r in rec.evaluated.branch_points.tolist()]
    assert got == expected_rows
    assert [oracle_row(to_oracle(item.layout, table.tasks), num_tasks) for item in rec.top] \
        == expected_rows
    np.testing.assert_array_equal([item.score for item in rec.top], [-k[0] for k in keyed])
    # the same order whatever the chunking and buffer sizes
    again = recommend(table, CostModel(block_flops), topk=25, task_weights=weights,
                      chunk_rows=37, csv_rows=300)
    assert [oracle_row(to_oracle(item.layout, table.tasks), num_tasks)
            for item in again.top] == expected_rows[:25]
    assert [tuple(r) for r in again.evaluated.branch_points.tolist()] == expected_rows[:300]
    # rank_order on the enumerator's rows gives the same order
    rows = np.concatenate([c.branch_points for c in iter_layout_chunks(num_tasks, num_blocks)])
    order = rank_order(rec.estimator.scores(rows),
                       CostModel(block_flops).flops_of(np.concatenate(
                           [c.sets_per_block(num_blocks)
                            for c in iter_layout_chunks(num_tasks, num_blocks)])), rows)
    assert [tuple(r) for r in rows[order].tolist()] == expected_rows
    # Pareto levels with ties: best score at each level, cheapest first
    levels = {}
    for neg_s, f, _ in keyed:
        levels.setdefault(f, -neg_s)
    best, front = -np.inf, []
    for f in sorted(levels):
        if levels[f] > best:
            front.append((f, levels[f]))
            best = levels[f]
    assert [(p.flops, p.score) for p in again.pareto] == front


def test_all_scores_equal_rank_by_cost_then_branch_points():
    """A flat table: every layout scores 0, so FLOPs then branch points decide everything,
    whatever the chunking (later chunks hold rows that tie the buffered worst score)."""
    num_tasks, num_blocks = 4, 3
    table = make_table(np.zeros((num_tasks, num_tasks, num_blocks + 1)))
    block_flops = [1.0, 2.0, 4.0]
    expected = sorted((oracle.flops(olayout, block_flops), oracle_row(olayout, num_tasks))
                      for olayout in oracle.brute_force_layouts_by_partitions(num_tasks,
                                                                              num_blocks))
    for chunk_rows in (5, 1000):
        rec = recommend(table, CostModel(block_flops), topk=7, csv_rows=40,
                        chunk_rows=chunk_rows, task_weights='uniform')
        assert all(item.score == 0.0 for item in rec.top)
        assert [(item.flops, oracle_row(to_oracle(item.layout, table.tasks), num_tasks))
                for item in rec.top] == expected[:7]
        assert [tuple(r) for r in rec.evaluated.branch_points.tolist()] == \
            [row for _, row in expected[:40]]
        # no level beats the cheapest one: the front is the all-shared layout alone
        assert [p.layout for p in rec.pareto] == [Layout.all_shared(table.tasks, num_blocks)]


# ------------------------------------------------------------------ evaluated rows (CSV)

def test_evaluated_rows_are_the_best_overall():
    name = 'taskonomy_deeplab_resnet34'
    table = reference_table(name)
    ranking = oracle_ranking(name)
    budget = Budget(max_models=2.5)
    cost = CostModel(list(REFERENCE[name]))
    rec = recommend(table, cost, budget, topk=3, csv_rows=150, chunk_rows=1000)
    ev = rec.evaluated
    assert len(ev.scores) == 150 and not rec.evaluated_is_complete
    assert [tuple(r) for r in ev.branch_points.tolist()] == \
        [oracle_row(row[1], table.num_tasks) for row in ranking[:150]]
    np.testing.assert_allclose(ev.scores, [row[0] for row in ranking[:150]], atol=1e-12)
    np.testing.assert_allclose(ev.flops, [row[2] for row in ranking[:150]], rtol=1e-12)
    limit = 2.5 * sum(REFERENCE[name])
    np.testing.assert_array_equal(ev.within_budget, [row[2] <= limit for row in ranking[:150]])
    assert ev.params is None
    assert not ev.within_budget.all() and ev.within_budget.any()
    # candidates_from_rows materialises evaluated rows with the same numbers
    items = rec.candidates_from_rows(ev.take(slice(0, 4)), start_rank=1)
    assert [item.rank for item in items] == [1, 2, 3, 4]
    assert [to_oracle(item.layout, table.tasks) for item in items] == \
        [row[1] for row in ranking[:4]]
    assert [item.within_budget for item in items] == list(ev.within_budget[:4])
    # with params, they are kept alongside
    rec = recommend(table, CostModel(list(REFERENCE[name]), block_params=[1, 2, 3, 4, 5]),
                    topk=1, csv_rows=40)
    np.testing.assert_allclose(rec.evaluated.params,
                               [oracle.flops(row[1], [1, 2, 3, 4, 5]) for row in ranking[:40]])


# ------------------------------------------------------------------ errors, weights, progress

def test_space_too_large():
    table = reference_table('nyuv2_deeplab_resnet34')
    cost = CostModel(list(RESNET34_FLOPS))
    with pytest.raises(SpaceTooLargeError, match=r'3 tasks over 5 blocks give 51 layouts, '
                                                 r'above the enumeration limit '
                                                 r'max_layouts=50'):
        recommend(table, cost, max_layouts=50)
    assert issubclass(SpaceTooLargeError, ValueError)
    assert recommend(table, cost, max_layouts=51).num_layouts == 51


def test_num_blocks_mismatch():
    table = reference_table('nyuv2_deeplab_resnet34')
    with pytest.raises(ValueError, match=r'the cost model has 4 blocks but the two-task table '
                                         r'.*nyuv2_deeplab_resnet34\.csv has B=5 branching '
                                         r'points'):
        recommend(table, CostModel([1.0, 2.0, 3.0, 4.0]))


@pytest.mark.parametrize('topk', [0, -3, 2.5, '5', None])
def test_topk_validation(topk):
    table = make_table(random_values(3, 3, 3))
    with pytest.raises(ValueError, match=r'topk must be a positive integer, got '):
        recommend(table, CostModel([1.0, 1.0, 1.0]), topk=topk)


def test_progress_callback():
    table = reference_table('taskonomy_mobilenetv2')
    calls = []
    recommend(table, CostModel(list(MOBILENETV2_FLOPS)), topk=2, chunk_rows=500,
              progress=lambda done, total: calls.append((done, total)))
    assert len(calls) > 5
    assert all(total == 7556 for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == len(done)
    assert calls[-1] == (7556, 7556)


def test_task_weight_specs_in_recommend():
    table = reference_table('nyuv2_deeplab_resnet34')
    cost = CostModel(list(RESNET34_FLOPS))
    rec = recommend(table, cost, topk=51, task_weights='uniform')
    np.testing.assert_array_equal(rec.weights, [1 / 3] * 3)
    assert rec.weights_note == 'uniform task weights'
    ranking = oracle.rank_layouts(table.values, list(RESNET34_FLOPS), weights=[1 / 3] * 3)
    check_no_ties(ranking)
    assert [to_oracle(item.layout, table.tasks) for item in rec.top] == [r[1] for r in ranking]
    rec = recommend(table, cost, topk=3,
                    task_weights={'depth_zbuffer': 1, 'segment_semantic': 2, 'normal': 1})
    np.testing.assert_allclose(rec.weights, [0.5, 0.25, 0.25])
    ranking = oracle.rank_layouts(table.values, list(RESNET34_FLOPS), weights=[0.5, 0.25, 0.25])
    assert [to_oracle(item.layout, table.tasks) for item in rec.top] == \
        [r[1] for r in ranking[:3]]
    np.testing.assert_allclose(recommend(table, cost, topk=1).weights,
                               svde_task_weights(table.values))


def test_recommend_with_too_few_blocks_for_svde_warns_and_uses_uniform():
    values = random_values(5, 3, 2)
    table = make_table(values, ['a', 'b', 'c'])
    with pytest.warns(UserWarning, match=r'SVDE needs >= 3 branching points'):
        rec = recommend(table, CostModel([1.0, 2.0]), topk=12)
    np.testing.assert_array_equal(rec.weights, [1 / 3] * 3)
    assert 'uniform task weights used' in rec.weights_note
    ranking = oracle.rank_layouts(values, [1.0, 2.0], weights=[1 / 3] * 3)
    assert sorted(item.score for item in rec.top) == pytest.approx(
        sorted(r[0] for r in ranking), abs=1e-12)
    assert rec.num_layouts == 12


# ------------------------------------------------------------------ the blockwise estimator

@pytest.mark.parametrize('name', ['taskonomy_mobilenetv2', 'nyuv2_deeplab_resnet34'])
def test_blockwise_recommender_ranks_every_layout_by_the_oracles_blockwise_score(name):
    table = reference_table(name)
    cost = CostModel(list(REFERENCE[name]))
    total = count_layouts(table.num_tasks, table.num_blocks)
    rec = recommend(table, cost, topk=total, estimator='blockwise')
    assert rec.estimator.name == 'blockwise' and len(rec.top) == total
    weights = oracle.task_weights(table.values)
    for item in rec.top:
        est = oracle.blockwise_estimates(to_oracle(item.layout, table.tasks), table.values)
        np.testing.assert_allclose(list(item.estimates.values()), est, atol=1e-12)
        assert item.score == pytest.approx(float(np.dot(weights, est)), abs=1e-12)
    scores = [item.score for item in rec.top]
    assert scores == sorted(scores, reverse=True)
    # the error bars follow the estimator's own coefficients
    from treemtl_plugin.core.uncertainty import TableNoise
    noise = TableNoise(np.where(table.values != 0, 4.0, 0.0), np.full(table.num_tasks, 1.0),
                       seeds=2)
    noisy = TwoTaskTable(table.tasks, table.num_blocks, table.values, noise=noise)
    with_se = recommend(noisy, cost, topk=3, estimator='blockwise')
    assert all(c.score_se > 0 for c in with_se.top)


def test_the_exact_search_refuses_the_blockwise_estimator_and_says_what_to_do():
    table = reference_table('taskonomy_mobilenetv2')
    cost = CostModel(list(REFERENCE['taskonomy_mobilenetv2']))
    with pytest.raises(SpaceTooLargeError, match=r"exact search needs an estimator that adds up "
                                                 r"over pairs: use estimator='paper' here"):
        recommend(table, cost, estimator='blockwise', search='branch_and_bound')
    from treemtl_plugin.errors import ConfigError
    with pytest.raises(ConfigError, match=r"recommender.estimator='mean'"):
        recommend(table, cost, estimator='mean')
