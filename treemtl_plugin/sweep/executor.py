"""Run the two-task sweep with mmengine runners: resumable, shardable, safe to run twice.

* **Fingerprints.** Each finished run writes ``<sweep_dir>/runs/<run_id>/metrics.json``
  atomically, with the fingerprint of its config (:mod:`.fingerprint`). A later sweep reuses
  a run only if its file is valid and its fingerprint matches the current config; stale and
  corrupt results are reported (how many, which file, why) and trained again.
* **Claims.** Several processes may work on one sweep dir (two shards, the same command
  started twice, Slurm arrays on a shared file system): each run is claimed atomically
  (:mod:`.claims`) before it is trained, so a run is trained by one process only, and only its
  owner ever clears or writes its folder.
* **Shards.** ``shard=(i, n)`` takes every n-th run; the last process to finish merges.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from mmengine.config import Config

from ..checks import check_int
from ..engine.runner import EXTRAS_KEY, TEST_AFTER_TRAIN, TEST_METRICS_KEY, train_and_evaluate
from ..errors import SweepError
from ..evaluation.relative_performance import reported_metric_names
from ..io.atomic import write_json
from .claims import CLAIM_FILE, claim_owner, try_claim
from .fingerprint import run_fingerprint
from .plan import SweepRun, shard_runs
from .results import METRICS_FILE, run_statuses, usual_metric_names
from .run_config import run_config
from .workers import run_in_workers

__all__ = ['SweepExecutor', 'SweepReport', 'METRICS_FILE', 'sweep_workers', 'sweep_threads']


def sweep_workers(value) -> int:
    """``sweep.workers``: runs trained at once on this machine (default 1)."""
    if value is None:
        return 1
    return check_int('sweep.workers', value, low=1)


def sweep_threads(value) -> int | None:
    """``sweep.threads``: torch threads per run (None: torch's default, every core)."""
    if value is None:
        return None
    return check_int('sweep.threads', value, low=1)


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}h{minutes:02d}m{secs:02d}s' if hours else f'{minutes}m{secs:02d}s'


@dataclass
class SweepReport:
    """What :meth:`SweepExecutor.execute` did."""
    planned: int
    in_shard: int
    reused: int
    trained: list[str] = field(default_factory=list)
    stale: dict[str, str] = field(default_factory=dict)        # run id -> what changed
    corrupt: dict[str, str] = field(default_factory=dict)      # run id -> path and reason
    claimed_elsewhere: dict[str, str] = field(default_factory=dict)   # run id -> host:pid
    seconds: float = 0.0


class SweepExecutor:
    """Trains the runs of (a shard of) the sweep that have no valid, current result.

    ``overrides`` replace the config's ``sweep.overrides`` (e.g. the validation schedule).
    """

    def __init__(self, cfg: Config, runs: list[SweepRun], sweep_dir: str,
                 shard: tuple[int, int] | None = None,
                 train_fn: Callable[[Config], dict] | None = None,
                 log: Callable[[str], None] = print, overrides=None, progress=None):
        self.cfg = cfg
        self.all_runs = runs
        self.runs = shard_runs(runs, shard)
        self.shard = shard
        self.sweep_dir = sweep_dir
        self.runs_dir = osp.join(sweep_dir, 'runs')
        self.train_fn = train_fn      # None: SweepRunner's train_and_evaluate
        self.progress = progress      # progress(total) -> bar with started()/finished()
        self.parallel = 1             # processes sharing the runs (for the ETA)
        self.log = log
        settings = cfg.get('sweep') or {}
        keep = bool(settings.get('keep_checkpoints', False))
        self.workers = sweep_workers(settings.get('workers'))
        self.threads = sweep_threads(settings.get('threads'))
        self.overrides = overrides
        extra = {} if overrides is None else dict(overrides=overrides)
        self.configs = {r.run_id: run_config(cfg, r.tasks, r.layout(), self.run_dir(r),
                                             r.run_id, keep_checkpoints=keep, seed=r.seed,
                                             hooks=r.hooks, **extra) for r in runs}
        # single-task runs are also scored on a separate test split: the baselines that
        # tools/test.py compares a trained model with (never read by the recommendation);
        # not the runs that only measure (hooks) or train a given layout (the study's)
        for run in runs:
            run_cfg = self.configs[run.run_id]
            if run.is_single and not run.hooks and run.blocks is None and \
                    run_cfg.get('test_dataloader') and \
                    run_cfg.get('test_evaluator') and \
                    run_cfg.test_dataloader != run_cfg.get('val_dataloader'):
                run_cfg[TEST_AFTER_TRAIN] = True
        self.fingerprints = {rid: run_fingerprint(c, c.model.tasks,
                                                  tested=bool(c.get(TEST_AFTER_TRAIN)))
                             for rid, c in self.configs.items()}
        self.known_metric_names = reported_metric_names(
            cfg.get('val_evaluator'), sorted({t for r in runs for t in r.tasks}))
        self.metric_names = None      # per task, set by statuses() from every planned run

    def run_dir(self, run: SweepRun) -> str:
        return osp.join(self.runs_dir, run.run_id)

    def statuses(self, runs: list[SweepRun]) -> list:
        """:func:`run_statuses` of ``runs``, with the metric names each task must report
        taken from the evaluator where known, else from every planned run (all shards), so
        that a shard or a single run is judged like the whole sweep."""
        if self.metric_names is None:
            finished = [s.record for s in run_statuses(self.runs_dir, self.all_runs,
                                                       self.fingerprints, {})
                        if s.state == 'finished']
            self.metric_names = usual_metric_names(finished, self.known_metric_names)
        return run_statuses(self.runs_dir, runs, self.fingerprints, self.metric_names)

    def _to_retest(self, statuses: list) -> list:
        """With the plugin's own training, a finished single-task baseline recorded before
        baselines were also tested (no test-split metrics) is trained again, once: the table
        can use it, ``tools/test.py``'s comparison cannot."""
        for status in statuses:
            if self.train_fn is None and status.state == 'finished' and \
                    self.configs[status.run.run_id].get(TEST_AFTER_TRAIN) and \
                    not isinstance(status.record.get('test_metrics'), dict):
                status.state, status.reason = 'stale', (
                    'it has no test-split metrics (recorded before single-task runs were '
                    'also tested)')
        return statuses

    def results(self) -> dict[str, dict]:
        """Valid, current results of every planned run (all shards), by run id."""
        self.metric_names = None      # runs may have finished since the last look
        return {s.run.run_id: s.record for s in self.statuses(self.all_runs)
                if s.state == 'finished'}

    def execute(self) -> SweepReport:
        """Train every run of this shard without a valid, current result."""
        from ..engine.cpu_dist import init_launched
        # all ranks of a launched job train the same runs
        init_launched(self.cfg.get('launcher', 'none'), self.cfg.get('env_cfg'))
        os.makedirs(self.runs_dir, exist_ok=True)
        statuses = self._to_retest(self.statuses(self.runs))
        report = SweepReport(planned=len(self.all_runs), in_shard=len(self.runs),
                             reused=sum(s.state == 'finished' for s in statuses))
        report.stale = {s.run.run_id: s.reason for s in statuses if s.state == 'stale'}
        report.corrupt = {s.run.run_id: s.reason for s in statuses if s.state == 'corrupt'}
        todo = [s.run for s in statuses if s.state != 'finished']
        self._log_plan(report, len(todo))
        start = time.perf_counter()
        bar = self.progress(len(todo)) if self.progress is not None else contextlib.nullcontext()
        with bar as events:
            if self.workers > 1 and todo:
                run_in_workers(self, todo, report, events)
            else:
                self.train_runs(todo, report.trained, report.claimed_elsewhere, events)
        report.seconds = time.perf_counter() - start
        if report.claimed_elsewhere:
            owners = sorted(set(report.claimed_elsewhere.values()))
            self.log(f'[sweep] {len(report.claimed_elsewhere)} run(s) are being trained by '
                     f'other processes ({", ".join(owners)}); run the command again when they '
                     'finish to merge the results')
        return report

    def train_runs(self, todo: list[SweepRun], trained: list[str],
                   claimed_elsewhere: dict[str, str] | None = None, events=None) -> None:
        """Claim and train ``todo`` one after another in this process (all ranks together);
        appends the runs it trained to ``trained``, records runs other processes hold, and
        tells ``events`` (``started(run_id)``, ``finished(run_id)``) about its progress."""
        from mmengine.dist import broadcast_object_list, is_main_process
        durations: list[float] = []
        done = skipped = 0
        for k, run in enumerate(todo, start=1):
            claim = try_claim(self.run_dir(run)) if is_main_process() else None
            decision = [claim is not None]
            broadcast_object_list(decision)          # every rank trains the same runs
            if not decision[0]:
                skipped += 1
                if claimed_elsewhere is not None:
                    claimed_elsewhere[run.run_id] = claim_owner(self.run_dir(run)) or '?'
                continue
            try:
                if self._to_retest(self.statuses([run]))[0].state == 'finished':
                    continue                       # finished by another process meanwhile
                self._clear(run)
                eta = ''
                if durations:    # runs left (shared by `parallel` processes) x mean duration
                    mean = sum(durations) / len(durations)
                    left = (len(todo) - done - skipped) / self.parallel
                    eta = f', ETA {_format_seconds(mean * left)} (~{mean:.1f} s/run)'
                self.log(f'[sweep] run {k}/{len(todo)}: {run.run_id} {run.describe()}{eta}')
                if events is not None:
                    events.started(run.run_id)
                seconds, metrics = self._train(run)
                durations.append(seconds)
                trained.append(run.run_id)
                done += 1
                if events is not None:
                    events.finished(run.run_id)
                self.log(f'[sweep] finished {run.run_id} in {seconds:.1f} s: '
                         + ', '.join(f'{key}={value:.4g}' for key, value in metrics.items()))
            finally:
                if claim is not None:
                    claim.release()

    def _log_plan(self, report: SweepReport, todo: int) -> None:
        shard = '' if self.shard is None else f' (shard {self.shard[0]}/{self.shard[1]})'
        self.log(f'[sweep] {report.planned} runs planned, {report.in_shard} in this job{shard}: '
                 f'{report.reused} already finished, {todo} to train'
                 + (f' ({len(report.stale)} stale, {len(report.corrupt)} corrupt)'
                    if report.stale or report.corrupt else ''))
        for run_id, why in report.stale.items():
            self.log(f'[sweep] retraining {run_id}: {why}')
        for run_id, why in report.corrupt.items():
            self.log(f'[sweep] retraining {run_id}: {why}')

    def _clear(self, run: SweepRun) -> None:
        """Empty the run's folder (an interrupted or invalid run restarts from scratch);
        only called by the claim's owner, and keeps the claim. A finished result of another
        configuration (stale) is never deleted: it moves to ``superseded/`` beside ``runs/``."""
        folder = self.run_dir(run)
        if osp.isfile(osp.join(folder, METRICS_FILE)):
            keep = osp.join(osp.dirname(self.runs_dir), 'superseded',
                            f'{run.run_id}__{time.strftime("%Y%m%d_%H%M%S")}')
            os.makedirs(keep, exist_ok=True)
            for name in os.listdir(folder):
                if name != CLAIM_FILE:
                    shutil.move(osp.join(folder, name), osp.join(keep, name))
            self.log(f'[sweep] kept the earlier result of {run.run_id} in {keep}')
            return
        for name in os.listdir(folder):
            if name != CLAIM_FILE:
                path = osp.join(folder, name)
                shutil.rmtree(path) if osp.isdir(path) and not osp.islink(path) \
                    else os.remove(path)

    def _train(self, run: SweepRun) -> tuple[float, dict]:
        from mmengine.dist import is_main_process
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        start = time.perf_counter()
        try:
            metrics = dict((self.train_fn or train_and_evaluate)(self.configs[run.run_id]))
            extras = metrics.pop(EXTRAS_KEY, None)
            test_metrics = metrics.pop(TEST_METRICS_KEY, None)
        except Exception as err:
            raise SweepError(f'sweep run {run.run_id} failed ({type(err).__name__}: {err}). '
                             'Finished runs are kept; run the sweep again to retry this one.'
                             ) from err
        seconds = time.perf_counter() - start
        if is_main_process():
            write_json(osp.join(self.run_dir(run), METRICS_FILE), dict(
                run_id=run.run_id, tasks=list(run.tasks), branch=run.branch,
                num_blocks=run.num_blocks, layout=run.layout().to_list(), metrics=metrics,
                fingerprint=self.fingerprints[run.run_id], seconds=seconds,
                threads=torch.get_num_threads(),
                **({} if extras is None else dict(extras=extras)),
                **({} if test_metrics is None else dict(test_metrics=test_metrics))))
        return seconds, metrics
