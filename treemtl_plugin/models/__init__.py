"""Torch models: timm factory, branching-point detector, backbone profiles, TimmBlockBackbone,
tree multi-task model, heads, losses.

Importing this package registers every entry in ``treemtl_plugin.registry.MODELS``.
"""
from .backbone_profile import (
                               BackboneProfile,
                               clear_profile_cache,
                               get_profile_cache_dir,
                               profile_backbone,
                               set_profile_cache_dir,
)
from .branching_point_detector import (
                               DetectionError,
                               detect_blocks,
                               single_tensor_cuts,
                               slice_blocks,
                               trace,
)
from .flops import fvcore_flops
from .grouping_model import TaskGroupingModel
from .heads import ASPPHead, ClsHead, LightConvHead, to_nchw
from .losses import (
                               ClsCrossEntropyLoss,
                               DepthL1Loss,
                               MaskedL1Loss,
                               NormalCosineLoss,
                               SegCrossEntropyLoss,
)
from .timm_block_backbone import TimmBlockBackbone, load_timm_checkpoint
from .timm_factory import build_timm_model, create_timm_model
from .tree_model import TreeMultiTaskModel

__all__ = [
    'BackboneProfile', 'build_timm_model', 'clear_profile_cache', 'get_profile_cache_dir',
    'profile_backbone', 'set_profile_cache_dir', 'DetectionError', 'detect_blocks',
    'single_tensor_cuts', 'slice_blocks', 'trace', 'ASPPHead', 'ClsHead', 'to_nchw',
    'LightConvHead', 'ClsCrossEntropyLoss', 'DepthL1Loss', 'MaskedL1Loss', 'NormalCosineLoss',
    'SegCrossEntropyLoss', 'TimmBlockBackbone', 'create_timm_model', 'fvcore_flops',
    'load_timm_checkpoint', 'TreeMultiTaskModel', 'TaskGroupingModel',
]
