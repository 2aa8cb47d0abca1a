"""Every estimator against the pilots' trained layouts: an early read that touches no study.

The pilot (``benchmarks/pilot_benchmark_designs.py``) trains layouts with seeds and images of
its own; the sweep's table (seed 0, the validation split) is what the recommender sees. This
scores the pilot's layouts with every estimator on that table and compares them with the
pilot's trained scores (both weighted by the table's SVD-entropy task weights, as the study
weighs them). It decides nothing about the benchmark (the pilot chose that without an
estimator) and nothing the validation study measures (its seeds and test split stay unseen).

    python benchmarks/estimators_on_pilots.py [--designs NAME ...] [--work-dir work_dirs]
        [--pilots benchmarks/results/pilot_designs.json]
        [--out benchmarks/results/estimators_on_pilots.json]

Runs (or reuses) each design's sweep in ``<work-dir>/<config name>``, as
``tools/recommend.py CONFIG`` would (``<work-dir>/<design name>`` for a design with
cfg-options).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from treemtl_plugin.apis.config import load_config  # noqa: E402
from treemtl_plugin.apis.recommendation import run_recommendation  # noqa: E402
from treemtl_plugin.core.encoding import matrix_to_row  # noqa: E402
from treemtl_plugin.core.estimator import ESTIMATORS, build_estimator  # noqa: E402
from treemtl_plugin.core.layout import Layout  # noqa: E402
from treemtl_plugin.evaluation.agreement import agreement, difference_se  # noqa: E402
from treemtl_plugin.io.atomic import write_json  # noqa: E402


def compare(pilot: dict, table, weights: np.ndarray) -> dict:
    """Each estimator's agreement with one pilot's trained layouts (weighted)."""
    tasks = list(table.tasks)
    seeds = [str(s) for s in pilot['seeds']]
    rows = np.stack([matrix_to_row(Layout(r['layout']).with_tasks(tasks).branch_points())
                     for r in pilot['layouts']])
    per_seed = np.array([[sum(w * r['measured'][s][t] for w, t in zip(weights, tasks))
                          for s in seeds] for r in pilot['layouts']])
    trained = per_seed.mean(axis=1)
    out = dict(difference_se=difference_se(per_seed), estimators={})
    for name in ESTIMATORS:
        est = build_estimator(name, table.values, weights).scores(rows)
        a = agreement(est, trained)
        out['estimators'][name] = dict(spearman=a['spearman'], spearman_ci=a['spearman_ci'],
                                       top1_regret=a['top1_regret'],
                                       precision_at_k=a['precision_at_k'])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--designs', nargs='+')
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs'))
    parser.add_argument('--pilots', default=osp.join(ROOT, 'benchmarks', 'results',
                                                     'pilot_designs.json'))
    parser.add_argument('--out', default=osp.join(ROOT, 'benchmarks', 'results',
                                                  'estimators_on_pilots.json'))
    args = parser.parse_args(argv)
    with open(args.pilots, encoding='utf-8') as f:
        pilots = json.load(f)['designs']
    results = {}
    for name in args.designs or [n for n, p in pilots.items() if p.get('accepted')]:
        pilot = pilots[name]
        cfg = load_config(osp.join(ROOT, pilot['config']), pilot['options'])
        # the config's own work dir (the study's) unless the design changes the config
        work_dir = osp.join(args.work_dir, name if pilot['options'] else
                            osp.splitext(osp.basename(pilot['config']))[0])
        with contextlib.redirect_stdout(io.StringIO()):          # the job's report
            run = run_recommendation(cfg, work_dir, log=lambda m: None)
        rec = run.recommendation
        results[name] = dict(config=pilot['config'], table=run.table.values.tolist(),
                             task_weights=dict(zip(rec.tasks, map(float, rec.weights))),
                             **compare(pilot, run.table, np.asarray(rec.weights)))
        print(f'{name} ({len(pilot["layouts"])} pilot layouts, SE of a difference '
              f'{results[name]["difference_se"]:.2f}):')
        for est, r in results[name]['estimators'].items():
            lo, hi = r['spearman_ci']
            print(f'  {est:>9}: Spearman {r["spearman"]:.2f} [{lo:.2f}, {hi:.2f}], top-1 regret '
                  f'{r["top1_regret"]:.2f}, P@5 {r["precision_at_k"]:.2f}')
    write_json(args.out, dict(designs=results))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
