"""Every way of getting a two-task table, on every member of the benchmark suite, against that
member's leak-free study: 3 sweep seeds per method, the raw rows committed.

Per member (``benchmarks/suite_summary.py``'s ``MEMBERS``) and sweep seed (0, the study's own
sweep, reused; 1 and 2 trained here), ``tools/analysis/compare_table_methods.py``'s
``compare_table_methods`` builds the table by ``pairwise``, ``lookahead`` (TAG's own-gradient
step), ``similarity`` and ``adaptive`` (default 40% budget, and 60% so that 3-task members get
an adaptive round) and scores each against the trained layouts of the committed study. Beside
them: ranking by FLOPs alone, the fewest FLOPs that fit each budget, and the 3-seed mean
pairwise table raw and shrunk (``recommender.shrink``'s empirical Bayes, with the noise the
three seeds measure).

    python benchmarks/table_methods_on_suite.py [--work-root work_dirs] [--members ...]

Needs each member's study and sweep in ``<work-root>/<config stem>`` (what
``tools/analysis/validate_recommender.py CONFIG`` leaves; the study is copied there from
``benchmarks/results`` when missing). Writes ``benchmarks/results/table_methods_suite.json``;
``benchmarks/suite_summary.py`` renders its table into ``docs/advanced/benchmark_suite.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from treemtl_plugin.apis.config import load_config  # noqa: E402
from treemtl_plugin.apis.table_methods import compare_table_methods  # noqa: E402
from treemtl_plugin.core.encoding import matrix_to_row  # noqa: E402
from treemtl_plugin.core.estimator import TaskAccuracyEstimator, svde_task_weights  # noqa: E402
from treemtl_plugin.core.layout import Layout  # noqa: E402
from treemtl_plugin.core.table import TwoTaskTable  # noqa: E402
from treemtl_plugin.core.uncertainty import noise_from_seed_tables, shrink_table  # noqa: E402
from treemtl_plugin.evaluation.agreement import agreement, budget_regrets  # noqa: E402
from treemtl_plugin.io.atomic import write_json  # noqa: E402

from suite_summary import MEMBERS, RESULTS  # noqa: E402

SEEDS = (0, 1, 2)
#: name in the results -> (sweep.method, extra config options)
METHODS = {
    'pairwise': ('pairwise', {}),
    'lookahead': ('lookahead', {}),
    'similarity': ('similarity', {}),
    'adaptive': ('adaptive', {}),
    'adaptive_60': ('adaptive', {'sweep.adaptive.max_fraction': 0.6}),
}


def study_arrays(study: dict):
    """(tasks, compact rows, per-layout trained means (L, T), FLOPs, SE of a difference)."""
    tasks = study['tasks']
    rows = np.stack([matrix_to_row(Layout(item['layout']).with_tasks(tasks).branch_points())
                     for item in study['layouts']])
    trained = np.stack([np.mean([[item['measured'][str(s)][t] for t in tasks]
                                 for s in study['seeds']], axis=0) for item in study['layouts']])
    flops = np.array([item['flops'] for item in study['layouts']])
    se = study['summary']['weighted']['difference_se']
    return tasks, rows, trained, flops, se


def judge(estimated, truth, flops, se) -> dict:
    """Spearman with its CI, top-1 regret, and budgets within one SE, one weighting."""
    a = agreement(estimated, truth)
    budgets = budget_regrets(estimated, truth, flops, se)
    return dict(spearman=a['spearman'], spearman_ci=a['spearman_ci'],
                top1_regret=a['top1_regret'],
                budgets_within_se=int(sum(b['within_se'] for b in budgets['budgets'])),
                budgets=len(budgets['budgets']))


def table_rows(values: np.ndarray, study: dict) -> dict:
    """A table judged against the study, by the paper's estimate with its own SVDE weights
    (the truth weighted the same way)."""
    tasks, rows, trained, flops, se = study_arrays(study)
    weights = svde_task_weights(values)
    est = TaskAccuracyEstimator(values, weights).scores(rows)
    return judge(est, trained @ weights, flops, se)


def run_member(stem: str, work_root: str, log) -> dict:
    work_dir = osp.join(work_root, stem)
    os.makedirs(work_dir, exist_ok=True)
    study_path = osp.join(work_dir, 'validation.json')
    if not osp.isfile(study_path):
        shutil.copy(osp.join(RESULTS, f'validation_{stem}.json'), study_path)
    with open(study_path, encoding='utf-8') as f:
        study = json.load(f)
    config = osp.join(ROOT, 'configs', 'teacher', f'{stem}.py')
    out = dict(config=osp.relpath(config, ROOT), study_seeds=study['seeds'], seeds={})
    pairwise_tables = []
    for seed in SEEDS:
        per_method = {}
        for name, (method, extra) in METHODS.items():
            options = dict(extra) if seed == 0 else dict(extra, **{'sweep.seeds': [seed]})
            cfg = load_config(config, options or None)
            start = time.perf_counter()
            made = compare_table_methods(cfg, work_dir, [method], log=lambda m: None)
            entry = made['methods'][method]
            table = TwoTaskTable.from_csv(osp.join(work_dir, 'tables', f'{method}.csv'),
                                          made['tasks'], made['num_blocks'])
            values = table.values
            if name == 'pairwise':
                pairwise_tables.append(values)
            per_method[name] = dict(cost=entry['cost'], top1=entry['top1'],
                                    info={k: v for k, v in entry.items()
                                          if k in ('measured_pair_runs', 'first_depth',
                                                   'first_round_runs', 'adaptive_runs',
                                                   'adaptive_rounds', 'settled')},
                                    table=values.tolist(), vs_trained=table_rows(values, study))
            rho = per_method[name]['vs_trained']['spearman']
            log(f'[{stem}] seed {seed} {name}: rho {rho:+.2f}'
                f' ({time.perf_counter() - start:.0f} s)')
        out['seeds'][str(seed)] = per_method
    tasks, _, trained, flops, se = study_arrays(study)
    stacked = np.stack(pairwise_tables)
    mean = stacked.mean(axis=0)
    noise = noise_from_seed_tables(stacked)
    out['three_seed_pairwise'] = dict(raw=table_rows(mean, study),
                                      shrunk=table_rows(shrink_table(mean, noise), study))
    # ranking by FLOPs alone, fewest first: its pick at each budget is the cheapest layout
    # that fits (the trivial baseline every budget check needs beside it)
    out['fewest_flops'] = judge(-flops, trained @ np.array([study['task_weights'][t]
                                                            for t in tasks]), flops, se)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs'))
    parser.add_argument('--members', nargs='+', choices=list(MEMBERS), default=list(MEMBERS))
    parser.add_argument('--out', default=osp.join(RESULTS, 'table_methods_suite.json'))
    args = parser.parse_args(argv)
    results = {}
    if osp.isfile(args.out):
        with open(args.out, encoding='utf-8') as f:
            results = json.load(f).get('members', {})
    for member in args.members:
        stem = MEMBERS[member][0]
        results[member] = run_member(stem, args.work_root, print)
        write_json(args.out, dict(seeds=list(SEEDS), methods=list(METHODS), members=results))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
