"""The best tree layout vs the best task grouping at a series of budgets, on one scale."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.cost import CostModel
from ..core.table import TwoTaskTable
from ..errors import BudgetError
from ..recommenders.task_grouping import tree_estimator_score
from .config import build_recommender, recommender_spec

__all__ = ['compare_strategies']


def compare_strategies(cfg: Mapping, table: TwoTaskTable, cost: CostModel,
                       budgets: Sequence[float]) -> list[dict]:
    """One row per budget (in backbone-equivalents). Each grouping is also scored with the tree
    estimator and the tree's task weights, and the winner is decided on that common scale
    (``docs/advanced/method.md``, "Task grouping")."""
    def best_of(strategy: str, k: float):
        spec = recommender_spec(cfg, strategy)
        spec.update(topk=1, budget=dict(spec.get('budget') or {}, max_models=float(k)))
        return build_recommender(dict(recommender=spec))

    rows = []
    for k in budgets:
        row = dict(max_models=float(k))
        tree_rec = best_of('tree', k)
        tree_rec.csv_rows = 0
        try:
            tree_result = tree_rec.recommend(table, cost)
            tree = tree_result.top[0]
            weights = tree_result.weights
            row.update(tree_score=tree.score, tree_flops=tree.flops, tree_models=tree.models,
                       tree_layout=tree.short())
        except BudgetError:
            weights = None
            row.update(tree_score=None, tree_flops=None, tree_models=None, tree_layout=None)
        try:
            result = best_of('task_grouping', k).recommend(table, cost)
            group = result.top[0]
            row.update(grouping_score=group.score,
                       grouping_score_tree_estimator=tree_estimator_score(
                           group, table, result.weights if weights is None else weights),
                       grouping_flops=group.flops, grouping_models=group.models,
                       grouping=group.short())
        except BudgetError:
            row.update(grouping_score=None, grouping_score_tree_estimator=None,
                       grouping_flops=None, grouping_models=None, grouping=None)
        scores = [(row['tree_score'], 'tree'),
                  (row['grouping_score_tree_estimator'], 'task grouping')]
        scores = [s for s in scores if s[0] is not None]
        row['winner'] = max(scores)[1] if scores else None
        if len(scores) == 2 and abs(scores[0][0] - scores[1][0]) <= 1e-12:
            row['winner'] = 'tie'
        rows.append(row)
    return rows
