"""High-level entry points behind the tools (as mmpretrain's ``apis``)."""
from .config import build_recommender, config_tasks
from .recommendation import RecommendationRun, run_recommendation

__all__ = ['build_recommender', 'config_tasks', 'RecommendationRun', 'run_recommendation']
