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

from ..checks import is_int
from ..core.design_space import iter_layout_chunks
from ..core.encoding import full_matrix, matrix_to_row
from ..core.estimator import ESTIMATORS, build_estimator
from ..core.layout import Layout, as_layout
from ..core.ranking import rank_order
from ..errors import BudgetError, ConfigError
from ..evaluation.agreement import agreement, anova, budget_regrets, difference_se, reliability
from ..io.atomic import write_json
from ..sweep.executor import SweepExecutor
from ..sweep.plan import SweepRun, sweep_seeds
from .config import VALIDATION_KEYS, check_validation_settings
from .recommendation import run_recommendation

__all__ = ['VALIDATION_KEYS', 'FIRST_SEED', 'validation_settings', 'select_layouts',
           'plan_validation', 'run_validation', 'summarise', 'summarise_study',
           'tree_vs_grouping', 'rescore_study']

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
    settings = check_validation_settings(cfg)
    seeds = settings.get('seeds', 3)
    used = sweep_seed_list(cfg)
    seed_list = _fresh_seeds(seeds, used) if is_int(seeds) else [int(s) for s in seeds]
    overlap = sorted(set(seed_list) & set(used))
    if overlap:
        raise ConfigError(
            f'validation seeds {overlap} are seeds the sweep trained with (sweep seeds {used}): '
            'the study would measure the very trainings the estimate came from. Choose other '
            f'seeds, e.g. validation.seeds={len(seed_list)} (seeds '
            f'{_fresh_seeds(len(seed_list), used)})')
    layouts = settings.get('layouts', 'all')
    right_tree = settings.get('right_tree')
    if right_tree is not None:
        right_tree = as_layout(right_tree)
    overrides = dict(settings.get('overrides') or {})
    overrides['train_cfg'] = dict(settings.get('train_cfg') or cfg.get('train_cfg') or {})
    return dict(seeds=seed_list, sweep_seeds=used, layouts=layouts, overrides=overrides,
                right_tree=right_tree)


def space_rows(rec) -> tuple[np.ndarray, np.ndarray]:
    """Every layout of the recommendation's design space as compact rows, and their FLOPs."""
    tasks, num_blocks = rec.tasks, rec.num_blocks
    chunks = list(iter_layout_chunks(len(tasks), num_blocks))
    bp = np.concatenate([c.branch_points for c in chunks])
    flops = np.concatenate([rec.cost_model.flops_of(c.sets_per_block(num_blocks))
                            for c in chunks])
    return bp, flops


def decile_budgets(flops: np.ndarray) -> list[float]:
    """The budgets a study compares at: the 10 deciles of the design space's FLOPs."""
    return [float(np.quantile(flops, q, method='inverted_cdf')) for q in np.arange(1, 11) / 10]


def tree_picks(rec, budgets: list[float]) -> list[dict[str, Layout]]:
    """Per budget, the layout each estimator recommends within it (the recommender's order:
    score, then FLOPs, then branch points), over the whole design space."""
    bp, flops = space_rows(rec)
    values = rec.estimator.values
    scores = {name: build_estimator(name, values, rec.weights).scores(bp) for name in ESTIMATORS}
    out = []
    for limit in budgets:
        inside = np.flatnonzero(flops <= limit * (1 + 1e-9))
        picks = {}
        for name, score in scores.items():
            k = inside[rank_order(score[inside], flops[inside], bp[inside])[0]]
            picks[name] = Layout.from_branch_points(
                rec.tasks, full_matrix(bp[k:k + 1], len(rec.tasks), rec.num_blocks)[0],
                rec.num_blocks)
        out.append(picks)
    return out


def grouping_picks(table, cost, weights: Mapping[str, np.ndarray],
                   budgets: list[float]) -> list[dict[str, dict]]:
    """Per budget and weighting, the task grouping (Standley et al.) recommended within it:
    its groups and the group that serves each task (``None`` where no grouping fits)."""
    from ..recommenders.task_grouping import TaskGroupingRecommender
    out = []
    for limit in budgets:
        picks = {}
        for name, w in weights.items():
            try:        # the same backbone FLOPs as the trees' budget (heads excluded)
                best = TaskGroupingRecommender(
                    topk=1, budget=dict(max_models=limit / cost.backbone_flops * (1 + 1e-9)),
                    task_weights=[float(v) for v in w]).recommend(table, cost).top[0]
            except BudgetError:
                picks[name] = None
                continue
            picks[name] = dict(groups=[sorted(g) for g in best.groups],
                               chosen={t: sorted(best.groups[k]) for t, k in
                                       best.chosen.items()},
                               models=float(best.models))
        out.append(picks)
    return out


def _group_id(group) -> str:
    return hashlib.sha256(json.dumps(sorted(group)).encode()).hexdigest()[:10]


def select_layouts(rec, layouts: str | int, include: tuple[Layout, ...] = ()) -> list[dict]:
    """Every layout (``'all'``) or a stratified sample of ``layouts`` of them -- the
    estimated top-5, the all-shared and the independent layout and ``include``, the rest evenly
    spaced over the estimated ranking down to its bottom -- best estimated first, with their
    estimated score, per-task estimates, estimated rank and backbone FLOPs."""
    tasks, num_blocks = rec.tasks, rec.num_blocks
    bp, _ = space_rows(rec)
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
        layouts = max(layouts, len(extremes))
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


def plan_validation(tasks, num_blocks: int, layouts: list[dict], seeds: list[int],
                    groups=()) -> list[SweepRun]:
    """Single-task baselines, layout runs and the networks of task groupings (``groups``:
    every group of two or more tasks, trained as an all-shared model of its own), one per
    seed, in a fixed order."""
    names = tuple(sorted(tasks))
    runs = [SweepRun(f'single__{t}__s{s}', (t,), None, num_blocks, seed=s)
            for s in seeds for t in names]
    for item in layouts:
        layout = item['layout'].with_tasks(names)
        blocks = tuple(tuple(tuple(ts) for ts in block) for block in layout.to_list())
        runs += [SweepRun(f'layout_{_layout_id(layout)}__s{s}', names, None, num_blocks,
                          seed=s, blocks=blocks) for s in seeds]
    for group in groups:
        members = tuple(sorted(group))
        blocks = ((members,),) * num_blocks
        runs += [SweepRun(f'group_{_group_id(members)}__s{s}', members, None, num_blocks,
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


def summarise_study(study: dict, k: int = 5) -> dict:
    """Every figure of a study, from its raw rows: :func:`summarise` for the study's estimator,
    the same for every estimator on the study's recorded table (``estimators``), and the
    trained tree recommendation against the trained task-grouping recommendation at each
    budget (``tree_vs_grouping``)."""
    tasks, seeds = study['tasks'], study['seeds']
    right = study.get('right_tree')
    right = None if right is None else as_layout(right).with_tasks(tasks)
    items = study['layouts']
    out = summarise(items, study['task_weights'], seeds, k, right)
    if study.get('table') is None:
        return out
    by_estimator = estimates_by_estimator(study)
    out['estimators'] = {}
    for name, est in by_estimator.items():
        rows = [dict(item, estimated={t: float(est[n, i]) for i, t in enumerate(tasks)})
                for n, item in enumerate(items)]
        summary = summarise(rows, study['task_weights'], seeds, k, right)
        out['estimators'][name] = dict(
            weighted=summary['weighted'], unweighted=summary['unweighted'],
            per_task={t: dict(spearman=v['spearman'], spearman_ci=v['spearman_ci'])
                      for t, v in summary['per_task'].items()})
    if study.get('budgets'):
        out['tree_vs_grouping'] = tree_vs_grouping(study)
    return _none_if_undefined(out)


def estimates_by_estimator(study: dict) -> dict[str, np.ndarray]:
    """(layouts, T) estimates of every estimator, from the study's table and task weights."""
    tasks = study['tasks']
    values = np.asarray(study['table'], dtype=np.float64)
    weights = np.array([study['task_weights'][t] for t in tasks])
    rows = np.stack([matrix_to_row(as_layout(item['layout']).with_tasks(tasks).branch_points())
                     for item in study['layouts']])
    return {name: build_estimator(name, values, weights).estimates_matrix(rows)
            for name in ESTIMATORS}


def tree_vs_grouping(study: dict) -> dict:
    """At each budget of the study, each estimator's tree recommendation against the task
    grouping recommended under the same weighting, both trained: mean difference over seeds
    (per seed, against the baselines of the same seed), judged against the SE of a difference
    of two N-seed means (from the layouts' seed noise). Also the best trained layout within
    the budget, for scale."""
    tasks, seeds = study['tasks'], study['seeds']
    items = study['layouts']
    index = {json.dumps(as_layout(item['layout']).with_tasks(tasks).to_list()): n
             for n, item in enumerate(items)}
    flops = np.array([item['flops'] for item in items])
    out = {}
    for weighting, w in (('weighted', np.array([study['task_weights'][t] for t in tasks])),
                         ('unweighted', np.full(len(tasks), 1.0 / len(tasks)))):
        per_seed = _per_seed(items, w, tasks, seeds)
        mean = per_seed.mean(axis=1)
        se = difference_se(per_seed)
        rows, counts = [], {}
        for budget in study['budgets']:
            pick = budget['grouping'].get(weighting)
            inside = np.flatnonzero(flops <= budget['max_flops'] * (1 + 1e-9))
            row = dict(max_flops=budget['max_flops'],
                       best_trained=float(mean[inside].max()) if len(inside) else None,
                       grouping=None, tree={})
            group_seed = None
            if pick is not None:
                group_seed = np.array([sum(wi * pick['measured'][str(s)][t]
                                           for wi, t in zip(w, tasks)) for s in seeds])
                row['grouping'] = dict(groups=pick['groups'], models=pick['models'],
                                       mean=float(group_seed.mean()))
            for name, layout in budget['tree'].items():
                n = index[json.dumps(as_layout(layout).with_tasks(tasks).to_list())]
                entry = dict(layout=layout, mean=float(mean[n]))
                if group_seed is not None:
                    diff = float(mean[n] - group_seed.mean())
                    outcome = ('tree' if diff > se else 'grouping' if diff < -se else 'tie') \
                        if np.isfinite(se) else None
                    entry.update(minus_grouping=diff, better=outcome)
                    tally = counts.setdefault(name, dict(tree=0, tie=0, grouping=0))
                    if outcome is not None:
                        tally[outcome] += 1
                row['tree'][name] = entry
            rows.append(row)
        out[weighting] = dict(se=se, budgets=rows, better=counts)
    return out


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


def _grouping_measured(pick: dict, measured_groups: dict, tasks, seeds) -> dict:
    """A grouping's relative performance per seed and task: each task's value in the network
    that serves it (0 when it is served alone: that network is its single-task baseline)."""
    out = {}
    for s in seeds:
        out[str(s)] = {t: 0.0 if len(pick['chosen'][t]) == 1 else
                       measured_groups[json.dumps(pick['chosen'][t])][str(s)][t]
                       for t in tasks}
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
    from ..engine.cpu_dist import init_launched
    # a launched job's ranks agree from the first line on
    init_launched(cfg.get('launcher', 'none'), cfg.get('env_cfg'))
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
    budgets = decile_budgets(space_rows(rec)[1])
    trees = tree_picks(rec, budgets)
    weightings = dict(weighted=np.asarray(rec.weights),
                      unweighted=np.full(len(rec.tasks), 1.0 / len(rec.tasks)))
    groupings = grouping_picks(run.table, run.cost, weightings, budgets)
    include = ([] if right_tree is None else [right_tree]) + \
        [lay for picks in trees for lay in picks.values()]
    chosen = select_layouts(rec, settings['layouts'], tuple(dict.fromkeys(include)))
    # a network of every task is the all-shared layout, which the study trains anyway
    groups = sorted({tuple(g) for picks in groupings for pick in picks.values() if pick
                     for g in pick['groups'] if 1 < len(g) < len(rec.tasks)})
    runs = plan_validation(rec.tasks, rec.num_blocks, chosen, settings['seeds'], groups)
    train_cfg, scored_on = study_config(cfg)
    log(f'[validation] {len(chosen)} layouts x {len(settings["seeds"])} seeds + '
        f'{len(rec.tasks)} single-task baselines x {len(settings["seeds"])} seeds + the '
        f'{len(groups)} networks of the task groupings recommended at the 10 FLOPs-decile '
        f'budgets x {len(settings["seeds"])} seeds = {len(runs)} trainings '
        f'(seeds {settings["seeds"]}, disjoint from the sweep\'s '
        f'{settings["sweep_seeds"]}; scored on {scored_on.split(" ")[0]}; '
        f'train_cfg={settings["overrides"]["train_cfg"]})')
    from ..models.backbone_profile import profile_cache_dir
    with profile_cache_dir(osp.join(work_dir, 'cache')):
        executor = SweepExecutor(train_cfg, runs, study_dir, shard=shard, log=log,
                                 overrides=settings['overrides'], train_fn=train_fn,
                                 progress=getattr(log, 'progress', None))
        executor.execute()
        records = executor.results()
    missing = [r for r in runs if r.run_id not in records]
    if missing:       # other shards, or other processes that hold their claims
        from ..sweep.claims import claim_owner
        holders = [claim_owner(executor.run_dir(r)) for r in missing]
        owners = sorted({o for o in holders if o})
        held = len(holders) - holders.count(None)
        if held:
            log(f'[validation] {held} runs are being trained by other processes '
                f'({", ".join(owners)}); run again with --resume when they finish')
        if len(missing) > held:
            log(f'[validation] {len(missing) - held} study runs are not trained and no process '
                'holds them: they belong to other shards, which planned them only once the '
                'sweep was complete. Run each other shard again with --resume (or once '
                'without --shard), then this command again to summarise')
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
    shared = _layout_id(Layout.all_shared(names, rec.num_blocks))
    measured_groups = {}
    for group in groups + [names]:
        run_id = f'group_{_group_id(group)}' if group != names else f'layout_{shared}'
        ids = dict(layout={s: f'{run_id}__s{s}' for s in seeds},
                   single={(t, s): f'single__{t}__s{s}' for t in group for s in seeds})
        measured_groups[json.dumps(list(group))] = _measured(records, ids, group, seeds)
    budget_rows = []
    for limit, picks, pick_groups in zip(budgets, trees, groupings):
        budget_rows.append(dict(
            max_flops=limit, tree={name: lay.to_list() for name, lay in picks.items()},
            grouping={name: None if pick is None else dict(
                pick, flops=pick['models'] * rec.cost_model.backbone_flops,
                measured=_grouping_measured(pick, measured_groups, rec.tasks, seeds))
                for name, pick in pick_groups.items()}))
    study = dict(tasks=list(rec.tasks), num_blocks=rec.num_blocks, task_weights=weights,
                 task_weights_note=rec.weights_note, seeds=seeds,
                 sweep_seeds=settings['sweep_seeds'], scored_on=scored_on,
                 schedule=settings['overrides'], num_layouts_in_space=rec.num_layouts,
                 flops_unit=cfg.get('flops_unit', 'GFLOPs'),
                 estimator=rec.estimator.name, table=rec.estimator.values.tolist(),
                 recommended_layout=rec.top[0].layout.to_list(),
                 right_tree=None if right_tree is None else right_tree.to_list(),
                 layouts=items, budgets=budget_rows)
    study['summary'] = summarise_study(study)
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
    for budget in out.get('budgets') or ():
        for pick in budget['grouping'].values():
            if pick is not None:
                pick['measured'] = {str(s): pick['measured'][str(s)] for s in seeds}
    out['summary'] = summarise_study(out)
    return out
