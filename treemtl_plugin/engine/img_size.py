"""``img_size``: the one resolution setting of a config, applied wherever a config is run.

A top-level ``img_size`` (an int, or ``(H, W)``) sets ``model.backbone.input_size`` (the size
at which block costs are measured, and a ViT's ``img_size``) and the ``image_size`` of every
dataloader's dataset that has one. ``load_config`` and ``TreeMTLRunner.from_cfg`` apply it;
:class:`ImgSizeCheckHook` stops a runner that was built without applying it.
"""
from __future__ import annotations

from collections.abc import Mapping

from mmengine.hooks import Hook

from ..checks import is_int
from ..errors import ConfigError
from ..registry import HOOKS

__all__ = ['SIZE_KEYS', 'apply_img_size', 'sizes_off', 'ImgSizeCheckHook']

#: the dataloaders whose dataset's ``image_size`` follows ``img_size``
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: the settings ``img_size`` drives
SIZE_KEYS = ('model.backbone.input_size',) + tuple(f'{k}.dataset.image_size'
                                                   for k in DATALOADERS)


def _height_width(size) -> tuple[int, int]:
    if is_int(size) and size > 0:
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(is_int(v) and v > 0
                                                                  for v in size):
        return int(size[0]), int(size[1])
    raise ConfigError(f'img_size={size!r}: give a positive int (square images) or '
                      '(height, width), e.g. img_size=128 or img_size=(96, 128)')


def _targets(cfg):
    """(key, dict holding it, field, value img_size gives it) for every driven setting."""
    height, width = _height_width(cfg.img_size)
    model = cfg.get('model')
    backbone = model.get('backbone') if isinstance(model, Mapping) else None
    if isinstance(backbone, Mapping):
        channels = tuple(backbone.get('input_size') or (3,))[0]
        yield SIZE_KEYS[0], backbone, 'input_size', (channels, height, width)
    for key in DATALOADERS:
        loader = cfg.get(key)
        dataset = loader.get('dataset') if isinstance(loader, Mapping) else None
        if isinstance(dataset, Mapping) and 'image_size' in dataset:
            value = int(cfg.img_size) if is_int(cfg.img_size) else [height, width]
            yield f'{key}.dataset.image_size', dataset, 'image_size', value


def apply_img_size(cfg) -> None:
    """Set every setting ``img_size`` drives (a config without ``img_size`` is left as is)."""
    if cfg.get('img_size') is None:
        return
    for _, holder, field, value in list(_targets(cfg)):
        holder[field] = value


def sizes_off(cfg) -> list[str]:
    """The driven settings that disagree with ``img_size`` (``key=value`` strings)."""
    if cfg.get('img_size') is None:
        return []
    def pair(v):
        return tuple(v) if isinstance(v, (list, tuple)) else (v, v)
    return [f'{key}={holder.get(field)!r}' for key, holder, field, value in _targets(cfg)
            if pair(holder.get(field)) != pair(value)]


@HOOKS.register_module()
class ImgSizeCheckHook(Hook):
    """Stops training when the config's ``img_size`` was not applied (a plain ``Runner`` on a
    ``Config.fromfile`` config), instead of silently training at another resolution."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        off = sizes_off(runner.cfg)
        if off:
            raise ConfigError(
                f'img_size={runner.cfg.img_size!r} was not applied: {", ".join(off)}. Build '
                "the runner with the config's runner_type (RUNNERS.build(cfg), as "
                'tools/train.py does) or call treemtl_plugin.engine.img_size.apply_img_size(cfg)'
                ' before Runner.from_cfg(cfg)')
