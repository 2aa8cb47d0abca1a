"""Train a (tree) multi-task model from an mmengine config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

A config exported by tools/recommend.py is then compared with the sweep's single-task models.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.config import Config

from treemtl_plugin.apis.cli import ConfigOptions, add_launcher_args, parse_tool_args, run_tool
from treemtl_plugin.apis.config import load_config, require_model, setup_work_dir
from treemtl_plugin.apis.preflight import check_optimizer
from treemtl_plugin.apis.single_task import report_against_single_task
from treemtl_plugin.apis.training import build_runner
from treemtl_plugin.errors import ConfigError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a tree-structured multi-task model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or, without a value, from '
                             'the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='mixed-precision training (needs a CUDA GPU)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptions,
                        help='override settings in the config, e.g. train_cfg.max_iters=100')
    add_launcher_args(parser)
    return parse_tool_args(parser, argv)


def build_config(args) -> Config:
    """Config with the command-line flags applied (OpenMMLab conventions)."""
    cfg = load_config(args.config, args.cfg_options, dict(launcher=args.launcher))
    require_model(cfg, 'tools/train.py')
    setup_work_dir(cfg, args.work_dir, args.config)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise ConfigError('--amp needs a CUDA GPU (mmengine AmpOptimWrapper); run without '
                              '--amp on CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise ConfigError(f'checkpoint to resume from not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(args.config, lambda: train(args),
                    resume_hint='checkpoints written so far are kept; add --resume to the '
                                'same command to continue from the last one')


def train(args) -> None:
    """Train; an exported recommendation's final validation is then compared with the
    sweep's single-task models and the estimate."""
    from treemtl_plugin.engine.runner import KeepLastMetrics
    cfg = build_config(args)
    runner = build_runner(cfg)
    check_optimizer(cfg, runner.model)      # a bad lr fails now, not at the first step
    last_val = KeepLastMetrics()
    runner.register_hook(last_val)
    runner.train()
    report_against_single_task(cfg, last_val.metrics, 'val')


if __name__ == '__main__':
    sys.exit(main())
