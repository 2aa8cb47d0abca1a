"""Recommend tree-structured multi-task layouts from a config.

    python tools/recommend.py configs/paper/nyuv2_deeplab_resnet34.py --max-models 2
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from treemtl_plugin.apis.recommend import ConfigError, recommend_from_config, write_outputs
from treemtl_plugin.cost import BudgetError
from treemtl_plugin.recommender import SpaceTooLargeError
from treemtl_plugin.two_task_table import TwoTaskTableError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Recommend where each task should branch off a shared backbone.')
    parser.add_argument('config', help='config file (.py)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    parser.add_argument('--topk', type=int, help='number of layouts to recommend')
    parser.add_argument('--max-flops', type=float,
                        help='budget: whole-model FLOPs (backbone copies + heads), in the '
                             "config's flops_unit")
    parser.add_argument('--max-flops-ratio', type=float,
                        help='budget: backbone FLOPs as a fraction of independent single-task '
                             'models (e.g. 0.6)')
    parser.add_argument('--max-models', type=float,
                        help='budget: backbone FLOPs in backbone-equivalents (e.g. 2)')
    parser.add_argument('--max-params', type=float,
                        help="budget: whole-model parameters, in the config's params_unit")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. recommender.topk=10')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file not found: {args.config}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    overrides = dict(max_flops=args.max_flops, max_flops_ratio=args.max_flops_ratio,
                     max_models=args.max_models, max_params=args.max_params)

    from treemtl_plugin.report import print_report
    try:
        rec = recommend_from_config(cfg, cfg_dir=osp.dirname(osp.abspath(args.config)),
                                    topk=args.topk, budget_overrides=overrides,
                                    progress=_progress_bar())
    except (ConfigError, TwoTaskTableError, BudgetError, SpaceTooLargeError,
            ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    paths = write_outputs(rec, work_dir)
    cfg.dump(osp.join(work_dir, osp.basename(args.config)))
    print_report(rec, save_path=osp.join(work_dir, 'report.txt'))
    print(f'\nwrote {", ".join(sorted(paths.values()))} and report.txt')
    return 0


def _progress_bar():
    """A rich progress callback, shown only for spaces that take a moment to evaluate."""
    from rich.progress import Progress

    state = {}

    def update(done: int, total: int) -> None:
        if total < 1_000_000:
            return
        if 'bar' not in state:
            state['bar'] = Progress(transient=True)
            state['bar'].start()
            state['task'] = state['bar'].add_task('evaluating layouts', total=total)
        state['bar'].update(state['task'], completed=done)
        if done >= total:
            state['bar'].stop()

    return update


if __name__ == '__main__':
    sys.exit(main())
