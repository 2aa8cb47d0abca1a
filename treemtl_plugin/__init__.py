"""treemtl_plugin: where should each task branch off a shared backbone?

The public API: the numpy-only core of the method (layouts, design space, two-task table,
estimator, cost and budgets) and the two recommenders (tree layouts, task grouping). Torch and
mmengine parts (models, datasets, training) live in their own subpackages and are imported
only when used. See ``docs/advanced/method.md`` for the method and README.md for the tools.
"""
from .core.cost import Budget, CostModel
from .core.design_space import count_layouts, enumerate_layouts, iter_layout_chunks, iter_layouts
from .core.estimator import (
                     TaskAccuracyEstimator,
                     resolve_task_weights,
                     svd_entropy,
                     svde_task_weights,
)
from .core.layout import Layout
from .core.table import TwoTaskTable
from .errors import (
                     BudgetError,
                     ConfigError,
                     LayoutError,
                     SpaceTooLargeError,
                     TreeMTLError,
                     TwoTaskTableError,
)
from .recommenders import (
                     Recommendation,
                     TaskGroupingRecommender,
                     TreeCandidate,
                     TreeRecommender,
                     recommend_layouts,
                     recommend_task_groups,
)
from .version import __version__

__all__ = [
    'Budget', 'CostModel', 'count_layouts', 'enumerate_layouts', 'iter_layout_chunks',
    'iter_layouts', 'TaskAccuracyEstimator', 'resolve_task_weights', 'svd_entropy',
    'svde_task_weights', 'Layout', 'TwoTaskTable', 'BudgetError', 'ConfigError', 'LayoutError',
    'SpaceTooLargeError', 'TreeMTLError', 'TwoTaskTableError', 'Recommendation',
    'TaskGroupingRecommender', 'TreeCandidate', 'TreeRecommender', 'recommend_layouts',
    'recommend_task_groups', '__version__',
]
