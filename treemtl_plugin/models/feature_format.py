"""Layout of a block output (NCHW / NHWC / NLC / NC) and its spatial grid.

timm's own information decides where it exists (the model's ``output_fmt`` for its output,
``feature_info`` / ``num_features`` for the channel counts), a shape rule otherwise (the two
spatial dims must fit the input size at one stride).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

__all__ = ['FEATURE_FORMATS', 'feature_channels', 'infer_feature_format', 'feature_grid',
           'model_feature_info']

#: layouts of a block output (without the batch dim): channels first, channels last, tokens,
#: pooled vector; ``'unknown'`` for anything else (e.g. 5-D)
FEATURE_FORMATS = ('NCHW', 'NHWC', 'NLC', 'NC')


def feature_channels(shape: Sequence[int], fmt: str) -> int:
    """Channels of a block output of ``shape`` (no batch dim) in layout ``fmt``."""
    shape = tuple(shape)
    if fmt in ('NHWC', 'NLC'):
        return int(shape[-1])
    return int(shape[0])                      # NCHW, NC (and unknown: channels first)


def _plausible_grid(h: int, w: int, height: int, width: int) -> bool:
    """Can ``(h, w)`` be an ``height x width`` input downsampled by one stride ``s``?

    Yes when some ``s`` has ``|h - height/s| < 1`` and ``|w - width/s| < 1`` (floor or ceil
    rounding), i.e. the intervals of ``1/s`` allowed by each dim overlap.
    """
    if not (1 <= h <= height and 1 <= w <= width):
        return False
    return max((h - 1) / height, (w - 1) / width) < min((h + 1) / height, (w + 1) / width)


def infer_feature_format(shape: Sequence[int], input_hw: Sequence[int], *,
                         declared: str | None = None, prior: str | None = None,
                         known_channels: Sequence[int] = ()) -> str:
    """Layout of one block output of ``shape`` (without the batch dim) for an input of
    ``input_hw``: ``'NC'`` (1-D), ``'NLC'`` (2-D tokens), ``'NCHW'`` or ``'NHWC'`` (3-D), else
    ``'unknown'``.

    For 3-D shapes the reading whose spatial dims fit the input size at one stride wins
    (``_plausible_grid``); ties (a shape like ``(8, 8, 8)``, or non-square inputs) go to the
    reading that agrees with timm: ``declared`` (the model's ``output_fmt``, for its output),
    then a channel count in ``known_channels`` (``feature_info`` / ``num_features``), then
    ``prior`` (e.g. the previous block's format), then NCHW.
    """
    shape = tuple(int(v) for v in shape)
    if len(shape) == 1:
        return 'NC'
    if len(shape) == 2:
        return 'NLC'
    if len(shape) != 3:
        return 'unknown'
    height, width = (int(v) for v in input_hw)
    known = {int(c) for c in known_channels}

    def key(fmt: str):
        c, (h, w) = feature_channels(shape, fmt), _grid_dims(shape, fmt)
        return (_plausible_grid(h, w, height, width), fmt == declared, c in known,
                fmt == prior)

    return max(('NCHW', 'NHWC'), key=key)     # max keeps the first (NCHW) on a full tie


def _grid_dims(shape: tuple[int, ...], fmt: str) -> tuple[int, int]:
    return (shape[1], shape[2]) if fmt == 'NCHW' else (shape[0], shape[1])


def feature_grid(shape: Sequence[int], fmt: str, input_hw: Sequence[int],
                 num_prefix_tokens: int | None = None) -> tuple[int, int] | None:
    """Spatial grid ``(h, w)`` of a block output: the spatial dims of NCHW / NHWC maps; for NLC
    tokens the ``h x w`` patch grid of the input (at one stride) that leaves
    ``num_prefix_tokens`` (class / register tokens; unknown: 0 to 8) extra tokens; else ``None``.
    """
    shape = tuple(int(v) for v in shape)
    if fmt in ('NCHW', 'NHWC') and len(shape) == 3:
        return _grid_dims(shape, fmt)
    if fmt != 'NLC' or len(shape) != 2:
        return None
    length = shape[0]
    height, width = (int(v) for v in input_hw)
    prefixes = [num_prefix_tokens] if num_prefix_tokens is not None else []
    for allowed in (prefixes, list(range(9))):
        for stride in range(1, max(height, width) + 1):
            for h in sorted({height // stride, -(-height // stride)}):
                for w in sorted({width // stride, -(-width // stride)}):
                    if h >= 1 and w >= 1 and length - h * w in allowed:
                        return h, w
    return None


def model_feature_info(model: nn.Module) -> tuple[str | None, set[int]]:
    """timm's own information on a model's features: its declared ``output_fmt`` (``None``
    when it declares none) and the channel counts named by ``feature_info``,
    ``num_features`` and ``embed_dim``."""
    declared = getattr(model, 'output_fmt', None)
    declared = getattr(declared, 'value', declared)
    declared = str(declared) if declared is not None else None
    if declared not in FEATURE_FORMATS:
        declared = None
    known: set[int] = set()
    for info in getattr(model, 'feature_info', None) or []:
        if isinstance(info, dict) and isinstance(info.get('num_chs'), int):
            known.add(info['num_chs'])
    for name in ('num_features', 'embed_dim', 'embed_dims', 'dims'):
        value = getattr(model, name, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        known.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    return declared, known
