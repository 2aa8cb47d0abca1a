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
``'NC'`` (pooled / classifier output). timm's own information decides where it exists (the
model's ``output_fmt`` for its output, ``feature_info`` / ``num_features`` for the channel
counts), a shape rule otherwise (the two spatial dims must fit the input size at one stride).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from ..errors import ConfigError, did_you_mean
from ..io.atomic import atomic_write
from ..version import __version__
from .branching_point_detector import DEFAULT_BLOCK_PATTERN, detect_blocks

__all__ = ['BackboneProfile', 'ProfiledBlock', 'profile_backbone', 'set_profile_cache_dir',
           'get_profile_cache_dir', 'clear_profile_cache', 'create_timm_model', 'fvcore_flops',
           'unfused_attention', 'check_input_size', 'build_timm_model', 'infer_feature_format',
           'feature_grid', 'FEATURE_FORMATS']

#: bump when the detector or the measurement changes what a profile holds (invalidates caches)
#: 2: per-block output format and grid; ViTs built with ``img_size`` from ``input_size``
PROFILE_FORMAT = 2
#: layouts of a block output (without the batch dim): channels first, channels last, tokens,
#: pooled vector; ``'unknown'`` for anything else (e.g. 5-D)
FEATURE_FORMATS = ('NCHW', 'NHWC', 'NLC', 'NC')
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
    its layout (one of ``FEATURE_FORMATS``); ``grid``: its spatial / token grid ``(h, w)`` at
    the profile's input size (``None`` for ``'NC'``)."""
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
    """``timm.create_model`` with a ``ConfigError`` for unknown names and rejected kwargs.

    With ``pretrained=True`` and no network, this fails fast (``ConfigError``) instead of
    letting the hub client retry for a minute: see ``_offline_pretrained_kwargs``.
    """
    import timm
    if not timm.is_model(model_name):
        hint = did_you_mean(model_name, timm.list_models()) or \
            '; see timm.list_models() for the available names'
        raise ConfigError(f'unknown timm model {model_name!r}{hint}')
    if pretrained:
        kwargs = _offline_pretrained_kwargs(model_name, kwargs)
    try:
        return timm.create_model(model_name, pretrained=pretrained, **kwargs)
    except TypeError as err:
        if not kwargs:
            raise
        raise ConfigError(f'timm model {model_name!r} does not accept model_kwargs {kwargs} '
                          f'({err})') from err


def build_timm_model(model_name: str, pretrained: bool = False,
                     input_size: Sequence[int] | None = None,
                     model_kwargs: dict | None = None) -> nn.Module:
    """The timm model of a backbone spec, built for ``input_size``.

    Models built for a fixed image size (ViTs with a position embedding, Swin, MaxViT...) take
    an ``img_size`` argument: unless ``model_kwargs`` sets one, it is set to ``input_size[1:]``
    (an int for a square size). Models that do not take it are built without it. The size used
    is kept in ``model.treemtl_img_size`` (``None``: not passed by us).
    """
    kwargs = dict(model_kwargs or {})
    auto = None
    if input_size is not None and 'img_size' not in kwargs:
        h, w = check_input_size(input_size)[1:]
        auto = h if h == w else (h, w)
        try:
            model = create_timm_model(model_name, pretrained, img_size=auto, **kwargs)
        except ConfigError as err:
            cause = err.__cause__
            if not (isinstance(cause, TypeError) and 'img_size' in str(cause)):
                raise                             # not about img_size: the user's kwargs
            model, auto = create_timm_model(model_name, pretrained, **kwargs), None
        except Exception as err:
            if pretrained:                        # may be about the weights, not the size
                raise
            # the model takes img_size but cannot be built at this size
            raise ConfigError(_size_message(model_name, input_size, err, auto, kwargs)) from err
    else:
        model = create_timm_model(model_name, pretrained, **kwargs)
    model.treemtl_img_size = auto
    return model


def _size_message(model_name: str, input_size, err: BaseException, auto, kwargs: dict) -> str:
    """Why ``model_name`` cannot run at ``input_size``, with its fixed size and the fix."""
    import timm
    cfg = timm.models.get_pretrained_cfg(model_name)
    default = tuple(getattr(cfg, 'input_size', None) or (3, 224, 224))
    fixed = bool(getattr(cfg, 'fixed_input_size', False))
    minimum = getattr(cfg, 'min_input_size', None)
    size = f'{default[1]}x{default[2]}'
    first = (str(err).strip().splitlines() or [''])[0][:200]
    text = (f'timm model {model_name!r} cannot run at input_size {tuple(input_size)} '
            f'({type(err).__name__}: {first}). ')
    given = kwargs.get('img_size')
    if given is not None:
        text += (f'model_kwargs sets img_size={given!r}, so it is built for that fixed size; '
                 f'drop img_size from model_kwargs (it is then set from input_size) or use '
                 f'input_size=(3, {given}, {given}) for a square img_size.')
    elif auto is not None:
        text += (f'It was built with img_size={auto!r} for this input_size and still does not '
                 f'run at it (its patch/window/attention sizes do not fit; it is made for '
                 f'{size}); use an input_size it supports, e.g. input_size={default}.')
    else:
        kind = 'a fixed input size' if fixed else 'a default input size'
        text += (f'It takes no img_size argument and has {kind} of {size}'
                 + (f' (minimum {minimum[1]}x{minimum[2]})' if minimum else '')
                 + f'; use input_size={default} or another size its layers accept.')
    return text


# -- pretrained=True without network ---------------------------------------------------------
_HUB_TIMEOUT_S = 2.0
_reachable_memo: dict[tuple[str, int], tuple[float, bool]] = {}


def _offline_pretrained_kwargs(model_name: str, kwargs: dict) -> dict:
    """Check, before timm tries to download, that ``pretrained=True`` can get its weights.

    Cached weights (huggingface_hub's cache, or timm's torch-hub cache for URL weights) are
    used as they are; when the hub is unreachable they are loaded straight from the cached file
    (``pretrained_cfg_overlay=dict(file=...)``, no network call). Weights neither cached nor
    downloadable (``HF_HUB_OFFLINE=1``, or no connection within ~2 s) raise ``ConfigError``.
    """
    if kwargs.get('pretrained_cfg') or kwargs.get('pretrained_cfg_overlay'):
        return kwargs                        # the caller chose the weight source
    source = _pretrained_source(model_name)
    if source is None:
        return kwargs                        # no remote weights: timm says what is wrong
    kind, location, custom_load = source
    cached = _cached_weights(kind, location, kwargs.get('cache_dir'))
    reachable, why = _source_reachable(kind, location)
    if reachable:
        return kwargs
    if cached is not None:
        if custom_load:
            return kwargs
        return dict(kwargs, pretrained_cfg_overlay=dict(file=cached))
    where = location if isinstance(location, str) else '/'.join(location)
    cache = _hf_cache_dir(kwargs.get('cache_dir')) if kind == 'hf-hub' else \
        _torch_hub_dir(kwargs.get('cache_dir'))
    raise ConfigError(
        f'pretrained=True: the weights of timm model {model_name!r} ({where}) are not in the '
        f'local cache ({cache}) and cannot be downloaded: {why}. Fix: download them once with '
        f'network access (python -c "import timm; timm.create_model({model_name!r}, '
        'pretrained=True)") and copy the cache here, or load a local timm state dict with '
        "init_cfg=dict(type='Pretrained', checkpoint='/path/to/weights.pth') on the backbone, "
        'or set pretrained=False.')


def _pretrained_source(model_name: str):
    """``(kind, location, custom_load)`` of the model's remote weights, kind 'hf-hub' or
    'url'; ``None`` when timm has no remote source for it (local file, no weights...)."""
    import timm
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(vars(cfg))
    if data.get('file') or data.get('state_dict'):
        return None                # local weights: nothing to download
    if data.get('hf_hub_id'):      # timm prefers the hub, as its builder does
        kind, location = 'hf-hub', data['hf_hub_id']
        if data.get('hf_hub_filename'):
            location = (location, data['hf_hub_filename'])
    elif data.get('url'):
        kind, location = 'url', data['url']
    else:
        return None
    if kind not in ('hf-hub', 'url') or not location:
        return None
    return kind, location, data.get('custom_load', False)


def _hf_cache_dir(cache_dir=None) -> str:
    """huggingface_hub's cache directory, read from the environment now (as the hub does)."""
    if cache_dir:
        return os.fspath(cache_dir)
    env = os.environ
    path = env.get('HF_HUB_CACHE') or env.get('HUGGINGFACE_HUB_CACHE')
    if not path:
        home = env.get('HF_HOME') or os.path.join(
            env.get('XDG_CACHE_HOME') or os.path.join('~', '.cache'), 'huggingface')
        path = os.path.join(home, 'hub')
    return os.path.expanduser(path)


def _torch_hub_dir(cache_dir=None) -> str:
    return os.fspath(cache_dir) if cache_dir else os.path.join(torch.hub.get_dir(),
                                                               'checkpoints')


def _cached_weights(kind: str, location, cache_dir=None) -> str | None:
    """Path of the model's weights in the local cache, or ``None``."""
    if kind == 'url':
        from urllib.parse import urlparse
        path = os.path.join(_torch_hub_dir(cache_dir), os.path.basename(urlparse(location).path))
        return path if os.path.isfile(path) else None
    repo, filename = (location, None) if isinstance(location, str) else location
    repo_id, _, revision = repo.partition('@')
    if filename is None:
        names = ['model.safetensors', 'pytorch_model.bin']
    elif filename.endswith('.bin'):
        names = [filename[:-4] + '.safetensors', filename]
        if filename == 'open_clip_pytorch_model.bin':
            names.insert(0, 'open_clip_model.safetensors')
    else:
        names = [filename]
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in names:
        try:
            path = try_to_load_from_cache(repo_id, name, cache_dir=_hf_cache_dir(cache_dir),
                                          revision=revision or None)
        except Exception:  # noqa: BLE001 -- a malformed cache entry counts as not cached
            path = None
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


def _truthy(value: str | None) -> bool:
    return (value or '').strip().upper() in ('1', 'ON', 'YES', 'TRUE')


def _source_reachable(kind: str, location) -> tuple[bool, str]:
    """(can the weights' host be reached now, why not)."""
    from urllib.parse import urlparse
    if kind == 'hf-hub':
        if _truthy(os.environ.get('HF_HUB_OFFLINE')):
            return False, 'HF_HUB_OFFLINE=1 is set'
        url = os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'
    else:
        url = location
    parts = urlparse(url)
    host = parts.hostname or ''
    port = parts.port or (80 if parts.scheme == 'http' else 443)
    if not host:
        return False, f'{url!r} names no host'
    ok = _connects(host, port, _HUB_TIMEOUT_S)
    return ok, '' if ok else f'no connection to {host}:{port} (tried for up to ' \
                             f'{_HUB_TIMEOUT_S:g} s)'


def _connects(host: str, port: int, timeout: float) -> bool:
    """A TCP connection to ``host:port`` within ``timeout`` seconds, name lookup included
    (run in a daemon thread: a DNS lookup ignores socket timeouts). Memoised for 60 s."""
    key = (host, port)
    now = time.monotonic()
    memo = _reachable_memo.get(key)
    if memo is not None and now - memo[0] < 60:
        return memo[1]
    result = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True, name='treemtl-hub-check')
    thread.start()
    thread.join(timeout)
    ok = bool(result and result[0])
    _reachable_memo[key] = (time.monotonic(), ok)
    return ok


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
