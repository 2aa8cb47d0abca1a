"""Merge finished sweep runs into the two-task table.

See ``docs/advanced/method.md``, "Two-task table" and "Relative performance".
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..core.table import TwoTaskTable
from ..errors import SweepError
from ..evaluation.relative_performance import relative_performance
from .plan import SweepRun


def missing_runs(runs: list[SweepRun], records: Mapping[str, dict]) -> list[str]:
    return [r.run_id for r in runs if r.run_id not in records]


def per_seed_values(runs: list[SweepRun], records: Mapping[str, dict], tasks: list[str],
                    num_blocks: int, directions: Mapping[str, int] | None = None
                    ) -> dict:
    """``{seed: (T, T, B+1) array}``: each pair run's relative performance against the
    single-task run of the same seed (seed None: runs without their own seed)."""
    index = {t: k for k, t in enumerate(tasks)}
    singles = {(r.tasks[0], r.seed): records[r.run_id]['metrics'] for r in runs if r.is_single}
    out: dict = {}
    for run in runs:
        if run.is_single:
            continue
        values = out.setdefault(run.seed, np.zeros((len(tasks), len(tasks), num_blocks + 1)))
        metrics = records[run.run_id]['metrics']
        for me, other in (run.tasks, run.tasks[::-1]):
            values[index[me], index[other], run.branch] = relative_performance(
                metrics, singles[(me, run.seed)], me, directions=directions)
    return out


def build_two_task_table(runs: list[SweepRun], records: Mapping[str, dict],
                         tasks: list[str], num_blocks: int,
                         directions: Mapping[str, int] | None = None,
                         source: str = '<sweep>') -> TwoTaskTable:
    """``A[i, j, b]`` = task i's relative performance (%) in pair run (i, j, b) vs its
    single-task run, over the task's metrics (Maninis et al. 2019); with several seeds, the
    mean over seeds of the per-seed values (each pair run against the single-task run of its
    own seed)."""
    missing = missing_runs(runs, records)
    if missing:
        shown = ', '.join(missing[:10]) + (f' ... and {len(missing) - 10} more'
                                           if len(missing) > 10 else '')
        raise SweepError(f'{len(missing)} of {len(runs)} sweep runs have no results yet '
                         f'({shown}). Run the remaining shards (or the sweep without --shard) '
                         'before merging.')
    seeds = per_seed_values(runs, records, list(tasks), num_blocks, directions)
    values = np.mean(np.stack(list(seeds.values())), axis=0)
    return TwoTaskTable(tasks=tuple(tasks), num_blocks=num_blocks, values=values,
                        source=source)


def seed_spread(runs, records, tasks, num_blocks, directions=None) -> np.ndarray | None:
    """(T, T, B+1) standard deviation over seeds of the table's entries (None: one seed)."""
    seeds = per_seed_values(runs, records, list(tasks), num_blocks, directions)
    if len(seeds) < 2:
        return None
    return np.std(np.stack(list(seeds.values())), axis=0, ddof=1)
