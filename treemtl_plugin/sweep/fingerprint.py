"""Fingerprints of sweep runs: a finished run is reused only if nothing that shapes it changed.

A run's result depends on its model (backbone and its kwargs, input size, block grouping,
heads, losses, layout), its data (datasets, their settings, batch sizes, sampler), its
schedule (optimiser, scheduler, loop, the sweep's overrides), its metric, its seed and the
plugin's training code; a single-task baseline that is also tested, on its test split too.
The fingerprint hashes exactly these parts of the run's config, in a canonical form: dict key
order and the order of the tasks do not matter (the run of the pair ``(a, b)`` is the run of
``(b, a)``), while every value does. Logging, checkpointing, launcher,
work dir and the number of data-loading workers are left out: they do not change results.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

__all__ = ['TRAINING_CODE_VERSION', 'PARTS', 'TEST_PART', 'run_fingerprint', 'stale_reason']

#: Bump when the plugin's training path changes what a run computes (model, losses,
#: datasets, metrics, runner): every recorded run then counts as stale.
TRAINING_CODE_VERSION = 2

#: part name -> the config keys it covers
PARTS = {
    'model': ('model',),
    'data': ('train_dataloader', 'val_dataloader'),
    'schedule': ('optim_wrapper', 'param_scheduler', 'train_cfg', 'val_cfg', 'load_from',
                 'custom_hooks'),
    'metric': ('val_evaluator',),
    'seed': ('randomness',),
}
#: the part of a run that is also tested after training (a single-task baseline): the test
#: metrics it records depend on these keys as well
TEST_PART = ('test', ('test_dataloader', 'test_evaluator', 'test_cfg'))
# settings that do not change what a run computes
_IGNORED = {'num_workers', 'persistent_workers', 'pin_memory', 'prefetch_factor'}


def _canonical(value, tasks: frozenset):
    """JSON-ready value with task-order-free lists of task names and no ignored settings."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, tasks) for k, v in value.items() if k not in _IGNORED}
    if isinstance(value, (list, tuple)):
        items = [_canonical(v, tasks) for v in value]
        if items and all(isinstance(v, str) for v in items) and set(items) <= tasks:
            return sorted(items)      # a task list: its order does not matter
        if items and all(isinstance(v, list) for v in items) and \
                all(isinstance(x, str) and x in tasks for v in items for x in v):
            return sorted(items)      # the task sets of one layout block
        return items
    if isinstance(value, float) and value != value:
        return 'nan'
    return value


def _digest(data) -> str:
    text = json.dumps(data, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def run_fingerprint(run_cfg: Mapping, tasks: Sequence[str], tested: bool = False) -> dict:
    """``{'key': hash, 'parts': {part: hash}, 'code': TRAINING_CODE_VERSION}`` of a run; a
    ``tested`` run (also scored on the test split) has a ``test`` part too."""
    data = run_cfg.to_dict() if hasattr(run_cfg, 'to_dict') else dict(run_cfg)
    names = frozenset(tasks)
    covered = dict(PARTS, **dict([TEST_PART])) if tested else PARTS
    parts = {part: _digest({k: _canonical(data.get(k), names) for k in keys})
             for part, keys in covered.items()}
    parts['code'] = str(TRAINING_CODE_VERSION)
    return dict(key=_digest(parts), parts=parts)


def stale_reason(recorded, current: Mapping) -> str:
    """Why a recorded fingerprint does not match the current one, in words."""
    if not isinstance(recorded, Mapping) or not isinstance(recorded.get('parts'), Mapping):
        return 'it was recorded without a fingerprint (by an older version of the plugin)'
    old, new = recorded['parts'], current['parts']
    names = {'code': "the plugin's training code", 'test': 'its test split'}
    changed = [names.get(p, f'its {p}') for p in new if old.get(p) != new[p]]
    return (' and '.join(changed) if changed else 'its fingerprint') + ' changed since it ran'
