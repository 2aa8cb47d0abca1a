"""Error bars on the ranking, measured against a leak-free study: shrinkage, calibration and
which runs to train next.

Uses the per-seed tables of a multi-seed sweep (none of its seeds a study seed) and the
trained layouts of a committed validation study:

* raw vs shrunk (empirical-Bayes) estimate against the trained ranking, from every one-seed
  table (noise pooled from the other seeds) and every two-seed table (noise from its own two
  seeds): Spearman and top-1 regret;
* calibration of two-seed tables: the share of layout pairs whose trained order agrees with
  the estimated order, by bins of |score difference| / SE of the difference; how often the
  1-SE band covers the trained score and an independent table's estimate;
* what to train next: from each one-seed table, the next seed of the K runs named by
  ``runs_to_train_next`` against K random runs (20 draws): Spearman vs trained.

    python tools/recommend.py CONFIG --work-dir W --cfg-options "sweep.seeds=[0,1,2,3,4,5]"
    python benchmarks/uncertainty_vs_trained.py CONFIG W benchmarks/results/validation_X.json
        [--runs 3] [--out benchmarks/results/uncertainty_X.json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from treemtl_plugin.core.encoding import matrix_to_row  # noqa: E402
from treemtl_plugin.core.estimator import TaskAccuracyEstimator, svde_task_weights  # noqa: E402
from treemtl_plugin.core.layout import Layout  # noqa: E402
from treemtl_plugin.core.uncertainty import (  # noqa: E402
    TableNoise,
    noise_from_seed_tables,
    runs_to_train_next,
    score_covariance,
    shrink_table,
)
from treemtl_plugin.io.atomic import write_json  # noqa: E402

from table_seeds_vs_trained import seed_tables  # noqa: E402

BINS = (0.0, 0.5, 1.0, 2.0, np.inf)


def per_seed_noise(tables: list[np.ndarray]) -> TableNoise:
    """The noise of ONE seed's table, pooled from other seeds' tables."""
    pooled = noise_from_seed_tables(np.stack(tables))
    return TableNoise(pooled.entry_var * pooled.seeds, pooled.baseline_var * pooled.seeds, 1)


def evaluate(values, bp, rows, trained) -> dict:
    """Spearman and top-1 regret of the estimate (SVDE weights of ``values``) vs trained,
    the truth weighted the same way."""
    w = svde_task_weights(values)
    est = TaskAccuracyEstimator(values, w)
    score = est.scores(rows)
    truth = trained @ w
    pick = np.flatnonzero(score == score.max())
    return dict(spearman=float(stats.spearmanr(score, truth)[0]),
                top1_regret=float(truth.max() - truth[pick].min()), weights=w, score=score,
                truth=truth)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('work_dir')
    parser.add_argument('study')
    parser.add_argument('--seeds')
    parser.add_argument('--runs', type=int, default=3, help='K runs to add (default 3)')
    parser.add_argument('--draws', type=int, default=20)
    parser.add_argument('--out')
    args = parser.parse_args(argv)
    with open(args.study, encoding='utf-8') as f:
        study = json.load(f)
    _, cost, tasks, seeds, per_seed = seed_tables(args.config, args.work_dir, study, args.seeds)
    bp = np.stack([Layout(item['layout']).with_tasks(tasks).branch_points()
                   for item in study['layouts']])
    rows = np.stack([matrix_to_row(m) for m in bp])
    coef = TaskAccuracyEstimator(per_seed[seeds[0]], np.ones(len(tasks))).coefficients(rows)
    trained = np.stack([np.mean([[item['measured'][str(s)][t] for t in tasks]
                                 for s in study['seeds']], axis=0) for item in study['layouts']])
    out = dict(config=osp.relpath(args.config, ROOT), study=osp.relpath(args.study, ROOT),
               table_seeds=seeds, study_seeds=study['seeds'],
               seed_tables={str(s): per_seed[s].tolist() for s in seeds})

    # -- raw vs shrunk ---------------------------------------------------------------------
    shrinkage = []
    for n in (1, 2):
        for subset in itertools.combinations(seeds, n):
            values = np.mean([per_seed[s] for s in subset], axis=0)
            if n == 1:
                noise = per_seed_noise([per_seed[s] for s in seeds if s not in subset])
            else:
                noise = noise_from_seed_tables(np.stack([per_seed[s] for s in subset]))
            raw = evaluate(values, bp, rows, trained)
            shrunk = evaluate(shrink_table(values, noise), bp, rows, trained)
            shrinkage.append(dict(seeds=list(subset), raw_spearman=raw['spearman'],
                                  shrunk_spearman=shrunk['spearman'],
                                  raw_regret=raw['top1_regret'],
                                  shrunk_regret=shrunk['top1_regret']))
    summary = {}
    for n in (1, 2):
        part = [r for r in shrinkage if len(r['seeds']) == n]
        summary[f'{n}_seed'] = {k: float(np.mean([r[k] for r in part])) for k in
                                ('raw_spearman', 'shrunk_spearman', 'raw_regret',
                                 'shrunk_regret')}
        summary[f'{n}_seed']['tables'] = len(part)
        summary[f'{n}_seed']['shrunk_better_spearman'] = int(sum(
            r['shrunk_spearman'] > r['raw_spearman'] for r in part))
    out['shrinkage'] = dict(tables=shrinkage, summary=summary)

    # -- calibration of two-seed tables ----------------------------------------------------
    agree = {k: [0, 0] for k in range(len(BINS) - 1)}
    cover_trained, cover_independent = [], []
    pairs = list(itertools.combinations(seeds, 2))
    iu = np.triu_indices(len(bp), 1)
    for subset in pairs:
        values = np.mean([per_seed[s] for s in subset], axis=0)
        noise = noise_from_seed_tables(np.stack([per_seed[s] for s in subset]))
        raw = evaluate(values, bp, rows, trained)
        cov = score_covariance(coef, raw['weights'], noise)
        var = np.diag(cov)
        diff = raw['score'][:, None] - raw['score'][None, :]
        se = np.sqrt(np.clip(var[:, None] + var[None, :] - 2 * cov, 0, None))
        truth_diff = raw['truth'][:, None] - raw['truth'][None, :]
        ratio = np.abs(diff[iu]) / np.where(se[iu] > 0, se[iu], np.nan)
        same = np.sign(diff[iu]) == np.sign(truth_diff[iu])
        for k in range(len(BINS) - 1):
            inside = (ratio >= BINS[k]) & (ratio < BINS[k + 1])
            agree[k][0] += int(same[inside].sum())
            agree[k][1] += int(inside.sum())
        sd = np.sqrt(var)
        shared = sd > 0
        cover_trained.append(float(np.mean(np.abs(raw['score'] - raw['truth'])[shared]
                                           <= sd[shared])))
        rest = [s for s in seeds if s not in subset]
        for other in itertools.combinations(rest, 2):
            values_b = np.mean([per_seed[s] for s in other], axis=0)
            noise_b = noise_from_seed_tables(np.stack([per_seed[s] for s in other]))
            score_b = TaskAccuracyEstimator(values_b, raw['weights']).scores(rows)
            var_b = np.diag(score_covariance(coef, raw['weights'], noise_b))
            both = np.sqrt(var + var_b)
            ok = both > 0
            cover_independent.append(float(np.mean(np.abs(raw['score'] - score_b)[ok]
                                                   <= both[ok])))
    out['calibration'] = dict(
        bins=[[BINS[k], None if np.isinf(BINS[k + 1]) else BINS[k + 1]]
              for k in range(len(BINS) - 1)],
        pairs_agreeing=[agree[k][0] / max(agree[k][1], 1) for k in agree],
        pairs=[agree[k][1] for k in agree],
        coverage_of_trained_by_1se=float(np.mean(cover_trained)),
        coverage_of_independent_table_by_1se=float(np.mean(cover_independent)),
        expected_coverage_of_1se=0.683)

    # -- what to train next ----------------------------------------------------------------
    rng = np.random.default_rng(0)
    num_tasks, num_blocks = len(tasks), per_seed[seeds[0]].shape[2] - 1
    all_runs = [(i, j, b) for i in range(num_tasks) for j in range(i + 1, num_tasks)
                for b in range(1, num_blocks + 1)]
    next_rows = []
    for k, start in enumerate(seeds):
        extra = seeds[(k + 1) % len(seeds)]
        values = per_seed[start]
        noise = per_seed_noise([per_seed[s] for s in seeds if s not in (start, extra)])
        base = evaluate(values, bp, rows, trained)

        def added(runs):
            new = values.copy()
            for i, j, b in runs:
                for r, c in ((i, j), (j, i)):
                    new[r, c, b] = (values[r, c, b] + per_seed[extra][r, c, b]) / 2
            return evaluate(new, bp, rows, trained)['spearman']

        named = runs_to_train_next(coef, base['score'], base['weights'], noise, args.runs)
        random_rho = [added([all_runs[m] for m in rng.choice(len(all_runs), args.runs,
                                                              replace=False)])
                      for _ in range(args.draws)]
        next_rows.append(dict(start=start, extra=extra, base=base['spearman'],
                              named=added(named), named_runs=[list(r) for r in named],
                              random_mean=float(np.mean(random_rho)),
                              random_sd=float(np.std(random_rho))))
    out['train_next'] = dict(runs=args.runs, draws=args.draws, rows=next_rows, summary=dict(
        base=float(np.mean([r['base'] for r in next_rows])),
        named=float(np.mean([r['named'] for r in next_rows])),
        random=float(np.mean([r['random_mean'] for r in next_rows])),
        named_beats_random=int(sum(r['named'] > r['random_mean'] for r in next_rows))))

    for n in (1, 2):
        s = summary[f'{n}_seed']
        print(f'{n}-seed tables ({s["tables"]}): Spearman raw {s["raw_spearman"]:.3f} / shrunk '
              f'{s["shrunk_spearman"]:.3f} (shrunk higher in {s["shrunk_better_spearman"]}); '
              f'top-1 regret raw {s["raw_regret"]:.2f} / shrunk {s["shrunk_regret"]:.2f}')
    c = out['calibration']
    print('calibration (2-seed tables): trained order agrees with the estimate for ' + ', '.join(
        f'{a:.2f} of {n} pairs at |diff|/SE in [{lo}, {hi if hi is not None else "inf"})'
        for a, n, (lo, hi) in zip(c['pairs_agreeing'], c['pairs'], c['bins'])))
    print(f'1-SE band covers: an independent 2-seed table\'s score '
          f'{c["coverage_of_independent_table_by_1se"]:.2f} (expected 0.68), the trained score '
          f'{c["coverage_of_trained_by_1se"]:.2f}')
    t = out['train_next']['summary']
    print(f'train next ({args.runs} runs from one seed): Spearman {t["base"]:.3f} -> named '
          f'{t["named"]:.3f}, random {t["random"]:.3f} (named beats random from '
          f'{t["named_beats_random"]} of {len(next_rows)} starting seeds)')
    if args.out:
        write_json(args.out, out)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
