"""Datasets (registered in DATASETS): the built-in procedural benchmark, NYUv2, Taskonomy."""
from .nyuv2 import DatasetLayoutError, NYUv2Dataset
from .synthetic_scenes import SyntheticSceneDataset
from .taskonomy import TaskonomyDataset

__all__ = ['DatasetLayoutError', 'NYUv2Dataset', 'SyntheticSceneDataset', 'TaskonomyDataset']
