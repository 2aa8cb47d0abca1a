"""Recommendation strategies, registered in ``RECOMMENDERS``; all return one result interface.

``recommender = dict(type='TreeRecommender', ...)`` (the paper's tree layouts) or
``dict(type='TaskGroupingRecommender', ...)`` (Standley et al.) in a config.
"""
from .base import BaseRecommender, Candidate, Recommendation
from .task_grouping import (
                            GroupingCandidate,
                            GroupingRecommendation,
                            TaskGroupingRecommender,
                            recommend_task_groups,
                            tree_estimator_score,
)
from .tree import TreeCandidate, TreeRecommendation, TreeRecommender, recommend_layouts

__all__ = [
    'BaseRecommender', 'Candidate', 'Recommendation', 'GroupingCandidate',
    'GroupingRecommendation', 'TaskGroupingRecommender', 'recommend_task_groups',
    'tree_estimator_score', 'TreeCandidate', 'TreeRecommendation', 'TreeRecommender',
    'recommend_layouts',
]
