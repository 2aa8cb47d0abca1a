"""The numpy-only core of the method: layouts, design space, two-task table, estimator, cost.

Nothing here imports torch or mmengine. ``core.search`` holds the three searches over it:
enumeration, exact branch-and-bound, and task grouping (Standley et al.).
"""
from .block_groups import balanced_groups, check_block_groups
from .cost import BUDGET_KEYS, Budget, BudgetLimits, CostModel
from .design_space import (
                           chunk_to_layouts,
                           count_layouts,
                           enumerate_layouts,
                           iter_layout_chunks,
                           iter_layouts,
)
from .encoding import LayoutChunk, full_matrix, matrix_to_row, pair_columns, pair_index
from .estimator import TaskAccuracyEstimator, resolve_task_weights, svd_entropy, svde_task_weights
from .layout import Layout, as_layout
from .ranking import pareto_front, rank_order
from .table import TwoTaskTable

__all__ = [
    'balanced_groups', 'check_block_groups', 'BUDGET_KEYS', 'Budget', 'BudgetLimits',
    'CostModel', 'chunk_to_layouts', 'count_layouts', 'enumerate_layouts', 'iter_layout_chunks',
    'iter_layouts', 'LayoutChunk', 'full_matrix', 'matrix_to_row', 'pair_columns', 'pair_index',
    'TaskAccuracyEstimator', 'resolve_task_weights', 'svd_entropy', 'svde_task_weights',
    'Layout', 'as_layout', 'pareto_front', 'rank_order', 'TwoTaskTable',
]
