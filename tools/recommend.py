"""Recommend tree-structured multi-task layouts from a config.

Table mode (the config gives `two_task_table` and `block_flops`):
    python tools/recommend.py configs/paper/nyuv2_deeplab_resnet34.py --max-models 2
Full mode (the config gives a `model` to train): detect blocks and costs, run the two-task
sweep (resumable, `--shard i/n` to split it across jobs), recommend, export a training config
for each of the top-k, and with `--train-top K` train them:
    python tools/recommend.py configs/synthetic/tree_resnet18_synthetic_3task.py
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from treemtl_plugin.apis.recommend import ConfigError, write_outputs
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
    parser.add_argument('--shard', help='full mode: run only shard i of n of the sweep '
                                        '(e.g. 2/4); merge by running again without it')
    parser.add_argument('--train-top', type=int, default=0, metavar='K',
                        help='full mode: train the top K exported models (sweep schedule) '
                             'and report measured vs estimated relative performance')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher for the sweep trainings')
    parser.add_argument('--method', choices=['auto', 'enumerate', 'search'],
                        help='tree strategy: enumerate the space, exact branch-and-bound '
                             'search, or auto (default: enumerate up to '
                             'recommender.search_threshold layouts, else search)')
    parser.add_argument('--strategy', choices=['tree', 'task_grouping'], default='tree',
                        help='tree layouts (default) or task grouping (Standley et al. 2020)')
    parser.add_argument('--compare-budgets', type=float, nargs='+', metavar='K',
                        help='also compare the best tree layout and the best task grouping '
                             'at these budgets (backbone-equivalents), e.g. 1 2 3 4 5')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file not found: {args.config}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.method:
        cfg.merge_from_dict({'recommender.method': args.method})
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    overrides = dict(max_flops=args.max_flops, max_flops_ratio=args.max_flops_ratio,
                     max_models=args.max_models, max_params=args.max_params)

    from treemtl_plugin.apis.recommend import build_cost_model, load_table, \
        recommend_from_table
    from treemtl_plugin.report import print_report
    from treemtl_plugin.sweep.executor import SweepError
    from treemtl_plugin.sweep.plan import parse_shard
    exported, train_top = [], []
    try:
        if cfg.get('model') is not None:   # full mode: costs, sweep, recommend, export
            from treemtl_plugin.apis.pipeline import run_pipeline
            cfg.launcher = args.launcher
            result = run_pipeline(cfg, work_dir, topk=args.topk, budget_overrides=overrides,
                                  shard=parse_shard(args.shard), train_top=args.train_top,
                                  strategy=args.strategy, progress=_progress_bar())
            if result['status'] != 'done':
                return 0
            rec, exported = result['recommendation'], result['exported']
            table, cost = result['table'], result['cost']
            train_top = result.get('train_top', [])
        else:                              # table mode
            if args.shard or args.train_top:
                raise ConfigError('--shard and --train-top need a config with a `model` to '
                                  'train (full mode); this config only has a two-task table')
            table = load_table(cfg, osp.dirname(osp.abspath(args.config)))
            cost = build_cost_model(cfg)
            if args.strategy == 'task_grouping':
                from treemtl_plugin.apis.grouping import run_task_grouping
                rec = run_task_grouping(cfg, table, cost, args.topk, overrides)
            else:
                rec = recommend_from_table(cfg, table, cost, topk=args.topk,
                                           budget_overrides=overrides,
                                           progress=_progress_bar())
        comparison = None
        if args.compare_budgets:
            from treemtl_plugin.apis.grouping import compare_strategies
            comparison = compare_strategies(cfg, table, cost, args.compare_budgets)
    except (ConfigError, TwoTaskTableError, BudgetError, SpaceTooLargeError, SweepError,
            ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    os.makedirs(work_dir, exist_ok=True)
    cfg.dump(osp.join(work_dir, osp.basename(args.config)))
    if args.strategy == 'task_grouping':
        from treemtl_plugin.apis.grouping import print_grouping_report, write_grouping_outputs
        paths = write_grouping_outputs(rec, work_dir)
        print_grouping_report(rec, save_path=osp.join(work_dir, 'report.txt'))
    else:
        paths = write_outputs(rec, work_dir)
        print_report(rec, save_path=osp.join(work_dir, 'report.txt'))
    if comparison is not None:
        from treemtl_plugin.apis.grouping import print_comparison, write_comparison
        paths.update(write_comparison(comparison, cost, work_dir))
        print_comparison(comparison, cost, save_path=osp.join(work_dir, 'compare.txt'))
    print(f'\nwrote {", ".join(sorted(paths.values()))} and report.txt')
    if exported:
        print('exported training configs (train one with `python tools/train.py <file>`):')
        for path in exported:
            print(f'  {path}')
    for row in train_top:
        tasks = ', '.join(f'{t}: est {row["estimated"][t]:+.2f} / measured '
                          f'{row["measured"][t]:+.2f}' for t in row['estimated'])
        print(f'rank {row["rank"]} relative performance (%) -- {tasks}; mean est '
              f'{row["estimated_mean"]:+.2f} / measured {row["measured_mean"]:+.2f}')
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
