"""Re-score a validation study from its raw rows with the current statistics.

    python tools/analysis/rescore_validation.py STUDY.json [--drop-seeds 0 ...]
           [--sweep-seeds 0 ...] [--config CONFIG] [--out OUT.json]

Every figure of a committed study (benchmarks/results/validation_*.json) can be recomputed from
its layout x seed rows this way. ``--drop-seeds`` leaves seeds out (a study made before the
study's seeds were kept apart from the sweep's measured the sweep's own trainings at seed 0);
``--config`` measures each layout's backbone FLOPs when the rows lack them. Writes OUT.json
(default: in place) and OUT.png, and prints the summary.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

from treemtl_plugin.apis.cli import run_tool
from treemtl_plugin.visualization.report import validation_summary_lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Re-score a validation study.')
    parser.add_argument('study', help='a validation.json')
    parser.add_argument('--drop-seeds', nargs='+', type=int, default=[])
    parser.add_argument('--sweep-seeds', nargs='+', type=int)
    parser.add_argument('--config', help='measure the layouts\' FLOPs with this config')
    parser.add_argument('--out', help='output .json (default: the study, in place)')
    args = parser.parse_args(argv)
    return run_tool(args.config or args.study, lambda: rescore(args))


def rescore(args) -> None:
    from treemtl_plugin.apis.validation import rescore_study
    from treemtl_plugin.io.atomic import write_json
    from treemtl_plugin.visualization.plots import plot_validation
    with open(args.study, encoding='utf-8') as f:
        study = json.load(f)
    flops = None
    if args.config:
        from treemtl_plugin.apis.config import load_config
        from treemtl_plugin.apis.sweep import measure_costs
        from treemtl_plugin.core.layout import Layout
        cfg = load_config(args.config)
        cost, _ = measure_costs(cfg, study['tasks'])
        flops = [cost.layout_cost(Layout(item['layout']).with_tasks(study['tasks']))['flops']
                 for item in study['layouts']]
        study['flops_unit'] = cost.flops_unit
    out = rescore_study(study, args.drop_seeds, args.sweep_seeds, flops)
    path = args.out or args.study
    write_json(path, out)
    plot_validation(out, osp.splitext(path)[0] + '.png')
    print(f'seeds {out["seeds"]}' + (f' (sweep: {out["sweep_seeds"]})' if 'sweep_seeds' in out
                                     else ''))
    for name in ('weighted', 'unweighted'):
        print(f'{name}:')
        for line in validation_summary_lines(out['summary'][name]):
            print('  ' + line)
    print(f'wrote {path} and {osp.splitext(path)[0]}.png')


if __name__ == '__main__':
    sys.exit(main())
