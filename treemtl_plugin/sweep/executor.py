"""Run the two-task sweep with mmengine runners, resumably and shardably.

Each finished run writes ``<sweep_dir>/runs/<run_id>/metrics.json`` atomically (write to a
temporary file, then rename): it is the run's completion marker. Running the sweep again skips
finished runs and restarts interrupted ones from scratch (their folder is cleared), so a killed
sweep loses only the run in flight. ``shard=(i, n)`` runs every n-th run: shards can run in
parallel jobs (Slurm arrays, several GPUs) on a shared file system; ``collect`` merges them.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
import time
from collections.abc import Callable

from mmengine.config import Config

from ..engine.runner import train_and_evaluate
from ..errors import SweepError
from ..io.atomic import write_json
from .plan import SweepRun, shard_runs
from .run_config import run_config

METRICS_FILE = 'metrics.json'


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
                write_json(osp.join(run_dir, METRICS_FILE), dict(
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
