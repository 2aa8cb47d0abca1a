"""The exact branch-and-bound search returns exactly what enumeration returns."""
from __future__ import annotations

import numpy as np
import pytest

from treemtl_plugin import Budget, CostModel, TwoTaskTable
from treemtl_plugin import recommend_layouts as recommend
from treemtl_plugin.core.estimator import TaskAccuracyEstimator, resolve_task_weights
from treemtl_plugin.core.search.branch_and_bound import search_pareto_front, search_top_layouts


def table(num_tasks, num_blocks, seed, integer=False):
    rng = np.random.default_rng(seed)
    values = (rng.integers(-1, 2, size=(num_tasks, num_tasks, num_blocks + 1)).astype(float)
              if integer else rng.normal(0, 5, size=(num_tasks, num_tasks, num_blocks + 1)))
    values[:, :, 0] = 0
    values[np.arange(num_tasks), np.arange(num_tasks)] = 0
    return TwoTaskTable(tasks=tuple(f't{k}' for k in range(num_tasks)),
                        num_blocks=num_blocks, values=values)


COST = {3: CostModel([1.0, 2.0, 3.0], block_params=[0.5, 1.0, 4.0]),
        4: CostModel([0.3, 1.0, 1.0, 2.5], block_params=[0.1, 0.2, 1.0, 3.0]),
        5: CostModel([0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704],
                     block_params=[0.0095, 0.222, 1.116, 6.822, 13.114])}
BUDGETS = [Budget(), Budget(max_models=1.5), Budget(max_models=2), Budget(max_models=3),
           Budget(max_flops_ratio=0.6), Budget(max_params=30.0)]


def same_top(a, b):
    assert [x.layout for x in a.top] == [x.layout for x in b.top]
    assert [x.score for x in a.top] == [x.score for x in b.top]     # bit-identical floats
    assert [x.flops for x in a.top] == [x.flops for x in b.top]


@pytest.mark.parametrize('num_tasks, num_blocks', [(2, 3), (3, 4), (4, 5), (5, 3), (5, 5),
                                                   (6, 4)])
@pytest.mark.parametrize('integer', [False, True], ids=['floats', 'integer-ties'])
def test_search_equals_enumeration(num_tasks, num_blocks, integer):
    for seed in range(2):
        t = table(num_tasks, num_blocks, seed, integer)
        for budget in BUDGETS:
            for topk in (1, 5, 17):
                kwargs = dict(budget=budget, topk=topk, task_weights='uniform'
                              if integer else 'svde', csv_rows=0)
                try:
                    enum = recommend(t, COST[num_blocks], search='enumerate', **kwargs)
                except ValueError:
                    continue          # infeasible budget: both must refuse
                search = recommend(t, COST[num_blocks], search='branch_and_bound', **kwargs)
                assert search.search.startswith('exact search')
                same_top(enum, search)


@pytest.mark.parametrize('num_tasks, num_blocks', [(3, 5), (5, 4), (6, 5)])
def test_pareto_front_equals_enumeration(num_tasks, num_blocks):
    cost = COST.get(num_blocks, COST[5])
    for seed in range(3):
        t = table(num_tasks, num_blocks, seed)
        enum = recommend(t, cost, search='enumerate', csv_rows=0)
        search = recommend(t, cost, search='branch_and_bound')
        assert [p.flops for p in search.pareto] == [p.flops for p in enum.pareto]
        assert [p.score for p in search.pareto] == [p.score for p in enum.pareto]


def test_auto_switches_to_search_above_threshold():
    t = table(4, 5, 0)
    assert recommend(t, COST[5], search='auto', search_threshold=10).search.startswith(
        'exact search')
    assert recommend(t, COST[5], search='auto').search == 'enumeration'
    with pytest.raises(ValueError, match="recommender.search='greedy' is not supported"):
        recommend(t, COST[5], search='greedy')


def test_ten_tasks_within_budget_and_sorted():
    t = table(10, 5, 1)
    rec = recommend(t, COST[5], Budget(max_models=4), topk=5)
    assert rec.search.startswith('exact search') and rec.num_layouts == 26_740_775_306
    assert len(rec.top) == 5 and all(x.models <= 4 + 1e-9 for x in rec.top)
    scores = [x.score for x in rec.top]
    assert scores == sorted(scores, reverse=True)
    # the search's scores are the estimator's scores of the returned layouts
    for x in rec.top:
        assert x.score == pytest.approx(rec.estimator.score(x.layout.branch_points()))
    flops = [p.flops for p in rec.pareto]
    assert flops == sorted(flops) and len(flops) >= 3


def test_search_functions_report_nodes():
    t = table(5, 5, 3)
    weights, _ = resolve_task_weights(t.values, t.tasks, 'svde')
    est = TaskAccuracyEstimator(t.values, weights)
    top = search_top_layouts(est, COST[5], Budget(max_models=2).limits(COST[5], t.tasks), 3)
    front = search_pareto_front(est, COST[5])
    assert top.nodes > 0 and front.nodes > 0 and len(top.rows) == 3
