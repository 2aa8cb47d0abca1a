"""Datasets (registered in DATASETS): the teacher tasks (the built-in default benchmark), the
rendered scenes, NYUv2, Taskonomy.

``DatasetFormatError`` (data on disk that does not match a dataset format) lives in
:mod:`treemtl_plugin.errors`; ``DatasetLayoutError`` is its old name, kept as an alias.
"""
from ..errors import DatasetFormatError
from .base import DatasetLayoutError, DenseMultiTaskDataset
from .nyuv2 import NYUv2Dataset
from .synthetic_scenes import SyntheticSceneDataset
from .taskonomy import TaskonomyDataset
from .teacher_tasks import TeacherTaskDataset

__all__ = [
    'DatasetFormatError', 'DatasetLayoutError', 'DenseMultiTaskDataset', 'NYUv2Dataset',
    'SyntheticSceneDataset', 'TaskonomyDataset', 'TeacherTaskDataset'
]
