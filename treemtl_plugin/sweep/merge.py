"""Finished sweep runs as per-seed two-task values (``affinity/methods.py`` turns them into
the table).

See ``docs/advanced/method.md``, "Two-task table" and "Relative performance".
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

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
