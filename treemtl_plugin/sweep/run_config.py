"""The training config of one sweep run: the config's model restricted to the run's tasks and
layout, the datasets and the metric restricted to those tasks, and the sweep's overrides."""
from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence

from mmengine.config import Config

from ..errors import SweepError

__all__ = ['run_config', 'restrict_tasks']

_SWEEP = object()   # default: the config's own sweep.overrides


def _takes_tasks(dataset_type) -> bool:
    """Does this registered dataset (or dataset function) accept a ``tasks`` argument?"""
    from ..registry import DATASETS
    target = DATASETS.get(dataset_type) if isinstance(dataset_type, str) else dataset_type
    if target is None:
        return False
    try:
        return 'tasks' in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def _restrict_dataset(node, tasks: list[str]) -> None:
    """Set ``tasks`` on every (possibly wrapped) dataset config that takes a task list."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get('dataset'), dict):
        _restrict_dataset(node['dataset'], tasks)
    for child in node.get('datasets') or ():
        _restrict_dataset(child, tasks)
    if 'tasks' in node or ('type' in node and _takes_tasks(node['type'])):
        node['tasks'] = list(tasks)


def restrict_tasks(cfg: Config, tasks: Sequence[str]) -> None:
    """Restrict ``cfg`` (in place) to ``tasks``: model heads, datasets and the metric."""
    heads = cfg.model.tasks
    missing = [t for t in tasks if t not in heads]
    if missing:
        raise SweepError(f'model.tasks has no head/loss for task(s) {missing}; it defines '
                         f'{list(heads)}')
    cfg.model.tasks = {t: copy.deepcopy(heads[t]) for t in tasks}   # in the order of `tasks`
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            _restrict_dataset(cfg[key], list(tasks))
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if isinstance(metric, dict) and metric.get('type') == 'MultiTaskMetric':
                kinds = metric.get('tasks')      # {task: kind} keeps the kinds it names
                metric['tasks'] = {t: kinds.get(t) for t in tasks} \
                    if isinstance(kinds, Mapping) else list(tasks)


def run_config(cfg: Config, tasks: Sequence[str], layout, work_dir: str,
               experiment_name: str, keep_checkpoints: bool = False,
               overrides: Mapping | None = _SWEEP, seed: int | None = None,
               hooks: Sequence[Mapping] = ()) -> Config:
    """The training config of a tree over ``tasks`` with ``layout``, derived from ``cfg``.

    ``overrides`` are merged in (default: the config's ``sweep.overrides``); ``seed`` sets
    ``randomness.seed``; ``hooks`` are added to ``custom_hooks``.
    """
    new = Config(copy.deepcopy(cfg.to_dict()), filename=cfg.filename)
    restrict_tasks(new, tasks)
    new.model.layout = layout.to_list() if hasattr(layout, 'to_list') else layout
    new.work_dir = work_dir
    new.experiment_name = experiment_name
    if not keep_checkpoints:
        new.setdefault('default_hooks', {})
        new.default_hooks['checkpoint'] = None
    if overrides is _SWEEP:
        overrides = (cfg.get('sweep') or {}).get('overrides')
    if overrides:
        new.merge_from_dict(dict(overrides))
    if seed is not None:
        new.merge_from_dict({'randomness.seed': int(seed)})
    if hooks:
        new.custom_hooks = list(new.get('custom_hooks') or []) + [dict(h) for h in hooks]
    return new
