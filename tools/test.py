"""Evaluate a trained (tree or task-grouping) multi-task model on the config's test split.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
                         [--max-samples N] [--cfg-options k=v ...]
                         [--launcher none|pytorch|slurm|mpi]

Runs ``runner.test()`` with the config's ``test_dataloader`` / ``test_evaluator`` on the
weights of CHECKPOINT (``load_from``), prints the metrics and writes them to
``<work_dir>/test_metrics.json``. ``--show-dir DIR`` also draws the first ``--max-samples``
test samples (input, then per task prediction | ground truth) with the config's
``MultiTaskVisualizer``; its LocalVisBackend writes ``DIR/vis_data/vis_image/*.png``.
Exit status: 0 ok, 1 bad input (one ``error:`` line: a missing, corrupt or foreign checkpoint,
a bad config value), 2 config file not found.
"""
from __future__ import annotations

import argparse
import math
import os
import os.path as osp
import re
import sys
import uuid

from mmengine.config import Config, DictAction

from treemtl_plugin.apis.config import check_config_keys, load_config
from treemtl_plugin.apis.preflight import registry_error, signature_error
from treemtl_plugin.errors import CheckpointError, ConfigError, TreeMTLError

METRICS_FILE = 'test_metrics.json'
VISUALIZER = 'MultiTaskVisualizer'
#: mmengine's default ``revise_keys`` of ``load_checkpoint`` (DataParallel/DDP prefixes)
_REVISE = re.compile(r'^module\.')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a multi-task model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and test_metrics.json '
                                           '(default: the config\'s work_dir, else '
                                           'work_dirs/<config name>)')
    parser.add_argument('--show-dir', help='draw test predictions into this dir (PNGs under '
                                           'DIR/vis_data/vis_image)')
    parser.add_argument('--max-samples', type=int, default=8,
                        help='with --show-dir: how many test samples to draw (default 8)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, e.g. '
                             'test_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    """Config with the command-line flags applied (OpenMMLab conventions)."""
    cfg = load_config(args.config, args.cfg_options)
    check_config_keys(cfg.keys())
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if osp.exists(cfg.work_dir) and not osp.isdir(cfg.work_dir):
        raise ConfigError(f'work dir {cfg.work_dir!r} is a file, not a folder; choose a folder')
    missing = [k for k in ('test_dataloader', 'test_evaluator') if cfg.get(k) is None]
    if missing:
        raise ConfigError(f'the config has no {" / ".join(missing)}; add e.g. '
                          'test_dataloader = val_dataloader, test_evaluator = val_evaluator')
    if cfg.get('test_cfg') is None:
        cfg.test_cfg = dict(type='TestLoop')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir is not None:
        add_visualization(cfg, args.show_dir, args.max_samples)
    return cfg


def add_visualization(cfg: Config, show_dir: str, max_samples: int) -> None:
    """Point the config's MultiTaskVisualizer at ``show_dir`` and add the test hook (as mmseg's
    tools/test.py does with SegVisualizationHook)."""
    if max_samples < 1:
        raise ConfigError(f'--max-samples must be >= 1, got {max_samples}')
    if osp.exists(show_dir) and not osp.isdir(show_dir):
        raise ConfigError(f'--show-dir {show_dir!r} is a file, not a folder; choose a folder')
    import treemtl_plugin.visualization.predictions  # noqa: F401  (registers the entries)
    visualizer = dict(cfg.get('visualizer') or
                      dict(type=VISUALIZER, vis_backends=[dict(type='LocalVisBackend')]))
    if not str(visualizer.get('type', '')).endswith(VISUALIZER):
        visualizer['type'] = VISUALIZER   # e.g. a plain Visualizer: keep its vis backends
    visualizer['save_dir'] = show_dir
    # a fresh instance: mmengine hands out an existing visualizer of the same name (a run in
    # the same process and second) and would ignore this save_dir
    stem = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    visualizer['name'] = f'{stem}_test_{uuid.uuid4().hex[:8]}'
    cfg.visualizer = visualizer
    hooks = [h for h in (cfg.get('custom_hooks') or [])
             if not str(h.get('type', '')).endswith('MultiTaskVisualizationHook')]
    hooks.append(dict(type='MultiTaskVisualizationHook', max_samples=max_samples))
    cfg.custom_hooks = hooks


def read_state_dict(filename: str) -> dict:
    """The state dict of ``filename`` (a file named on the command line is trusted, as for
    ``tools/train.py --resume``); CheckpointError for a missing or unreadable one."""
    import torch

    from treemtl_plugin.engine.checkpoint import read_checkpoint
    try:
        checkpoint = read_checkpoint(filename, trusted=True)
    except TreeMTLError:
        raise
    except Exception as err:   # unpickling garbage fails in many ways (KeyError, IndexError..)
        raise CheckpointError(f'{filename} is not a readable checkpoint ({type(err).__name__}: '
                              f'{err})') from None
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError(f'{filename} holds no model weights (no state dict of tensors, '
                              'as the checkpoints of tools/train.py have)')
    return {_REVISE.sub('', str(k)): v for k, v in state.items()}


def check_belongs(model, state: dict, filename: str) -> None:
    """The checkpoint must hold exactly the model's parameters and buffers (names and shapes);
    a missing ``_extra_state`` (a checkpoint from before layouts were recorded) is fine."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith('_extra_state')]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and hasattr(state[k], 'shape')
              and hasattr(own[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f'{filename} belongs to another model (another layout, grouping, backbone or task '
            f'set) than {type(model).__name__} of this config: {len(missing)} missing key(s) '
            f'{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(shapes)} of '
            f'another shape {shapes[:3]}; test it with the config it was trained with')


def load_weights(runner, filename: str, state: dict) -> None:
    """Check ``state`` (read from ``filename``) against the runner's model, then load the file
    (strict) with the runner, so that ``runner.test()`` does not load ``load_from`` again."""
    from mmengine.model import is_model_wrapper

    from treemtl_plugin.engine.checkpoint import trusted_loading
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_belongs(model, state, filename)
    with trusted_loading(filename):
        try:
            runner.load_checkpoint(filename, map_location='cpu', strict=True)
        except RuntimeError as err:
            if isinstance(err, TreeMTLError):
                raise
            raise CheckpointError(f'{filename} cannot be loaded into the model: {err}') from None


def plain_metrics(metrics: dict) -> dict:
    """JSON-ready metrics: floats, and ``None`` for a non-finite value."""
    out = {}
    for key, value in (metrics or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            out[str(key)] = value if isinstance(value, (str, int, bool)) else repr(value)
            continue
        out[str(key)] = value if math.isfinite(value) else None
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file not found: {args.config}', file=sys.stderr)
        return 2
    from mmengine.dist import is_main_process
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from treemtl_plugin.io.atomic import write_json
    try:
        cfg = build_config(args)
        state = read_state_dict(args.checkpoint)   # a missing or corrupt file: before any build
        try:
            runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        except (KeyError, TypeError) as err:   # a type or keyword typo in the config
            raise (registry_error(err, 'config') if isinstance(err, KeyError) else
                   signature_error(err, 'config')) or err
        load_weights(runner, args.checkpoint, state)
        del state
        metrics = plain_metrics(runner.test())
    except TreeMTLError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    if is_main_process():
        path = osp.join(cfg.work_dir, METRICS_FILE)
        os.makedirs(cfg.work_dir, exist_ok=True)
        write_json(path, dict(config=args.config, checkpoint=args.checkpoint, metrics=metrics))
        width = max((len(k) for k in metrics), default=0)
        print(f'test metrics of {args.checkpoint}:')
        for key, value in metrics.items():
            print(f'  {key:<{width}}  {value:.4f}' if isinstance(value, float)
                  else f'  {key:<{width}}  {value}')
        print(f'metrics written to {path}')
        if args.show_dir is not None:
            pngs = sorted(osp.join(root, f) for root, _, files in os.walk(args.show_dir)
                          for f in files if f.endswith('.png'))
            where = osp.dirname(pngs[0]) if pngs else args.show_dir
            print(f'{len(pngs)} prediction image(s) in {where}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
