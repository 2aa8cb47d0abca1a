"""Does the estimate hold? Train the layouts the recommender ranks and compare the rankings.

    python tools/analysis/validate_recommender.py CONFIG [--work-dir W] [--seeds N]
           [--layouts all|K] [--resume] [--shard i/n] [--cfg-options k=v ...]

Runs (or reuses) the config's sweep, trains every layout (or a stratified sample of K) and the
single-task baselines with N seeds and the config's `validation` schedule, and writes
W/validation.json and W/validation.png (README "Does the estimate hold?").
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from treemtl_plugin.apis.config import load_config, setup_work_dir
from treemtl_plugin.apis.cli import run_tool
from treemtl_plugin.apis.validation import run_validation
from treemtl_plugin.evaluation.agreement import stored
from treemtl_plugin.sweep.plan import parse_shard


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Estimated vs trained ranking of layouts.')
    parser.add_argument('config', help='a full-mode config (.py)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    parser.add_argument('--seeds', type=int, help='seeds per layout (default: validation.seeds)')
    parser.add_argument('--layouts', help="'all' or K: a stratified sample of K layouts")
    parser.add_argument('--resume', action='store_true',
                        help='continue a study in the work dir (finished runs are reused)')
    parser.add_argument('--shard', help='train only shard i of n of the runs (e.g. 1/4)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. validation.seeds=5')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(args.config, lambda: validate(args))


def validate(args) -> None:
    cfg = load_config(args.config, args.cfg_options)
    work_dir = setup_work_dir(cfg, args.work_dir, args.config)
    study = run_validation(cfg, work_dir, seeds=args.seeds, layouts=args.layouts,
                           resume=args.resume, shard=parse_shard(args.shard))
    if study is None:
        return
    for name in ('weighted', 'unweighted'):
        s = study['summary'][name]
        a, floor = s['agreement'], s['noise_floor'].get('spearman', {})
        print(f'{name:>10}: Spearman {stored(a["spearman"]):.3f} '
              f'(p {stored(a["spearman_p"]):.3f}), Kendall {stored(a["kendall"]):.3f}, '
              f'top-1 regret {a["top1_regret"]:.3f} (seed SD {s["seed_sd_mean"]:.3f}), '
              f'P@{a["k"]} {a["precision_at_k"]:.2f}; noise floor Spearman '
              f'{stored(floor.get("min")):.3f}..{stored(floor.get("max")):.3f}')
        r = s.get('reliability')
        if r:
            print(f'{"":>10}  layouts spread SD {r["layout_sd"]:.3f} vs seed SD '
                  f'{r["seed_sd"]:.3f}: reliability of a {r["seeds"]}-seed mean '
                  f'{r["reliability"]:.2f}; seeds for {r["target"]:.1f}: '
                  + ('no spread to resolve' if r['seeds_for_target'] is None
                     else f'{r["seeds_for_target"]:.0f}'))
        print(f'{"":>10}  estimated best vs median layout {s["estimated_best_minus_median"]:+.3f}'
              f' (SE {s["estimated_best_minus_median_se"]:.3f}); estimated top-'
              f'{s["top_bottom_k"]} vs bottom-{s["top_bottom_k"]} '
              f'{s["estimated_top_k_measured"] - s["estimated_bottom_k_measured"]:+.3f} '
              f'(SE {s["top_minus_bottom_se"]:.3f})')
    print('per task Spearman: ' + ', '.join(
        f'{t} {stored(v["spearman"]):.2f}'
        for t, v in study['summary']['per_task'].items()))
    print(f'wrote {osp.join(work_dir, "validation.json")} and validation.png')

if __name__ == '__main__':
    sys.exit(main())
