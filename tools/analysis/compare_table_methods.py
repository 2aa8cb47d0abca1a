"""The ways of getting a two-task table (sweep.method) side by side: cost and agreement.

    python tools/analysis/compare_table_methods.py CONFIG [--work-dir W] [--methods ...]

Builds the table by each method in W (reusing the runs they share), ranks every layout with
each, and prints each method's cost beside the pairwise sweep's, the Spearman correlation of
its layout ranking with the pairwise one and, if W holds a validation study (validation.json),
with the trained layouts' measured scores. Writes W/table_methods.json.
"""
from __future__ import annotations

import argparse
import sys

from treemtl_plugin.affinity.methods import table_methods
from treemtl_plugin.apis.cli import ConfigOptions, run_tool
from treemtl_plugin.apis.config import load_config, require_model, setup_work_dir
from treemtl_plugin.apis.table_methods import compare_table_methods


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Cost and agreement of sweep.method values.')
    parser.add_argument('config')
    parser.add_argument('--work-dir')
    names = list(table_methods())
    parser.add_argument('--methods', nargs='+', choices=names, default=names)
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptions,
                        help='override config settings, e.g. "sweep.seeds=[0,1,2]"')
    args = parser.parse_args(argv)
    return run_tool(args.config, lambda: compare(args))


def compare(args) -> None:
    cfg = load_config(args.config, args.cfg_options)
    require_model(cfg, 'compare_table_methods.py')
    work_dir = setup_work_dir(cfg, args.work_dir, args.config)
    out = compare_table_methods(cfg, work_dir, args.methods)
    print(f'{len(out["tasks"])} tasks, {out["num_blocks"]} branching points, '
          f'{out["num_layouts"]:,} layouts')
    print(f'{"method":<11} {"trainings":>9} {"iterations":>11} {"share":>6} {"seconds":>8} '
          f'{"rho vs pairwise":>15} {"rho vs trained (w/unw)":>22} {"budgets within SE":>17}')
    for method, entry in out['methods'].items():
        cost = entry['cost']
        trained = entry.get('vs_trained') or {}
        vs = '-' if not trained else \
            f'{trained["spearman_weighted"]:+.2f} / {trained["spearman_unweighted"]:+.2f}'
        budgets = trained.get('budgets')
        within = '-' if not budgets else \
            f'{sum(b["within_se"] for b in budgets["budgets"])} of {len(budgets["budgets"])}'
        rho = entry.get('spearman_vs_pairwise')
        rho = '-' if rho is None or rho != rho else f'{rho:.2f}'   # nan: one score for all
        print(f'{method:<11} {cost["trainings"]:>9} {cost["iterations"]:>11,.0f} '
              f'{100 * cost["fraction_of_pairwise"]:>5.1f}% {cost["seconds"]:>8.0f} '
              f'{rho:>15} {vs:>22} {within:>17}')
    control = out['methods'].get('similarity', {}).get('rsa_with_untrained_per_block')
    if control:
        print('similarity control: RSA of the trained single-task models with the untrained '
              'network, per block: ' + ', '.join(f'{v:.2f}' for v in control))
    print(f'tables: {work_dir}/tables/<method>.csv')

if __name__ == '__main__':
    sys.exit(main())
