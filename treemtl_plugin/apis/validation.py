"""Ground truth for the recommender: train the layouts it ranks and compare the rankings.

``run_validation`` runs (or reuses) the config's sweep and recommendation, then trains every
layout of the design space (or a stratified sample: the estimated top-5, the bottom, evenly
spaced ones between, always the all-shared and the independent layout) and every single-task
baseline, each with ``N`` seeds and the schedule the config declares for validation
(``validation = dict(train_cfg=..., seeds=..., layouts=...)``). A layout's measured relative
performance per task and seed is its metrics against the single-task baseline of the same
seed (same metric definitions as the sweep); its measured score uses the estimator's task
weights (and, separately, equal weights). Every training is one atomic, fingerprinted,
claimable run, so the study resumes and shards like the sweep.
"""
from __future__ import annotations

import hashlib
import json
import os.path as osp
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from mmengine.config import Config

from ..core.design_space import iter_layout_chunks
from ..core.encoding import full_matrix
from ..core.layout import Layout
from ..errors import ConfigError
from ..evaluation.agreement import agreement, noise_floor, reliability
from ..io.atomic import write_json
from ..sweep.executor import SweepExecutor
from ..sweep.plan import SweepRun
from .recommendation import run_recommendation

__all__ = ['VALIDATION_KEYS', 'validation_settings', 'select_layouts', 'plan_validation',
           'run_validation', 'summarise']

VALIDATION_KEYS = ('train_cfg', 'seeds', 'layouts', 'overrides')


def validation_settings(cfg: Mapping, seeds: int | None = None,
                        layouts: str | int | None = None) -> dict:
    """The config's ``validation`` dict with command-line values on top, checked."""
    settings = dict(cfg.get('validation') or {})
    unknown = [k for k in settings if k not in VALIDATION_KEYS]
    if unknown:
        raise ConfigError(f'unknown validation option(s) {unknown}; known: '
                          f'{list(VALIDATION_KEYS)}')
    seeds = settings.get('seeds', 3) if seeds is None else seeds
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f'validation seeds must be a positive integer, got {seeds!r}')
    layouts = settings.get('layouts', 'all') if layouts is None else layouts
    if isinstance(layouts, str) and layouts.isdigit():
        layouts = int(layouts)
    if layouts != 'all' and (isinstance(layouts, bool) or not isinstance(layouts, int)
                             or layouts < 2):
        raise ConfigError(f"validation layouts must be 'all' or a number >= 2, got {layouts!r}")
    overrides = dict(settings.get('overrides') or {})
    overrides['train_cfg'] = dict(settings.get('train_cfg') or cfg.get('train_cfg') or {})
    return dict(seeds=list(range(seeds)), layouts=layouts, overrides=overrides)


def select_layouts(rec, layouts: str | int) -> list[dict]:
    """Every layout (``'all'``) or a stratified sample of ``layouts`` of them -- the
    estimated top-5, the all-shared and the independent layout, the rest evenly spaced over
    the estimated ranking down to its bottom -- best estimated first, with their estimated
    score, per-task estimates and estimated rank."""
    tasks, num_blocks = rec.tasks, rec.num_blocks
    bp = np.concatenate([c.branch_points for c in iter_layout_chunks(len(tasks), num_blocks)])
    score = rec.estimator.scores(bp)
    order = np.lexsort((np.arange(len(score)), -score))          # best estimated first
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    if layouts == 'all' or layouts >= len(order):
        chosen = order
    else:
        extremes = {int(np.flatnonzero((bp == num_blocks).all(axis=1))[0]),
                    int(np.flatnonzero((bp == 0).all(axis=1))[0])}
        keep = set(order[:max(0, min(5, layouts - len(extremes)))]) | extremes
        spread = np.linspace(0, len(order) - 1, layouts).round().astype(int)
        for k in [order[spread[-1]]] + [order[p] for p in spread[1:-1]] + list(order):
            if len(keep) >= layouts:        # the bottom first, then evenly spaced, then fill
                break
            keep.add(int(k))
        chosen = np.array([k for k in order if k in keep][:layouts])
    estimates = rec.estimator.estimates_matrix(bp[chosen])
    full = full_matrix(bp[chosen], len(tasks), num_blocks)
    return [dict(layout=Layout.from_branch_points(tasks, full[n], num_blocks),
                 estimated_score=float(score[k]), estimated_rank=int(rank[k]),
                 estimated={t: float(estimates[n, i]) for i, t in enumerate(tasks)})
            for n, k in enumerate(chosen)]


def _layout_id(layout: Layout) -> str:
    canonical = json.dumps(sorted(sorted(sorted(s) for s in block) for block in
                                  [layout.task_sets(b) for b in range(layout.num_blocks)]))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def plan_validation(tasks, num_blocks: int, layouts: list[dict], seeds: list[int]
                    ) -> list[SweepRun]:
    """Single-task baselines and layout runs, one per seed, in a fixed order."""
    names = tuple(sorted(tasks))
    runs = [SweepRun(f'single__{t}__s{s}', (t,), None, num_blocks, seed=s)
            for s in seeds for t in names]
    for item in layouts:
        layout = item['layout'].with_tasks(names)
        blocks = tuple(tuple(tuple(ts) for ts in block) for block in layout.to_list())
        runs += [SweepRun(f'layout_{_layout_id(layout)}__s{s}', names, None, num_blocks,
                          seed=s, blocks=blocks) for s in seeds]
    return runs


def summarise(items: list[dict], weights: Mapping[str, float], seeds: list[int],
              k: int = 5) -> dict:
    """Agreement of estimated and measured scores (weighted, unweighted and per task), the
    noise floor, the measurement's reliability, and how the estimated best layout and top-k
    compare with the median layout and the estimated bottom-k (with standard errors from the
    seed noise)."""
    tasks = list(weights)
    out = {}
    for name, w in (('weighted', np.array([weights[t] for t in tasks])),
                    ('unweighted', np.full(len(tasks), 1.0 / len(tasks)))):
        per_seed = np.array([[sum(w[i] * item['measured'][str(s)][t]
                                  for i, t in enumerate(tasks)) for s in seeds]
                             for item in items])
        estimated = np.array([sum(w[i] * item['estimated'][t] for i, t in enumerate(tasks))
                              for item in items])
        out[name] = _summary(estimated, per_seed, k)
    out['per_task'] = {}
    for t in tasks:
        per_seed = np.array([[item['measured'][str(s)][t] for s in seeds] for item in items])
        estimated = np.array([item['estimated'][t] for item in items])
        out['per_task'][t] = dict(spearman=agreement(estimated, per_seed.mean(axis=1), k)
                                  ['spearman'], reliability=reliability(per_seed))
    return _none_if_undefined(out)


def _none_if_undefined(value):
    """Statistics that are undefined here (a correlation of constant scores: NaN) become
    None, so the study stays strict JSON."""
    if isinstance(value, dict):
        return {k: _none_if_undefined(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _summary(estimated: np.ndarray, per_seed: np.ndarray, k: int) -> dict:
    mean = per_seed.mean(axis=1)
    n = per_seed.shape[1]
    sd = per_seed.std(axis=1, ddof=1) if n > 1 else np.zeros(len(mean))
    order = np.lexsort((np.arange(len(mean)), -estimated))
    best, kk = int(order[0]), min(k, len(mean) // 2)
    rel = reliability(per_seed)
    noise = rel.get('seed_sd', float('nan'))     # what a ranking sees of one seed's noise
    return dict(
        agreement=agreement(estimated, mean, k), noise_floor=noise_floor(per_seed, k),
        reliability=rel, seed_sd_mean=float(sd.mean()),
        seed_sd_of_estimated_best=float(sd[best]),
        estimated_best_measured=float(mean[best]), median_measured=float(np.median(mean)),
        best_measured=float(mean.max()),
        estimated_best_minus_median=float(mean[best] - np.median(mean)),
        estimated_best_minus_median_se=float(noise * np.sqrt(2 / n)),
        estimated_top_k_measured=float(mean[order[:kk]].mean()),
        estimated_bottom_k_measured=float(mean[order[-kk:]].mean()),
        top_minus_bottom_se=float(noise * np.sqrt(2 / (kk * n))) if kk else float('nan'),
        top_bottom_k=kk)


def _measured(records: Mapping[str, dict], run_ids: dict, tasks, seeds) -> dict:
    from ..evaluation.relative_performance import relative_performance
    out = {}
    for s in seeds:
        metrics = records[run_ids['layout'][s]]['metrics']
        out[str(s)] = {t: relative_performance(metrics, records[run_ids['single'][(t, s)]]
                                               ['metrics'], t) for t in tasks}
    return out


def run_validation(cfg: Config, work_dir: str, seeds: int | None = None,
                   layouts: str | int | None = None, resume: bool = False,
                   shard: tuple[int, int] | None = None,
                   log: Callable[[str], None] | None = None,
                   train_fn: Callable | None = None) -> dict[str, Any] | None:
    """The whole study; writes ``validation.json`` and ``validation.png`` to ``work_dir``.

    Returns the study, or None when this shard is done but other runs are still missing."""
    settings = validation_settings(cfg, seeds, layouts)
    study_dir = osp.join(work_dir, 'validation')
    if not resume and osp.isdir(osp.join(study_dir, 'runs')):
        raise ConfigError(f'{study_dir} already holds a validation study; pass --resume to '
                          'continue it (finished runs are reused), or choose another --work-dir')
    if log is None:
        from ..engine.job_log import JobLog
        log = JobLog(work_dir, 'validation')
    run = run_recommendation(cfg, work_dir, shard=shard, log=log, train_fn=train_fn)
    if run.status != 'done':
        return None
    rec = run.recommendation
    if not hasattr(rec, 'estimator'):
        raise ConfigError('the validation study ranks tree layouts: use recommender.type='
                          "'TreeRecommender'")
    chosen = select_layouts(rec, settings['layouts'])
    runs = plan_validation(rec.tasks, rec.num_blocks, chosen, settings['seeds'])
    log(f'[validation] {len(chosen)} layouts x {len(settings["seeds"])} seeds + '
        f'{len(rec.tasks)} single-task baselines x {len(settings["seeds"])} seeds = '
        f'{len(runs)} trainings (train_cfg={settings["overrides"]["train_cfg"]})')
    from ..models.backbone_profile import profile_cache_dir
    with profile_cache_dir(osp.join(work_dir, 'cache')):
        executor = SweepExecutor(cfg, runs, study_dir, shard=shard, log=log,
                                 overrides=settings['overrides'], train_fn=train_fn,
                                 progress=getattr(log, 'progress', None))
        executor.execute()
        records = executor.results()
    missing = [r.run_id for r in runs if r.run_id not in records]
    if missing:       # other shards, or other processes that hold their claims
        log(f'[validation] {len(missing)} runs are not finished yet (other shards or '
            'processes); run again with --resume when they are done')
        return None
    seeds = settings['seeds']
    items = []
    names = tuple(sorted(rec.tasks))
    for item in chosen:
        layout_id = _layout_id(item['layout'].with_tasks(names))
        ids = dict(layout={s: f'layout_{layout_id}__s{s}' for s in seeds},
                   single={(t, s): f'single__{t}__s{s}' for t in rec.tasks for s in seeds})
        items.append(dict(layout=item['layout'].to_list(),
                          estimated_score=item['estimated_score'],
                          estimated=item['estimated'], estimated_rank=item['estimated_rank'],
                          measured=_measured(records, ids, rec.tasks, seeds)))
    weights = dict(zip(rec.tasks, map(float, rec.weights)))
    recommended = rec.top[0].layout
    study = dict(tasks=list(rec.tasks), num_blocks=rec.num_blocks, task_weights=weights,
                 task_weights_note=rec.weights_note, seeds=seeds,
                 schedule=settings['overrides'], num_layouts_in_space=rec.num_layouts,
                 recommended_layout=recommended.to_list(), layouts=items,
                 summary=summarise(items, weights, seeds))
    write_json(osp.join(work_dir, 'validation.json'), study)
    from ..visualization.plots import plot_validation
    plot_validation(study, osp.join(work_dir, 'validation.png'))
    return study
