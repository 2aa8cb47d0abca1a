"""fvcore FLOP counting of timm modules (one fused multiply-add = one FLOP)."""
from __future__ import annotations

import contextlib
import logging
import warnings

import torch
import torch.nn as nn

__all__ = ['fvcore_flops', 'unfused_attention']


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
    with warnings.catch_warnings():   # fvcore's import scripts a loss with torch.jit
        warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated',
                                category=FutureWarning)
        from fvcore.nn import FlopCountAnalysis
    logging.getLogger('fvcore').setLevel(logging.ERROR)
    with unfused_attention(module), torch.no_grad():
        analysis = FlopCountAnalysis(module, (x,))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings('none')
        return int(analysis.total())
