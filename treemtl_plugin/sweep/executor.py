"""Run the two-task sweep with mmengine runners, resumably and shardably.

Each finished run writes ``<sweep_dir>/runs/<run_id>/metrics.json`` atomically (write to a
temporary file, then rename): it is the run's completion marker. Running the sweep again skips
finished runs and restarts interrupted ones from scratch (their folder is cleared), so a killed
sweep loses only the run in flight. ``shard=(i, n)`` runs every n-th run: shards can run in
parallel jobs (Slurm arrays, several GPUs) on a shared file system; ``collect`` merges them.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import os.path as osp
import shutil
import time
from collections.abc import Callable

from mmengine.config import Config

from .plan import SweepRun, shard_runs

METRICS_FILE = 'metrics.json'


class SweepError(RuntimeError):
    """A sweep that cannot run or cannot be merged (message says which runs and why)."""


def _set_tasks(node, tasks: list[str]) -> None:
    """Restrict a dataset config (possibly wrapped) to ``tasks`` where it takes a task list."""
    if not isinstance(node, dict):
        return
    if 'dataset' in node:
        _set_tasks(node['dataset'], tasks)
    if 'datasets' in node:
        for child in node['datasets']:
            _set_tasks(child, tasks)
    if node.get('type') in _TASK_DATASETS or 'tasks' in node:
        node['tasks'] = list(tasks)


_TASK_DATASETS = {'SyntheticSceneDataset', 'NYUv2Dataset', 'TaskonomyDataset'}


def run_config(cfg: Config, tasks: list[str] | tuple[str, ...], layout, work_dir: str,
               experiment_name: str, keep_checkpoints: bool = False) -> Config:
    """The training config of a tree over ``tasks`` with ``layout``, derived from ``cfg``.

    ``cfg`` must define ``task_heads = {task: dict(head=..., loss=...)}`` for every task and
    a ``model`` of type ``TreeMultiTaskModel``; datasets and the evaluator are restricted to
    ``tasks``.
    """
    heads = cfg.get('task_heads')
    if not heads:
        raise SweepError('the config has no `task_heads`: give '
                         "task_heads = {task: dict(head=..., loss=...)} for every task")
    missing = [t for t in tasks if t not in heads]
    if missing:
        raise SweepError(f'task_heads has no head/loss for task(s) {missing}; it defines '
                         f'{sorted(heads)}')
    new = Config(copy.deepcopy(cfg.to_dict()), filename=cfg.filename)
    new.model.tasks = {t: copy.deepcopy(heads[t]) for t in tasks}
    new.model.layout = layout.to_list() if hasattr(layout, 'to_list') else layout
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if new.get(key):
            _set_tasks(new[key], list(tasks))
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = new.get(key)
        metrics = evaluator if isinstance(evaluator, list) else [evaluator]
        for metric in metrics:
            if isinstance(metric, dict) and metric.get('type') == 'MultiTaskMetric':
                metric['tasks'] = list(tasks)
    new.work_dir = work_dir
    new.experiment_name = experiment_name
    if not keep_checkpoints:
        new.setdefault('default_hooks', {})
        new.default_hooks['checkpoint'] = None
    return new


def write_json_atomic(path: str, data) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def train_and_evaluate(cfg: Config) -> dict:
    """Train with an mmengine Runner, then validate once; returns the metrics."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
        metrics = runner.val()
    finally:
        _close_logger(runner)
    return {k: float(v) for k, v in (metrics or {}).items()}


def _close_logger(runner) -> None:
    """Close the run's log file handlers (many runs in one process would leak them)."""
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}h{minutes:02d}m{secs:02d}s' if hours else f'{minutes}m{secs:02d}s'


class SweepExecutor:
    """Runs (a shard of) the sweep's runs; finished runs are skipped on restart."""

    def __init__(self, cfg: Config, runs: list[SweepRun], sweep_dir: str,
                 shard: tuple[int, int] | None = None,
                 train_fn: Callable[[Config], dict] = train_and_evaluate,
                 log: Callable[[str], None] = print):
        self.cfg = cfg
        self.all_runs = runs
        self.runs = shard_runs(runs, shard)
        self.shard = shard
        self.sweep_dir = sweep_dir
        self.train_fn = train_fn
        self.log = log

    def run_dir(self, run: SweepRun) -> str:
        return osp.join(self.sweep_dir, 'runs', run.run_id)

    def is_finished(self, run: SweepRun) -> bool:
        return osp.isfile(osp.join(self.run_dir(run), METRICS_FILE))

    def execute(self) -> dict:
        """Run every unfinished run of the shard; returns counts and timings."""
        from mmengine.dist import broadcast_object_list, is_main_process
        os.makedirs(osp.join(self.sweep_dir, 'runs'), exist_ok=True)
        sweep_cfg = dict(self.cfg.get('sweep', {}) or {})
        overrides = sweep_cfg.get('overrides') or {}
        todo = [r for r in self.runs if not self.is_finished(r)]
        decision = [todo]
        broadcast_object_list(decision)      # every rank runs the same list
        todo = decision[0]
        shard_text = '' if self.shard is None else f' (shard {self.shard[0]}/{self.shard[1]})'
        self.log(f'[sweep] {len(self.all_runs)} runs planned, {len(self.runs)} in this job'
                 f'{shard_text}: {len(self.runs) - len(todo)} already finished, '
                 f'{len(todo)} to train')
        durations: list[float] = []
        for k, run in enumerate(todo, start=1):
            run_dir = self.run_dir(run)
            if is_main_process() and osp.isdir(run_dir):
                shutil.rmtree(run_dir)       # an interrupted run restarts from scratch
            eta = ''
            if durations:
                mean = sum(durations) / len(durations)
                eta = (f', ETA {_format_seconds(mean * (len(todo) - k + 1))} '
                       f'(~{mean:.1f} s/run)')
            self.log(f'[sweep] run {k}/{len(todo)}: {run.run_id} tasks={list(run.tasks)} '
                     f'shared blocks={run.branch if run.branch is not None else "all"}{eta}')
            cfg = run_config(self.cfg, run.tasks, run.layout(), run_dir, run.run_id,
                             keep_checkpoints=bool(sweep_cfg.get('keep_checkpoints', False)))
            if overrides:
                cfg.merge_from_dict(dict(overrides))
            start = time.perf_counter()
            try:
                metrics = self.train_fn(cfg)
            except Exception as err:
                raise SweepError(f'sweep run {run.run_id} failed ({type(err).__name__}: '
                                 f'{err}). Finished runs are kept; run the sweep again to '
                                 'retry this one.') from err
            seconds = time.perf_counter() - start
            durations.append(seconds)
            if is_main_process():
                os.makedirs(run_dir, exist_ok=True)
                write_json_atomic(osp.join(run_dir, METRICS_FILE), dict(
                    run_id=run.run_id, tasks=list(run.tasks), branch=run.branch,
                    num_blocks=run.num_blocks, layout=run.layout().to_list(),
                    metrics=metrics, seconds=seconds))
            self.log(f'[sweep] finished {run.run_id} in {seconds:.1f} s: '
                     + ', '.join(f'{key}={value:.4g}' for key, value in metrics.items()))
        return dict(planned=len(self.all_runs), in_shard=len(self.runs), trained=len(todo),
                    seconds=sum(durations))


def load_results(sweep_dir: str) -> dict[str, dict]:
    """Every finished run's record under ``sweep_dir``, by run id."""
    records = {}
    runs_dir = osp.join(sweep_dir, 'runs')
    if not osp.isdir(runs_dir):
        return records
    for name in sorted(os.listdir(runs_dir)):
        path = osp.join(runs_dir, name, METRICS_FILE)
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                records[name] = json.load(f)
    return records
