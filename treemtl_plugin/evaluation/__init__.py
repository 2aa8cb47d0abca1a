"""Evaluation: multi-task metrics (torch/mmengine) and relative performance (pure python).

The function is imported from its module (``from treemtl_plugin.evaluation.relative_performance
import relative_performance``); the package does not re-export it, so that the attribute
``relative_performance`` stays the module.

``MultiTaskMetric`` is imported (and registered in ``METRICS``) only where torch and mmengine
are installed, so ``relative_performance`` stays importable without them.
"""
from importlib.util import find_spec

from .relative_performance import (
    KIND_METRICS,
    METRIC_DIRECTIONS,
    METRIC_NAME_DIRECTIONS,
    TASK_KINDS,
    default_task_metrics,
    metric_direction,
)

__all__ = ['KIND_METRICS', 'METRIC_DIRECTIONS', 'METRIC_NAME_DIRECTIONS', 'TASK_KINDS',
           'default_task_metrics', 'metric_direction']

if find_spec('torch') is not None and find_spec('mmengine') is not None:
    from .metrics import MultiTaskMetric  # noqa: F401  (registers it)
    __all__.append('MultiTaskMetric')
