"""Concurrent sweep runs on one machine: ``sweep = dict(workers=N)`` or ``--workers N``.

N worker processes (``spawn``: a fresh interpreter, safe after the parent used OpenMP) work
through the same list of runs; the runs' claims (:mod:`.claims`) hand each run to exactly one
of them, so results, resume and fingerprints are those of a single process. On GPUs each
worker gets one device (round-robin over ``CUDA_VISIBLE_DEVICES``); on CPUs each gets a
thread budget of ``cores // N`` (or ``sweep.threads``), set through torch and the
OpenMP/BLAS environment before it imports torch, so the sweep never runs more threads than
cores. Workers send their progress lines to the parent, which prints them in order.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
from collections.abc import Iterator

from ..errors import SweepError
from .claims import claim_owner

__all__ = ['run_in_workers', 'thread_budget', 'worker_devices', 'THREAD_ENV']

THREAD_ENV = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
              'NUMEXPR_NUM_THREADS')


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        return os.cpu_count() or 1


def thread_budget(workers: int, threads: int | None = None, cores: int | None = None) -> int:
    """Threads per worker: ``threads`` if given, else ``cores // workers`` (at least 1)."""
    if threads is not None:
        return threads
    return max(1, (cores or available_cores()) // workers)


def worker_devices(workers: int) -> list[str | None]:
    """The CUDA device of each worker (round-robin), or None on a machine without GPUs."""
    import torch
    if not torch.cuda.is_available():
        return [None] * workers
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    ids = [d.strip() for d in visible.split(',') if d.strip()] if visible else \
        [str(k) for k in range(torch.cuda.device_count())]
    return [ids[k % len(ids)] for k in range(workers)]


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set environment variables for a child process started inside the block."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Events:
    """A worker's progress events, sent to the parent."""

    def __init__(self, messages):
        self.messages = messages

    def started(self, run_id: str) -> None:
        self.messages.put(('started', run_id))

    def finished(self, run_id: str) -> None:
        self.messages.put(('finished', run_id))


def _worker(executor_cls, cfg_dict: dict, filename: str | None, runs, sweep_dir: str,
            overrides, train_fn, threads: int, parallel: int, messages) -> None:
    """One worker: trains the runs it manages to claim; reports lines and its outcome."""
    import torch
    from mmengine.config import Config
    torch.set_num_threads(threads)
    # the worker itself was spawned; its runs may fork (data loaders), as in a plain process
    multiprocessing.set_start_method('fork', force=True)
    try:
        cfg = Config(cfg_dict, filename=filename)
        cfg.setdefault('sweep', {})['workers'] = 1
        cfg.sweep['threads'] = threads
        executor = executor_cls(cfg, runs, sweep_dir, train_fn=train_fn,
                                log=lambda line: messages.put(('log', line)),
                                overrides=overrides)
        executor.parallel = parallel
        trained: list[str] = []
        executor.train_runs(runs, trained=trained, events=_Events(messages))
        messages.put(('done', trained))
    except BaseException as err:   # report it to the parent, which raises it
        messages.put(('error', str(err) if isinstance(err, SweepError) else   # says it all
                      f'a sweep worker failed: {type(err).__name__}: {err}. Finished runs '
                      'are kept; run the sweep again to retry.'))


def run_in_workers(executor, todo, report, events=None) -> None:
    """Train ``todo`` with ``executor.workers`` processes; fills ``report`` like a single
    process would."""
    from mmengine.dist import get_world_size
    workers = min(executor.workers, len(todo))
    if get_world_size() > 1:
        raise SweepError('sweep.workers > 1 runs several trainings on one machine; with a '
                         'distributed launcher every run already uses all ranks: add '
                         '--workers 1 (sweep.workers=1)')
    try:
        pickle.dumps(executor.train_fn)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise SweepError(f'sweep.workers={executor.workers} trains in separate processes, '
                         f'which need a picklable train_fn ({err}); use a module-level '
                         'function or sweep.workers=1') from None
    threads = thread_budget(workers, executor.threads)
    devices = worker_devices(workers)
    executor.log(f'[sweep] {workers} workers, {threads} thread(s) each'
                 + ('' if devices[0] is None else f', GPUs {devices}'))
    ctx = multiprocessing.get_context('spawn')
    messages = ctx.Queue()
    processes = []
    from ..models.backbone_profile import CACHE_ENV, get_profile_cache_dir
    cache = get_profile_cache_dir()     # the workers reuse the parent's backbone profiles
    for device in devices:
        env = {k: str(threads) for k in THREAD_ENV}
        if cache is not None:
            env[CACHE_ENV] = os.path.abspath(cache)
        if device is not None:
            env['CUDA_VISIBLE_DEVICES'] = device
        proc = ctx.Process(target=_worker, daemon=True, args=(
            type(executor), executor.cfg.to_dict(), executor.cfg.filename, todo,
            executor.sweep_dir,
            executor.overrides, executor.train_fn, threads, workers, messages))
        with _environment(env):
            proc.start()
        processes.append(proc)
    errors, running = [], len(processes)
    try:
        while running:
            try:
                kind, payload = messages.get(timeout=5)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    break
                continue
            if kind == 'log':
                executor.log(payload)
            elif kind in ('started', 'finished'):
                if events is not None:
                    getattr(events, kind)(payload)
            else:
                running -= 1
                if kind == 'done':
                    report.trained.extend(payload)
                else:
                    errors.append(payload)
    finally:
        for proc in processes:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    if errors:
        raise SweepError(errors[0])
    for run in todo:                     # held by processes outside this sweep
        owner = None if run.run_id in report.trained else claim_owner(executor.run_dir(run))
        if owner is not None:
            report.claimed_elsewhere[run.run_id] = owner
