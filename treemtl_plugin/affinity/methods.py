"""The ways to get a two-task table (``sweep.method``): one registered class per method.

* ``'pairwise'`` (default): ``T`` single-task + ``C(T,2)*B`` two-task trainings;
* ``'lookahead'``: one all-shared training of all tasks with the lookahead hook;
* ``'similarity'``: the ``T`` single-task trainings (their features, probed after training);
* ``'adaptive'``: the pairwise runs that can change the top-1, round by round.

Every method plans :class:`~treemtl_plugin.sweep.plan.SweepRun` objects (so resume, shards,
claims and fingerprints work unchanged) and turns their records into the same
``(T, T, B+1)`` array. Cost is counted in training iterations (a forward pass counted as 1/3
of an iteration, a backward pass as 2/3) and in seconds. A new method is a new
:class:`TableMethod` subclass registered in ``TABLE_METHODS``; its ``name`` is the
``sweep.method`` value and its constructor keywords are the options read from
``sweep.<name>`` (e.g. ``sweep.lookahead = dict(interval=10, lr=None, normalize=False,
precondition=True)``).
"""
from __future__ import annotations

import inspect
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..checks import check_bool, check_choice, check_int, check_number, check_options
from ..core.design_space import count_layouts, iter_layout_chunks
from ..core.encoding import pair_index
from ..core.estimator import TaskAccuracyEstimator, svde_task_weights
from ..core.layout import Layout
from ..core.uncertainty import TableNoise, noise_from_seed_tables
from ..errors import ConfigError, SweepError, did_you_mean
from ..registry import TABLE_METHODS
from ..sweep.merge import per_seed_values
from ..sweep.plan import SweepRun, plan_sweep
from .tables import lookahead_table, rsa_similarity, similarity_table

__all__ = ['TableMethod', 'TableMeasurement', 'PairwiseTable', 'LookaheadTable',
           'SimilarityTable', 'AdaptiveTable', 'table_methods', 'build_table_method']


@dataclass(frozen=True)
class TableMeasurement:
    """What a table method measured from its finished runs, in one call.

    ``values``: the (T, T, B+1) table (mean over seeds); ``noise``: its seed noise and
    ``spread``: the (T, T, B+1) SD of the entries over seeds (both None with one seed or a
    method that does not measure them); ``cost``: iterations and seconds beside the pairwise
    sweep's; ``info``: what else the method measured."""
    values: np.ndarray
    noise: TableNoise | None = None
    spread: np.ndarray | None = None
    cost: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


class TableMethod(ABC):
    """One way to get the two-task table: the runs it trains and how their records become
    the ``(T, T, B+1)`` values. Subclasses set ``name`` and register in ``TABLE_METHODS``."""

    #: the ``sweep.method`` value that selects the class (also its options' key in ``sweep``)
    name: str = ''

    def options(self) -> dict:
        """The method's own options as used (recorded in the table info); {} when none."""
        return {}

    @abstractmethod
    def plan(self, tasks: Sequence[str], num_blocks: int,
             seeds: list[int] | None) -> list[SweepRun]:
        """The runs the method needs (one set per seed; seeds None: the config's seed)."""

    @abstractmethod
    def values(self, runs: list[SweepRun], records: Mapping[str, dict],
               tasks: Sequence[str], num_blocks: int) -> np.ndarray:
        """The (T, T, B+1) table values (mean over seeds), rows in ``tasks`` order."""

    def source(self, runs_dir: str) -> str:
        """Where the table comes from, as the table's ``source`` says it."""
        return f'{self.name} estimate from {runs_dir}'

    def measure(self, runs: list[SweepRun], records: Mapping[str, dict],
                tasks: Sequence[str], num_blocks: int,
                configs: Mapping | None = None) -> TableMeasurement:
        """Everything the finished ``runs`` give: values, seed noise and spread, cost (when
        the runs' ``configs`` are given) and info."""
        values, noise, spread = self._estimate(runs, records, tasks, num_blocks)
        cost = {} if configs is None else \
            self.cost(runs, records, configs, len(tasks), num_blocks)
        return TableMeasurement(values=values, noise=noise, spread=spread, cost=cost,
                                info=self.info(runs, records, tasks, num_blocks))

    def _estimate(self, runs, records, tasks, num_blocks):
        """(values, noise, spread); methods that measure seed noise override this."""
        return self.values(runs, records, tasks, num_blocks), None, None

    def info(self, runs: list[SweepRun], records: Mapping[str, dict], tasks: Sequence[str],
             num_blocks: int) -> dict:
        """What else the method measured, for the table info (e.g. a control)."""
        return {}

    def next_runs(self, runs: list[SweepRun], records: Mapping[str, dict],
                  tasks: Sequence[str], num_blocks: int) -> list[SweepRun]:
        """More runs to train once ``runs`` are finished (an adaptive method); [] when done."""
        return []

    def cost(self, runs: list[SweepRun], records: Mapping[str, dict], configs: Mapping,
             num_tasks: int, num_blocks: int) -> dict:
        """Iterations (measurement passes included) and seconds the method's runs took,
        beside what the pairwise sweep with the same schedule and seeds would take."""
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
                    pairwise_trainings=pairwise_runs,
                    pairwise_iterations=pairwise_runs * per_run,
                    fraction_of_pairwise=iterations / max(pairwise_runs * per_run, 1))


def _extras(record: Mapping, key: str, run_id: str):
    value = (record.get('extras') or {}).get(key)
    if value is None:
        raise SweepError(f'sweep run {run_id} has no {key!r} measurements (it was trained '
                         'before they were recorded); delete its folder and run again')
    return value


@TABLE_METHODS.register_module()
class PairwiseTable(TableMethod):
    """The measured table: every pair trained at every branching point, against the singles."""
    name = 'pairwise'

    def plan(self, tasks, num_blocks, seeds):
        return plan_sweep(tasks, num_blocks, seeds)

    def values(self, runs, records, tasks, num_blocks):
        return self._estimate(runs, records, tasks, num_blocks)[0]

    def source(self, runs_dir):
        return runs_dir

    def _estimate(self, runs, records, tasks, num_blocks):
        """The mean over seeds; with two or more, the seed noise and the SD of each entry."""
        stacked = np.stack(list(per_seed_values(runs, records, list(tasks),
                                                num_blocks).values()))
        if len(stacked) < 2:
            return stacked[0], None, None
        return (stacked.mean(axis=0), noise_from_seed_tables(stacked),
                stacked.std(axis=0, ddof=1))


@TABLE_METHODS.register_module()
class LookaheadTable(TableMethod):
    """One all-shared training of all tasks whose hook measures lookahead task affinity.

    Args:
        interval: iterations between two lookahead measurements.
        lr: the lookahead step's learning rate (None: the optimiser's).
        normalize: divide each affinity by the self-affinity of the task it acts on.
        on: measure the step's effect on the training batch itself (``'train'``, TAG) or on
            a held-out validation batch (``'val'``).
        precondition: with Adam(W), scale the step ``lr * g_i`` by Adam's current
            second-moment estimate (``affinity/hooks._lookahead_step``); False: TAG's plain
            ``lr * g_i``.
    """
    name = 'lookahead'

    def __init__(self, interval: int = 10, lr: float | None = None, normalize: bool = False,
                 on: str = 'train', precondition: bool = True):
        self.interval = check_int('sweep.lookahead.interval', interval, low=1)
        self.lr = None if lr is None else check_number('sweep.lookahead.lr', lr, above=0)
        self.normalize = check_bool('sweep.lookahead.normalize', normalize)
        self.on = check_choice('sweep.lookahead.on', on, ('train', 'val'))
        self.precondition = check_bool('sweep.lookahead.precondition', precondition)

    def options(self):
        return dict(interval=self.interval, lr=self.lr, normalize=self.normalize, on=self.on,
                    precondition=self.precondition)

    def plan(self, tasks, num_blocks, seeds):
        names = tuple(sorted(tasks))
        shared = Layout.all_shared(names, num_blocks).to_list()
        blocks = tuple(tuple(tuple(s) for s in block) for block in shared)
        hook = dict(type='LookaheadAffinityHook', interval=int(self.interval), lr=self.lr,
                    on=self.on, precondition=self.precondition)
        return [SweepRun('lookahead' if seed is None else f'lookahead__s{seed}', names, None,
                         num_blocks, seed=seed, blocks=blocks, hooks=(hook,))
                for seed in (seeds or [None])]

    def values(self, runs, records, tasks, num_blocks):
        tasks = list(tasks)
        tables = []
        for run in runs:
            found = _extras(records[run.run_id], 'lookahead', run.run_id)
            order = [found['tasks'].index(t) for t in tasks]
            z = np.asarray(found['affinity'], dtype=np.float64)[np.ix_(order, order)]
            tables.append(lookahead_table(z, self.normalize))
        return np.mean(np.stack(tables), axis=0)


@TABLE_METHODS.register_module()
class SimilarityTable(TableMethod):
    """The single-task trainings alone: per-block representation similarity of their features
    on ``num_images`` validation images, as a cost of sharing (Vandenhende et al., 2020).

    Args:
        num_images: images whose dissimilarity matrices are compared (the paper: about 500).
    """
    name = 'similarity'

    def __init__(self, num_images: int = 500):
        self.num_images = check_int('sweep.similarity.num_images', num_images, low=3)

    def options(self):
        return dict(num_images=self.num_images)

    def plan(self, tasks, num_blocks, seeds):
        hook = dict(type='FeatureProbeHook', num_images=self.num_images, control=True)
        return [SweepRun(r.run_id.replace('single__', 'similarity__', 1), r.tasks, None,
                         num_blocks, seed=r.seed, hooks=(hook,))
                for r in plan_sweep(tasks, num_blocks, seeds) if r.is_single]

    def info(self, runs, records, tasks, num_blocks):
        """The control: per block, the mean RSA of a trained single-task model with the same
        network untrained (what the input alone explains of the representations)."""
        out = np.zeros(num_blocks)
        used = self.num_images
        for run in runs:
            found = _extras(records[run.run_id], 'rdm', run.run_id)
            used = min(used, int(found.get('num_images', used)))
            out += [rsa_similarity(np.asarray(found['per_block'][k]),
                                   np.asarray(found['per_block_init'][k]))
                    for k in range(num_blocks)]
        if used < self.num_images:
            warnings.warn(f'sweep.similarity.num_images={self.num_images}, but the validation '
                          f'split has only {used} images: the similarity table compares '
                          f'{used} (too few for a stable RSA below ~50; give the validation '
                          'set more samples)', UserWarning, stacklevel=2)
        return dict(rsa_with_untrained_per_block=(out / len(runs)).tolist(),
                    num_images_used=used)

    def values(self, runs, records, tasks, num_blocks):
        tasks = list(tasks)
        seeds = sorted({r.seed for r in runs}, key=lambda s: -1 if s is None else s)
        tables = []
        for seed in seeds:
            rdms = {r.tasks[0]: _extras(records[r.run_id], 'rdm', r.run_id)['per_block']
                    for r in runs if r.seed == seed}
            sim = np.zeros((len(tasks), len(tasks), num_blocks))
            for i, a in enumerate(tasks):
                for j, b in enumerate(tasks):
                    if i != j:
                        sim[i, j] = [rsa_similarity(np.asarray(rdms[a][k]),
                                                    np.asarray(rdms[b][k]))
                                     for k in range(num_blocks)]
            tables.append(similarity_table(sim))
        return np.mean(np.stack(tables), axis=0)


@TABLE_METHODS.register_module()
class AdaptiveTable(TableMethod):
    """Pairwise entries trained only where they can change the top-1 (``docs/advanced/method.md``,
    "Adaptive sweep").

    First the single-task runs and every pair sharing ``first_depth`` blocks (default: half
    the backbone, rounded up, so that a pair whose gain peaks mid-depth shows it; a
    full-sharing first round makes every curve a straight line); then, round by round, the
    ``batch`` pair runs whose unmeasured entries leave the most room for another layout to
    overtake the current best, until no layout can (the top-1 is settled) or
    ``max_fraction`` of the pairwise sweep's trainings are spent. Unmeasured entries are
    interpolated between the pair's measured depths (0 at branch 0), held at the deepest
    measured value beyond it, and trusted to within ``margin`` times the range of the
    measured entries.

    Args:
        batch: pair runs per round.
        max_fraction: the most trainings (single-task runs included), as a share of the
            pairwise sweep's.
        margin: how far an unmeasured entry may be from its interpolation, as a share of the
            measured entries' range.
        first_depth: the shared blocks of every pair's first run (None: ``ceil(B / 2)``).
    """
    name = 'adaptive'

    def __init__(self, batch: int = 2, max_fraction: float = 0.4, margin: float = 0.2,
                 first_depth: int | None = None):
        self.batch = check_int('sweep.adaptive.batch', batch, low=1)
        self.max_fraction = check_number('sweep.adaptive.max_fraction', max_fraction,
                                         above=0, high=1)
        self.margin = check_number('sweep.adaptive.margin', margin, low=0)
        self.first_depth = None if first_depth is None else \
            check_int('sweep.adaptive.first_depth', first_depth, low=1)

    def options(self):
        return dict(batch=self.batch, max_fraction=self.max_fraction, margin=self.margin,
                    first_depth=self.first_depth)

    def _first_depth(self, num_blocks: int) -> int:
        if self.first_depth is None:
            return (num_blocks + 1) // 2
        if self.first_depth > num_blocks:
            raise ConfigError(f'sweep.adaptive.first_depth={self.first_depth} is deeper than '
                              f'the backbone\'s {num_blocks} branching points: use 1..'
                              f'{num_blocks} (or None for half of them)')
        return self.first_depth

    def plan(self, tasks, num_blocks, seeds):
        if seeds is not None and len(seeds) > 1:
            raise ConfigError("sweep.method='adaptive' trains one seed; set sweep.seeds to "
                              'None or one seed')
        first = self._first_depth(num_blocks)
        return [r for r in plan_sweep(tasks, num_blocks, seeds)
                if r.is_single or r.branch == first]

    def _measured(self, runs, records, tasks, num_blocks):
        values = next(iter(per_seed_values(runs, records, list(tasks), num_blocks).values()))
        index = {t: k for k, t in enumerate(tasks)}
        known = np.zeros(values.shape, dtype=bool)
        known[:, :, 0] = True
        for run in runs:
            if not run.is_single:
                i, j = index[run.tasks[0]], index[run.tasks[1]]
                known[i, j, run.branch] = known[j, i, run.branch] = True
        return values, known

    def values(self, runs, records, tasks, num_blocks):
        values, known = self._measured(runs, records, tasks, num_blocks)
        out = values.copy()
        depths = np.arange(num_blocks + 1)
        for i in range(len(tasks)):
            for j in range(len(tasks)):
                if i != j:
                    at = np.flatnonzero(known[i, j])
                    out[i, j] = np.interp(depths, at, values[i, j, at])
        return out

    def info(self, runs, records, tasks, num_blocks):
        measured = sorted([*r.tasks, r.branch] for r in runs if not r.is_single)
        first = len(self.plan(tasks, num_blocks, None))
        later = max(0, len(runs) - first)
        return dict(measured_pair_runs=measured, first_depth=self._first_depth(num_blocks),
                    first_round_runs=first, adaptive_runs=later,
                    adaptive_rounds=-(-later // self.batch),
                    settled=not self._slack(runs, records, list(tasks), num_blocks))

    def next_runs(self, runs, records, tasks, num_blocks):
        tasks = list(tasks)
        num_tasks = len(tasks)
        budget = int(self.max_fraction * (num_tasks + num_tasks * (num_tasks - 1) // 2
                                          * num_blocks))          # the pairwise sweep's
        if len(runs) >= budget:
            return []
        slack = self._slack(runs, records, tasks, num_blocks)
        seed = runs[0].seed
        order = sorted(((v, k) for k, v in slack.items()), reverse=True)
        picks = [k for _, k in order[:max(0, min(self.batch, budget - len(runs)))]]
        return [SweepRun(f'pair__{a}__{b}__b{k}' + ('' if seed is None else f'__s{seed}'),
                         (a, b), k, num_blocks, seed=seed)
                for a, b, k in (tuple(sorted((tasks[i], tasks[j]))) + (k,)
                                for i, j, k in picks)]

    def _slack(self, runs, records, tasks, num_blocks) -> dict:
        """The unmeasured pair runs that could still let a layout overtake the best, with
        how much room they leave (empty: the top-1 is settled)."""
        num_tasks = len(tasks)
        if count_layouts(num_tasks, num_blocks) > ADAPTIVE_MAX_LAYOUTS:
            raise ConfigError(f"sweep.method='adaptive' checks every layout each round; "
                              f'{num_tasks} tasks over {num_blocks} blocks are more than '
                              f'{ADAPTIVE_MAX_LAYOUTS:,} layouts: use pairwise or fewer blocks')
        values, known = self._measured(runs, records, tasks, num_blocks)
        estimate = self.values(runs, records, tasks, num_blocks)
        off = ~np.eye(num_tasks, dtype=bool)
        measured = values[known & off[:, :, None]]
        delta = self.margin * (measured.max(initial=0.0) - measured.min(initial=0.0))
        weights = svde_task_weights(estimate) if num_blocks >= 3 else \
            np.full(num_tasks, 1.0 / num_tasks)
        slack = _overtaking_slack(estimate, known, weights, delta)
        return {k: v for k, v in slack.items() if v > 0}


#: the largest design space the adaptive sweep scans every round
ADAPTIVE_MAX_LAYOUTS = 2_000_000


def _overtaking_slack(values, known, weights, delta) -> dict:
    """For each unmeasured pair run ``(i, j, b)``: how much its entries, anywhere within
    ``delta`` of their estimate, could let layouts overtake the current best, summed over the
    layouts that still can (0 for all runs: the top-1 is settled)."""
    num_tasks, _, width = values.shape
    num_blocks = width - 1
    rows = np.concatenate([c.branch_points for c in iter_layout_chunks(num_tasks, num_blocks)])
    estimator = TaskAccuracyEstimator(values, weights)
    scores = estimator.scores(rows)
    best = int(np.argmax(scores))
    scale = weights / (num_tasks - 1)
    worst_gap = scores[best] - scores                 # best's lowest minus k's highest
    per_run = {}
    for p, (j, i) in enumerate(pair_index(num_tasks)):
        for b in range(1, num_blocks + 1):
            if known[i, j, b]:
                continue
            swing = (scale[i] + scale[j]) * delta        # the pair's gain, either way
            mine = (rows[best, p] == b)
            theirs = (rows[:, p] == b)
            room = np.where(mine != theirs, swing, 0.0)
            worst_gap = worst_gap - room
            per_run[(i, j, b)] = room
    threat = worst_gap < 0
    return {k: float(v[threat].sum()) for k, v in per_run.items()}


def table_methods() -> dict[str, type[TableMethod]]:
    """``{sweep.method value: class}`` of every class in ``TABLE_METHODS``, in registration
    order (the one place a short name is mapped to its class)."""
    TABLE_METHODS.import_from_location()
    out: dict[str, type[TableMethod]] = {}
    for key, cls in TABLE_METHODS.module_dict.items():
        if cls.name in out:
            raise ConfigError(f'table methods {out[cls.name].__name__} and {key} both have '
                              f'name={cls.name!r}; give each its own')
        out[cls.name] = cls
    return out


def _option_names(cls: type[TableMethod]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != 'self'
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _options(cls: type[TableMethod], sweep: Mapping) -> dict:
    """The options ``sweep.<name>`` gives ``cls``, checked against its constructor."""
    given = sweep.get(cls.name) or {}
    if not isinstance(given, Mapping):
        raise ConfigError(f'sweep.{cls.name} must be a dict of options, got {given!r}')
    check_options(f'sweep.{cls.name}', given, _option_names(cls))
    return dict(given)


def build_table_method(sweep: Mapping | None) -> TableMethod:
    """The :class:`TableMethod` named by ``sweep.method`` (default 'pairwise'), built with
    its options from ``sweep.<name>``; a bad name or option is a ConfigError."""
    sweep = dict(sweep or {})
    method = sweep.get('method', 'pairwise')
    known = table_methods()
    if method not in known:
        raise ConfigError(f'sweep.method={method!r} is not known'
                          f'{did_you_mean(str(method), known)}; use one of {list(known)}')
    for name, cls in known.items():      # check every method's options, not only the one used
        if name != method and name in sweep:
            _options(cls, sweep)
    return known[method](**_options(known[method], sweep))
