"""Task losses for tree-structured multi-task models (registered in ``MODELS``).

Every loss is called as ``loss(pred, target, mask=None)`` with ``pred`` already at the target
resolution, returns a scalar multiplied by ``loss_weight``, and averages over valid elements
only. When nothing is valid it returns ``pred.sum() * 0``: zero, no NaN, graph kept (so DDP and
optimizers see every parameter used). A shape mismatch raises ValueError naming both shapes.
"""
from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS

__all__ = ['SegCrossEntropyLoss', 'DepthL1Loss', 'NormalCosineLoss', 'MaskedL1Loss',
           'MaskedMSELoss', 'ClsCrossEntropyLoss']


def _shape_error(name: str, pred: torch.Tensor, target: torch.Tensor, expected: str,
                 mask: torch.Tensor | None = None) -> ValueError:
    msg = (f'{name}: pred shape {tuple(pred.shape)} and target shape {tuple(target.shape)} '
           f'do not fit ({expected})')
    if mask is not None:
        msg += f'; mask shape {tuple(mask.shape)}'
    return ValueError(msg)


def _empty(pred: torch.Tensor) -> torch.Tensor:
    """Zero that stays connected to ``pred``'s graph."""
    return pred.sum() * 0


def _squeeze_channel(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> (N, H, W); other shapes unchanged."""
    return x[:, 0] if x.dim() == 4 and x.shape[1] == 1 else x


def _mask_like(name: str, mask: torch.Tensor, shape: torch.Size, pred: torch.Tensor,
               target: torch.Tensor) -> torch.Tensor:
    """Bool ``mask`` broadcast to ``shape`` (a channel dim of 1 or a missing one broadcasts)."""
    mask = mask.bool()
    if mask.dim() == len(shape) - 1 and len(shape) == 4:
        mask = mask.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    elif mask.dim() == len(shape) + 1 and mask.dim() == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]  # (N, 1, H, W) for a (N, H, W) target
    try:
        return mask.expand(shape)
    except RuntimeError:
        raise _shape_error(name, pred, target, f'mask must broadcast to {tuple(shape)}',
                           mask) from None


@MODELS.register_module()
class SegCrossEntropyLoss(nn.Module):
    """Per-pixel cross-entropy for semantic segmentation, skipping ``ignore_index`` pixels.

    ``pred``: (N, K, H, W) logits; ``target``: (N, H, W) or (N, 1, H, W) class indices;
    ``mask`` (optional, bool): pixels where it is False are ignored too.
    """

    def __init__(self, ignore_index: int = 255, loss_weight: float = 1.0):
        super().__init__()
        self.ignore_index = int(ignore_index)
        self.loss_weight = float(loss_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        target = _squeeze_channel(target)
        if pred.dim() != 4 or target.dim() != 3 or \
                pred.shape[0] != target.shape[0] or pred.shape[2:] != target.shape[1:]:
            raise _shape_error(name, pred, target,
                               'expected pred (N, K, H, W) and target (N, H, W) or (N, 1, H, W)')
        target = target.long()
        if mask is not None:
            keep = _mask_like(name, mask, target.shape, pred, target)
            target = target.masked_fill(~keep, self.ignore_index)
        if not bool((target != self.ignore_index).any()):
            return _empty(pred)
        loss = F.cross_entropy(pred, target, ignore_index=self.ignore_index)
        return loss * self.loss_weight


@MODELS.register_module()
class DepthL1Loss(nn.Module):
    """Mean absolute depth error over valid pixels.

    Valid pixels are ``mask`` (bool) when given, else ``target > 0`` (missing depth is stored
    as 0, e.g. NYUv2 holes). ``pred`` / ``target``: (N, 1, H, W) or (N, H, W).
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        p, t = _squeeze_channel(pred), _squeeze_channel(target)
        if p.dim() != 3 or p.shape != t.shape:
            raise _shape_error(name, pred, target,
                               'expected (N, 1, H, W) or (N, H, W), same N, H, W')
        valid = _mask_like(name, mask, t.shape, pred, target) if mask is not None else t > 0
        if not bool(valid.any()):
            return _empty(pred)
        # index rather than multiply: NaN/inf in invalid pixels must not reach the gradient
        loss = (p[valid] - t[valid].to(p.dtype)).abs().mean()
        return loss * self.loss_weight


@MODELS.register_module()
class NormalCosineLoss(nn.Module):
    """Mean ``1 - cos(pred, target)`` over valid pixels for surface normals (N, 3, H, W).

    ``pred`` is L2-normalised here, so the head can output raw vectors; pixels whose target
    has zero norm (unlabelled) or where ``mask`` is False are skipped. Range: 0 (same
    direction) to 2 (opposite).
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-12):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        if pred.dim() != 4 or pred.shape != target.shape:
            raise _shape_error(name, pred, target, 'expected both (N, C, H, W), same shape')
        target = target.to(pred.dtype)
        valid = target.norm(dim=1) > 0
        if mask is not None:
            valid = valid & _mask_like(name, mask, (pred.shape[0], 1, *pred.shape[2:]),
                                       pred, target)[:, 0]
        if not bool(valid.any()):
            return _empty(pred)
        # (M, C) vectors of the valid pixels only
        p_vec = pred.movedim(1, -1)[valid]
        t_vec = target.movedim(1, -1)[valid]
        p_unit = F.normalize(p_vec, dim=1, eps=self.eps)
        t_unit = F.normalize(t_vec, dim=1, eps=self.eps)
        loss = (1 - (p_unit * t_unit).sum(dim=1)).mean()
        return loss * self.loss_weight


class _MaskedElementwiseLoss(nn.Module, metaclass=ABCMeta):
    """Mean of an element-wise error, optionally over ``mask`` only.

    ``pred`` / ``target``: same shape, e.g. (N, 1, H, W) or (N, C, H, W); a single channel may
    be given as (N, H, W) on one side. ``mask`` broadcasts over channels.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = float(loss_weight)

    @staticmethod
    @abstractmethod
    def error(diff: torch.Tensor) -> torch.Tensor:
        """The per-element error of ``pred - target`` (absolute, squared, ...)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        p, t = pred, target
        if p.shape != t.shape:
            p, t = _squeeze_channel(p), _squeeze_channel(t)
        if p.shape != t.shape or p.dim() < 2:
            raise _shape_error(name, pred, target, 'expected the same shape')
        t = t.to(p.dtype)
        if mask is None:
            if p.numel() == 0:
                return _empty(pred)
            return self.error(p - t).mean() * self.loss_weight
        valid = _mask_like(name, mask, p.shape, pred, target)
        if not bool(valid.any()):
            return _empty(pred)
        return self.error(p[valid] - t[valid]).mean() * self.loss_weight


@MODELS.register_module()
class MaskedL1Loss(_MaskedElementwiseLoss):
    """Mean absolute error, optionally over ``mask`` only (Taskonomy keypoints2d,
    edge_texture); shapes as for every element-wise loss here."""

    @staticmethod
    def error(diff: torch.Tensor) -> torch.Tensor:
        return diff.abs()


@MODELS.register_module()
class MaskedMSELoss(_MaskedElementwiseLoss):
    """Mean squared error, optionally over ``mask`` only (regression targets such as the
    teacher tasks of ``TeacherTaskDataset``)."""

    @staticmethod
    def error(diff: torch.Tensor) -> torch.Tensor:
        return diff.square()


@MODELS.register_module()
class ClsCrossEntropyLoss(nn.Module):
    """Image-level cross-entropy: ``pred`` (N, K) logits, ``target`` (N,) class indices.

    ``mask`` (optional, (N,) bool) drops samples; ``label_smoothing`` as in
    ``F.cross_entropy``.
    """

    def __init__(self, loss_weight: float = 1.0, label_smoothing: float = 0.0):
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.label_smoothing = float(label_smoothing)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        name = type(self).__name__
        t = target[:, 0] if target.dim() == 2 and target.shape[1] == 1 else target
        if pred.dim() != 2 or t.dim() != 1 or pred.shape[0] != t.shape[0]:
            raise _shape_error(name, pred, target, 'expected pred (N, K) and target (N,)')
        t = t.long()
        p = pred
        if mask is not None:
            keep = mask.bool().reshape(-1)
            if keep.shape != t.shape:
                raise _shape_error(name, pred, target, 'mask must be (N,)', mask)
            p, t = p[keep], t[keep]
        if t.numel() == 0:
            return _empty(pred)
        loss = F.cross_entropy(p, t, label_smoothing=self.label_smoothing)
        return loss * self.loss_weight
