"""The timm model factory: ``timm.create_model`` with ``ConfigError``s that name the fix.

Errors for an unknown name, rejected kwargs, an input size the model cannot run at, and
pretrained weights it cannot get; ``build_timm_model`` also sets ``img_size`` from the input size.

Pretrained weights come through timm and huggingface_hub as usual (the hub's cache, else a
download). With ``HF_HUB_OFFLINE=1`` (``huggingface_hub.constants.HF_HUB_OFFLINE``) only the
local caches are used, also for weights timm fetches by URL through torch.hub.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from urllib.parse import urlparse

import torch
import torch.nn as nn

from ..errors import ConfigError, did_you_mean

__all__ = ['check_input_size', 'create_timm_model', 'build_timm_model']


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
    """``timm.create_model`` with a ``ConfigError`` for unknown names, rejected kwargs and
    pretrained weights that are neither cached nor downloadable (``_weights_error``)."""
    import timm
    if not timm.is_model(model_name):
        hint = did_you_mean(model_name, timm.list_models()) or \
            '; see timm.list_models() for the available names'
        raise ConfigError(f'unknown timm model {model_name!r}{hint}')
    source = _pretrained_source(model_name, kwargs) if pretrained else None
    if source is not None:
        _check_offline(model_name, source, kwargs)
    try:
        return timm.create_model(model_name, pretrained=pretrained, **kwargs)
    except TypeError as err:
        if not kwargs:
            raise
        raise ConfigError(f'timm model {model_name!r} does not accept model_kwargs {kwargs} '
                          f'({err})') from err
    except _download_errors() as err:
        if source is None:
            raise
        raise _weights_error(model_name, source, kwargs, err) from err


def build_timm_model(model_name: str, pretrained: bool = False,
                     input_size: Sequence[int] | None = None,
                     model_kwargs: dict | None = None) -> nn.Module:
    """The timm model of a backbone spec, built for ``input_size``.

    Models built for a fixed image size (ViTs with a position embedding, Swin, MaxViT...) take
    an ``img_size`` argument: unless ``model_kwargs`` sets one, it is set to ``input_size[1:]``
    (an int for a square size). Models that do not take it are built without it. The size used
    is kept in ``model.treemtl_img_size`` (``None``: not passed by us).
    """
    if not isinstance(model_name, str) or not model_name:
        raise ConfigError(f'model.backbone.model_name must be a timm model name (a string), '
                          f"got {model_name!r}; e.g. model_name='resnet18'")
    if model_kwargs is not None and not isinstance(model_kwargs, Mapping):
        raise ConfigError(f'model.backbone.model_kwargs must be a dict of timm.create_model '
                          f'arguments, got {model_kwargs!r}')
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


# -- pretrained weights: huggingface_hub's cache / offline mode, clear errors ------------------
def _pretrained_source(model_name: str, kwargs: dict) -> tuple[str, object] | None:
    """``(kind, location)`` of the remote weights timm fetches, kind ``'hf-hub'`` or ``'url'``;
    ``None`` when the caller chose the source (``pretrained_cfg[_overlay]``) or there is none."""
    if kwargs.get('pretrained_cfg') or kwargs.get('pretrained_cfg_overlay'):
        return None
    import timm
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(vars(cfg))
    if data.get('file') or data.get('state_dict'):
        return None                # local weights: nothing to download
    if data.get('hf_hub_id'):      # timm prefers the hub, as its builder does
        location = data['hf_hub_id']
        if data.get('hf_hub_filename'):
            location = (location, data['hf_hub_filename'])
        return 'hf-hub', location
    return ('url', data['url']) if data.get('url') else None


def _hub_offline() -> bool:
    from huggingface_hub import constants
    return bool(constants.HF_HUB_OFFLINE)


def _check_offline(model_name: str, source, kwargs: dict) -> None:
    """Under ``HF_HUB_OFFLINE``, fail on URL weights missing from torch.hub's cache (torch.hub
    ignores the flag); hub weights are left to huggingface_hub, which then reads its cache only."""
    kind, location = source
    if kind != 'url' or not _hub_offline():
        return
    path = os.path.join(_weights_cache_dir(kind, kwargs.get('cache_dir')),
                        os.path.basename(urlparse(location).path))
    if not os.path.isfile(path):
        raise _weights_error(model_name, source, kwargs, None)


def _download_errors() -> tuple[type[BaseException], ...]:
    """What a failed weight download raises: ``OSError`` (huggingface_hub's
    ``LocalEntryNotFoundError`` and HTTP errors, urllib's) and the hub client's transport errors."""
    errors = [OSError]
    for client in ('httpx', 'httpx2'):
        try:
            errors.append(importlib.import_module(client).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def _weights_cache_dir(kind: str, cache_dir=None) -> str:
    """Where timm looks for the weights: huggingface_hub's cache or torch.hub's checkpoints."""
    if cache_dir:
        return os.fspath(cache_dir)
    if kind == 'hf-hub':
        from huggingface_hub import constants
        return constants.HF_HUB_CACHE
    return os.path.join(torch.hub.get_dir(), 'checkpoints')


def _weights_error(model_name: str, source, kwargs: dict,
                   err: BaseException | None) -> ConfigError:
    """The ``ConfigError`` for weights that are not cached and cannot be downloaded: offline
    mode (``err`` ``None`` or the hub's offline miss) or a failed download (``err``)."""
    kind, location = source
    where = location if isinstance(location, str) else '/'.join(location)
    cache = _weights_cache_dir(kind, kwargs.get('cache_dir'))
    download = (f'download them once with network access (python -c "import timm; '
                f'timm.create_model({model_name!r}, pretrained=True)") and copy the cache here')
    if _hub_offline():
        why = 'cannot be downloaded: HF_HUB_OFFLINE=1 is set (local cache only)'
        fix = f'unset HF_HUB_OFFLINE where the hub is reachable, or {download}'
    else:
        first = (str(err).strip().splitlines() or [''])[0][:200]
        why = f'could not be downloaded ({type(err).__name__}: {first})'
        fix = (f'check the network access (or HF_ENDPOINT), or {download} and set '
               'HF_HUB_OFFLINE=1 to use only that cache')
    return ConfigError(
        f'pretrained=True: the weights of timm model {model_name!r} ({where}) are not in the '
        f'local cache ({cache}) and {why}. Fix: {fix}; or load a local timm state dict with '
        "init_cfg=dict(type='Pretrained', checkpoint='/path/to/weights.pth') on the backbone, "
        'or set pretrained=False.')
