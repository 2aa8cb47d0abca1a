"""``TimmBlockBackbone``: any timm model as a chain of branching-point blocks, with costs.

Building one creates the timm model, traces it and slices the graph at the cuts of its
``BackboneProfile`` (``backbone_profile.py``). The profile -- detected blocks, fvcore FLOPs,
parameters, output shapes -- is measured on the first build of a spec and cached, so later
builds (sweep runs, trainings) skip detection and measurement.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..core.block_groups import balanced_groups, check_block_groups
from ..errors import ConfigError, DetectionError
from ..registry import MODELS
from .backbone_profile import (BackboneProfile, check_input_size, create_timm_model,
                               fvcore_flops, profile_backbone, unfused_attention)
from .branching_point_detector import DEFAULT_BLOCK_PATTERN, DetectedBlock, slice_blocks, trace

# create_timm_model, fvcore_flops and unfused_attention live in backbone_profile; kept importable
# from here
__all__ = ['TimmBlockBackbone', 'create_timm_model', 'fvcore_flops', 'unfused_attention']


@MODELS.register_module()
class TimmBlockBackbone(BaseModule):
    """A timm backbone split into branching-point blocks by the branching-point detector.

    Args:
        model_name: a ``timm.create_model`` name, e.g. ``'resnet34'``.
        pretrained: load timm's pretrained weights (needs them downloaded or cached).
        input_size: ``(C, H, W)`` used to measure per-block FLOPs, channels and strides.
        num_branch_points: merge detected blocks into this many groups of balanced FLOPs.
        block_groups: explicit groups of detected block indices, e.g. ``[[0], [1, 2], ...]``.
            With neither, every detected block is a branching point.
        include_head: keep the classifier head (global pool + fc) as the last block(s).
        block_pattern: regex of block-module class names whose interior cuts are dropped.
        block_modules: explicit module paths whose interior cuts are dropped.
        model_kwargs: extra ``timm.create_model`` arguments (e.g. ``output_stride=8``).

    Attributes: ``blocks`` (ModuleList, one entry per branching point), ``block_names``,
    ``block_flops`` (GFLOPs, fvcore), ``block_params`` (millions), ``block_channels``,
    ``block_strides``, ``out_channels``, ``out_stride``, ``block_groups`` (fine block indices of
    each branching point), ``detected`` (name, GFLOPs, params, shape of every fine block) and
    ``profile`` (the cached ``BackboneProfile`` all of these come from).
    """

    def __init__(self, model_name: str, pretrained: bool = False,
                 input_size: Sequence[int] = (3, 224, 224),
                 num_branch_points: int | None = None,
                 block_groups: Sequence[Sequence[int]] | None = None,
                 include_head: bool = False,
                 block_pattern: str | None = DEFAULT_BLOCK_PATTERN,
                 block_modules: Sequence[str] | None = None,
                 model_kwargs: dict | None = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_branch_points is not None and block_groups is not None:
            raise ConfigError('give either num_branch_points or block_groups, not both')
        self.model_name = model_name
        self.input_size = check_input_size(input_size)
        model = create_timm_model(model_name, pretrained, **(model_kwargs or {}))
        model.eval()
        spec = dict(input_size=self.input_size, model_kwargs=model_kwargs,
                    include_head=include_head, block_pattern=block_pattern,
                    block_modules=block_modules)
        profile = profile_backbone(model_name, **spec, model=model)
        graph_module = trace(model, include_head)
        try:
            fine = _slice_profile(graph_module, profile)
        except DetectionError as err:  # a cached profile that no longer fits: measure again
            warnings.warn(f'{model_name}: the cached backbone profile does not fit the traced '
                          f'model ({err}); measuring it again')
            profile = profile_backbone(model_name, **spec, model=model, refresh=True)
            fine = _slice_profile(graph_module, profile)
        self.profile = profile
        fine_flops = [b.flops for b in profile.blocks]
        fine_params = [b.params for b in profile.blocks]
        shapes = [b.shape for b in profile.blocks]
        if block_groups is not None:
            groups = check_block_groups(block_groups, len(fine))
        elif num_branch_points is not None:
            groups = balanced_groups(fine_flops, num_branch_points)
        else:
            groups = [[k] for k in range(len(fine))]
        self.block_groups = groups
        self.detected = [dict(name=b.name, gflops=b.gflops, params=b.params, shape=b.shape)
                         for b in profile.blocks]
        self.blocks = nn.ModuleList(
            [nn.Sequential(*[fine[i].module for i in group]) for group in groups])
        self.block_names = [_group_name([fine[i] for i in group]) for group in groups]
        self.block_flops = [sum(fine_flops[i] for i in g) / 1e9 for g in groups]
        self.block_params = [sum(fine_params[i] for i in g) / 1e6 for g in groups]
        last_shapes = [shapes[g[-1]] for g in groups]
        self.block_channels = [s[0] if len(s) == 3 else s[-1] for s in last_shapes]
        self.block_strides = [self.input_size[1] // s[1] if len(s) == 3 else None
                              for s in last_shapes]
        self.out_channels = self.block_channels[-1]
        self.out_stride = self.block_strides[-1]
        self.train()

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def groups(self) -> list[list[int]]:
        """Deprecated name of ``block_groups``."""
        warnings.warn('TimmBlockBackbone.groups is renamed block_groups', FutureWarning,
                      stacklevel=2)
        return self.block_groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def cost_table(self) -> list[dict]:
        """One row per branching point: name, fine blocks, GFLOPs, params (M), output."""
        return [dict(index=k, name=name, fine_blocks=group, gflops=f, mparams=p,
                     channels=c, stride=s)
                for k, (name, group, f, p, c, s) in enumerate(zip(
                    self.block_names, self.block_groups, self.block_flops, self.block_params,
                    self.block_channels, self.block_strides))]


def _slice_profile(graph_module, profile: BackboneProfile) -> list[DetectedBlock]:
    """The profile's fine blocks, sliced from ``graph_module``; ``DetectionError`` if stale."""
    fine = slice_blocks(graph_module, profile.cuts)
    names = [b.name for b in fine]
    if names != [b.name for b in profile.blocks]:
        raise DetectionError(f'its blocks are {[b.name for b in profile.blocks]}, the graph '
                             f'sliced at its cuts gives {names}')
    return fine


def _group_name(blocks: list[DetectedBlock]) -> str:
    if len(blocks) == 1:
        return blocks[0].name
    return f'{blocks[0].name} .. {blocks[-1].name}'
