"""Ground truth for the recommender: train the layouts it ranks and compare the rankings.

``run_validation`` runs (or reuses) the config's sweep and recommendation, then trains every
layout of the design space (or a stratified sample: the estimated top-5, the bottom, evenly
spaced ones between, always the all-shared and the independent layout and the config's
``validation.right_tree``) and every single-task baseline, each with ``N`` seeds and the schedule
the config declares for validation (``validation = dict(train_cfg=..., seeds=..., layouts=...)``).

Nothing the estimate saw is reused: the study's seeds are disjoint from the sweep's (an
overlap is refused), its single-task baselines are its own trainings of its own seeds, and its
trainings are scored on the config's ``test_dataloader`` when that is another split than the
``val_dataloader`` the sweep's table was scored on. A layout's measured relative performance
per task and seed is its metrics against the baseline of the same seed; its measured score uses
the estimator's task weights (and, separately, equal weights). Every training is one atomic,
fingerprinted, claimable run, so the study resumes and shards like the sweep.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os.path as osp
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from mmengine.config import Config

from ..checks import check_int, check_int_list, is_int
from ..core.design_space import iter_layout_chunks
from ..core.encoding import full_matrix, matrix_to_row
from ..core.layout import Layout, as_layout
from ..errors import ConfigError, LayoutError
from ..evaluation.agreement import agreement, anova, budget_regrets, difference_se, reliability
from ..io.atomic import write_json
from ..sweep.executor import SweepExecutor
from ..sweep.plan import SweepRun, sweep_seeds
from .recommendation import run_recommendation

__all__ = ['VALIDATION_KEYS', 'FIRST_SEED', 'validation_settings', 'select_layouts',
           'plan_validation', 'run_validation', 'summarise', 'rescore_study']

VALIDATION_KEYS = ('train_cfg', 'seeds', 'layouts', 'overrides', 'right_tree')
#: the study's seeds start here by default, far from the sweep's (0, or 0..N-1)
FIRST_SEED = 1000


def sweep_seed_list(cfg: Mapping) -> list[int]:
    """Every seed the sweep trains with: ``sweep.seeds``, else the config's randomness seed."""
    seeds = sweep_seeds((cfg.get('sweep') or {}).get('seeds'))
    if seeds is not None:
        return seeds
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is None:
        raise ConfigError('the validation study needs a reproducible sweep: set randomness.seed '
                          '(or sweep.seeds), so that the study can use other seeds')
    return [int(seed)]


def _fresh_seeds(count: int, used: list[int]) -> list[int]:
    """The first ``count`` seeds from ``FIRST_SEED`` on that the sweep did not use."""
    out, seed = [], FIRST_SEED
    while len(out) < count:
        if seed not in used:
            out.append(seed)
        seed += 1
    return out


def validation_settings(cfg: Mapping) -> dict:
    """The config's ``validation`` dict, checked.

    ``seeds``: a count N (the first N seeds from 1000 that the sweep did not use) or a list of
    seeds; none may be a sweep seed."""
    settings = dict(cfg.get('validation') or {})
    unknown = [k for k in settings if k not in VALIDATION_KEYS]
    if unknown:
        raise ConfigError(f'unknown validation option(s) {unknown}; known: '
                          f'{list(VALIDATION_KEYS)}')
    seeds = settings.get('seeds', 3)
    used = sweep_seed_list(cfg)
    if is_int(seeds):
        seed_list = _fresh_seeds(check_int('validation.seeds (a count)', seeds, low=1), used)
    else:
        seed_list = check_int_list('validation.seeds (a count or a list of seeds)', seeds,
                                   low=0, unique=True)
    overlap = sorted(set(seed_list) & set(used))
    if overlap:
        raise ConfigError(
            f'validation seeds {overlap} are seeds the sweep trained with (sweep seeds {used}): '
            'the study would measure the very trainings the estimate came from. Choose other '
            f'seeds, e.g. validation.seeds={len(seed_list)} (seeds '
            f'{_fresh_seeds(len(seed_list), used)})')
    layouts = settings.get('layouts', 'all')
    if isinstance(layouts, str) and layouts.isdigit():
        layouts = int(layouts)
    if layouts != 'all' and not (is_int(layouts) and layouts >= 2):
        raise ConfigError(f"validation.layouts must be 'all' or a number >= 2, got {layouts!r}")
    right_tree = settings.get('right_tree')
    if right_tree is not None:
        try:
            right_tree = as_layout(right_tree)
        except (LayoutError, TypeError, ValueError) as err:
            raise ConfigError(f'validation.right_tree must be a layout: {err}') from None
    overrides = dict(settings.get('overrides') or {})
    overrides['train_cfg'] = dict(settings.get('train_cfg') or cfg.get('train_cfg') or {})
    return dict(seeds=seed_list, sweep_seeds=used, layouts=layouts, overrides=overrides,
                right_tree=right_tree)


def select_layouts(rec, layouts: str | int, include: tuple[Layout, ...] = ()) -> list[dict]:
    """Every layout (``'all'``) or a stratified sample of ``layouts`` of them -- the
    estimated top-5, the all-shared and the independent layout and ``include``, the rest evenly
    spaced over the estimated ranking down to its bottom -- best estimated first, with their
    estimated score, per-task estimates, estimated rank and backbone FLOPs."""
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
        for layout in include:
            row = matrix_to_row(layout.with_tasks(tasks).branch_points())
            extremes.add(int(np.flatnonzero((bp == row).all(axis=1))[0]))
        keep = set(order[:max(0, min(5, layouts - len(extremes)))]) | extremes
        spread = np.linspace(0, len(order) - 1, layouts).round().astype(int)
        for k in [order[spread[-1]]] + [order[p] for p in spread[1:-1]] + list(order):
            if len(keep) >= layouts:        # the bottom first, then evenly spaced, then fill
                break
            keep.add(int(k))
        chosen = np.array([k for k in order if k in keep])
    estimates = rec.estimator.estimates_matrix(bp[chosen])
    full = full_matrix(bp[chosen], len(tasks), num_blocks)
    out = []
    for n, k in enumerate(chosen):
        layout = Layout.from_branch_points(tasks, full[n], num_blocks)
        out.append(dict(layout=layout, estimated_score=float(score[k]),
                        estimated_rank=int(rank[k]),
                        estimated={t: float(estimates[n, i]) for i, t in enumerate(tasks)},
                        flops=float(rec.cost_model.layout_cost(layout)['flops'])))
    return out


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


def _per_seed(items: list[dict], weights: np.ndarray, tasks, seeds) -> np.ndarray:
    """(layouts, seeds) measured scores under ``weights``."""
    return np.array([[sum(w * item['measured'][str(s)][t] for w, t in zip(weights, tasks))
                      for s in seeds] for item in items])


def summarise(items: list[dict], weights: Mapping[str, float], seeds: list[int],
              k: int = 5, right_tree: Layout | None = None) -> dict:
    """Everything a claim about the estimate must survive, under the estimator's task weights
    (``weighted``) and under equal weights (``unweighted``; the estimate then uses equal
    weights too): the layouts' spread against seed noise (ANOVA F, reliability and the
    ceiling it puts on any correlation), the agreement of the estimate with the trained
    ranking (Spearman with its bootstrap CI, Kendall, top-1 regret against the SE of a
    difference of two seed means, precision@k against chance), ranking by FLOPs alone, the
    estimated best within budgets at the FLOPs deciles, and per task."""
    tasks = list(weights)
    flops = np.array([item['flops'] for item in items], dtype=np.float64) \
        if all('flops' in item for item in items) else None
    out = {}
    for name, w in (('weighted', np.array([weights[t] for t in tasks])),
                    ('unweighted', np.full(len(tasks), 1.0 / len(tasks)))):
        per_seed = _per_seed(items, w, tasks, seeds)
        estimated = np.array([sum(wi * item['estimated'][t] for wi, t in zip(w, tasks))
                              for item in items])
        out[name] = _summary(estimated, per_seed, flops, k)
        if right_tree is not None:
            out[name]['right_tree'] = _rank_of(right_tree, items, estimated,
                                               per_seed.mean(axis=1))
    out['per_task'] = {}
    for t in tasks:
        per_seed = np.array([[item['measured'][str(s)][t] for s in seeds] for item in items])
        estimated = np.array([item['estimated'][t] for item in items])
        a = agreement(estimated, per_seed.mean(axis=1), k)
        out['per_task'][t] = dict(spearman=a['spearman'], spearman_ci=a['spearman_ci'],
                                  anova=anova(per_seed), reliability=reliability(per_seed))
    return _none_if_undefined(out)


def _rank_of(layout: Layout, items: list[dict], estimated: np.ndarray,
             measured: np.ndarray) -> dict | None:
    """The estimated and the trained rank (1 = best; ties share the best rank) of ``layout``."""
    match = [n for n, item in enumerate(items)
             if as_layout(item['layout']).with_tasks(layout.tasks) == layout]
    if not match:
        return None
    n = match[0]
    return dict(layout=layout.to_list(), estimated_rank=int((estimated > estimated[n]).sum() + 1),
                trained_rank=int((measured > measured[n]).sum() + 1), layouts=len(items))


def _none_if_undefined(value):
    """Statistics that are undefined here (a correlation of constant scores: NaN) become
    None, so the study stays strict JSON."""
    if isinstance(value, dict):
        return {k: _none_if_undefined(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_none_if_undefined(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _summary(estimated: np.ndarray, per_seed: np.ndarray, flops: np.ndarray | None,
             k: int) -> dict:
    mean = per_seed.mean(axis=1)
    order = np.lexsort((mean, -estimated))        # ties in the estimate: the worse first
    best = int(order[0])
    se = difference_se(per_seed)
    agree = agreement(estimated, mean, k)
    out = dict(agreement=agree, anova=anova(per_seed), reliability=reliability(per_seed),
               difference_se=se,
               top1_within_se=None if not np.isfinite(se) else bool(agree['top1_regret'] <= se),
               estimated_best_measured=float(mean[best]), best_measured=float(mean.max()),
               median_measured=float(np.median(mean)))
    if flops is not None:
        cost = agreement(-flops, mean, k) if np.ptp(flops) > 0 else None
        out['cost_alone'] = None if cost is None else dict(
            spearman_flops=-cost['spearman'], spearman_ci_flops=[-v for v in
                                                                 cost['spearman_ci'][::-1]])
        if cost is not None and np.isfinite(agree['spearman']):
            out['margin_over_cost'] = float(agree['spearman'] - abs(cost['spearman']))
        if np.isfinite(se):
            out['budgets'] = budget_regrets(estimated, mean, flops, se)
    return out


def _measured(records: Mapping[str, dict], run_ids: dict, tasks, seeds) -> dict:
    from ..evaluation.relative_performance import relative_performance
    out = {}
    for s in seeds:
        metrics = records[run_ids['layout'][s]]['metrics']
        out[str(s)] = {t: relative_performance(metrics, records[run_ids['single'][(t, s)]]
                                               ['metrics'], t) for t in tasks}
    return out


def study_config(cfg: Config) -> tuple[Config, str]:
    """The config the study trains with, and which data it scores on: the config's test split
    (``test_dataloader`` / ``test_evaluator``) when it differs from the validation split the
    sweep's table was scored on; else the validation split, said so."""
    test, val = cfg.get('test_dataloader'), cfg.get('val_dataloader')
    if not test or test == val:
        return cfg, ('val_dataloader (the config has no separate test split: the study is '
                     'scored on the images the table was scored on)')
    new = Config(copy.deepcopy(cfg.to_dict()), filename=cfg.filename)
    new.val_dataloader = copy.deepcopy(cfg.test_dataloader)
    if cfg.get('test_evaluator'):
        new.val_evaluator = copy.deepcopy(cfg.test_evaluator)
    return new, 'test_dataloader'


def run_validation(cfg: Config, work_dir: str, resume: bool = False,
                   shard: tuple[int, int] | None = None,
                   log: Callable[[str], None] | None = None,
                   train_fn: Callable | None = None) -> dict[str, Any] | None:
    """The whole study; writes ``validation.json`` and ``validation.png`` to ``work_dir``.

    Returns the study, or None when this shard is done but other runs are still missing."""
    settings = validation_settings(cfg)
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
    right_tree = settings['right_tree']
    if right_tree is not None:
        if set(right_tree.tasks) != set(rec.tasks) or right_tree.num_blocks != rec.num_blocks:
            raise ConfigError(f'validation.right_tree has tasks {sorted(right_tree.tasks)} over '
                              f'{right_tree.num_blocks} blocks; the study ranks '
                              f'{sorted(rec.tasks)} over {rec.num_blocks}')
        right_tree = right_tree.with_tasks(rec.tasks)
    chosen = select_layouts(rec, settings['layouts'], () if right_tree is None else (right_tree,))
    runs = plan_validation(rec.tasks, rec.num_blocks, chosen, settings['seeds'])
    train_cfg, scored_on = study_config(cfg)
    log(f'[validation] {len(chosen)} layouts x {len(settings["seeds"])} seeds + '
        f'{len(rec.tasks)} single-task baselines x {len(settings["seeds"])} seeds = '
        f'{len(runs)} trainings (seeds {settings["seeds"]}, disjoint from the sweep\'s '
        f'{settings["sweep_seeds"]}; scored on {scored_on.split(" ")[0]}; '
        f'train_cfg={settings["overrides"]["train_cfg"]})')
    from ..models.backbone_profile import profile_cache_dir
    with profile_cache_dir(osp.join(work_dir, 'cache')):
        executor = SweepExecutor(train_cfg, runs, study_dir, shard=shard, log=log,
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
        items.append(dict(layout=item['layout'].to_list(), flops=item['flops'],
                          estimated_score=item['estimated_score'],
                          estimated=item['estimated'], estimated_rank=item['estimated_rank'],
                          measured=_measured(records, ids, rec.tasks, seeds)))
    weights = dict(zip(rec.tasks, map(float, rec.weights)))
    study = dict(tasks=list(rec.tasks), num_blocks=rec.num_blocks, task_weights=weights,
                 task_weights_note=rec.weights_note, seeds=seeds,
                 sweep_seeds=settings['sweep_seeds'], scored_on=scored_on,
                 schedule=settings['overrides'], num_layouts_in_space=rec.num_layouts,
                 flops_unit=cfg.get('flops_unit', 'GFLOPs'),
                 recommended_layout=rec.top[0].layout.to_list(),
                 right_tree=None if right_tree is None else right_tree.to_list(),
                 layouts=items,
                 summary=summarise(items, weights, seeds, right_tree=right_tree))
    write_json(osp.join(work_dir, 'validation.json'), study)
    from ..visualization.plots import plot_validation
    plot_validation(study, osp.join(work_dir, 'validation.png'))
    return study


def rescore_study(study: dict, drop_seeds=(), sweep_seeds=None, flops=None) -> dict:
    """A study re-summarised from its raw rows with the current statistics: seeds in
    ``drop_seeds`` left out (e.g. the sweep's own seed, in a study made before the seeds were
    kept apart), ``sweep_seeds`` recorded, and ``flops`` (one per layout, in order) added where
    the rows lack them. Every figure of a committed study can be recomputed this way."""
    seeds = [s for s in study['seeds'] if s not in set(drop_seeds)]
    if not seeds:
        raise ConfigError(f'dropping seeds {list(drop_seeds)} leaves no seed of {study["seeds"]}')
    out = copy.deepcopy(study)
    for n, item in enumerate(out['layouts']):
        item['measured'] = {str(s): item['measured'][str(s)] for s in seeds}
        if flops is not None:
            item['flops'] = float(flops[n])
    out['seeds'] = seeds
    out.setdefault('scored_on', 'val_dataloader (recorded before studies were scored on a '
                                'held-out split: the images the table was scored on)')
    if sweep_seeds is not None:
        out['sweep_seeds'] = list(sweep_seeds)
    right = out.get('right_tree')
    out['summary'] = summarise(out['layouts'], out['task_weights'], seeds,
                               right_tree=None if right is None else
                               as_layout(right).with_tasks(out['tasks']))
    return out
