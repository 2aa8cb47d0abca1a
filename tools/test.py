"""Test (evaluate) a trained tree or task-grouping model with its config's metric.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR] [--max-samples N]
                         [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Writes <work_dir>/test_metrics.json; --show-dir draws input, prediction and ground truth of
the first N test samples (PNGs under DIR/vis_data/vis_image with the default visualizer).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from treemtl_plugin.apis.cli import ConfigOptions, add_launcher_args, parse_tool_args, run_tool
from treemtl_plugin.apis.config import load_config, require_model, setup_work_dir
from treemtl_plugin.apis.single_task import report_against_single_task
from treemtl_plugin.apis.training import run_test


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a multi-task model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help="the dir to save logs and test_metrics.json "
                                           "(default: the config's work_dir, else "
                                           'work_dirs/<config name>)')
    parser.add_argument('--show-dir', help='draw test predictions into this dir')
    parser.add_argument('--max-samples', type=int, default=8,
                        help='with --show-dir: how many test samples to draw (default 8)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptions,
                        help='override settings in the config, e.g. '
                             'test_dataloader.batch_size=8')
    add_launcher_args(parser)
    return parse_tool_args(parser, argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(args.config, lambda: test(args),
                    resume_hint='nothing was written yet; run the same command again')


def test(args) -> None:
    from mmengine.dist import is_main_process
    cfg = load_config(args.config, args.cfg_options, dict(launcher=args.launcher))
    require_model(cfg, 'tools/test.py')
    setup_work_dir(cfg, args.work_dir, args.config)
    metrics = run_test(cfg, args.checkpoint, args.show_dir, args.max_samples)
    if not is_main_process():
        return
    width = max((len(k) for k in metrics), default=0)
    print(f'test metrics of {args.checkpoint}:')
    for key, value in metrics.items():
        print(f'  {key:<{width}}  {value:.4f}' if isinstance(value, float)
              else f'  {key:<{width}}  {value}')
    print(f'metrics written to {osp.join(cfg.work_dir, "test_metrics.json")}')
    report_against_single_task(cfg, metrics, 'test')
    if args.show_dir is not None:
        pngs = sorted(osp.join(root, f) for root, _, files in os.walk(args.show_dir)
                      for f in files if f.endswith('.png'))
        where = osp.dirname(pngs[0]) if pngs else args.show_dir
        print(f'{len(pngs)} prediction image(s) in {where}')

if __name__ == '__main__':
    sys.exit(main())
