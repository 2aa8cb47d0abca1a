"""A trained model against the sweep's single-task models: its measured relative performance
per task, beside the estimate it was recommended with.

``tools/train.py`` compares the final validation metrics (the split the sweep's table was
scored on), ``tools/test.py`` the test metrics (the single-task runs are also tested when the
config has a separate test split). Only configs exported by ``tools/recommend.py`` say where
their sweep is (``recommendation.sweep_dir``). A single-task run is *like for like* when its
fingerprint is that of this training's single-task version (same backbone, data, schedule,
metric and seed); others (other seeds, the sweep's shorter schedule) are used with that said.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from collections.abc import Mapping

from ..core.layout import Layout
from ..engine.img_size import apply_img_size
from ..evaluation.relative_performance import relative_performance
from ..sweep.fingerprint import run_fingerprint
from ..sweep.results import METRICS_FILE, check_result
from ..sweep.run_config import run_config

__all__ = ['compare_with_single_task', 'comparison_lines', 'report_against_single_task',
           'SPLIT_FIELDS']

#: split -> the field of a run's metrics.json that holds its metrics on that split
SPLIT_FIELDS = {'val': 'metrics', 'test': 'test_metrics'}
_SPLIT_NAMES = {'val': 'validation split', 'test': 'test split'}
#: fingerprint part -> how the comparison names it
PART_NAMES = {'test': 'test split'}


def _single_records(runs_dir: str, task: str) -> list[dict]:
    """Well-formed results of ``task``'s single-task runs (every seed)."""
    stem = osp.join(glob.escape(runs_dir), f'single__{glob.escape(task)}')
    out = []
    for folder in sorted(glob.glob(stem) + glob.glob(f'{stem}__s*')):
        try:
            with open(osp.join(folder, METRICS_FILE), encoding='utf-8') as f:
                record = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if check_result(record) is None and record['tasks'] == [task]:
            out.append(record)
    return out


def _differences(record: Mapping, expected: Mapping) -> list[str]:
    """The fingerprint parts in which ``record``'s run differs from ``expected``."""
    recorded = (record.get('fingerprint') or {}).get('parts') or {}
    return [part for part, value in expected['parts'].items() if recorded.get(part) != value]


def compare_with_single_task(cfg, metrics: Mapping[str, float], split: str) -> dict | None:
    """Measured vs estimated relative performance (%) of each task of the trained ``cfg``.

    None when ``cfg`` is not an exported recommendation; otherwise a dict with ``tasks``
    (per task: ``measured``, ``estimated``, the single-task ``runs`` used, ``like_for_like``
    and the fingerprint parts that ``differ``), ``mean`` and ``problems`` (why a task could
    not be compared).
    """
    rec = cfg.get('recommendation')
    if not isinstance(rec, Mapping) or not rec.get('sweep_dir'):
        return None
    field = SPLIT_FIELDS[split]
    runs_dir = osp.join(rec['sweep_dir'], 'runs')
    estimates = dict(rec.get('estimates') or {})
    out = dict(split=split, sweep_dir=rec['sweep_dir'], rank=rec.get('rank'), tasks={},
               problems=[])
    if not osp.isdir(runs_dir):
        out['problems'].append(f'the sweep folder {runs_dir} is gone: its single-task models '
                               'are the baselines')
        return out
    for task in cfg.model.tasks:
        records = _single_records(runs_dir, task)
        if not records:
            out['problems'].append(f'{task}: no finished single-task run in {runs_dir}')
            continue
        tested = [r for r in records if isinstance(r.get(field), Mapping)]
        if not tested:
            out['problems'].append(
                f'{task}: its single-task runs have no {_SPLIT_NAMES[split]} metrics (the '
                "sweep's config has no separate test split, or they were trained before "
                'single-task runs were tested: tools/recommend.py on the same config and work '
                'dir retrains them)')
            continue
        single_cfg = run_config(cfg, [task], Layout.all_shared([task], tested[0]['num_blocks']),
                                work_dir='', experiment_name='', overrides=None)
        apply_img_size(single_cfg)      # as the sweep's runs were (a config read as a file)
        expected = run_fingerprint(single_cfg, [task], tested=split == 'test')
        differ = [_differences(r, expected) for r in tested]
        fewest = min(map(len, differ))       # 0: like for like; else the closest runs
        same = [k for k, parts in enumerate(differ) if len(parts) == fewest]
        deltas = [relative_performance(metrics, tested[k][field], task) for k in same]
        out['tasks'][task] = dict(
            measured=sum(deltas) / len(deltas), estimated=estimates.get(task),
            runs=[tested[k]['run_id'] for k in same], like_for_like=fewest == 0,
            differ=differ[same[0]])
    if out['tasks'] and len(out['tasks']) == len(cfg.model.tasks):
        rows = out['tasks'].values()
        out['mean'] = dict(measured=sum(r['measured'] for r in rows) / len(rows),
                           estimated=(sum(r['estimated'] for r in rows) / len(rows)
                                      if all(r['estimated'] is not None for r in rows)
                                      else None))
    return out


def comparison_lines(result: Mapping) -> list[str]:
    """The comparison as lines for the console: a table, and what is not like for like."""
    where = _SPLIT_NAMES[result['split']]
    lines = [f'relative performance (%) vs the single-task models of {result["sweep_dir"]} '
             f'({where}):']
    rows = dict(result['tasks'])
    if 'mean' in result:
        rows['mean'] = result['mean']
    width = max([len(t) for t in rows] + [4])
    if rows:
        lines.append(f'  {"task":<{width}}  {"measured":>9}  {"estimated":>9}  single-task runs')
    for task, row in rows.items():
        est = '' if row.get('estimated') is None else f'{row["estimated"]:+.2f}'
        runs = ', '.join(row.get('runs', []))
        lines.append(f'  {task:<{width}}  {row["measured"]:>+9.2f}  {est:>9}  {runs}'.rstrip())
    unlike = sorted({PART_NAMES.get(part, part) for row in result['tasks'].values()
                     for part in row['differ']})
    if unlike:
        lines.append(f'  not like for like: the single-task runs differ from this training in '
                     f'its {", ".join(unlike)} (e.g. the sweep\'s overrides or other seeds), '
                     'so part of the difference is theirs')
    elif rows:
        lines.append('  like for like: same backbone, data, schedule, metric and seed'
                     + (', tested on the same split' if result['split'] == 'test' else ''))
    lines += [f'  {problem}' for problem in result['problems']]
    return lines


def report_against_single_task(cfg, metrics: Mapping[str, float] | None, split: str,
                               log=None) -> dict | None:
    """Print the comparison of an exported recommendation's trained model (``log``, default:
    the console at its width) and write it to ``<work_dir>/relative_performance_<split>.json``;
    nothing for other configs."""
    from mmengine.dist import is_main_process

    from ..engine.job_log import console_printer
    from ..io.atomic import write_json
    if not is_main_process() or not isinstance(cfg.get('recommendation'), Mapping):
        return None
    log = log or console_printer()
    if not metrics:
        log('relative performance vs the single-task models: not measured, the training '
            'ended without a validation (make train_cfg.max_iters a multiple of '
            'train_cfg.val_interval)')
        return None
    result = compare_with_single_task(cfg, metrics, split)
    if result is None:
        return None
    for line in comparison_lines(result):
        log(line)
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, f'relative_performance_{split}.json')
    write_json(path, dict(result, metrics=dict(metrics)))
    log(f'  written to {path}')
    return result
