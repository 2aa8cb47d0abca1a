"""The ways of getting a two-task table side by side: cost and agreement.

For one config, builds the table by every ``sweep.method`` (they share their runs where they
can: the similarity table reuses the pairwise sweep's single-task runs), ranks every layout
with each table, and reports each method's cost beside the pairwise sweep's, the Spearman
correlation of its layout ranking with the pairwise one, and -- when a validation study
(``validation.json``) exists in the work dir -- the correlation of each method's estimate with
the trained layouts' measured scores, weighted by the method's own task weights (the truth under
the same weights) and, separately, with equal weights on both sides.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Callable, Sequence

import numpy as np
from mmengine.config import Config
from scipy import stats

from ..affinity.methods import table_methods
from ..core.design_space import iter_layout_chunks
from ..core.encoding import matrix_to_row
from ..core.layout import Layout
from ..evaluation.agreement import agreement, budget_regrets
from ..io.atomic import atomic_write, write_json
from .config import build_recommender, config_tasks, recommender_spec
from .sweep import measure_costs, sweep_table

__all__ = ['compare_table_methods']


def _scores(recommender, table, cost) -> tuple[np.ndarray, object]:
    rec = recommender.recommend(table, cost)
    rows = np.concatenate([c.branch_points for c in
                           iter_layout_chunks(len(table.tasks), table.num_blocks)])
    return rec.estimator.scores(rows), rec


def _against_study(study: dict, rec) -> dict:
    """Spearman of a method's estimate with the trained scores of the validated layouts, the
    truth weighted as the estimate is: by the method's own task weights (``weighted``) and by
    equal weights on both sides (``unweighted``)."""
    seeds = [str(s) for s in study['seeds']]
    tasks = list(rec.tasks)
    weights = np.asarray(rec.weights, dtype=np.float64)
    rows, measured = [], []
    for item in study['layouts']:
        rows.append(matrix_to_row(Layout(item['layout']).with_tasks(tasks).branch_points()))
        measured.append(np.array([[item['measured'][s][t] for t in tasks]
                                  for s in seeds]).mean(axis=0))
    estimates = rec.estimator.estimates_matrix(np.stack(rows))
    measured = np.stack(measured)
    out = {}
    for name, w in (('weighted', weights), ('unweighted', np.full(len(tasks), 1 / len(tasks)))):
        a = agreement(estimates @ w, measured @ w)
        out[f'spearman_{name}'] = a['spearman']
        out[f'spearman_{name}_ci'] = a['spearman_ci']
        out[f'top1_regret_{name}'] = a['top1_regret']
    # useful at some budget? the best estimated layout within each FLOPs decile
    se = (study.get('summary') or {}).get('weighted', {}).get('difference_se')
    flops = [item.get('flops') for item in study['layouts']]
    if se is not None and None not in flops:
        out['budgets'] = budget_regrets(estimates @ weights, measured @ weights, flops, se)
    out['layouts'] = len(rows)
    return out


def compare_table_methods(cfg: Config, work_dir: str, methods: Sequence[str] | None = None,
                          log: Callable[[str], None] = print) -> dict:
    """Cost and agreement of ``methods`` (None: every registered one); writes
    ``table_methods.json`` and each method's table (``tables/<method>.csv``) in
    ``work_dir``."""
    from ..models.backbone_profile import profile_cache_dir
    if methods is None:
        methods = list(table_methods())
    tasks = config_tasks(cfg)
    with profile_cache_dir(osp.join(work_dir, 'cache')):
        cost, _ = measure_costs(cfg, tasks)
        found = {}
        for method in methods:
            run_cfg = Config(cfg.to_dict(), filename=cfg.filename)
            run_cfg.merge_from_dict({'sweep.method': method})
            made = sweep_table(run_cfg, tasks, cost.num_blocks, osp.join(work_dir, 'sweep'),
                               log=log)
            if made is None:
                raise RuntimeError(f'the {method} runs are not all finished')
            found[method] = made
    recommender = build_recommender(dict(recommender=dict(recommender_spec(cfg, 'tree'), topk=1)))
    recommender.csv_rows = 0
    study_path = osp.join(work_dir, 'validation.json')
    study = json.load(open(study_path, encoding='utf-8')) if osp.isfile(study_path) else None
    scores, out = {}, dict(tasks=tasks, num_blocks=cost.num_blocks, methods={})
    for method, (table, info) in found.items():
        scores[method], rec = _scores(recommender, table, cost)
        entry = dict(cost=info['cost'], top1=rec.top[0].layout.to_list(),
                     mean_abs_entry=info['mean_abs_entry'],
                     **{k: v for k, v in info.items()
                        if k not in ('cost', 'mean_abs_entry', 'method')})
        os.makedirs(osp.join(work_dir, 'tables'), exist_ok=True)
        atomic_write(osp.join(work_dir, 'tables', f'{method}.csv'), table.to_csv)
        if study is not None:
            entry['vs_trained'] = _against_study(study, rec)
        out['methods'][method] = entry
    if 'pairwise' in scores:
        for method, values in scores.items():
            out['methods'][method]['spearman_vs_pairwise'] = \
                float(stats.spearmanr(values, scores['pairwise'])[0])
    out['num_layouts'] = int(len(next(iter(scores.values()))))
    write_json(osp.join(work_dir, 'table_methods.json'), out)
    return out
