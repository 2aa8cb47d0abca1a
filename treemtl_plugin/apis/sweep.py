"""Full mode's measured inputs: block and head costs of the config's model, and the two-task
table from the sweep (``docs/advanced/method.md``, "Two-task table")."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import os.path as osp
from collections.abc import Callable

import numpy as np
from mmengine.config import Config

from ..affinity.methods import PairwiseTable, build_table_method
from ..core.cost import CostModel
from ..core.estimator import DEFAULT_ESTIMATOR
from ..core.table import TwoTaskTable
from ..core.uncertainty import TableNoise, runs_to_train_next
from ..errors import ConfigError
from ..io.atomic import atomic_write, write_json
from ..sweep.executor import SweepExecutor
from ..sweep.merge import missing_runs, per_seed_values
from ..sweep.plan import plan_sweep, sweep_seeds
from ..visualization.report import seeds_text

__all__ = ['measure_costs', 'sweep_table', 'check_more_seeds']

#: candidates whose top-1 contest names the runs to train next
MORE_SEEDS_CANDIDATES = 200


#: full mode: the units the config's ``flops_unit`` / ``params_unit`` may name, per GFLOP / M
FLOPS_UNITS = {'GFLOPs': 1.0, 'MFLOPs': 1e3, 'KFLOPs': 1e6}
PARAMS_UNITS = {'M': 1.0, 'K': 1e3}


def _unit(cfg: Config, key: str, units: dict, default: str) -> tuple[str, float]:
    name = cfg.get(key, default)
    if name not in units:
        raise ConfigError(f'{key}={name!r}: measured costs can be shown in '
                          f'{" / ".join(units)}; pick one')
    return name, units[name]


def measure_costs(cfg: Config, tasks: list[str]) -> tuple[CostModel, dict]:
    """Cost model from the backbone's branching points and heads (fvcore FLOPs), in the
    config's ``flops_unit`` (GFLOPs, MFLOPs...) and ``params_unit`` (M, K)."""
    import torch

    import treemtl_plugin.models  # noqa: F401  (registers the entries)

    from ..models.flops import fvcore_flops
    from ..registry import MODELS
    backbone = MODELS.build(copy.deepcopy(cfg.model.backbone)).eval()
    with torch.no_grad():
        feat = backbone(torch.zeros(1, *backbone.input_size))
    head_flops, head_params = {}, {}
    for task in tasks:
        head_cfg = dict(copy.deepcopy(cfg.model.tasks[task]['head']))
        head_cfg.setdefault('in_channels', backbone.out_channels)
        if 'in_format' in inspect.signature(MODELS.get(head_cfg['type'])).parameters:
            head_cfg.setdefault('in_format', backbone.out_format)
        head = MODELS.build(head_cfg).eval()
        head_flops[task] = fvcore_flops(head, feat) / 1e9
        head_params[task] = sum(p.numel() for p in head.parameters()) / 1e6
    info = dict(model_name=backbone.model_name, input_size=list(backbone.input_size),
                blocks=backbone.cost_table(), detected=backbone.detected)
    flops_unit, fs = _unit(cfg, 'flops_unit', FLOPS_UNITS, 'GFLOPs')
    params_unit, ps = _unit(cfg, 'params_unit', PARAMS_UNITS, 'M')
    cost = CostModel(block_flops=[f * fs for f in backbone.block_flops],
                     block_params=[p * ps for p in backbone.block_params],
                     head_flops={t: f * fs for t, f in head_flops.items()},
                     head_params={t: p * ps for t, p in head_params.items()},
                     flops_unit=flops_unit, params_unit=params_unit)
    return cost, info


def sweep_table(cfg: Config, tasks: list[str], num_blocks: int, sweep_dir: str,
                shard=None, log: Callable[[str], None] = print,
                train_fn=None) -> tuple[TwoTaskTable, dict] | None:
    """Run (a shard of) the runs of ``sweep.method``; return the table and how it was made
    (method, cost, seed noise), or None while runs are missing."""
    settings = cfg.get('sweep') or {}
    check_more_seeds(settings)
    table_method = build_table_method(settings)
    method = table_method.name
    seeds = sweep_seeds(settings.get('seeds'))
    runs, new = [], table_method.plan(tasks, num_blocks, seeds)
    while new:                       # one round, or more for an adaptive method
        runs = runs + new
        executor = SweepExecutor(cfg, runs, sweep_dir, shard=shard, train_fn=train_fn,
                                 log=log, progress=getattr(log, 'progress', None))
        executor.execute()
        records = executor.results()
        if missing_runs(runs, records):
            return None
        new = table_method.next_runs(runs, records, tasks, num_blocks)
    measured = table_method.measure(runs, records, tasks, num_blocks, executor.configs)
    table = TwoTaskTable(tasks=tuple(tasks), num_blocks=num_blocks,
                         source=table_method.source(osp.join(sweep_dir, 'runs')),
                         values=measured.values, noise=measured.noise)
    atomic_write(osp.join(sweep_dir, 'two_task_table.csv'), table.to_csv)
    options = table_method.options()
    info = dict(method=method, seeds=seeds, **({method: options} if options else {}),
                cost=measured.cost, **measured.info)
    off = ~np.eye(len(tasks), dtype=bool)
    info['mean_abs_entry'] = float(np.abs(table.values[off][:, 1:]).mean())
    spread = measured.spread
    if spread is not None:
        sd = TwoTaskTable(tasks=table.tasks, num_blocks=num_blocks, values=spread)
        atomic_write(osp.join(sweep_dir, 'two_task_table_seed_sd.csv'), sd.to_csv)
        info['mean_seed_sd_of_entry'] = float(spread[off][:, 1:].mean())
    cost = info['cost']
    more = int(settings.get('more_seeds') or 0)
    if more:
        found = _more_seeds(cfg, table, seeds, more, sweep_dir, shard, train_fn, log)
        if found is None:
            return None
        table, info['more_seeds'], extra = found
        atomic_write(osp.join(sweep_dir, 'two_task_table.csv'), table.to_csv)
        for key in ('trainings', 'iterations', 'seconds'):
            cost[key] += extra[key]
        cost['fraction_of_pairwise'] = cost['iterations'] / max(cost['pairwise_iterations'], 1)
    log(f'[sweep] two-task table by {method}'
        + (f' ({seeds_text(info)})' if seeds else '')
        + f': mean |entry| {info["mean_abs_entry"]:.2f} %'
        + (f', mean seed SD of an entry {info["mean_seed_sd_of_entry"]:.2f} %'
           if spread is not None else '')
        + f'; cost {cost["trainings"]} trainings, {cost["iterations"]:,.0f} iterations '
          f'({100 * cost["fraction_of_pairwise"]:.0f}% of the pairwise sweep), '
          f'{cost["seconds"]:.0f} s of training summed over runs')
    return table, info


def _more_seeds(cfg: Config, table: TwoTaskTable, seeds: list[int] | None, count: int,
                sweep_dir: str, shard, train_fn, log):
    """``sweep.more_seeds = K``: one more seed of the K pair runs most likely to change the
    top-1 (``core/uncertainty.runs_to_train_next``), named once and kept in
    ``more_seeds.json`` (resumable); returns the table with those entries averaged over one
    more seed, what was added and what its runs cost, or None while runs are missing."""
    path = osp.join(sweep_dir, 'more_seeds.json')
    if osp.isfile(path):
        with open(path, encoding='utf-8') as f:
            chosen = json.load(f)
        log(f'[sweep] more seeds: the runs named before ({path})')
    else:
        chosen = _name_runs(cfg, table, max(seeds) + 1, count)
        write_json(path, chosen)
    seed, picks = chosen['seed'], [tuple(r) for r in chosen['runs']]
    wanted = {f'pair__{a}__{b}__b{k}__s{seed}' for a, b, k in picks}
    involved = {t for a, b, _ in picks for t in (a, b)}
    runs = [r for r in plan_sweep(table.tasks, table.num_blocks, [seed])
            if r.run_id in wanted or (r.is_single and r.tasks[0] in involved)]
    executor = SweepExecutor(cfg, runs, sweep_dir, shard=shard, train_fn=train_fn, log=log,
                             progress=getattr(log, 'progress', None))
    executor.execute()
    records = executor.results()
    if missing_runs(runs, records):
        return None
    new = per_seed_values(runs, records, list(table.tasks), table.num_blocks)[seed]
    values, entry_var = table.values.copy(), table.noise.entry_var.copy()
    index = {t: k for k, t in enumerate(table.tasks)}
    done = len(seeds)
    for a, b, k in picks:
        for i, j in ((index[a], index[b]), (index[b], index[a])):
            values[i, j, k] = (done * values[i, j, k] + new[i, j, k]) / (done + 1)
            entry_var[i, j, k] *= done / (done + 1)
    noise = TableNoise(entry_var, table.noise.baseline_var, table.noise.seeds)
    log(f'[sweep] more seeds: {len(picks)} pair run(s) with seed {seed}: '
        + ', '.join(f'{a}+{b} at b{k}' for a, b, k in picks))
    extra = PairwiseTable().cost(runs, records, executor.configs, len(table.tasks),
                                 table.num_blocks)
    return (dataclasses.replace(table, values=values, noise=noise),
            dict(seed=seed, runs=[list(r) for r in picks]), extra)


def check_more_seeds(settings) -> None:
    """``sweep.more_seeds`` names runs from the table's seed noise: it needs the pairwise
    method with two or more seeds (checked before anything trains)."""
    more, method = settings.get('more_seeds'), settings.get('method', 'pairwise')
    seeds = sweep_seeds(settings.get('seeds'))
    if more and (method != 'pairwise' or not seeds or len(seeds) < 2):
        raise ConfigError(f'sweep.more_seeds={more} needs the noise of the table to name the '
                          'runs: set sweep.seeds=2 (or more) and sweep.method=pairwise (now '
                          f'seeds={settings.get("seeds")!r}, method={method!r})')



def _name_runs(cfg: Config, table: TwoTaskTable, seed: int, count: int) -> dict:
    """The runs to train next for the config's tree recommender on ``table``."""
    from ..recommenders.tree import TreeRecommender
    options = dict((cfg.get('recommender') or {}))
    weights = options.get('task_weights', 'svde')
    rec = TreeRecommender(topk=MORE_SEEDS_CANDIDATES, csv_rows=0, task_weights=weights,
                          search=options.get('search', 'auto'),
                          estimator=options.get('estimator', DEFAULT_ESTIMATOR)).recommend(
        dataclasses.replace(table, noise=None), CostModel([1.0] * table.num_blocks))
    picks = runs_to_train_next(rec.coefficients(rec.top), [c.score for c in rec.top],
                               rec.weights, table.noise, count)
    names = table.tasks
    return dict(seed=seed, runs=[sorted([names[i], names[j]]) + [b] for i, j, b in picks])
