"""Sweep results on disk: ``runs/<run_id>/metrics.json``, checked before anything uses them.

A result is used only if it is strict JSON with every field, finite metrics for every task of
its run, the run's own tasks and layout, the fingerprint of the current config, and for each
task the metric names the sweep's evaluator reports. Anything else is reported (with its path
and the reason) and the run is trained again.
"""
from __future__ import annotations

import json
import math
import os.path as osp
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..core.layout import Layout
from ..errors import LayoutError
from .fingerprint import stale_reason
from .plan import SweepRun

__all__ = ['METRICS_FILE', 'RunStatus', 'result_path', 'check_result', 'read_result',
           'run_statuses', 'metric_names', 'usual_metric_names']

METRICS_FILE = 'metrics.json'
REQUIRED = ('run_id', 'tasks', 'branch', 'num_blocks', 'layout', 'metrics')


@dataclass
class RunStatus:
    """What is on disk for one planned run: ``state`` is finished, missing, stale or corrupt."""
    run: SweepRun
    state: str
    reason: str = ''
    record: dict | None = None


def result_path(runs_dir: str, run: SweepRun) -> str:
    return osp.join(runs_dir, run.run_id, METRICS_FILE)


def check_result(record, run: SweepRun | None = None) -> str | None:
    """Why ``record`` is not a well-formed result (of ``run``, if given); None if it is."""
    if not isinstance(record, Mapping):
        return f'holds a {type(record).__name__}, not a JSON object'
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        return f'lacks the field(s) {missing}'
    metrics = record['metrics']
    if not isinstance(metrics, Mapping) or not metrics:
        return 'holds no metrics'
    bad = [k for k, v in metrics.items() if isinstance(v, bool) or
           not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        return (f'holds non-finite or non-numeric metrics {bad} (the training diverged or '
                'the file was edited)')
    if run is None:
        return None
    if record['run_id'] != run.run_id:
        return f"names run {record['run_id']!r}, not {run.run_id!r}"
    if not isinstance(record['tasks'], list) or sorted(map(str, record['tasks'])) != \
            sorted(run.tasks):
        return f"holds tasks {record['tasks']!r}, not {sorted(run.tasks)}"
    try:
        if Layout(record['layout']) != run.layout():
            return f"holds another layout: {record['layout']!r}"
    except (LayoutError, TypeError) as err:
        return f'holds an invalid layout ({err})'
    lacking = [t for t in run.tasks if not any(str(k).startswith(f'{t}/') for k in metrics)]
    if lacking:
        return f'holds no metrics for task(s) {lacking}'
    return None


def read_result(runs_dir: str, run: SweepRun) -> tuple[dict | None, str | None]:
    """``(record, None)`` for a readable, well-formed file; ``(None, reason)`` otherwise
    (``(None, None)`` when there is no file)."""
    path = result_path(runs_dir, run)
    if not osp.isfile(path):
        return None, None
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f, parse_constant=lambda c: float('nan'))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f'is not readable JSON ({err})'
    problem = check_result(record)
    return (None, problem) if problem else (record, None)


def metric_names(metrics: Mapping, task: str) -> frozenset[str]:
    """The names of ``task``'s metrics in a run's ``metrics`` (``'a/mse'`` -> ``'mse'``),
    without the derived ``delta``."""
    prefix = f'{task}/'
    return frozenset(str(k)[len(prefix):] for k in metrics
                     if str(k).startswith(prefix) and k != f'{task}/delta')


def usual_metric_names(records: Iterable[Mapping],
                       known: Mapping[str, Iterable[str]] | None = None
                       ) -> dict[str, frozenset[str]]:
    """Per task, the metric names a run of this sweep must report: ``known`` (what the
    config's evaluator reports, where that can be told without data) if any finished
    ``records`` report it, else the names most of them report (a tie keeps the larger set)."""
    counts: dict[str, Counter] = {}
    for record in records:
        for task in record['tasks']:
            counts.setdefault(str(task), Counter())[metric_names(record['metrics'], task)] += 1
    known = {task: frozenset(names) for task, names in (known or {}).items()}
    return {task: max(c.items(), key=lambda item: (item[0] == known.get(task), item[1],
                                                   len(item[0])))[0]
            for task, c in counts.items()}


def run_statuses(runs_dir: str, runs: Iterable[SweepRun], fingerprints: Mapping[str, dict],
                 expected_names: Mapping[str, frozenset[str]] | None = None
                 ) -> list[RunStatus]:
    """The state of every run: finished (valid and current), missing, stale (made with
    another config: says which parts changed) or corrupt (says which file and why).

    A finished run whose metric names for a task differ from ``expected_names`` (default:
    :func:`usual_metric_names` of these runs) is stale too: its file was edited, or another
    evaluator wrote it, and its relative performance would silently use other metrics."""
    out = []
    for run in runs:
        path = result_path(runs_dir, run)
        record, problem = read_result(runs_dir, run)
        if problem:
            out.append(RunStatus(run, 'corrupt', f'{path} {problem}'))
        elif record is None:
            out.append(RunStatus(run, 'missing'))
        elif _key(record) != fingerprints[run.run_id]['key']:
            out.append(RunStatus(run, 'stale', stale_reason(record.get('fingerprint'),
                                                            fingerprints[run.run_id]), record))
        elif (problem := check_result(record, run)) is not None:
            out.append(RunStatus(run, 'corrupt', f'{path} {problem}'))
        else:
            out.append(RunStatus(run, 'finished', record=record))
    if expected_names is None:
        expected_names = usual_metric_names(s.record for s in out if s.state == 'finished')
    for status in out:
        if status.state == 'finished':
            reason = _other_metric_names(status.record, expected_names)
            if reason:
                status.state = 'stale'
                status.reason = f'{result_path(runs_dir, status.run)} {reason}'
    return out


def _other_metric_names(record: Mapping, expected: Mapping[str, frozenset[str]]) -> str | None:
    for task in record['tasks']:
        names = metric_names(record['metrics'], task)
        want = expected.get(str(task))
        if want is not None and names != want:
            missing, extra = sorted(want - names), sorted(names - want)
            what = ([f'lacks {missing}'] if missing else []) + \
                ([f'has {extra} instead'] if extra else [])
            return (f'reports other metrics for task {task!r} than the evaluator '
                    f'({", ".join(what)})')
    return None


def _key(record: Mapping) -> str | None:
    fingerprint = record.get('fingerprint')
    return fingerprint.get('key') if isinstance(fingerprint, Mapping) else None
