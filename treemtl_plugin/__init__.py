"""treemtl_plugin: where should each task branch off a shared backbone?

The recommender core (layouts, design-space enumerator, task accuracy estimator, cost model,
recommender) is numpy-only and imported here; torch/mmengine parts (``registry``, models,
training) live in their own modules and are imported only when used.
"""
from .cost import Budget, BudgetError, CostModel
from .design_space import count_layouts, enumerate_layouts, iter_layout_chunks, iter_layouts
from .estimator import TaskAccuracyEstimator, resolve_task_weights, svd_entropy, \
    svde_task_weights
from .layout import Layout, LayoutError
from .recommender import Recommendation, RankedLayout, SpaceTooLargeError, recommend
from .two_task_table import TwoTaskTable, TwoTaskTableError
from .version import __version__

__all__ = [
    'Budget', 'BudgetError', 'CostModel', 'count_layouts', 'enumerate_layouts',
    'iter_layout_chunks', 'iter_layouts', 'TaskAccuracyEstimator', 'resolve_task_weights',
    'svd_entropy', 'svde_task_weights', 'Layout', 'LayoutError', 'Recommendation',
    'RankedLayout', 'SpaceTooLargeError', 'recommend', 'TwoTaskTable', 'TwoTaskTableError',
    '__version__',
]
