"""Relative performance of a task against its single-task model (Maninis et al. 2019).

``Δ_task = 100/|m| · Σ_m s_m (M_m − M_single,m) / M_single,m`` with ``s_m = +1`` when higher is
better and ``−1`` when lower is better (``docs/advanced/method.md``, "Relative performance").
Pure python: no torch import.

Metric keys are ``'{task}/{name}'``, as :class:`~treemtl_plugin.evaluation.MultiTaskMetric`
reports them.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def _config_error(message: str) -> ValueError:
    """A ConfigError (one ``error:`` line in the tools); imported when raised, so that this
    module also loads on its own, without the package (it is torch-free by contract)."""
    from ..errors import ConfigError
    return ConfigError(message)


# Task name (data contract) -> metric kind.
TASK_KINDS: dict[str, str] = {
    'segment_semantic': 'segmentation',
    'depth_zbuffer': 'depth',
    'normal': 'normal',
    'edge_texture': 'l1',
    'keypoints2d': 'l1',
}

# Metric names each kind reports, in report order. The relative performance uses all of them
# (the paper's / AdaShare's choice: mIoU + pixel acc; abs + rel err; mean, median angle and
# the three 'within' percentages; L1 err; top-1).
KIND_METRICS: dict[str, tuple[str, ...]] = {
    'segmentation': ('mIoU', 'pixel_acc'),
    'depth': ('abs_err', 'rel_err'),
    'normal': ('mean_angle', 'median_angle', 'within_11.25', 'within_22.5', 'within_30'),
    'l1': ('l1_err',),
    'regression': ('mse',),
    'classification': ('top1',),
}

# Direction by metric name (+1: higher is better, -1: lower is better); fallback for tasks
# whose names are not in TASK_KINDS.
METRIC_NAME_DIRECTIONS: dict[str, int] = {
    'mIoU': 1, 'pixel_acc': 1,
    'abs_err': -1, 'rel_err': -1,
    'mean_angle': -1, 'median_angle': -1,
    'within_11.25': 1, 'within_22.5': 1, 'within_30': 1,
    'l1_err': -1,
    'mse': -1,
    'top1': 1,
    'delta': 1,
}

# Direction of every key MultiTaskMetric reports for the data contract's tasks.
METRIC_DIRECTIONS: dict[str, int] = {
    f'{task}/{name}': METRIC_NAME_DIRECTIONS[name]
    for task, kind in TASK_KINDS.items() for name in KIND_METRICS[kind] + ('delta',)
}
METRIC_DIRECTIONS['mean_delta'] = 1


def default_task_metrics(task: str, kind: str | None = None) -> list[str]:
    """Keys that count for ``task``'s relative performance; ``kind`` for tasks not in
    ``TASK_KINDS`` (one of ``KIND_METRICS``)."""
    kind = kind if kind is not None else TASK_KINDS.get(task)
    if kind is None:
        raise _config_error(f'unknown task {task!r}: known tasks are {sorted(TASK_KINDS)}; pass '
                         f'kind= (one of {sorted(KIND_METRICS)}) for other task names')
    if kind not in KIND_METRICS:
        raise _config_error(f'unknown metric kind {kind!r} for task {task!r}; kinds are '
                         f'{sorted(KIND_METRICS)}')
    return [f'{task}/{name}' for name in KIND_METRICS[kind]]


def reported_metric_names(evaluator, tasks: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The metric names a ``MultiTaskMetric`` config reports for each of ``tasks`` whose kind
    is known without data (named in its ``tasks`` or in ``TASK_KINDS``); {} for any other
    evaluator, whose names only its results tell."""
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    specs = [m for m in metrics if isinstance(m, Mapping) and m.get('type') == 'MultiTaskMetric']
    if len(specs) != 1:
        return {}
    kinds = specs[0].get('tasks')
    kinds = kinds if isinstance(kinds, Mapping) else {}
    out = {}
    for task in tasks:
        kind = kinds.get(task) or TASK_KINDS.get(task)
        if kind in KIND_METRICS:
            out[task] = KIND_METRICS[kind]
    return out


def metric_direction(key: str, directions: Mapping[str, int] | None = None) -> int:
    """+1 / -1 for ``key``: from ``directions`` (full key or metric name), then
    ``METRIC_DIRECTIONS``, then the metric name (``METRIC_NAME_DIRECTIONS``)."""
    name = key.rsplit('/', 1)[-1]
    for table, lookup in ((directions or {}, key), (directions or {}, name),
                          (METRIC_DIRECTIONS, key), (METRIC_NAME_DIRECTIONS, name)):
        if lookup in table:
            sign = table[lookup]
            if sign not in (1, -1):
                raise _config_error(f'direction of {lookup!r} must be +1 (higher is better) or '
                                 f'-1 (lower is better), got {sign!r}')
            return int(sign)
    raise _config_error(f'unknown direction for metric {key!r}: pass directions={{{key!r}: 1}} '
                     '(higher is better) or -1 (lower is better)')


def _value(d: Mapping, key: str, what: str) -> float:
    value = d[key]
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise _config_error(f'{what} value of {key!r} is not a number: {value!r}') from None
    if not math.isfinite(value):
        raise _config_error(f'{what} value of {key!r} is not finite: {value}')
    return value


def relative_performance(metrics: Mapping[str, float], single_task: Mapping[str, float],
                         task: str, keys: Iterable[str] | None = None,
                         directions: Mapping[str, int] | None = None) -> float:
    """Δ (%) of ``task`` in ``metrics`` vs. the single-task ``single_task`` metrics.

    ``keys`` default: the keys starting with ``'{task}/'`` present in both dicts (except
    ``'{task}/delta'``). ``directions`` overrides/extends the direction tables.
    """
    if keys is None:
        prefix = f'{task}/'
        keys = [k for k in metrics if k.startswith(prefix) and k in single_task
                and k != f'{task}/delta']
        if not keys:
            raise _config_error(
                f'no metric of task {task!r} is in both dicts: the metrics have keys '
                f'{sorted(metrics)}, the single-task baseline has keys {sorted(single_task)}')
    else:
        keys = list(keys)
        if not keys:
            raise _config_error(f'keys is empty for task {task!r}')
        for what, d in (('metrics', metrics), ('single-task baseline', single_task)):
            missing = [k for k in keys if k not in d]
            if missing:
                raise _config_error(f'the {what} of task {task!r} lack {missing}; they have keys '
                                 f'{sorted(d)}')
    total = 0.0
    for key in keys:
        sign = metric_direction(key, directions)
        base = _value(single_task, key, 'single-task baseline')
        if base == 0:
            raise _config_error(f'the single-task baseline of {key!r} is 0: the relative '
                             'performance divides by it. Leave this metric out (keys=...) or '
                             'fix the baseline.')
        total += sign * (_value(metrics, key, 'metrics') - base) / base
    return 100.0 * total / len(keys)
