"""The main job behind ``tools/recommend.py``: one config in, a recommendation in the work dir.

Table mode scores the config's two-task table. Full mode measures the backbone's block costs,
runs (a shard of) the two-task sweep, recommends, and exports one training config per
candidate; ``train_top`` trains the first few exported models and reports measured beside
estimated relative performance. The recommendation, its report, plot and files are the same
for every strategy (``recommender.type``).
"""
from __future__ import annotations

import contextlib
import json
import os
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mmengine.config import Config

from ..core.cost import CostModel
from ..core.table import TwoTaskTable
from ..errors import ConfigError, SweepError
from ..io.atomic import write_json
from ..io.config_file import dump_config
from ..recommenders.base import Recommendation
from ..visualization.report import print_comparison, print_report
from .config import build_cost_model, build_recommender, config_tasks, is_full_mode, load_table
from .export import export_configs
from .writers import write_comparison, write_recommendation

__all__ = ['RecommendationRun', 'run_recommendation', 'recommend_from_config', 'train_exported']


@dataclass
class RecommendationRun:
    """What :func:`run_recommendation` did."""
    status: str                                   # 'done' or 'shard_done'
    recommendation: Recommendation | None = None
    table: TwoTaskTable | None = None
    cost: CostModel | None = None
    paths: dict[str, str] = field(default_factory=dict)
    exported: list[str] = field(default_factory=list)
    train_top: list[dict] = field(default_factory=list)
    comparison: list[dict] | None = None


def recommend_from_config(cfg: Mapping, cfg_dir: str | None = None,
                          progress=None) -> Recommendation:
    """Table mode in memory: the config's recommender on its two-task table and block costs."""
    cfg = cfg if isinstance(cfg, Config) else Config(dict(cfg))
    config_tasks(cfg)
    recommender = build_recommender(cfg, progress)
    return recommender.recommend(*_table_mode_inputs(cfg, cfg_dir))


def _table_mode_inputs(cfg: Config, cfg_dir: str | None = None):
    """The table and the cost model of a table-mode config."""
    if cfg_dir is None and cfg.filename:
        cfg_dir = osp.dirname(osp.abspath(cfg.filename))
    cost = build_cost_model(cfg)
    table = _table_of(cfg, cfg_dir, cost, f'block_flops has {cost.num_blocks} value(s), one '
                                          'per branching point', 'give {B} block_flops values '
                                          '(the blocks of the backbone the table was measured '
                                          'on)')
    return table, cost


def _table_of(cfg: Config, cfg_dir: str | None, cost: CostModel, counted: str,
              fix: str) -> TwoTaskTable:
    """The config's ``two_task_table``, whose branching points (read from its branches) must
    be those the costs count: ``counted`` says who counts them, ``fix`` (with ``{B}``, the
    table's count) how to make them agree."""
    table = load_table(cfg, cfg_dir)
    if table.num_blocks != cost.num_blocks:
        raise ConfigError(f'{counted}, but the two_task_table {table.source} has branches '
                          f'0..{table.num_blocks}: {fix.format(B=table.num_blocks)}, or use the '
                          'table of this backbone')
    return table


def run_recommendation(cfg: Config, work_dir: str,
                       shard: tuple[int, int] | None = None, train_top: int = 0,
                       compare_budgets: Sequence[float] | None = None,
                       log: Callable[[str], None] | None = None, progress=None,
                       train_fn: Callable | None = None) -> RecommendationRun:
    """Run the whole job for ``cfg`` (as :func:`~.config.load_config` prepared it, every flag
    merged) and write everything to ``work_dir``.

    ``shard=(i, n)`` runs only that shard of the sweep (full mode).
    ``log`` receives the job's messages (default: the console and ``work_dir/recommend.log``,
    with a progress bar for the sweep).
    """
    full = is_full_mode(cfg)
    if full:
        from ..engine.cpu_dist import init_launched
        # a launched job's ranks agree from the first line on
        init_launched(cfg.get('launcher', 'none'), cfg.get('env_cfg'))
    sweep = cfg.get('sweep') or {}
    more_seeds, workers = sweep.get('more_seeds'), sweep.get('workers')
    if not full and (shard or train_top or more_seeds or workers):
        given = [flag for flag, value in (('--shard', shard), ('--train-top', train_top),
                                          ('--more-seeds (sweep.more_seeds)', more_seeds),
                                          ('--workers (sweep.workers)', workers))
                 if value]
        raise ConfigError(f'{" and ".join(given)} need(s) a config with a `model` to train '
                          '(full mode); this config only has a two-task table')
    if osp.exists(work_dir) and not osp.isdir(work_dir):
        raise ConfigError(f'--work-dir {work_dir!r} is a file, not a folder; choose a folder')
    tasks = config_tasks(cfg)
    recommender = build_recommender(cfg, progress)
    if full:
        from .preflight import check_before_training
        check_before_training(cfg, tasks, recommender, train_top,
                              sweep=not cfg.get('two_task_table'))
    os.makedirs(work_dir, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if log is None:
            from ..engine.job_log import JobLog
            log = JobLog(work_dir, 'recommend')
            stack.callback(log.close)
        if full:
            from ..models.backbone_profile import profile_cache_dir
            # the backbone is measured once; every sweep run and export reuses the profile
            stack.enter_context(profile_cache_dir(osp.join(work_dir, 'cache')))
            table, cost, table_info = _full_mode_inputs(cfg, tasks, recommender, work_dir,
                                                        shard, log, train_fn)
            if table is None:
                log(_still_running(shard))
                return RecommendationRun(status='shard_done')
        else:
            table, cost = _table_mode_inputs(cfg)
            table_info = dict(method='table', source=table.source)
        return _recommend_and_write(cfg, recommender, table, cost, table_info, work_dir, full,
                                    train_top, compare_budgets, log, train_fn)


def _recommend_and_write(cfg, recommender, table, cost, table_info, work_dir, full,
                         train_top, compare_budgets, log, train_fn) -> RecommendationRun:
    rec = recommender.recommend(table, cost)
    rec.table_info = table_info
    comparison = None
    if compare_budgets:
        from .compare import compare_strategies
        comparison = compare_strategies(cfg, table, cost, compare_budgets)
    config_copy = osp.join(work_dir, osp.basename(cfg.filename or 'config.py'))
    dump_config(cfg, config_copy)
    run = RecommendationRun(status='done', recommendation=rec, table=table, cost=cost,
                            comparison=comparison)
    run.paths = write_recommendation(rec, work_dir)
    print_report(rec, save_path=osp.join(work_dir, 'report.txt'))
    if comparison is not None:
        run.paths.update(write_comparison(comparison, work_dir, cost.flops_unit))
        run.paths['compare.txt'] = osp.join(work_dir, 'compare.txt')
        print_comparison(comparison, cost.flops_unit, run.paths['compare.txt'])
    if full:
        run.exported = export_configs(rec, recommender, config_copy, cfg.model,
                                      osp.join(work_dir, 'exported'),
                                      osp.join(work_dir, 'train'),
                                      sweep_dir=osp.join(work_dir, 'sweep'))
        if train_top:
            run.train_top = train_exported(run.exported[:train_top], rec, cfg, work_dir,
                                           log=log, train_fn=train_fn)
    return run


def _still_running(shard) -> str:
    """Why the job stops before recommending: other shards, or other processes holding runs
    of this sweep (the sweep has just named them, host:pid, from their claims)."""
    if shard is None:
        return ('[sweep] not recommending yet: the remaining runs are held by the processes '
                'named above. Run the same command again when they finish to merge and '
                'recommend.')
    return ('[sweep] this shard is done; other shards still have runs to finish. Run the same '
            'command without --shard (or after all shards) to merge and recommend.')


def _full_mode_inputs(cfg: Config, tasks: list[str], recommender, work_dir: str, shard, log,
                      train_fn):
    """Block costs from the backbone, then the sweep's table (or the config's CSV)."""
    from .sweep import measure_costs, sweep_table
    cost, backbone_info = measure_costs(cfg, tasks)
    recommender.check_feasible(cost, tasks)      # before any training, also for a shard
    num_blocks = cost.num_blocks
    log(f'[costs] {backbone_info["model_name"]} at {backbone_info["input_size"]}: '
        f'{len(backbone_info["detected"])} detected blocks -> {num_blocks} branching points; '
        f'{cost.flops_unit} per branching point (fvcore): '
        + ', '.join(f'{f:.4g}' for f in cost.block_flops))
    write_json(osp.join(work_dir, 'backbone_blocks.json'),
               json.loads(json.dumps(backbone_info, default=str)))
    if cfg.get('two_task_table'):
        cfg_dir = osp.dirname(osp.abspath(cfg.filename)) if cfg.filename else None
        table = _table_of(cfg, cfg_dir, cost, f'the backbone has {num_blocks} branching '
                          'point(s)', 'set model.backbone.num_branch_points (or block_groups) '
                          'to give {B}')
        return table, cost, dict(method='table', source=table.source)
    found = sweep_table(cfg, tasks, num_blocks, osp.join(work_dir, 'sweep'), shard=shard,
                        log=log, train_fn=train_fn)
    if found is None:
        return None, cost, None
    return found[0], cost, found[1]


def train_exported(paths: list[str], rec: Recommendation, cfg: Config, work_dir: str,
                   log: Callable[[str], None] = print, train_fn: Callable | None = None
                   ) -> list[dict]:
    """Train exported configs with the sweep's schedule; measured vs estimated Δ per task,
    against the sweep's single-task runs of the same seed (:mod:`.single_task`)."""
    from ..engine.runner import train_and_evaluate
    from .single_task import compare_with_single_task
    train_fn = train_fn or train_and_evaluate
    overrides = (cfg.get('sweep') or {}).get('overrides') or {}
    rows = []
    for path, item in zip(paths, rec.top):
        run_cfg = Config.fromfile(path)
        run_cfg.work_dir = osp.join(work_dir, 'train_top', f'rank{item.rank}')
        run_cfg.experiment_name = f'train_top_rank{item.rank}'
        run_cfg.default_hooks['checkpoint'] = None
        if overrides:
            run_cfg.merge_from_dict(dict(overrides))
        log(f'[train-top] training rank {item.rank} ({path})')
        metrics = train_fn(run_cfg)
        compared = compare_with_single_task(run_cfg, metrics, 'val')
        if compared['problems']:
            raise SweepError(f'rank {item.rank} cannot be compared with the single-task '
                             f'models: {"; ".join(compared["problems"])}')
        measured = {t: compared['tasks'][t]['measured'] for t in item.estimates}
        rows.append(dict(rank=item.rank, **item.structure(), metrics=metrics,
                         estimated=item.estimates, measured=measured,
                         estimated_mean=sum(item.estimates.values()) / len(item.estimates),
                         measured_mean=sum(measured.values()) / len(measured),
                         single_task_runs={t: r['runs'] for t, r in compared['tasks'].items()},
                         like_for_like=all(r['like_for_like']
                                           for r in compared['tasks'].values())))
    write_json(osp.join(work_dir, 'train_top.json'), rows)
    for row in rows:
        tasks = ', '.join(f'{t}: est {row["estimated"][t]:+.2f} / measured '
                          f'{row["measured"][t]:+.2f}' for t in row['estimated'])
        log(f'rank {row["rank"]} relative performance (%) -- {tasks}; mean est '
            f'{row["estimated_mean"]:+.2f} / measured {row["measured_mean"]:+.2f}')
    return rows
