"""``TimmBlockBackbone``: any timm model as a chain of branching-point blocks, with costs.

Building one creates the timm model, traces it and slices the graph at the cuts of its
``BackboneProfile`` (``backbone_profile.py``). The profile -- detected blocks, fvcore FLOPs,
parameters, output shapes -- is measured on the first build of a spec and cached, so later
builds (sweep runs, trainings) skip detection and measurement.

Weights: ``pretrained=True`` loads timm's weights (from huggingface_hub's cache only under
``HF_HUB_OFFLINE=1``; a ``ConfigError`` when they cannot be had, see ``timm_factory``);
``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads a timm state dict from a file.
Either way the weights go into the timm model right after it is created, before tracing, so
every block -- and every branch copy a ``TreeMultiTaskModel`` makes of it -- starts from them.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ..core.block_groups import balanced_groups, check_block_groups
from ..errors import CheckpointError, ConfigError, DetectionError
from ..registry import MODELS
from .backbone_profile import BackboneProfile, profile_backbone
from .branching_point_detector import DEFAULT_BLOCK_PATTERN, DetectedBlock, slice_blocks, trace
from .timm_factory import build_timm_model, check_input_size

__all__ = ['TimmBlockBackbone', 'load_timm_checkpoint']


@MODELS.register_module()
class TimmBlockBackbone(BaseModule):
    """A timm backbone split into branching-point blocks by the branching-point detector.

    Args:
        model_name: a ``timm.create_model`` name, e.g. ``'resnet34'``.
        pretrained: load timm's pretrained weights (needs them cached or the hub reachable;
            otherwise a ``ConfigError`` within ~2 s).
        input_size: ``(C, H, W)`` used to measure per-block FLOPs, channels and strides.
        num_branch_points: merge detected blocks into this many groups of balanced FLOPs.
        block_groups: explicit groups of detected block indices, e.g. ``[[0], [1, 2], ...]``.
            With neither, every detected block is a branching point.
        include_head: keep the classifier head (global pool + fc) as the last block(s).
        block_pattern: regex of block-module class names whose interior cuts are dropped.
        block_modules: explicit module paths whose interior cuts are dropped.
        model_kwargs: extra ``timm.create_model`` arguments (e.g. ``output_stride=8``).
        init_cfg: mmengine init config. A ``dict(type='Pretrained', checkpoint=<file>,
            prefix=None)`` entry loads a timm state dict (raw, or under 'state_dict'/'model')
            into the timm model when the backbone is built (``CheckpointError`` if it does not
            fit); it is then removed from ``init_cfg``, so ``init_weights`` does not reload it.

    Fixed-size models (ViT, Swin...) are built with ``img_size=input_size[1:]`` unless
    ``model_kwargs`` sets ``img_size``; a model that cannot run at ``input_size`` raises
    ``ConfigError``.

    Attributes: ``blocks`` (ModuleList, one entry per branching point), ``block_names``,
    ``block_flops`` (GFLOPs, fvcore), ``block_params`` (millions), ``block_channels``,
    ``block_strides``, ``block_formats`` (layout of each output: ``'NCHW'``, ``'NHWC'``,
    ``'NLC'`` or ``'NC'``; channels and strides are read along it), ``out_channels``,
    ``out_stride``, ``out_format``, ``block_groups`` (fine block indices of each branching
    point), ``detected`` (name, GFLOPs, params, shape, format of every fine block),
    ``init_checkpoint`` (the init_cfg file loaded, or ``None``) and ``profile`` (the cached
    ``BackboneProfile`` all of these come from).
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
        checkpoint_cfg, other_init = _split_pretrained_init(init_cfg)
        super().__init__(init_cfg=other_init)
        if num_branch_points is not None and block_groups is not None:
            raise ConfigError(f'give either num_branch_points ({num_branch_points!r}) or '
                              f'block_groups ({block_groups!r}), not both: to set one, set the '
                              'other to None (e.g. --cfg-options model.backbone.block_groups=None '
                              f'model.backbone.num_branch_points={num_branch_points!r})')
        self.model_name = model_name
        self.input_size = check_input_size(input_size)
        if checkpoint_cfg is not None and pretrained:
            warnings.warn(f'{model_name}: init_cfg loads {checkpoint_cfg["checkpoint"]!r}; '
                          "pretrained=True is ignored (timm's weights are not downloaded)")
            pretrained = False
        model = build_timm_model(model_name, pretrained, self.input_size, model_kwargs)
        self.init_checkpoint = None
        if checkpoint_cfg is not None:
            load_timm_checkpoint(model, checkpoint_cfg['checkpoint'],
                                 prefix=checkpoint_cfg.get('prefix'),
                                 ignore_classifier=not include_head)
            self.init_checkpoint = checkpoint_cfg['checkpoint']
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
        if block_groups is not None:
            groups = check_block_groups(block_groups, len(fine))
        elif num_branch_points is not None:
            groups = balanced_groups(fine_flops, num_branch_points)
        else:
            groups = [[k] for k in range(len(fine))]
        self.block_groups = groups
        self.detected = [dict(name=b.name, gflops=b.gflops, params=b.params, shape=b.shape,
                              format=b.fmt)
                         for b in profile.blocks]
        self.blocks = nn.ModuleList(
            [nn.Sequential(*[fine[i].module for i in group]) for group in groups])
        self.block_names = [_group_name([fine[i] for i in group]) for group in groups]
        self.block_flops = [sum(fine_flops[i] for i in g) / 1e9 for g in groups]
        self.block_params = [sum(fine_params[i] for i in g) / 1e6 for g in groups]
        last = [profile.blocks[g[-1]] for g in groups]
        self.block_formats = [b.fmt for b in last]
        self.block_channels = [b.channels for b in last]
        self.block_strides = [_stride(b.grid, self.input_size) for b in last]
        self.out_format = self.block_formats[-1]
        self.out_channels = self.block_channels[-1]
        self.out_stride = self.block_strides[-1]
        self.train()

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def cost_table(self) -> list[dict]:
        """One row per branching point: name, fine blocks, GFLOPs, params (M), output
        channels, stride and layout (NCHW / NHWC / NLC / NC)."""
        return [dict(index=k, name=name, fine_blocks=group, gflops=f, mparams=p,
                     channels=c, stride=s, format=fmt)
                for k, (name, group, f, p, c, s, fmt) in enumerate(zip(
                    self.block_names, self.block_groups, self.block_flops, self.block_params,
                    self.block_channels, self.block_strides, self.block_formats))]


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


def _stride(grid: tuple[int, int] | None, input_size: tuple[int, int, int]) -> int | None:
    """Downsampling factor of a feature grid (from the input height); ``None`` without one."""
    if grid is None or grid[0] < 1:
        return None
    return max(1, round(input_size[1] / grid[0]))


# -- init_cfg=dict(type='Pretrained', checkpoint=...) ---------------------------------------
def _split_pretrained_init(init_cfg):
    """``(the Pretrained entry or None, the other init_cfg entries or None)``.

    The Pretrained entry is applied by the backbone itself at construction (into the timm
    model, before tracing); mmengine's ``init_weights`` only sees the other entries, so it does
    not load the file a second time into module names that do not match timm's.
    """
    if init_cfg is None:
        return None, None
    entries = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
    pretrained, other = [], []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ConfigError(f'init_cfg entries must be dicts, got {entry!r}')
        kind = entry.get('type')
        is_pretrained = kind == 'Pretrained' or getattr(kind, '__name__', '') == 'PretrainedInit'
        (pretrained if is_pretrained else other).append(dict(entry))
    if len(pretrained) > 1:
        raise ConfigError(f'init_cfg has {len(pretrained)} Pretrained entries; give one')
    checkpoint = pretrained[0] if pretrained else None
    if checkpoint is not None:
        unknown = sorted(set(checkpoint) - {'type', 'checkpoint', 'prefix', 'map_location'})
        if unknown or not checkpoint.get('checkpoint'):
            raise ConfigError("init_cfg=dict(type='Pretrained', checkpoint=<path>, prefix=None) "
                              f'needs a checkpoint path and takes no other keys; got {checkpoint}')
    if not other:
        return checkpoint, None
    return checkpoint, other[0] if isinstance(init_cfg, Mapping) else other


def load_timm_checkpoint(model: nn.Module, checkpoint: str | os.PathLike,
                         prefix: str | None = None, ignore_classifier: bool = True) -> None:
    """Load a timm state dict from the file ``checkpoint`` into ``model`` (a timm model).

    The file holds a raw state dict (``torch.save(model.state_dict(), path)``; ``.safetensors``
    too) or one wrapped in ``'state_dict'`` or ``'model'`` (mmengine / timm training
    checkpoints); a ``module.`` prefix (DataParallel) is dropped. ``prefix``: load only the keys
    under it, stripped (e.g. ``'backbone.'``), as mmengine's Pretrained init does.
    ``ignore_classifier``: the classifier keys (timm's ``pretrained_cfg['classifier']``) may be
    missing or of another shape (the backbone does not use the head).

    Raises ``CheckpointError`` for a file that is not a checkpoint, and for missing or
    unexpected keys or shape mismatches (with their counts and a few examples each).
    """
    path = os.fspath(checkpoint)
    state = _read_state_dict(path)
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        inner = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not inner:
            raise CheckpointError(f'checkpoint {path!r} has no keys under prefix {prefix!r} '
                                  f'(its keys look like {_examples(state)})')
        state = inner
    expected = model.state_dict()
    classifier = getattr(model, 'pretrained_cfg', None) or {}
    classifier = classifier.get('classifier') if isinstance(classifier, Mapping) else None
    heads = ([classifier] if isinstance(classifier, str) else list(classifier or [])) \
        if ignore_classifier else []

    def ignored(key: str) -> bool:
        return any(key == h or key.startswith(h + '.') for h in heads)

    missing = [k for k in expected if k not in state and not ignored(k)]
    unexpected = [k for k in state if k not in expected and not ignored(k)]
    mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}'
                  for k in expected if k in state and not ignored(k)
                  and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing key(s) (e.g. {_examples(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected key(s) (e.g. {_examples(unexpected)})')
        if mismatched:
            parts.append(f'{len(mismatched)} shape mismatch(es) (e.g. {_examples(mismatched)})')
        hint = _prefix_hint(state, expected)
        raise CheckpointError(
            f'checkpoint {path!r} does not fit timm model {type(model).__name__} '
            f'({len(expected)} keys): ' + '; '.join(parts) + '. It must be a state dict of the '
            'same timm model and model_kwargs (torch.save(timm.create_model(name, ...)'
            f'.state_dict(), path)){hint}.')
    load = {k: v for k, v in state.items() if not (ignored(k) and (
        k not in expected or tuple(v.shape) != tuple(expected[k].shape)))}
    model.load_state_dict(load, strict=False)


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (raw or wrapped state dict), or ``CheckpointError``.

    Read as weights only (``engine.checkpoint.read_checkpoint``, the plugin's policy for files
    outside the trusted folders): a timm state dict is plain tensors.
    """
    from ..engine.checkpoint import read_checkpoint
    if path.endswith('.safetensors') and os.path.isfile(path):
        try:
            from safetensors.torch import load_file
            data = load_file(path, device='cpu')
        except Exception as err:  # noqa: BLE001 -- any unreadable file is the same user error
            raise CheckpointError(f'{path!r} is not a checkpoint safetensors can read '
                                  f'({type(err).__name__}: {str(err).strip()[:200]})') from err
    else:
        try:
            data = read_checkpoint(path, map_location='cpu', trusted=False)
        except CheckpointError as err:
            if 'holds more than weights' in str(err):
                raise CheckpointError(
                    f'init_cfg checkpoint {path!r} holds more than weights (e.g. an mmengine '
                    "training checkpoint); save its state dict alone (torch.save(torch.load(f, "
                    "weights_only=False)['state_dict'], 'weights.pth')) and load that") from None
            raise
    if isinstance(data, Mapping):
        for key in ('state_dict', 'model'):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    tensors = {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)} \
        if isinstance(data, Mapping) else {}
    if not tensors:
        raise CheckpointError(f'{path!r} holds no state dict (a {type(data).__name__} without '
                              "tensors); save one with torch.save(model.state_dict(), path)")
    if all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    return tensors


def _examples(keys, n: int = 3) -> str:
    keys = list(keys)
    shown = ', '.join(repr(k) for k in keys[:n])
    return shown + (', ...' if len(keys) > n else '')


def _prefix_hint(state: Mapping, expected: Mapping) -> str:
    """`` -- set prefix='x.'`` when the checkpoint keys are the model's under one prefix."""
    firsts = {k.split('.', 1)[0] for k in state if '.' in k}
    for first in sorted(firsts):
        inner = {k[len(first) + 1:] for k in state if k.startswith(first + '.')}
        if len(inner & set(expected)) >= max(1, len(expected) // 2):
            return f"; its keys are the model's under {first + '.'!r}: set prefix='{first}.'"
    return ''
