"""``TeacherTaskDataset``: per-pixel regression tasks whose relatedness is known, read out of a
frozen random "teacher" network shaped as a tree -- a benchmark on which layouts truly differ.

Why: a recommender can only be validated where the layouts it ranks train to measurably
different accuracies. Real-looking scenes give tasks whose relatedness nobody knows, and on our
rendered scenes the layouts do not differ beyond seed noise. Here the relatedness is set by
construction (the synthetic recipe of Ma et al., KDD 2018, and the controlled study of Guo et
al., ICML 2020, made per pixel):

* **Inputs.** A smooth random image: a ``latent_size`` x ``latent_size`` x 3 Gaussian field,
  bilinearly upsampled to ``image_size`` and scaled to unit variance.
* **Teacher.** ``len(teacher)`` frozen random 3x3 conv layers with tanh (``width`` channels,
  ``strides``), arranged as a tree in the layout format of ``docs/advanced/method.md``: tasks in
  one set
  of ``teacher[k]`` share layer ``k``'s weights, and a set splits into children going deeper.
  Tasks in one leaf set see the very same features.
* **Targets.** Each task reads its leaf's features with a random vector; within a leaf set the
  vectors correlate by ``readout_correlation``. The readout on the teacher's output grid is
  standardised (statistics of 1024 reference images, the same for every split) and bilinearly
  upsampled to ``image_size`` -- as the tree model upsamples its predictions.
* **Label noise.** ``label_noise`` (one SD for all, or ``{task: SD}``) adds smooth Gaussian noise
  of that SD (drawn on the output grid) to the *training* targets only. Two noisy tasks that
  share a teacher gain from sharing a student trunk (it averages their independent noise); a
  clean task with a teacher of its own needs the student's capacity and loses from sharing it.
* **Scarce labels.** ``labelled`` (``{task: fraction}``) keeps a task's *training* labels on the
  first ``ceil(fraction * num_samples)`` images only (the samples are i.i.d., so that is a
  random subset); the others carry ``{task}_mask`` = 0 and the losses skip them. A task with
  few labels gains from a trunk trained on a related task's labels (feature reuse).

Deterministic: the teacher and the readouts depend on ``seed`` only, so every split and every
task subset sees the same functions; sample ``i`` of a split is drawn from
``np.random.default_rng([seed, split_id, i])``, independent of access order, ``num_samples``
and ``tasks``. Items follow the plugin's data contract, with task names of your choosing::

    {'inputs': float32 (3, H, W), 'data_samples': {task: float32 (1, H, W)}}

Evaluate with ``MultiTaskMetric(tasks={task: 'regression'})`` (mean squared error).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..checks import check_int, check_number
from ..core.layout import Layout
from ..errors import ConfigError, LayoutError
from ..registry import DATASETS
from .transforms_common import check_tasks, parse_image_size

__all__ = ['TeacherTaskDataset']

#: ``pilot``: images of their own for choosing a benchmark design, so that a pilot never
#: scores on the validation study's ``test`` images
SPLITS = {'train': 0, 'val': 1, 'test': 2, 'pilot': 3}
#: reference images for the target standardisation (its own random stream)
_REFERENCE_IMAGES = 1024
_REFERENCE_SPLIT = 99
_SCALES: dict[tuple, dict[str, tuple[float, float]]] = {}
#: gain of the teacher's conv weights (std = gain / sqrt(fan_in)): tanh stays out of saturation
_TEACHER_GAIN = 1.5


def _stream(*key) -> np.random.Generator:
    """A random stream named by ``key`` (ints and strings), stable across runs and platforms."""
    return np.random.default_rng([k if isinstance(k, int) else zlib.crc32(k.encode())
                                  for k in key])


@DATASETS.register_module()
class TeacherTaskDataset(Dataset):
    """Per-pixel regression targets read out of a frozen random teacher tree (module docstring).

    Args:
        teacher: the teacher's tree, one entry per teacher layer, in the layout format
            (e.g. ``[[['a1', 'a2'], ['c']]] * 4``: ``a1`` and ``a2`` read one teacher, ``c``
            another). Its tasks are the tasks this dataset offers.
        num_samples: samples in the split.
        image_size: ``int`` or ``(H, W)``; each side a multiple of the teacher's total stride.
        seed: the teacher's and the samples' seed.
        split: ``'train'``, ``'val'``, ``'test'`` or ``'pilot'`` (independent samples of the
            same tasks; ``'pilot'`` is for choosing a design without touching ``'test'``).
        tasks: the tasks to return, in order (default: all of the teacher's).
        label_noise: SD of the noise added to training targets (unit-variance targets): one
            number for every task, or ``{task: SD}`` (missing tasks: 0).
        labelled: ``{task: fraction}`` of the training images that carry the task's label
            (missing tasks: all); the other images carry ``{task}_mask`` = 0.
        readout_correlation: correlation of the readout vectors of tasks in one leaf set.
        width: channels of every teacher layer.
        strides: stride of each teacher layer (one per layer).
        latent_size: side of the Gaussian field the smooth input images are made from.
    """

    def __init__(self, teacher: Sequence, num_samples: int = 256,
                 image_size: int | Sequence[int] = 32, seed: int = 0, split: str = 'train',
                 tasks: Sequence[str] | None = None,
                 label_noise: float | Mapping[str, float] = 0.0,
                 labelled: Mapping[str, float] | None = None,
                 readout_correlation: float = 0.9, width: int = 16,
                 strides: Sequence[int] = (2, 2, 2, 1), latent_size: int = 4):
        try:
            self.teacher = Layout(teacher)
        except (LayoutError, TypeError, ValueError) as err:
            raise ConfigError(f'TeacherTaskDataset: teacher must be a tree in the layout format '
                              f"(e.g. [[['a1', 'a2'], ['c']]] * 4): {err}") from None
        self.num_samples = check_int('TeacherTaskDataset: num_samples', num_samples, low=1)
        self.width = check_int('TeacherTaskDataset: width', width, low=1)
        self.latent_size = check_int('TeacherTaskDataset: latent_size', latent_size, low=1)
        check_int('TeacherTaskDataset: seed', seed, low=0)
        if split not in SPLITS:
            raise ConfigError(f'TeacherTaskDataset: split must be one of {list(SPLITS)}, '
                              f'got {split!r}')
        strides = tuple(strides)
        if len(strides) != self.teacher.num_blocks or \
                any(check_int('TeacherTaskDataset: strides', s, low=1) > 4 for s in strides):
            raise ConfigError(f'TeacherTaskDataset: strides needs one stride in 1..4 per teacher '
                              f'layer ({self.teacher.num_blocks}), got {strides!r}')
        if not -1.0 <= float(readout_correlation) <= 1.0:
            raise ConfigError('TeacherTaskDataset: readout_correlation must be in [-1, 1], got '
                              f'{readout_correlation!r}')
        self.seed, self.split, self.strides = int(seed), split, strides
        self.readout_correlation = float(readout_correlation)
        self.image_size = parse_image_size(image_size)
        self.stride = math.prod(strides)
        if any(s % self.stride for s in self.image_size):
            raise ConfigError(f'TeacherTaskDataset: image_size {self.image_size} must be a '
                              f'multiple of the teacher\'s total stride {self.stride} on each '
                              'side')
        self.grid = tuple(s // self.stride for s in self.image_size)
        self.all_tasks = tuple(self.teacher.tasks)
        self.tasks = check_tasks(tasks, self.all_tasks)
        self.label_noise = self._noise_levels(label_noise)
        self.labelled = self._labelled_counts(labelled)
        self.metainfo = dict(tasks=self.tasks, teacher=self.teacher.to_list(), split=split,
                             image_size=self.image_size, target_grid=self.grid,
                             label_noise=self.label_noise, labelled=self.labelled)
        self._weights = self._teacher_weights()
        self._readouts = self._readout_vectors()
        self._scale = self._reference_scale()
        images = self._images(SPLITS[split], self.num_samples)
        grids = {t: (v - self._scale[t][0]) / self._scale[t][1]
                 for t, v in self._targets(images).items() if t in self.tasks}
        if split == 'train':
            for t in self.tasks:
                if self.label_noise[t]:
                    grids[t] = grids[t] + self.label_noise[t] * self._noise(t)
        self.inputs = self._upsample(images).float()
        self.targets = {t: self._upsample(grids[t]).float() for t in self.tasks}

    # -- construction -------------------------------------------------------------------
    def _noise_levels(self, label_noise) -> dict[str, float]:
        if isinstance(label_noise, Mapping):
            unknown = sorted(set(label_noise) - set(self.all_tasks))
            if unknown:
                raise ConfigError(f'TeacherTaskDataset: label_noise names task(s) {unknown} that '
                                  f'the teacher does not have ({list(self.all_tasks)})')
            levels = {t: label_noise.get(t, 0.0) for t in self.all_tasks}
        else:
            levels = {t: label_noise for t in self.all_tasks}
        return {t: check_number(f'TeacherTaskDataset: label_noise of {t!r}', v, low=0)
                for t, v in levels.items()}

    def _labelled_counts(self, labelled) -> dict[str, int]:
        """Per task with scarce labels, how many training images keep them (split 'train')."""
        if labelled is None:
            return {}
        if not isinstance(labelled, Mapping):
            raise ConfigError('TeacherTaskDataset: labelled must be a {task: fraction} dict, '
                              f'e.g. dict(a2=0.0625), got {labelled!r}')
        unknown = sorted(set(labelled) - set(self.all_tasks))
        if unknown:
            raise ConfigError(f'TeacherTaskDataset: labelled names task(s) {unknown} that the '
                              f'teacher does not have ({list(self.all_tasks)})')
        counts = {}
        for task, fraction in labelled.items():
            fraction = check_number(f'TeacherTaskDataset: labelled fraction of {task!r}',
                                    fraction, low=0)
            if not 0 < fraction <= 1:
                raise ConfigError(f'TeacherTaskDataset: labelled fraction of {task!r} must be '
                                  f'in (0, 1], got {fraction!r}')
            if self.split == 'train' and task in self.tasks:
                counts[task] = max(1, math.ceil(fraction * self.num_samples))
        return counts

    def _teacher_weights(self) -> dict[tuple[int, tuple[str, ...]], torch.Tensor]:
        """One conv weight per layer and task set, from a stream named by both."""
        weights, fan_in = {}, 3
        for k in range(self.teacher.num_blocks):
            for task_set in self.teacher.task_sets(k):
                key = (k, tuple(sorted(task_set)))
                rng = _stream(self.seed, 'teacher', k, ','.join(key[1]))
                w = rng.standard_normal((self.width, fan_in, 3, 3))
                weights[key] = torch.from_numpy(w * _TEACHER_GAIN / math.sqrt(fan_in * 9)).float()
            fan_in = self.width
        return weights

    def _readout_vectors(self) -> dict[str, torch.Tensor]:
        """Per task: ``r * shared(leaf) + sqrt(1 - r^2) * own(task)``."""
        r, last = self.readout_correlation, self.teacher.num_blocks - 1
        out = {}
        for task_set in self.teacher.task_sets(last):
            leaf = ','.join(sorted(task_set))
            shared = _stream(self.seed, 'readout', leaf).standard_normal(self.width)
            for t in task_set:
                own = _stream(self.seed, 'readout', leaf, t).standard_normal(self.width)
                out[t] = torch.from_numpy(r * shared + math.sqrt(1 - r * r) * own).float()
        return out

    def _reference_scale(self) -> dict[str, tuple[float, float]]:
        """Mean and SD of every task's readout over the reference images (cached per teacher:
        the sweep builds many datasets of the same tasks in one process)."""
        key = (self.seed, self.teacher.to_json(), self.width, self.strides, self.latent_size,
               self.readout_correlation, self.image_size)
        if key not in _SCALES:
            images = self._raw_images(_REFERENCE_SPLIT, _REFERENCE_IMAGES)
            scale = float(images.std())
            reference = self._targets(images / scale)
            _SCALES[key] = dict(inputs=(0.0, scale), **{
                t: (float(v.mean()), float(v.std())) for t, v in reference.items()})
        return _SCALES[key]

    def _raw_images(self, split_id: int, count: int) -> torch.Tensor:
        """Smooth images (N x 3 x H x W) of one split, before scaling."""
        side = self.latent_size
        latent = np.stack([np.random.default_rng([self.seed, split_id, i]).standard_normal(
            (3, side, side)) for i in range(count)])
        return self._upsample(torch.from_numpy(latent).float())

    def _images(self, split_id: int, count: int) -> torch.Tensor:
        """Smooth unit-variance images of one split (scaled as the reference images)."""
        return self._raw_images(split_id, count) / self._scale['inputs'][1]

    def _targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every task's readout on the teacher's output grid (N x 1 x h x w)."""
        feats = {(): images}
        leaf_of = {t: () for t in self.all_tasks}
        for k in range(self.teacher.num_blocks):
            new = {}
            for task_set in self.teacher.task_sets(k):
                key = (k, tuple(sorted(task_set)))
                parent = feats[leaf_of[task_set[0]]]
                new[key] = torch.tanh(F.conv2d(parent, self._weights[key], stride=self.strides[k],
                                               padding=1))
            for key in new:
                for t in key[1]:
                    leaf_of[t] = key
            feats = new
        return {t: torch.einsum('nchw,c->nhw', feats[leaf_of[t]], self._readouts[t])[:, None]
                for t in self.all_tasks}

    def _noise(self, task: str) -> torch.Tensor:
        noise = np.stack([_stream(self.seed, 'noise', task, i).standard_normal((1, *self.grid))
                          for i in range(self.num_samples)])
        return torch.from_numpy(noise).float()

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == self.image_size:
            return x
        return F.interpolate(x, size=self.image_size, mode='bilinear', align_corners=False)

    # -- Dataset ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        if index < 0:
            index += self.num_samples
        if not 0 <= index < self.num_samples:
            raise IndexError(f'index {index} out of range for {self.num_samples} samples')
        samples = {t: self.targets[t][index] for t in self.tasks}
        for task, count in self.labelled.items():
            samples[f'{task}_mask'] = torch.full(self.targets[task].shape[1:], index < count)
        return dict(inputs=self.inputs[index], data_samples=samples)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_samples={self.num_samples}, image_size='
                f'{self.image_size}, seed={self.seed}, split={self.split!r}, '
                f'tasks={list(self.tasks)}, teacher={self.teacher.short()})')
