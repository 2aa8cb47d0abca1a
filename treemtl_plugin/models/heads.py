"""Task heads for tree-structured multi-task models (registered in ``MODELS``).

Every head takes ``(in_channels, num_outputs, ...)``, exposes ``dense`` (True when it predicts
per pixel; the tree model then upsamples its output to the input size) and accepts the feature
layouts timm backbones produce: NCHW (CNNs), NHWC (Swin) and NLC tokens (ViT-style, optionally
with leading class/register tokens). :func:`to_nchw` turns any of them into NCHW.

The layout is read from the shape, or -- for shapes that fit two layouts, e.g. an NHWC map
``(N, 8, 8, 8)`` -- fixed by ``in_format`` (``'NCHW'``, ``'NHWC'``, ``'NLC'``), which
``TreeMultiTaskModel`` fills from the backbone's ``out_format``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..checks import check_int
from ..errors import ConfigError
from ..registry import MODELS
from .feature_format import FEATURE_FORMATS

__all__ = ['to_nchw', 'ASPPHead', 'LightConvHead', 'ClsHead']

def check_format(fmt: str | None, owner: str, allowed=FEATURE_FORMATS) -> str | None:
    """``fmt`` upper-cased if it is one of ``allowed`` (or ``None``), else ``ConfigError``."""
    if fmt is None:
        return None
    value = str(fmt).upper()
    if value not in allowed:
        raise ConfigError(f'{owner}: in_format must be one of {list(allowed)} or None '
                          f'(read from the shape), got {fmt!r}')
    return value


def to_nchw(feat: torch.Tensor, channels: int,
            hw: Sequence[int] | None = None, fmt: str | None = None) -> torch.Tensor:
    """Return ``feat`` as an NCHW feature map with ``channels`` channels.

    ``fmt`` (``'NCHW'``, ``'NHWC'`` or ``'NLC'``): the layout ``feat`` is in; it must then
    match (the channel axis it names must hold ``channels``). Without it, accepted layouts are
    checked in this order:

    * 4-D NCHW (``feat.shape[1] == channels``): returned unchanged;
    * 4-D NHWC (``feat.shape[-1] == channels``, e.g. timm Swin): permuted to NCHW;
    * 3-D NLC tokens (``feat.shape[-1] == channels``): with ``s = isqrt(L)``, the first
      ``L - s*s`` tokens (class / register / distillation tokens) are dropped and the rest is
      reshaped to ``(N, C, s, s)``. Pass ``hw=(h, w)`` for a non-square token grid; then the
      first ``L - h*w`` tokens are dropped.

    Raises:
        ValueError: the shape fits none of these layouts, or not ``fmt`` (the message names
            the shape).
    """
    shape = tuple(feat.shape)
    if fmt is not None:
        fmt = str(fmt).upper()
        dims = {'NCHW': 4, 'NHWC': 4, 'NLC': 3}.get(fmt)
        axis = 1 if fmt == 'NCHW' else -1
        if dims is None or feat.dim() != dims or shape[axis] != channels:
            raise ValueError(f'cannot read features of shape {shape} as {fmt} with {channels} '
                             'channels')
        if fmt == 'NCHW':
            return feat
        if fmt == 'NHWC':
            return feat.permute(0, 3, 1, 2).contiguous()
    if feat.dim() == 4:
        if shape[1] == channels:
            return feat
        if shape[-1] == channels:
            return feat.permute(0, 3, 1, 2).contiguous()
        raise ValueError(f'cannot read a feature map of shape {shape} with {channels} '
                         'channels as NCHW or NHWC (neither dim 1 nor the last dim is '
                         f'{channels})')
    if feat.dim() == 3:
        n, length, c = shape
        if c != channels:
            raise ValueError(f'cannot read tokens of shape {shape} as NLC with {channels} '
                             f'channels (the last dim is {c})')
        if hw is not None:
            h, w = (int(v) for v in hw)
        else:
            h = w = math.isqrt(length)
        if h <= 0 or w <= 0 or h * w > length:
            raise ValueError(f'cannot reshape tokens of shape {shape} to a {h}x{w} grid')
        grid = feat[:, length - h * w:, :]
        return grid.transpose(1, 2).reshape(n, c, h, w)
    raise ValueError(f'expected NCHW, NHWC or NLC features with {channels} channels, '
                     f'got shape {shape}')


@MODELS.register_module()
class ASPPHead(BaseModule):
    """DeepLab-v2 ASPP head (the Deeplab setting of AdaShare / TreeMTL).

    Four parallel branches, one per dilation ``d``: 3x3 conv (dilation ``d``, padding ``d``)
    -> ReLU -> dropout -> 1x1 conv -> ReLU -> dropout -> 1x1 conv to ``num_outputs``; the
    branch outputs are summed. The output keeps the feature resolution.

    Args:
        in_channels: channels of the backbone feature.
        num_outputs: output channels (classes for segmentation, 1 for depth, 3 for normals).
        channels: hidden width of each branch (DeepLab-v2 uses 1024; 256 by default here).
        dilations: one branch per dilation rate.
        dropout: dropout probability after each hidden layer (DeepLab-v2: 0.5).
        in_format: layout of the input features (``'NCHW'``, ``'NHWC'``, ``'NLC'``);
            ``None``: read from the shape (see :func:`to_nchw`).
    """

    dense = True

    def __init__(self, in_channels: int, num_outputs: int, channels: int = 256,
                 dilations: Sequence[int] = (6, 12, 18, 24), dropout: float = 0.5,
                 init_cfg=None, in_format: str | None = None):
        super().__init__(init_cfg=init_cfg)
        if not dilations:
            raise ConfigError('ASPPHead needs at least one dilation')
        self.in_format = check_format(in_format, 'ASPPHead', FEATURE_FORMATS[:3])
        self.in_channels = int(in_channels)
        self.num_outputs = check_int(f'{type(self).__name__}: num_outputs', num_outputs, low=1)
        self.channels = int(channels)
        self.dilations = tuple(int(d) for d in dilations)
        self.branches = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(self.in_channels, self.channels, 3, padding=d, dilation=d),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Conv2d(self.channels, self.channels, 1),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Conv2d(self.channels, self.num_outputs, 1),
            ) for d in self.dilations
        ])

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = to_nchw(feat, self.in_channels, fmt=self.in_format)
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


@MODELS.register_module()
class LightConvHead(BaseModule):
    """Small dense head: 3x3 conv -> BatchNorm -> ReLU -> 1x1 conv to ``num_outputs``.

    A cheap alternative to :class:`ASPPHead` (e.g. for MobileNetV2 or quick sweeps).
    ``in_format``: as for :class:`ASPPHead`.
    """

    dense = True

    def __init__(self, in_channels: int, num_outputs: int, channels: int = 128,
                 init_cfg=None, in_format: str | None = None):
        super().__init__(init_cfg=init_cfg)
        self.in_format = check_format(in_format, 'LightConvHead', FEATURE_FORMATS[:3])
        self.in_channels = int(in_channels)
        self.num_outputs = check_int(f'{type(self).__name__}: num_outputs', num_outputs, low=1)
        self.channels = int(channels)
        self.conv = nn.Conv2d(self.in_channels, self.channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(self.channels)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Conv2d(self.channels, self.num_outputs, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = to_nchw(feat, self.in_channels, fmt=self.in_format)
        return self.out(self.act(self.bn(self.conv(x))))


@MODELS.register_module()
class ClsHead(BaseModule):
    """Image-level head: global pooling -> optional dropout -> Linear to ``num_outputs``.

    Pools NCHW / NHWC maps over space and NLC tokens over all tokens (or takes the first,
    class token when ``use_cls_token=True``); already pooled ``(N, C)`` features pass through.
    ``in_format`` (``'NCHW'``, ``'NHWC'``, ``'NLC'``, ``'NC'``; ``None``: from the shape) fixes
    which axis holds the channels.
    """

    dense = False

    def __init__(self, in_channels: int, num_outputs: int, dropout: float = 0.0,
                 use_cls_token: bool = False, init_cfg=None, in_format: str | None = None):
        super().__init__(init_cfg=init_cfg)
        self.in_format = check_format(in_format, 'ClsHead')
        self.in_channels = int(in_channels)
        self.num_outputs = check_int(f'{type(self).__name__}: num_outputs', num_outputs, low=1)
        self.use_cls_token = bool(use_cls_token)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.in_channels, self.num_outputs)

    def pool(self, feat: torch.Tensor) -> torch.Tensor:
        """Reduce ``feat`` to ``(N, C)``; ValueError on a shape it cannot read."""
        shape = tuple(feat.shape)
        c = self.in_channels
        fmt = self.in_format
        if fmt is not None:
            axis = 1 if fmt in ('NCHW', 'NC') else -1
            dims = {'NCHW': 4, 'NHWC': 4, 'NLC': 3, 'NC': 2}[fmt]
            if feat.dim() != dims or shape[axis] != c:
                raise ValueError(f'cannot read features of shape {shape} as {fmt} with {c} '
                                 'channels')
            if fmt == 'NCHW' and not self.use_cls_token:
                return feat.mean(dim=(2, 3))
            if fmt == 'NHWC' and not self.use_cls_token:
                return feat.mean(dim=(1, 2))
        if feat.dim() == 3 and shape[-1] == c:
            return feat[:, 0] if self.use_cls_token else feat.mean(dim=1)
        if self.use_cls_token:
            raise ValueError(f'use_cls_token=True needs NLC tokens (N, L, {c}), '
                             f'got shape {shape}')
        if feat.dim() == 2 and shape[1] == c:
            return feat
        if feat.dim() == 4 and shape[1] == c:
            return feat.mean(dim=(2, 3))
        if feat.dim() == 4 and shape[-1] == c:
            return feat.mean(dim=(1, 2))
        raise ValueError(f'expected (N, {c}), NCHW, NHWC or NLC features with {c} channels, '
                         f'got shape {shape}')

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(feat)))
