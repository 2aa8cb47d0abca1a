"""Building the runner of a training or test config, and the test job of ``tools/test.py``."""
from __future__ import annotations

import math
import os
import os.path as osp
import uuid

from mmengine.config import Config

from ..errors import ConfigError
from .preflight import registry_error, signature_error

__all__ = ['build_runner', 'add_prediction_drawing', 'run_test']

VISUALIZER = 'MultiTaskVisualizer'


def build_runner(cfg: Config):
    """``RUNNERS.build`` (the config's ``runner_type``) or ``Runner.from_cfg``; a type or
    keyword typo in the config is a ConfigError naming it."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    except (KeyError, TypeError) as err:
        converted = registry_error(err, 'config') if isinstance(err, KeyError) else \
            signature_error(err, 'config')
        if converted is None:
            raise
        raise converted from None


def add_prediction_drawing(cfg: Config, show_dir: str, max_samples: int) -> None:
    """Point the config's MultiTaskVisualizer at ``show_dir`` and add the test-time hook that
    draws the first ``max_samples`` samples (as mmseg's SegVisualizationHook)."""
    if max_samples < 1:
        raise ConfigError(f'--max-samples must be >= 1, got {max_samples}')
    if osp.exists(show_dir) and not osp.isdir(show_dir):
        raise ConfigError(f'--show-dir {show_dir!r} is a file, not a folder; choose a folder')
    visualizer = dict(cfg.get('visualizer') or
                      dict(type=VISUALIZER, vis_backends=[dict(type='LocalVisBackend')]))
    if not str(visualizer.get('type', '')).endswith(VISUALIZER):
        visualizer['type'] = VISUALIZER   # e.g. a plain Visualizer: keep its vis backends
    visualizer['save_dir'] = show_dir
    # a fresh instance: mmengine hands out an existing visualizer of the same name
    stem = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    visualizer['name'] = f'{stem}_test_{uuid.uuid4().hex[:8]}'
    cfg.visualizer = visualizer
    hooks = [h for h in (cfg.get('custom_hooks') or [])
             if not str(h.get('type', '')).endswith('MultiTaskVisualizationHook')]
    hooks.append(dict(type='MultiTaskVisualizationHook', max_samples=max_samples))
    cfg.custom_hooks = hooks


def _plain(metrics: dict) -> dict:
    """JSON-ready metrics: floats, and None for a non-finite value."""
    out = {}
    for key, value in (metrics or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            out[str(key)] = value if isinstance(value, (str, int, bool)) else repr(value)
            continue
        out[str(key)] = value if math.isfinite(value) else None
    return out


def run_test(cfg: Config, checkpoint: str, show_dir: str | None = None,
             max_samples: int = 8) -> dict:
    """Evaluate ``checkpoint`` with the config's test data and metric; returns the metrics
    and writes ``<work_dir>/test_metrics.json``. A missing, corrupt or foreign checkpoint is a
    CheckpointError before anything is built."""
    from mmengine.dist import is_main_process

    from ..engine.checkpoint import read_state_dict
    from ..engine.runner import load_weights
    from ..io.atomic import write_json
    missing = [k for k in ('test_dataloader', 'test_evaluator') if cfg.get(k) is None]
    if missing:
        raise ConfigError(f'the config has no {" / ".join(missing)}; add e.g. '
                          'test_dataloader = val_dataloader, test_evaluator = val_evaluator')
    cfg.setdefault('test_cfg', dict(type='TestLoop'))
    cfg.load_from, cfg.resume = None, False      # loaded below, after the check
    if show_dir is not None:
        add_prediction_drawing(cfg, show_dir, max_samples)
    read_state_dict(checkpoint)                  # a missing or corrupt file: before any build
    runner = build_runner(cfg)
    load_weights(runner, checkpoint)
    metrics = _plain(runner.test())
    if is_main_process():
        os.makedirs(cfg.work_dir, exist_ok=True)
        write_json(osp.join(cfg.work_dir, 'test_metrics.json'),
                   dict(config=cfg.filename, checkpoint=checkpoint, metrics=metrics))
    return metrics
