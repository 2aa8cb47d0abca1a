"""Recommend where each task should branch off a shared backbone.

Table mode (the config gives `two_task_table` and `block_flops`):
    python tools/recommend.py configs/paper/nyuv2_deeplab_resnet34.py --max-models 2
Full mode (the config gives a `model` to train): measure block costs, run the two-task sweep
(resumable; `--shard i/n` splits it across jobs), recommend, export a training config per
recommended model, and with `--train-top K` train the first K:
    python tools/recommend.py configs/synthetic/tree_resnet18_synthetic_3task.py
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from treemtl_plugin.apis import run_recommendation
from treemtl_plugin.apis.cli import ConfigOptions, add_launcher_args, parse_tool_args, run_tool
from treemtl_plugin.apis.config import load_config, setup_work_dir, strategy_names
from treemtl_plugin.engine.job_log import console_printer
from treemtl_plugin.errors import ConfigError
from treemtl_plugin.recommenders.tree import SEARCHES
from treemtl_plugin.sweep.plan import parse_shard


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Recommend where each task should branch off a shared backbone.')
    parser.add_argument('config', help='config file (.py)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    # a flag whose dest is a dotted config key is written into the config (and its saved copy)
    parser.add_argument('--topk', type=int, dest='recommender.topk', metavar='K',
                        help='number of models to recommend')
    budget = parser.add_argument_group('budget (all given limits must hold)')
    budget.add_argument('--max-flops', type=float, dest='recommender.budget.max_flops', metavar='X',
                        help="whole-model FLOPs (backbone copies + heads), in the config's "
                             'flops_unit')
    budget.add_argument('--max-flops-ratio', type=float,
                        dest='recommender.budget.max_flops_ratio', metavar='X',
                        help='backbone FLOPs as a fraction of independent single-task models '
                             '(e.g. 0.6)')
    budget.add_argument('--max-models', type=float, dest='recommender.budget.max_models',
                        metavar='X',
                        help='backbone FLOPs in backbone-equivalents (e.g. 2)')
    budget.add_argument('--max-params', type=float, dest='recommender.budget.max_params',
                        metavar='X',
                        help="whole-model parameters, in the config's params_unit")
    parser.add_argument('--strategy', choices=sorted(strategy_names()), dest='recommender.type',
                        help='tree layouts (the default recommender) or task grouping '
                             '(Standley et al. 2020); default: the config\'s recommender.type')
    parser.add_argument('--search', choices=SEARCHES, dest='recommender.search',
                        help='tree strategy: enumerate the space, exact branch-and-bound '
                             'search, or auto (enumerate up to recommender.search_threshold '
                             'layouts, else search)')
    parser.add_argument('--compare-budgets', type=float, nargs='+', metavar='K',
                        help='also compare the best tree layout and the best task grouping '
                             'at these budgets (backbone-equivalents), e.g. 1 2 3 4 5')
    parser.add_argument('--shard', help='full mode: run only shard i of n of the sweep '
                                        '(e.g. 2/4); merge by running again without it')
    parser.add_argument('--workers', type=int, metavar='N', dest='sweep.workers',
                        help='full mode: train N sweep runs at once on this machine (one GPU '
                             'each, or cores/N threads each on CPU); = sweep.workers')
    parser.add_argument('--more-seeds', type=int, metavar='K', dest='sweep.more_seeds',
                        help='full mode, sweep.seeds >= 2: train one more seed of the K pair '
                             'runs most likely to change the top-1 (= sweep.more_seeds)')
    parser.add_argument('--train-top', type=int, default=0, metavar='K',
                        help='full mode: train the top K exported models (sweep schedule) '
                             'and report measured vs estimated relative performance')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptions,
                        help='override config settings, e.g. recommender.topk=10')
    add_launcher_args(parser, help='job launcher for the sweep trainings')
    return parse_tool_args(parser, argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(args.config, lambda: recommend(args))


def recommend(args) -> None:
    bad = [k for k in args.compare_budgets or [] if not k > 0]
    if bad:
        raise ConfigError(f'--compare-budgets {bad[0]:g}: the budgets are backbone-equivalents '
                          '(> 0), e.g. --compare-budgets 1 2 3')
    flags = {k: v for k, v in vars(args).items() if '.' in k}
    cfg = load_config(args.config, args.cfg_options, dict(flags, launcher=args.launcher))
    work_dir = setup_work_dir(cfg, args.work_dir, args.config)
    run = run_recommendation(cfg, work_dir, shard=parse_shard(args.shard),
                             train_top=args.train_top, compare_budgets=args.compare_budgets)
    if run.status == 'done':
        names = sorted(osp.relpath(p, work_dir) for p in run.paths.values()) + ['report.txt']
        console_printer()(f'wrote in {work_dir}: {", ".join(names)}')
        if run.exported:
            print('exported training configs (train one with `python tools/train.py <file>`):')
            print(''.join(f'  {path}\n' for path in run.exported), end='')

if __name__ == '__main__':
    sys.exit(main())
