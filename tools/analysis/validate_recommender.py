"""Does the estimate hold? Train the layouts the recommender ranks and compare the rankings.

    python tools/analysis/validate_recommender.py CONFIG [--work-dir W] [--seeds N]
           [--layouts all|K] [--resume] [--shard i/n] [--cfg-options k=v ...]

Runs (or reuses) the config's sweep, trains every layout (or a stratified sample of K) and the
single-task baselines with N seeds the sweep never used (scored on the test split when the
config has one), and writes W/validation.json and W/validation.png
(docs/advanced/validation.md).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from treemtl_plugin.apis.cli import ConfigOptions, run_tool
from treemtl_plugin.apis.config import load_config, require_model, setup_work_dir
from treemtl_plugin.apis.validation import run_validation
from treemtl_plugin.evaluation.agreement import stored
from treemtl_plugin.sweep.plan import parse_shard
from treemtl_plugin.visualization.report import estimator_lines, tree_vs_grouping_lines
from treemtl_plugin.visualization.report import validation_summary_lines as summary_lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Estimated vs trained ranking of layouts.')
    parser.add_argument('config', help='a full-mode config (.py)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    parser.add_argument('--seeds', type=int, dest='validation.seeds', metavar='N',
                        help='seeds per layout (= validation.seeds)')
    parser.add_argument('--layouts', dest='validation.layouts', metavar='all|K',
                        help="'all' or K: a stratified sample of K layouts "
                             '(= validation.layouts)')
    parser.add_argument('--resume', action='store_true',
                        help='continue a study in the work dir (finished runs are reused)')
    parser.add_argument('--shard', help='train only shard i of n of the runs (e.g. 1/4)')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptions,
                        help='override config settings, e.g. validation.seeds=5')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(args.config, lambda: validate(args))


def validate(args) -> None:
    flags = {k: v for k, v in vars(args).items() if '.' in k}
    cfg = load_config(args.config, args.cfg_options, flags)
    require_model(cfg, 'validate_recommender.py')
    work_dir = setup_work_dir(cfg, args.work_dir, args.config)
    study = run_validation(cfg, work_dir, resume=args.resume, shard=parse_shard(args.shard))
    if study is None:
        return
    print(f'seeds {study["seeds"]} (sweep: {study["sweep_seeds"]}), scored on '
          f'{study["scored_on"].split(" ")[0]}, {len(study["layouts"])} layouts')
    for name in ('weighted', 'unweighted'):
        print(f'{name}:')
        for line in summary_lines(study['summary'][name]):
            print('  ' + line)
    print('per task Spearman: ' + ', '.join(
        f'{t} {stored(v["spearman"]):.2f}'
        for t, v in study['summary']['per_task'].items()))
    print('every estimator on the same table (weighted):')
    for line in estimator_lines(study['summary']):
        print('  ' + line)
    print('tree vs task grouping, both recommended and trained, at the FLOPs-decile budgets '
          '(weighted):')
    for line in tree_vs_grouping_lines(study['summary']):
        print('  ' + line)
    print(f'wrote {osp.join(work_dir, "validation.json")} and validation.png')

if __name__ == '__main__':
    sys.exit(main())
