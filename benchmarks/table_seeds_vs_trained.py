"""How much does the estimate's agreement with the trained ranking depend on the table's seeds?

A two-task table from one seed carries that seed's training noise into every layout's score.
This re-scores a committed validation study with tables built from the finished runs of a
multi-seed sweep: every single seed, every pair of seeds and all seeds together, each table
merged by the product's own rule (each pair run against the single-task run of its own seed,
then the mean over seeds) and scored by the config's recommender (SVDE weights). None of these
seeds is a study seed.

    python tools/recommend.py CONFIG --work-dir W --cfg-options "sweep.seeds=[0,1,2,3,4,5]"
    python benchmarks/table_seeds_vs_trained.py CONFIG W benchmarks/results/validation_X.json
        [--out benchmarks/results/table_seeds_X.json]

Prints Spearman(estimate, trained) per table, and the mean and range per number of seeds.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from treemtl_plugin.apis.config import build_recommender, load_config, recommender_spec  # noqa: E402
from treemtl_plugin.apis.sweep import measure_costs  # noqa: E402
from treemtl_plugin.core.encoding import matrix_to_row  # noqa: E402
from treemtl_plugin.core.layout import Layout  # noqa: E402
from treemtl_plugin.core.table import TwoTaskTable  # noqa: E402
from treemtl_plugin.evaluation.agreement import agreement  # noqa: E402
from treemtl_plugin.io.atomic import write_json  # noqa: E402
from treemtl_plugin.sweep.merge import per_seed_values  # noqa: E402
from treemtl_plugin.sweep.plan import plan_sweep, sweep_seeds  # noqa: E402
from treemtl_plugin.sweep.results import run_statuses  # noqa: E402


def seed_tables(config: str, work_dir: str, study: dict, seeds_text: str | None = None):
    """The config, block costs, tasks, sweep seeds and ``{seed: (T, T, B+1) table}`` of the
    finished runs of a multi-seed sweep in ``work_dir`` (none of them a study seed)."""
    cfg = load_config(config)
    saved = load_config(osp.join(work_dir, osp.basename(config)))
    seeds = sweep_seeds(json.loads(seeds_text) if seeds_text else saved.sweep.get('seeds'))
    tasks = list(study['tasks'])
    overlap = sorted(set(seeds) & set(study['seeds']))
    if overlap:
        sys.exit(f'error: table seeds {overlap} are study seeds')
    cost, _ = measure_costs(cfg, tasks)
    runs = plan_sweep(tasks, cost.num_blocks, seeds)
    from treemtl_plugin.sweep.fingerprint import run_fingerprint
    from treemtl_plugin.sweep.run_config import run_config
    prints = {r.run_id: run_fingerprint(c, c.model.tasks) for r in runs
              for c in [run_config(saved, r.tasks, r.layout(), '', r.run_id, seed=r.seed,
                                   hooks=r.hooks)]}
    records = {s.run.run_id: s.record for s in run_statuses(
        osp.join(work_dir, 'sweep', 'runs'), runs, prints) if s.state == 'finished'}
    missing = [r.run_id for r in runs if r.run_id not in records]
    if missing:
        sys.exit(f'error: {len(missing)} sweep runs are not finished, e.g. {missing[:3]}')
    return cfg, cost, tasks, seeds, per_seed_values(runs, records, tasks, cost.num_blocks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('work_dir', help='the work dir of a sweep with several seeds')
    parser.add_argument('study', help='a validation.json of the same config')
    parser.add_argument('--seeds', help='the sweep seeds, e.g. "[0,1,2,3,4,5]" (default: '
                                        'the sweep.seeds the work dir was run with)')
    parser.add_argument('--out')
    args = parser.parse_args(argv)
    with open(args.study, encoding='utf-8') as f:
        study = json.load(f)
    cfg, cost, tasks, seeds, per_seed = seed_tables(args.config, args.work_dir, study,
                                                    args.seeds)
    recommender = build_recommender(dict(recommender=dict(recommender_spec(cfg, 'tree'), topk=1)))
    recommender.csv_rows = 0
    seeds_s = [str(s) for s in study['seeds']]
    rows = np.stack([matrix_to_row(Layout(item['layout']).with_tasks(tasks).branch_points())
                     for item in study['layouts']])
    measured = np.stack([np.array([[item['measured'][s][t] for t in tasks]
                                   for s in seeds_s]).mean(0) for item in study['layouts']])
    out = dict(config=osp.relpath(args.config, ROOT), study=osp.relpath(args.study, ROOT),
               table_seeds=seeds, study_seeds=study['seeds'], tables=[])
    for n in range(1, len(seeds) + 1):
        for subset in itertools.combinations(seeds, n):
            values = np.mean([per_seed[s] for s in subset], axis=0)
            table = TwoTaskTable(tasks=tuple(tasks), num_blocks=cost.num_blocks, values=values)
            rec = recommender.recommend(table, cost)
            w = np.asarray(rec.weights)
            est = rec.estimator.estimates_matrix(rows)
            a = agreement(est @ w, measured @ w)
            out['tables'].append(dict(seeds=list(subset), spearman=a['spearman'],
                                      top1_regret=a['top1_regret'],
                                      top1=rec.top[0].layout.to_list()))
    summary = {}
    for n in range(1, len(seeds) + 1):
        rho = [t['spearman'] for t in out['tables'] if len(t['seeds']) == n]
        summary[n] = dict(tables=len(rho), mean=float(np.mean(rho)), min=float(np.min(rho)),
                          max=float(np.max(rho)))
        print(f'{n} seed(s): {len(rho):>2} tables, Spearman vs trained mean {np.mean(rho):.3f} '
              f'(range {np.min(rho):.3f} .. {np.max(rho):.3f})')
    for t in out['tables'][:len(seeds)]:
        print(f'  seed {t["seeds"][0]}: {t["spearman"]:.3f}')
    out['summary'] = summary
    if args.out:
        write_json(args.out, out)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
