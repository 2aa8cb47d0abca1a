"""``TimmBlockBackbone``: any timm model as a chain of branching-point blocks, with costs."""
from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..block_groups import balanced_groups, check_groups
from ..registry import MODELS
from .branching_point_detector import DEFAULT_BLOCK_PATTERN, DetectedBlock, detect_blocks


def create_timm_model(model_name: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """``timm.create_model`` with a helpful error for unknown names."""
    import timm
    if not timm.is_model(model_name):
        names = timm.list_models()
        close = difflib.get_close_matches(model_name, names, n=5, cutoff=0.6)
        hint = f' Did you mean {", ".join(close)}?' if close else \
            ' See timm.list_models() for the available names.'
        raise ValueError(f'unknown timm model {model_name!r}.{hint}')
    return timm.create_model(model_name, pretrained=pretrained, **kwargs)


@contextlib.contextmanager
def unfused_attention(model: nn.Module):
    """Switch timm's fused attention off (FLOP counters miss fused SDPA), then restore."""
    saved = [(m, m.fused_attn) for m in model.modules() if hasattr(m, 'fused_attn')]
    for m, _ in saved:
        m.fused_attn = False
    try:
        yield
    finally:
        for m, value in saved:
            m.fused_attn = value


def fvcore_flops(module: nn.Module, x: torch.Tensor) -> int:
    """fvcore FLOP count (one fused multiply-add = one FLOP) of ``module(x)``."""
    from fvcore.nn import FlopCountAnalysis
    logging.getLogger('fvcore').setLevel(logging.ERROR)
    with unfused_attention(module), torch.no_grad():
        analysis = FlopCountAnalysis(module, (x,))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings('none')
        return int(analysis.total())


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
    ``block_strides``, ``out_channels``, ``out_stride``, ``groups`` and ``detected``
    (name, GFLOPs, params of every fine block).
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
            raise ValueError('give either num_branch_points or block_groups, not both')
        self.model_name = model_name
        self.input_size = tuple(int(v) for v in input_size)
        if len(self.input_size) != 3:
            raise ValueError(f'input_size must be (C, H, W), got {input_size!r}')
        model = create_timm_model(model_name, pretrained, **(model_kwargs or {}))
        model.eval()
        detection = detect_blocks(model, include_head=include_head, block_pattern=block_pattern,
                                  block_modules=block_modules,
                                  example_input=torch.zeros(1, *self.input_size))
        fine = detection.blocks
        fine_flops, fine_params, shapes = self._measure(fine)
        if block_groups is not None:
            groups = check_groups(block_groups, len(fine))
        elif num_branch_points is not None:
            groups = balanced_groups(fine_flops, num_branch_points)
        else:
            groups = [[k] for k in range(len(fine))]
        self.groups = groups
        self.detected = [dict(name=b.name, gflops=f / 1e9, params=p, shape=s)
                         for b, f, p, s in zip(fine, fine_flops, fine_params, shapes)]
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

    def _measure(self, fine: list[DetectedBlock]):
        """Per fine block: fvcore FLOPs, parameters, output shape (one image)."""
        x = torch.randn(1, *self.input_size, generator=torch.Generator().manual_seed(0))
        flops, params, shapes = [], [], []
        seen: set[int] = set()
        for block in fine:
            block.module.eval()
            flops.append(fvcore_flops(block.module, x))
            # a parameter shared by two blocks is counted once, in the first
            own = [p for p in block.module.parameters() if id(p) not in seen]
            seen.update(id(p) for p in own)
            params.append(sum(p.numel() for p in own))
            with torch.no_grad():
                x = block.module(x)
            if not isinstance(x, torch.Tensor):
                raise ValueError(f'{self.model_name}: the backbone output is a '
                                 f'{type(x).__name__}, not a tensor; use include_head=False '
                                 'or a model whose forward_features returns one tensor')
            shapes.append(tuple(x.shape[1:]))
        return flops, params, shapes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def cost_table(self) -> list[dict]:
        """One row per branching point: name, fine blocks, GFLOPs, params (M), output."""
        return [dict(index=k, name=name, fine_blocks=group, gflops=f, mparams=p,
                     channels=c, stride=s)
                for k, (name, group, f, p, c, s) in enumerate(zip(
                    self.block_names, self.groups, self.block_flops, self.block_params,
                    self.block_channels, self.block_strides))]


def _group_name(blocks: list[DetectedBlock]) -> str:
    if len(blocks) == 1:
        return blocks[0].name
    return f'{blocks[0].name} .. {blocks[-1].name}'
