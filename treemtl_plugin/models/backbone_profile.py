"""``BackboneProfile``: what the branching-point detector found in a timm backbone, cached.

Building a ``TimmBlockBackbone`` needs the fine blocks (where to cut the traced graph) and their
costs (fvcore FLOPs, parameters, output shapes). Finding them -- dominator search, alignment to
block modules, batch-size probing, a FLOP count and a forward pass per block -- depends only on
the spec (model name and kwargs, input size, head, block pattern/modules) and the timm/torch
versions, not on the weights. ``profile_backbone`` does it once per spec and caches the result:
in memory for the process, and as JSON in the profile cache directory (``set_profile_cache_dir``,
default ``$TREEMTL_CACHE_DIR``; none: memory only), so sweep runs and trainings that build the
same backbone reuse it. The cuts are stored as fx node names, so a fresh trace of the model can
be re-sliced with ``branching_point_detector.slice_blocks``.

Each block also records the layout of its output (``fmt``): ``'NCHW'`` (CNNs), ``'NHWC'`` (Swin,
MambaOut and the other timm models with ``output_fmt='NHWC'``), ``'NLC'`` (ViT-style tokens) or
``'NC'`` (pooled / classifier output), as ``feature_format.infer_feature_format`` reads it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..io.atomic import atomic_write
from ..version import __version__
from .branching_point_detector import DEFAULT_BLOCK_PATTERN, detect_blocks
from .feature_format import feature_channels, feature_grid, infer_feature_format, model_feature_info
from .flops import fvcore_flops
from .timm_factory import _size_message, build_timm_model, check_input_size

__all__ = ['BackboneProfile', 'ProfiledBlock', 'profile_backbone', 'set_profile_cache_dir',
           'profile_cache_dir', 'get_profile_cache_dir', 'clear_profile_cache']

#: bump when the detector or the measurement changes what a profile holds (invalidates caches)
#: 2: per-block output format and grid; ViTs built with ``img_size`` from ``input_size``
PROFILE_FORMAT = 2
CACHE_ENV = 'TREEMTL_CACHE_DIR'
_SUBDIR = 'backbone_profiles'

_UNSET = object()
_cache_dir = _UNSET                           # _UNSET: read $TREEMTL_CACHE_DIR at each call
_memory: dict[str, BackboneProfile] = {}      # key -> profile, for this process


@dataclass(frozen=True)
class ProfiledBlock:
    """One fine block: ``cut`` is the fx node name ending it (``None``: the backbone output);
    ``flops``: fvcore count for one image (one multiply-add = one FLOP); ``params``: parameters
    first used in this block; ``shape``: output shape without the batch dimension; ``fmt``:
    its layout (one of ``feature_format.FEATURE_FORMATS``); ``grid``: its spatial / token grid
    ``(h, w)`` at the profile's input size (``None`` for ``'NC'``)."""
    name: str
    cut: str | None
    flops: int
    params: int
    shape: tuple[int, ...]
    modules: tuple[str, ...] = ()
    fmt: str = 'NCHW'
    grid: tuple[int, int] | None = None

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def channels(self) -> int:
        """Channel count of the output, read from the axis ``fmt`` names."""
        return feature_channels(self.shape, self.fmt)


@dataclass(frozen=True)
class BackboneProfile:
    """The fine blocks of one backbone spec, with the library versions they were measured on.

    The spec fields are stored normalised (``model_kwargs`` as JSON, classes and functions by
    qualified name; ``block_modules`` sorted); ``key`` hashes them with the versions.
    """
    model_name: str
    model_kwargs: dict
    input_size: tuple[int, int, int]
    include_head: bool
    block_pattern: str | None
    block_modules: tuple[str, ...] | None
    blocks: tuple[ProfiledBlock, ...]
    num_raw_cuts: int
    timm_version: str
    torch_version: str
    key: str

    @property
    def cuts(self) -> list[str]:
        """Cut node names to pass to ``slice_blocks`` (every block's but the last)."""
        return [b.cut for b in self.blocks[:-1]]

    def to_dict(self) -> dict:
        return dict(format=PROFILE_FORMAT, **asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> BackboneProfile:
        data = dict(data)
        if data.pop('format', None) != PROFILE_FORMAT:
            raise ValueError(f'not a backbone profile of format {PROFILE_FORMAT}')
        blocks = tuple(ProfiledBlock(**dict(b, shape=tuple(b['shape']),
                                            modules=tuple(b['modules']),
                                            grid=None if b['grid'] is None else tuple(b['grid'])))
                       for b in data.pop('blocks'))
        modules = data.pop('block_modules')
        return cls(**dict(data, blocks=blocks, input_size=tuple(data.pop('input_size')),
                          block_modules=None if modules is None else tuple(modules)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> BackboneProfile:
        return cls.from_dict(json.loads(text))


def set_profile_cache_dir(path: str | os.PathLike | None):
    """Set the process-wide profile cache directory (``None``: no disk cache, memory only).

    Returns the previous setting; pass it back to restore it. Until this is called, the
    directory is ``$TREEMTL_CACHE_DIR`` when set (read at each use).
    """
    global _cache_dir
    previous, _cache_dir = _cache_dir, path
    return previous


@contextlib.contextmanager
def profile_cache_dir(path: str | os.PathLike | None):
    """Use ``path`` as the profile cache directory inside a ``with`` block."""
    previous = set_profile_cache_dir(path)
    try:
        yield
    finally:
        set_profile_cache_dir(previous)


def get_profile_cache_dir() -> str | None:
    """The profile cache directory now in use, or ``None`` (memory only)."""
    path = os.environ.get(CACHE_ENV) if _cache_dir is _UNSET else _cache_dir
    return os.path.expanduser(os.fspath(path)) if path else None


def clear_profile_cache() -> None:
    """Forget the profiles cached in memory (the disk cache is kept)."""
    _memory.clear()


def profile_backbone(model_name: str, input_size: Sequence[int] = (3, 224, 224), *,
                     model_kwargs: dict | None = None, include_head: bool = False,
                     block_pattern: str | None = DEFAULT_BLOCK_PATTERN,
                     block_modules: Sequence[str] | None = None,
                     model: nn.Module | None = None, refresh: bool = False) -> BackboneProfile:
    """The ``BackboneProfile`` of a spec: from the memory cache, else the disk cache, else measured.

    ``model``: the already created timm model of this spec, to measure instead of creating one
    (its weights do not matter; its train/eval modes are restored). Without it the model is
    built by ``build_timm_model`` (``img_size`` from ``input_size`` where the model takes it).
    ``refresh``: measure even if cached, and overwrite the cache entries. A model that cannot
    run at ``input_size`` raises ``ConfigError`` naming its fixed size and the fix.
    """
    spec = dict(model_name=model_name, model_kwargs=_canonical(dict(model_kwargs or {})),
                input_size=check_input_size(input_size), include_head=bool(include_head),
                block_pattern=block_pattern,
                block_modules=tuple(sorted(block_modules)) if block_modules else None)
    import timm
    versions = dict(timm_version=str(timm.__version__), torch_version=str(torch.__version__))
    key = hashlib.sha256(json.dumps([PROFILE_FORMAT, __version__, spec, versions],
                                    sort_keys=True).encode()).hexdigest()
    if not refresh:
        profile = _memory.get(key) or _load(model_name, key)
        if profile is not None:
            _memory[key] = profile
            return profile
    if model is None:
        model = build_timm_model(model_name, False, spec['input_size'], model_kwargs)
    _check_runs(model, model_name, spec['input_size'], include_head, dict(model_kwargs or {}))
    profile = BackboneProfile(**spec, **versions, key=key,
                              **_measure(model, spec['input_size'], include_head, block_pattern,
                                         block_modules))
    _memory[key] = profile
    _store(profile)
    return profile


def _check_runs(model: nn.Module, model_name: str, input_size, include_head: bool,
                model_kwargs: dict) -> None:
    """One forward pass at ``input_size`` before detection, so that a model that cannot take
    that size fails here with a ``ConfigError`` rather than deep inside tracing or fvcore."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    run = model if include_head or not hasattr(model, 'forward_features') \
        else model.forward_features
    try:
        with torch.no_grad():
            run(torch.zeros(1, *input_size))
    except Exception as err:  # noqa: BLE001 -- any failure here is about the input size
        raise ConfigError(_size_message(model_name, input_size, err,
                                        getattr(model, 'treemtl_img_size', None),
                                        model_kwargs)) from err
    finally:
        for m, training in modes:
            m.training = training


def _measure(model: nn.Module, input_size, include_head, block_pattern, block_modules) -> dict:
    """Detect the fine blocks of ``model``; per block fvcore FLOPs, new parameters, shape,
    layout (``infer_feature_format``) and grid."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    declared, known = model_feature_info(model)
    prefix_tokens = getattr(model, 'num_prefix_tokens', None)
    prefix_tokens = prefix_tokens if isinstance(prefix_tokens, int) else None
    try:
        detection = detect_blocks(model, include_head=include_head, block_pattern=block_pattern,
                                  block_modules=block_modules,
                                  example_input=torch.zeros(1, *input_size))
        x = torch.randn(1, *input_size, generator=torch.Generator().manual_seed(0))
        blocks, seen = [], set()
        prior = declared
        for k, block in enumerate(detection.blocks):
            flops = fvcore_flops(block.module, x)
            own = [p for p in block.module.parameters() if id(p) not in seen]  # shared: once
            seen.update(id(p) for p in own)
            with torch.no_grad():
                x = block.module(x)
            if not isinstance(x, torch.Tensor):
                raise ConfigError(f'{type(model).__name__}: the backbone output is a '
                                  f'{type(x).__name__}, not a tensor; use include_head=False '
                                  'or a model whose forward_features returns one tensor')
            shape = tuple(x.shape[1:])
            last = k == len(detection.blocks) - 1
            fmt = infer_feature_format(shape, input_size[1:],
                                       declared=declared if last and not include_head else None,
                                       prior=prior, known_channels=known)
            prior = fmt if fmt in ('NCHW', 'NHWC') else prior
            blocks.append(ProfiledBlock(name=block.name, cut=block.cut, flops=flops,
                                        params=sum(p.numel() for p in own),
                                        shape=shape, modules=tuple(block.modules), fmt=fmt,
                                        grid=feature_grid(shape, fmt, input_size[1:],
                                                          prefix_tokens)))
    finally:
        for m, training in modes:
            m.training = training
    return dict(blocks=tuple(blocks), num_raw_cuts=detection.num_raw_cuts)


def _canonical(value):
    """A JSON-able, deterministic stand-in for a model kwarg (classes/functions by name)."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, '__qualname__'):
        return f'{getattr(value, "__module__", "")}.{value.__qualname__}'
    return repr(value)


def _path(model_name: str, key: str) -> str | None:
    """``<cache dir>/backbone_profiles/<model name>-<key prefix>.json``; ``None``: no disk."""
    folder = get_profile_cache_dir()
    if folder is None:
        return None
    name = re.sub(r'[^A-Za-z0-9_.-]+', '_', model_name)
    return os.path.join(folder, _SUBDIR, f'{name}-{key[:24]}.json')


def _load(model_name: str, key: str) -> BackboneProfile | None:
    """The profile cached on disk under ``key``; ``None`` if absent, unreadable or corrupt."""
    path = _path(model_name, key)
    if path is None or not os.path.exists(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            profile = BackboneProfile.from_json(f.read())
        if profile.key != key:
            raise ValueError(f'it holds the profile of another spec (key {profile.key[:24]})')
        return profile
    except Exception as err:  # noqa: BLE001 -- any bad file is recomputed, never fatal
        _warn(f'ignoring the unreadable backbone profile {path} ({type(err).__name__}: '
              f'{err}); measuring again')
        return None


def _store(profile: BackboneProfile) -> None:
    """Write the profile atomically; a failure is only a warning."""
    path = _path(profile.model_name, profile.key)
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, lambda f: f.write(profile.to_json()))
    except OSError as err:
        _warn(f'could not write the backbone profile cache {path} ({err})')


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)
