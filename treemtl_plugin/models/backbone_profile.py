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
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from ..errors import ConfigError, did_you_mean
from ..version import __version__
from .branching_point_detector import DEFAULT_BLOCK_PATTERN, detect_blocks

__all__ = ['BackboneProfile', 'ProfiledBlock', 'profile_backbone', 'set_profile_cache_dir',
           'get_profile_cache_dir', 'clear_profile_cache', 'create_timm_model', 'fvcore_flops',
           'unfused_attention', 'check_input_size']

#: bump when the detector or the measurement changes what a profile holds (invalidates caches)
PROFILE_FORMAT = 1
CACHE_ENV = 'TREEMTL_CACHE_DIR'
_SUBDIR = 'backbone_profiles'

_UNSET = object()
_cache_dir = _UNSET                           # _UNSET: read $TREEMTL_CACHE_DIR at each call
_memory: dict[str, BackboneProfile] = {}      # key -> profile, for this process


@dataclass(frozen=True)
class ProfiledBlock:
    """One fine block: ``cut`` is the fx node name ending it (``None``: the backbone output);
    ``flops``: fvcore count for one image (one multiply-add = one FLOP); ``params``: parameters
    first used in this block; ``shape``: output shape without the batch dimension."""
    name: str
    cut: str | None
    flops: int
    params: int
    shape: tuple[int, ...]
    modules: tuple[str, ...] = ()

    @property
    def gflops(self) -> float:
        return self.flops / 1e9


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
                                            modules=tuple(b['modules'])))
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


def check_input_size(input_size) -> tuple[int, int, int]:
    """``(C, H, W)`` as positive ints, or ``ConfigError``."""
    try:
        size = tuple(int(v) for v in input_size)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 3 or min(size) < 1 or list(size) != list(input_size):
        raise ConfigError(f'input_size must be (C, H, W) positive integers, e.g. (3, 224, 224); '
                          f'got {input_size!r}')
    return size


def create_timm_model(model_name: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """``timm.create_model`` with a ``ConfigError`` for unknown names and rejected kwargs."""
    import timm
    if not timm.is_model(model_name):
        hint = did_you_mean(model_name, timm.list_models()) or \
            '; see timm.list_models() for the available names'
        raise ConfigError(f'unknown timm model {model_name!r}{hint}')
    try:
        return timm.create_model(model_name, pretrained=pretrained, **kwargs)
    except TypeError as err:
        if not kwargs:
            raise
        raise ConfigError(f'timm model {model_name!r} does not accept model_kwargs {kwargs} '
                          f'({err})') from err


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


def profile_backbone(model_name: str, input_size: Sequence[int] = (3, 224, 224), *,
                     model_kwargs: dict | None = None, include_head: bool = False,
                     block_pattern: str | None = DEFAULT_BLOCK_PATTERN,
                     block_modules: Sequence[str] | None = None,
                     model: nn.Module | None = None, refresh: bool = False) -> BackboneProfile:
    """The ``BackboneProfile`` of a spec: from the memory cache, else the disk cache, else measured.

    ``model``: the already created timm model of this spec, to measure instead of creating one
    (its weights do not matter; its train/eval modes are restored). ``refresh``: measure even
    if cached, and overwrite the cache entries.
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
        model = create_timm_model(model_name, **(model_kwargs or {}))
    profile = BackboneProfile(**spec, **versions, key=key,
                              **_measure(model, spec['input_size'], include_head, block_pattern,
                                         block_modules))
    _memory[key] = profile
    _store(profile)
    return profile


def _measure(model: nn.Module, input_size, include_head, block_pattern, block_modules) -> dict:
    """Detect the fine blocks of ``model``; per block fvcore FLOPs, new parameters, shape."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        detection = detect_blocks(model, include_head=include_head, block_pattern=block_pattern,
                                  block_modules=block_modules,
                                  example_input=torch.zeros(1, *input_size))
        x = torch.randn(1, *input_size, generator=torch.Generator().manual_seed(0))
        blocks, seen = [], set()
        for block in detection.blocks:
            flops = fvcore_flops(block.module, x)
            own = [p for p in block.module.parameters() if id(p) not in seen]  # shared: once
            seen.update(id(p) for p in own)
            with torch.no_grad():
                x = block.module(x)
            if not isinstance(x, torch.Tensor):
                raise ConfigError(f'{type(model).__name__}: the backbone output is a '
                                  f'{type(x).__name__}, not a tensor; use include_head=False '
                                  'or a model whose forward_features returns one tensor')
            blocks.append(ProfiledBlock(name=block.name, cut=block.cut, flops=flops,
                                        params=sum(p.numel() for p in own),
                                        shape=tuple(x.shape[1:]), modules=tuple(block.modules)))
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
    """Write the profile atomically (temp file + os.replace); a failure is only a warning."""
    path = _path(profile.model_name, profile.key)
    if path is None:
        return
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.tmp-', suffix='.json')
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(profile.to_json())
        os.replace(tmp, path)
    except OSError as err:
        _warn(f'could not write the backbone profile cache {path} ({err})')
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)
