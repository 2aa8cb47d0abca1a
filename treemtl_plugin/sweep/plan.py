"""Plan of the two-task sweep: T single-task runs and C(T,2)·B two-task runs (pure python).

Run ``pair__a__b__b3`` trains tasks ``a`` and ``b`` sharing the first 3 blocks and branching
apart after them; ``single__a`` trains task ``a`` alone (branch 0 of every pair). A pair's tasks
are in sorted order, so a run's name (and config) does not depend on the order of the tasks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations

from ..checks import check_int, check_int_list, is_int
from ..core.layout import Layout
from ..errors import ConfigError


@dataclass(frozen=True)
class SweepRun:
    """One training: of the sweep (a single task, or a pair sharing ``branch`` blocks), or of
    any layout (``blocks`` given, e.g. the validation study's), optionally with its own seed."""
    run_id: str
    tasks: tuple[str, ...]
    branch: int | None        # shared leading blocks (pairs only)
    num_blocks: int
    seed: int | None = None   # None: the config's randomness.seed
    blocks: tuple | None = None   # an explicit layout (canonical JSON form)
    hooks: tuple = ()         # extra mmengine hook configs (measurements) for this run

    @property
    def is_single(self) -> bool:
        return len(self.tasks) == 1

    def describe(self) -> str:
        """What this run trains, for progress lines: its tasks and how they share."""
        if self.blocks is not None:
            return f'layout {self.layout().short()}'
        if self.is_single:
            return f'single task {self.tasks[0]}'
        return f'tasks={list(self.tasks)} shared blocks={self.branch}'

    def layout(self) -> Layout:
        """The tree of this run: shared up to ``branch``, separate after it (pairs)."""
        if self.blocks is not None:
            return Layout(self.blocks, tasks=self.tasks)
        if self.is_single:
            return Layout.all_shared(self.tasks, self.num_blocks)
        a, b = self.tasks
        blocks = [[[a, b]] if k < self.branch else [[a], [b]] for k in range(self.num_blocks)]
        return Layout(blocks, tasks=self.tasks)




def _safe(task: str) -> str:
    if not re.fullmatch(r'[A-Za-z0-9_.-]+', task) or '__' in task:
        raise ConfigError(f'task name {task!r} cannot name a sweep run: use letters, digits, '
                         "'_', '.', '-' (no double underscore)")
    return task


#: the largest seed numpy, torch and Python's random all accept; the most seeds per entry
MAX_SEED, MAX_SEEDS = 2 ** 32 - 1, 1000


def sweep_seeds(value) -> list[int] | None:
    """``sweep.seeds``: None (one run per entry, the config's seed), a count N (seeds
    0..N-1) or a list of seeds."""
    if value is None:
        return None
    if is_int(value):
        return list(range(check_int('sweep.seeds (a count)', value, low=1, high=MAX_SEEDS)))
    return check_int_list('sweep.seeds (a count or a list of seeds)', value, low=0,
                          high=MAX_SEED, unique=True)


def plan_sweep(tasks: list[str] | tuple[str, ...], num_blocks: int,
               seeds: list[int] | None = None) -> list[SweepRun]:
    """All runs of the sweep in a fixed order that does not depend on the order of ``tasks``:
    single-task runs, then pairs by branch, tasks sorted by name; with ``seeds``, every run
    once per seed (``<run>__s<seed>``), seed by seed."""
    tasks = tuple(sorted(_safe(t) for t in tasks))
    if len(set(tasks)) != len(tasks) or len(tasks) < 2:
        raise ConfigError(f'the sweep needs at least two distinct tasks, got {list(tasks)}')
    if num_blocks < 1:
        raise ConfigError(f'num_blocks must be >= 1, got {num_blocks}')
    runs = [SweepRun(f'single__{t}', (t,), None, num_blocks) for t in tasks]
    for a, b in (sorted(pair) for pair in combinations(tasks, 2)):
        for branch in range(1, num_blocks + 1):
            runs.append(SweepRun(f'pair__{a}__{b}__b{branch}', (a, b), branch, num_blocks))
    if seeds is None:
        return runs
    return [SweepRun(f'{r.run_id}__s{s}', r.tasks, r.branch, num_blocks, seed=s, hooks=r.hooks)
            for s in seeds for r in runs]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``'2/4'`` -> (2, 4): the 2nd of 4 shards (1-based, as Slurm array ids 1..4)."""
    if text is None:
        return None
    match = re.fullmatch(r'\s*(\d+)\s*/\s*(\d+)\s*', str(text))
    if not match:
        raise ConfigError(f'--shard must look like i/n (e.g. 1/4), got {text!r}')
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ConfigError(f'--shard {text}: need 1 <= i <= n (shards are numbered from 1)')
    return index, count


def shard_runs(runs: list[SweepRun], shard: tuple[int, int] | None) -> list[SweepRun]:
    """Runs of one shard: every n-th run starting at the i-th (balances singles and pairs)."""
    if shard is None:
        return list(runs)
    index, count = shard
    return [run for k, run in enumerate(runs) if k % count == index - 1]
