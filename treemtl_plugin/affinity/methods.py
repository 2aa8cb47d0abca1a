"""The three ways to get a two-task table (``sweep.method``), their runs and their cost.

* ``'pairwise'`` (default): ``T`` single-task + ``C(T,2)*B`` two-task trainings;
* ``'lookahead'``: one all-shared training of all tasks with the lookahead hook;
* ``'similarity'``: the ``T`` single-task trainings (their features, probed after training).

Every method plans :class:`~treemtl_plugin.sweep.plan.SweepRun` objects (so resume, shards,
claims and fingerprints work unchanged) and turns their records into the same
``(T, T, B+1)`` array. Cost is counted in training iterations (a forward pass counted as 1/3
of an iteration, a backward pass as 2/3) and in seconds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..core.layout import Layout
from ..errors import ConfigError, SweepError
from ..sweep.merge import per_seed_values
from ..sweep.plan import SweepRun, plan_sweep
from .tables import lookahead_table, rsa_similarity, similarity_table

__all__ = ['METHODS', 'method_settings', 'plan_method', 'method_values', 'method_cost']

METHODS = ('pairwise', 'lookahead', 'similarity')
LOOKAHEAD_DEFAULTS = dict(interval=20, lr=None)   # lr None: the optimiser's


def method_settings(sweep: Mapping | None) -> tuple[str, dict]:
    """``sweep.method`` and its options (``sweep.lookahead = dict(interval=, lr=)``)."""
    sweep = dict(sweep or {})
    method = sweep.get('method', 'pairwise')
    if method not in METHODS:
        raise ConfigError(f'sweep.method={method!r} is not known; use one of {list(METHODS)}')
    options = dict(LOOKAHEAD_DEFAULTS, **(sweep.get('lookahead') or {}))
    unknown = sorted(set(options) - set(LOOKAHEAD_DEFAULTS))
    if unknown:
        raise ConfigError(f'unknown sweep.lookahead option(s) {unknown}; known: '
                          f'{sorted(LOOKAHEAD_DEFAULTS)}')
    return method, options


def plan_method(method: str, tasks: Sequence[str], num_blocks: int,
                seeds: list[int] | None, options: Mapping) -> list[SweepRun]:
    """The runs a method needs."""
    runs = plan_sweep(tasks, num_blocks, seeds)
    if method == 'pairwise':
        return runs
    if method == 'similarity':
        return [r for r in runs if r.is_single]
    names = tuple(sorted(tasks))
    shared = Layout.all_shared(names, num_blocks).to_list()
    blocks = tuple(tuple(tuple(s) for s in block) for block in shared)
    hook = dict(type='LookaheadAffinityHook', interval=int(options['interval']),
                lr=options['lr'])
    return [SweepRun('lookahead' if seed is None else f'lookahead__s{seed}', names, None,
                     num_blocks, seed=seed, blocks=blocks, hooks=(hook,))
            for seed in (seeds or [None])]


def _extras(record: Mapping, key: str, run_id: str):
    value = (record.get('extras') or {}).get(key)
    if value is None:
        raise SweepError(f'sweep run {run_id} has no {key!r} measurements (it was trained '
                         'before they were recorded); delete its folder and run again')
    return value


def method_values(method: str, runs: list[SweepRun], records: Mapping[str, dict],
                  tasks: Sequence[str], num_blocks: int) -> np.ndarray:
    """The (T, T, B+1) table values of ``method`` (mean over seeds), rows in ``tasks``
    order."""
    tasks = list(tasks)
    if method == 'pairwise':
        per_seed = per_seed_values(runs, records, tasks, num_blocks)
        return np.mean(np.stack(list(per_seed.values())), axis=0)
    if method == 'lookahead':
        tables = []
        for run in runs:
            found = _extras(records[run.run_id], 'lookahead', run.run_id)
            order = [found['tasks'].index(t) for t in tasks]
            z = np.asarray(found['affinity'], dtype=np.float64)[np.ix_(order, order)]
            tables.append(lookahead_table(z))
        return np.mean(np.stack(tables), axis=0)
    seeds = sorted({r.seed for r in runs}, key=lambda s: -1 if s is None else s)
    tables = []
    for seed in seeds:
        rdms = {r.tasks[0]: _extras(records[r.run_id], 'rdm', r.run_id)['per_block']
                for r in runs if r.seed == seed}
        sim = np.zeros((len(tasks), len(tasks), num_blocks))
        for i, a in enumerate(tasks):
            for j, b in enumerate(tasks):
                if i != j:
                    sim[i, j] = [rsa_similarity(np.asarray(rdms[a][k]), np.asarray(rdms[b][k]))
                                 for k in range(num_blocks)]
        tables.append(similarity_table(sim))
    return np.mean(np.stack(tables), axis=0)


def method_cost(runs: list[SweepRun], records: Mapping[str, dict], configs: Mapping,
                num_tasks: int, num_blocks: int) -> dict:
    """Iterations (measurement passes included) and seconds the method's runs took, beside
    what the pairwise sweep with the same schedule and seeds would take."""
    iterations = seconds = 0.0
    for run in runs:
        record = records[run.run_id]
        iters = int(configs[run.run_id].train_cfg.get('max_iters', 0))
        lookahead = (record.get('extras') or {}).get('lookahead') or {}
        iters += (lookahead.get('forward', 0) + 2 * lookahead.get('backward', 0)) / 3
        iterations += iters
        seconds += float(record.get('seconds', 0.0))
    per_run = max(int(c.train_cfg.get('max_iters', 0)) for c in configs.values())
    seeds = len({r.seed for r in runs})
    pairwise_runs = (num_tasks + num_tasks * (num_tasks - 1) // 2 * num_blocks) * seeds
    return dict(trainings=len(runs), iterations=iterations, seconds=seconds,
                pairwise_trainings=pairwise_runs, pairwise_iterations=pairwise_runs * per_run,
                fraction_of_pairwise=iterations / max(pairwise_runs * per_run, 1))
