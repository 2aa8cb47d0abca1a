"""Datasets (registered in DATASETS): the teacher tasks (the built-in default benchmark), the
rendered scenes, NYUv2, Taskonomy.

``DatasetFormatError`` (data on disk that does not match a dataset format) lives in
:mod:`treemtl_plugin.errors`.
"""
from ..errors import DatasetFormatError
from .base import DenseMultiTaskDataset
from .nyuv2 import NYUv2Dataset
from .synthetic_scenes import SyntheticSceneDataset
from .taskonomy import TaskonomyDataset
from .teacher_tasks import TeacherTaskDataset

__all__ = [
    'DatasetFormatError', 'DenseMultiTaskDataset', 'NYUv2Dataset',
    'SyntheticSceneDataset', 'TaskonomyDataset', 'TeacherTaskDataset'
]
