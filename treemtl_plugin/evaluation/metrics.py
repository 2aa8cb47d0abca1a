"""Dataset-level multi-task metrics (mmengine ``BaseMetric``) for the model's 'predict' outputs.

Each processed sample is ``{'pred': {task: tensor}, 'gt': {task: tensor}}`` (data contract).
Everything is accumulated over the whole dataset, never averaged over batches:

* ``segmentation`` — ``mIoU`` (%) from a global confusion matrix (argmax of the ``(K, H, W)``
  logits; gt ``ignore_index`` skipped; a class that never occurs in gt nor prediction has an
  undefined IoU and is left out of the mean) and ``pixel_acc`` (%).
* ``depth`` — ``abs_err`` = mean ``|p - g|``, ``rel_err`` = mean ``|p - g| / g`` over all valid
  pixels (``g > 0``) of the dataset.
* ``normal`` — angle between the prediction and gt over valid pixels (gt norm > 0), computed as
  ``atan2(|p x g|, p . g)`` in float64 (scale-free: the same angle as after L2-normalising
  the prediction, but accurate near 0°; a zero prediction counts as 90°): ``mean_angle``,
  ``median_angle`` (degrees) and ``within_11.25``, ``within_22.5``, ``within_30`` (% of pixels
  with angle < t). Mean and 'within' are exact; the median comes from a histogram of 0.01°
  bins over [0°, 180°] (bin centres: at most 0.005° from the exact median), so memory does
  not grow with the dataset.
* ``l1`` (keypoints2d, edge_texture) — ``l1_err`` = mean absolute error over all elements.
* ``regression`` (e.g. the teacher tasks of ``TeacherTaskDataset``) — ``mse`` = mean squared
  error over all elements.
* ``classification`` (gt a scalar class id, pred ``(K,)`` logits) — ``top1`` (%).

An optional ``gt['{task}_mask']`` (non-zero = valid) further restricts the evaluated pixels.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ..registry import METRICS
from .relative_performance import (
    KIND_METRICS,
    TASK_KINDS,
    default_task_metrics,
    relative_performance,
)

NORMAL_THRESHOLDS = (11.25, 22.5, 30.0)
HIST_BIN_DEG = 0.01
HIST_BINS = 18000  # 180° / 0.01°


def _flat_valid(valid: torch.Tensor, mask: torch.Tensor | None, task: str) -> torch.Tensor:
    """``valid`` and-ed with an optional per-element / per-pixel mask."""
    if mask is None:
        return valid
    mask = mask.to(valid.device)
    if mask.numel() == valid.numel():
        return valid & (mask.reshape(valid.shape) != 0)
    if valid.dim() == 4 and mask.numel() == valid.shape[0] * valid.shape[2] * valid.shape[3]:
        mask = mask.reshape(valid.shape[0], 1, *valid.shape[2:])
        return valid & (mask != 0)
    raise ValueError(f'{task}_mask has shape {tuple(mask.shape)}, which fits neither the '
                     f'target {tuple(valid.shape)} nor its pixels')


def _like(gt: torch.Tensor, shape: torch.Size, task: str, what: str = 'prediction'):
    if gt.shape == shape:
        return gt
    if gt.numel() != torch.Size(shape).numel():
        raise ValueError(f'task {task!r}: gt of shape {tuple(gt.shape)} does not match the '
                         f'{what} of shape {tuple(shape)}')
    return gt.reshape(shape)


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Per-task metrics ``'{task}/{name}'`` and, with single-task baselines, the relative
    performance ``'{task}/delta'`` and ``'mean_delta'`` (mean over the tasks with a baseline).

    Args:
        tasks: task names (kind from the name; unknown names with integer gt are inferred as
            segmentation or, for a scalar gt, classification), ``{task: kind}`` with kind in
            ``'segmentation' | 'depth' | 'normal' | 'l1' | 'regression' | 'classification'``,
            or ``None``:
            every task that has both a prediction and a target.
        num_classes: ``None`` (from the logits), an int, or ``{task: int}`` (entries of tasks
            that are not evaluated are ignored).
        ignore_index: gt label skipped by segmentation and classification.
        single_task_baselines: ``{task: {metric: value}}`` (metric as ``'{task}/name'`` or
            ``'name'``) or a flat ``{'{task}/name': value}`` dict, e.g. single-task sweep runs.
        directions: direction overrides for the relative performance (``{key: ±1}``).
        prefix: optional prefix of the reported keys (default: none).

    Memory stays bounded: ``self.results`` holds one running state (confusion matrices, sums,
    the angle histogram) that every ``process`` call adds to; ``compute_metrics`` sums the
    states of all ranks (padded duplicate samples of a distributed sampler are counted).
    """

    default_prefix = ''  # no prefix, and no "prefix is not set" warning

    def __init__(self, tasks: Mapping[str, str | None] | Sequence[str] | str | None = None,
                 num_classes: int | Mapping[str, int] | None = None, ignore_index: int = 255,
                 single_task_baselines: Mapping | None = None,
                 directions: Mapping[str, int] | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None, collect_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if isinstance(tasks, str):
            tasks = [tasks]
        self.all_tasks = tasks is None
        if isinstance(tasks, Mapping):
            kinds = {str(t): (k if k is not None else TASK_KINDS.get(t)) for t, k in tasks.items()}
        else:
            kinds = {str(t): TASK_KINDS.get(t) for t in tasks or ()}
        if not kinds and not self.all_tasks:
            raise ValueError('MultiTaskMetric needs at least one task (or tasks=None for all)')
        for task, kind in kinds.items():
            if kind is not None and kind not in KIND_METRICS:
                raise ValueError(f'task {task!r} has unknown kind {kind!r}; kinds are '
                                 f'{sorted(KIND_METRICS)}')
        self.kinds: dict[str, str | None] = kinds
        if isinstance(num_classes, Mapping):
            self.num_classes = {t: int(n) for t, n in num_classes.items()}
            self.default_num_classes = None
        else:
            self.num_classes = {}
            self.default_num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = ignore_index
        self.directions = dict(directions) if directions else None
        self.baselines = self._parse_baselines(single_task_baselines or {})

    # ------------------------------------------------------------------ configuration
    def _parse_baselines(self, raw: Mapping) -> dict[str, dict[str, float]]:
        if raw and all(not isinstance(v, Mapping) for v in raw.values()):  # flat form
            grouped: dict[str, dict] = {}
            for key, value in raw.items():
                task, sep, _ = str(key).rpartition('/')
                if sep:  # keys without a task ('mean_delta') are skipped
                    grouped.setdefault(task, {})[key] = value
            raw = {t: v for t, v in grouped.items() if self.all_tasks or t in self.kinds}
            if not raw:
                raise ValueError(f'single_task_baselines has no key of the tasks '
                                 f'{list(self.kinds)}: it has {sorted(grouped)}')
        out = {}
        for task, values in raw.items():
            if not self.all_tasks and task not in self.kinds:
                raise ValueError(f'single_task_baselines has task {task!r}, which is not in '
                                 f'tasks {list(self.kinds)}')
            if not isinstance(values, Mapping):
                raise ValueError(f'single_task_baselines[{task!r}] must be a dict of metric '
                                 f'values, got {values!r}')
            parsed: dict[str, float] = {}
            for key, value in values.items():
                key = str(key)
                full = key if key.startswith(f'{task}/') else f'{task}/{key}'
                if '/' in full[len(task) + 1:]:
                    raise ValueError(f'single_task_baselines[{task!r}] key {key!r} belongs to '
                                     'another task')
                parsed[full] = float(value)
            out[task] = parsed
            kind = self.kinds.get(task, TASK_KINDS.get(task))
            if kind is not None:  # fail early on unusable baselines
                zero = [k for k in _baseline_keys(task, kind, parsed) if parsed[k] == 0]
                if zero:
                    raise ValueError(f'single_task_baselines {zero} are 0: the relative '
                                     'performance divides by them')
        return out

    def _kind(self, task: str, gt: torch.Tensor) -> str:
        kind = self.kinds.get(task, TASK_KINDS.get(task))
        if kind is None:
            if gt.is_floating_point() or gt.is_complex() or gt.dtype == torch.bool:
                raise ValueError(
                    f'cannot tell the metric kind of task {task!r} (gt dtype {gt.dtype}, shape '
                    f'{tuple(gt.shape)}); give it: tasks={{{task!r}: kind}} with kind in '
                    f'{sorted(KIND_METRICS)}')
            kind = 'classification' if gt.numel() == 1 else 'segmentation'
        self.kinds[task] = kind
        return kind

    # ------------------------------------------------------------------ processing
    def process(self, data_batch, data_samples: Sequence[Mapping]) -> None:
        """Add one batch of model outputs to the running state."""
        groups: dict[str, dict[tuple, list]] = {}
        for i, sample in enumerate(data_samples):
            if not isinstance(sample, Mapping) or 'pred' not in sample:
                raise ValueError(f"sample {i} is not a {{'pred': ..., 'gt': ...}} dict: "
                                 f'{type(sample).__name__}')
            if 'gt' not in sample:
                raise ValueError(f"sample {i} has no 'gt': the model returns targets only when "
                                 'the batch has them; the val/test dataset must provide them')
            pred, gt = sample['pred'], sample['gt']
            for task in (pred if self.all_tasks else self.kinds):
                if task not in pred or task not in gt:
                    continue
                p, g = pred[task], torch.as_tensor(gt[task])
                m = gt.get(f'{task}_mask')
                key = (tuple(p.shape), tuple(g.shape), None if m is None else tuple(m.shape))
                groups.setdefault(task, {}).setdefault(key, []).append((p, g, m))
        if not self.results:
            self.results.append({})
        state = self.results[0]
        for task, by_shape in groups.items():
            for items in by_shape.values():
                p = torch.stack([it[0] for it in items])
                g = torch.stack([it[1] for it in items]).to(p.device)
                m = None if items[0][2] is None else torch.stack(
                    [torch.as_tensor(it[2]) for it in items])
                kind = self._kind(task, items[0][1])
                update = {'kind': kind, **getattr(self, f'_update_{kind}')(task, p, g, m)}
                old = state.get(task)
                state[task] = update if old is None else _merge(old, update, task)

    def _argmax(self, task: str, scores: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Labels from ``(N, K, ...)`` scores, and ``K`` (checked against num_classes)."""
        k = scores.shape[1]
        expected = self.num_classes.get(task, self.default_num_classes)
        if expected is not None and k != expected:
            raise ValueError(f'task {task!r}: the prediction has {k} class scores '
                             f'(shape {tuple(scores.shape[1:])} per sample), num_classes is '
                             f'{expected}')
        return scores.argmax(1), k

    def _given_k(self, task: str) -> int:
        k = self.num_classes.get(task, self.default_num_classes)
        if k is None:
            raise ValueError(f'task {task!r}: the predictions are labels, not class scores; '
                             'set num_classes')
        return k

    def _valid_pairs(self, task, labels, gt, mask, k):
        """Flattened, valid (gt, predicted) label pairs, range-checked."""
        labels, gt = labels.reshape(-1).long(), gt.reshape(-1).long()
        if gt.numel() != labels.numel():
            raise ValueError(f'task {task!r}: {gt.numel()} gt labels for {labels.numel()} '
                             'predicted labels')
        valid = _flat_valid(gt != self.ignore_index, mask, task)
        g, p = gt[valid], labels[valid]
        _check_labels(task, g, k, f'gt (ignore_index={self.ignore_index})')
        _check_labels(task, p, k, 'the predicted labels')
        return g, p

    def _update_segmentation(self, task, pred, gt, mask):
        if pred.is_floating_point():
            if pred.dim() != 4:
                raise ValueError(f'task {task!r}: segmentation scores must be (K, H, W) per '
                                 f'sample, got {tuple(pred.shape[1:])}')
            labels, k = self._argmax(task, pred)
        else:
            labels, k = pred, self._given_k(task)
        g, p = self._valid_pairs(task, labels, gt, mask, k)
        conf = torch.bincount(g * k + p, minlength=k * k).reshape(k, k)
        return {'confusion': conf.cpu()}

    def _update_classification(self, task, pred, gt, mask):
        if pred.is_floating_point():
            labels, k = self._argmax(task, pred.reshape(pred.shape[0], -1))
        else:
            labels, k = pred, self._given_k(task)
        g, p = self._valid_pairs(task, labels, gt, mask, k)
        return {'correct': int((g == p).sum()), 'count': int(g.numel())}

    def _update_depth(self, task, pred, gt, mask):
        gt = _like(gt, pred.shape, task).double()
        valid = _flat_valid((gt > 0) & torch.isfinite(gt), mask, task)
        g = gt[valid]
        diff = (pred.double()[valid] - g).abs()
        return {'abs_sum': float(diff.sum()), 'rel_sum': float((diff / g).sum()),
                'count': int(valid.sum())}

    def _update_normal(self, task, pred, gt, mask):
        if pred.dim() < 2 or pred.shape[1] != 3:
            raise ValueError(f'task {task!r}: normals need 3 channels on dim 1, got prediction '
                             f'shape {tuple(pred.shape[1:])} per sample')
        gt = _like(gt, pred.shape, task)
        p = pred.movedim(1, -1).double()  # float64: sums do not depend on the batching
        g = gt.movedim(1, -1).to(p)
        valid = g.norm(dim=-1) > 0
        if mask is not None:
            valid = _flat_valid(valid, mask, task)
        p, g = p[valid], g[valid]
        cross = torch.linalg.cross(p, g, dim=-1).norm(dim=-1)
        angle = torch.rad2deg(torch.atan2(cross, (p * g).sum(-1)))
        angle = torch.where(p.norm(dim=-1) > 0, angle, torch.full_like(angle, 90.0))
        bins = (angle / HIST_BIN_DEG).floor().long().clamp_(0, HIST_BINS - 1)
        return {'angle_sum': float(angle.sum()), 'count': int(angle.numel()),
                'within': torch.stack([(angle < t).sum() for t in NORMAL_THRESHOLDS]).cpu(),
                'hist': torch.bincount(bins, minlength=HIST_BINS).cpu()}

    def _update_l1(self, task, pred, gt, mask):
        diff = (pred.double() - _like(gt, pred.shape, task).double()).abs()
        if mask is not None:
            diff = diff[_flat_valid(torch.ones_like(diff, dtype=torch.bool), mask, task)]
        return {'abs_sum': float(diff.sum()), 'count': int(diff.numel())}

    def _update_regression(self, task, pred, gt, mask):
        diff = pred.double() - _like(gt, pred.shape, task).double()
        if mask is not None:
            diff = diff[_flat_valid(torch.ones_like(diff, dtype=torch.bool), mask, task)]
        return {'sq_sum': float(diff.square().sum()), 'count': int(diff.numel())}

    # ------------------------------------------------------------------ results
    def compute_metrics(self, results: list) -> dict[str, float]:
        """Metrics of the whole dataset from the running states (one per rank)."""
        merged: dict[str, dict] = {}
        for state in results:
            for task, s in state.items():
                merged[task] = s if task not in merged else _merge(merged[task], s, task)
        metrics: dict[str, float] = {}
        kinds: dict[str, str] = {}
        for task in list(self.kinds) + [t for t in merged if t not in self.kinds]:
            values = _finalise(merged[task]) if task in merged else None
            if values is None:
                print_log(f'MultiTaskMetric: no valid prediction/target of task {task!r} was '
                          'evaluated; it has no metrics', logger='current', level=logging.WARNING)
                continue
            kinds[task] = merged[task]['kind']
            metrics.update({f'{task}/{name}': v for name, v in values.items()})
        deltas = []
        for task, baseline in self.baselines.items():
            if task not in kinds:  # not evaluated
                continue
            delta = relative_performance(metrics, baseline, task,
                                         keys=_baseline_keys(task, kinds[task], baseline),
                                         directions=self.directions)
            metrics[f'{task}/delta'] = delta
            deltas.append(delta)
        if deltas:
            metrics['mean_delta'] = sum(deltas) / len(deltas)
        return metrics


def _check_labels(task: str, labels: torch.Tensor, k: int, what: str) -> None:
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f'task {task!r}: {what} has labels outside 0..{k - 1} '
                         f'(min {int(labels.min())}, max {int(labels.max())})')


def _merge(a: dict, b: dict, task: str) -> dict:
    if a['kind'] != b['kind']:
        raise ValueError(f'task {task!r} was evaluated as {a["kind"]} and as {b["kind"]}')
    if 'confusion' in a and a['confusion'].shape != b['confusion'].shape:
        raise ValueError(f'task {task!r}: the number of classes changed between batches '
                         f'({a["confusion"].shape[0]} vs {b["confusion"].shape[0]}); set '
                         'num_classes')
    return {k: a[k] if k == 'kind' else a[k] + b[k] for k in a}


def _baseline_keys(task: str, kind: str, baseline: Mapping[str, float]) -> list[str]:
    """The Δ keys of ``task``: its default metrics that the baseline has."""
    wanted = default_task_metrics(task, kind)
    keys = [k for k in wanted if k in baseline]
    if not keys:
        raise ValueError(f'single_task_baselines[{task!r}] has none of the metrics of task '
                         f'{task!r} {wanted}; it has {sorted(baseline)}')
    return keys


def _finalise(s: dict) -> dict[str, float] | None:
    kind = s['kind']
    if kind == 'segmentation':
        conf = s['confusion'].double()
        total = conf.sum()
        if total == 0:
            return None
        inter = conf.diag()
        union = conf.sum(0) + conf.sum(1) - inter
        present = union > 0
        return {'mIoU': float((inter[present] / union[present]).mean() * 100),
                'pixel_acc': float(inter.sum() / total * 100)}
    n = s['count']
    if n == 0:
        return None
    if kind == 'depth':
        return {'abs_err': s['abs_sum'] / n, 'rel_err': s['rel_sum'] / n}
    if kind == 'l1':
        return {'l1_err': s['abs_sum'] / n}
    if kind == 'regression':
        return {'mse': s['sq_sum'] / n}
    if kind == 'classification':
        return {'top1': 100.0 * s['correct'] / n}
    cum = s['hist'].cumsum(0)
    ranks = torch.tensor([(n - 1) // 2 + 1, n // 2 + 1], dtype=cum.dtype)
    centres = (torch.searchsorted(cum, ranks).double() + 0.5) * HIST_BIN_DEG
    out = {'mean_angle': s['angle_sum'] / n, 'median_angle': float(centres.mean())}
    for t, c in zip(NORMAL_THRESHOLDS, s['within'].tolist()):
        out[f'within_{t:g}'] = 100.0 * c / n
    return out
