"""Merge finished sweep runs into the two-task table.

See ``docs/method.md``, "Two-task table" and "Relative performance".
"""
from __future__ import annotations

from collections.abc import Mapping

from ..core.table import TwoTaskTable
from ..errors import SweepError
from ..evaluation.relative_performance import relative_performance
from .plan import SweepRun


def missing_runs(runs: list[SweepRun], records: Mapping[str, dict]) -> list[str]:
    return [r.run_id for r in runs if r.run_id not in records]


def build_two_task_table(runs: list[SweepRun], records: Mapping[str, dict],
                         tasks: list[str], num_blocks: int,
                         directions: Mapping[str, int] | None = None,
                         source: str = '<sweep>') -> TwoTaskTable:
    """``A[i, j, b]`` = task i's relative performance (%) in pair run (i, j, b) vs its
    single-task run, over the task's metrics (Maninis et al. 2019)."""
    missing = missing_runs(runs, records)
    if missing:
        shown = ', '.join(missing[:10]) + (f' ... and {len(missing) - 10} more'
                                           if len(missing) > 10 else '')
        raise SweepError(f'{len(missing)} of {len(runs)} sweep runs have no results yet '
                         f'({shown}). Run the remaining shards (or the sweep without --shard) '
                         'before merging.')
    singles = {r.tasks[0]: records[r.run_id]['metrics'] for r in runs if r.is_single}
    rows = []
    for run in runs:
        if run.is_single:
            continue
        a, b = run.tasks
        metrics = records[run.run_id]['metrics']
        rows.append(dict(
            task_a=a, task_b=b, branch=run.branch,
            perf_a=relative_performance(metrics, singles[a], a, directions=directions),
            perf_b=relative_performance(metrics, singles[b], b, directions=directions)))
    return TwoTaskTable.from_records(rows, tasks=list(tasks), num_blocks=num_blocks,
                                     source=source)
