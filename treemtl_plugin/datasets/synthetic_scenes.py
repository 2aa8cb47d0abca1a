"""``SyntheticSceneDataset``: the built-in multi-task benchmark — procedurally rendered 3-D
rooms with ground truth for all five tasks of the data contract, made from a seed, no files.

Why: the recommender needs a two-task table, i.e. many small multi-task trainings whose tasks
relate to each other as real ones do (Taskonomy / NYUv2), yet tests and quick experiments cannot
download data. So every target here is derived from ONE scene geometry, as in real data: the
scenes (rooms with 2-6 objects of ``num_object_classes`` shape classes) and their targets are
drawn and ray-cast by ``scene_renderer.py``, whose docstring describes them.

Deterministic: sample ``i`` of ``(seed, split)`` is drawn from
``np.random.default_rng([seed, split_id, i])``, independent of access order and workers; the scene
is drawn before anything that depends on the image size, so ``image_size`` only changes the
resolution. With ``cache=True`` each rendered sample is kept in memory as compact arrays (uint8
image/labels/edges/keypoints, float16 depth/normals; about 14 bytes a pixel, e.g. 57 kB at 64x64,
0.9 MB at 256x256); cached and uncached items are identical.

Rendering speed (uncached, single process; on 2 shared CPU cores about 400 / 215 / 58 samples/s
at 64 / 128 / 256 px; cached items about 10000 / 3300 / 860 samples/s):
``python benchmarks/synthetic_scenes_speed.py``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..checks import check_int
from ..registry import DATASETS
from .scene_renderer import BACKGROUND_CLASSES, OBJECT_CLASSES, render_scene, sample_scene
from .transforms_common import (
    IGNORE_INDEX,
    TASK_NAMES,
    check_tasks,
    image_to_inputs,
    parse_image_size,
)

SPLITS = {'train': 0, 'val': 1, 'test': 2}
_SHARED_CACHES: dict[tuple, dict[int, dict]] = {}


@DATASETS.register_module()
class SyntheticSceneDataset(Dataset):
    """Procedural rooms with seg/depth/normal/edge/keypoint targets (see the module docstring).

    Args:
        num_samples: number of samples in the split.
        image_size: ``int`` or ``(H, W)``, each side > 8.
        seed: base seed; ``split`` selects an independent stream of it.
        split: ``'train'``, ``'val'`` or ``'test'``.
        tasks: subset of the data contract's task names (default: all five), in output order.
        num_object_classes: object shape classes, 1-6 (sphere, cuboid, cylinder, pyramid, cone,
            ellipsoid); ``num_classes = 2 + num_object_classes`` (floor, wall first).
        num_objects: ``(min, max)`` objects per scene (fewer if one does not fit the room).
        cache: keep rendered samples in memory (per process) as compact arrays.
        normalize: ImageNet mean/std on ``inputs``; else RGB in [0, 1].
        shared_cache: with ``cache``, share rendered samples (all five tasks) with every other
            instance of the same scenes in this process (the sweep builds many).
        prerender: with ``cache``, ``full_init()`` (which mmengine's Runner calls before it
            builds the DataLoader) renders every sample, so DataLoader workers inherit the
            cache instead of each rendering (again every epoch without persistent workers).
    """

    METAINFO = dict(background_classes=BACKGROUND_CLASSES, object_classes=OBJECT_CLASSES,
                    tasks=TASK_NAMES)

    def __init__(self, num_samples: int = 1000, image_size: int | Sequence[int] = 64,
                 seed: int = 0, split: str = 'train', tasks: Sequence[str] | None = None,
                 num_object_classes: int = 4, num_objects: Sequence[int] = (2, 6),
                 cache: bool = True, normalize: bool = True, prerender: bool = False,
                 shared_cache: bool = True):
        check_int('SyntheticSceneDataset: num_samples', num_samples, low=1)
        if split not in SPLITS:
            raise ValueError(f'split must be one of {list(SPLITS)}, got {split!r}')
        if not (isinstance(num_object_classes, (int, np.integer))
                and 1 <= num_object_classes <= len(OBJECT_CLASSES)):
            raise ValueError(f'num_object_classes must be in 1..{len(OBJECT_CLASSES)}, '
                             f'got {num_object_classes!r}')
        lo, hi = (int(v) for v in num_objects)
        if not 0 <= lo <= hi:
            raise ValueError(f'num_objects must be (min, max) with 0 <= min <= max, '
                             f'got {num_objects!r}')
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f'seed must be a non-negative int, got {seed!r}')
        self.num_samples = int(num_samples)
        self.image_size = parse_image_size(image_size)
        self.seed, self.split = int(seed), split
        self.tasks = check_tasks(tasks)
        self.num_object_classes = int(num_object_classes)
        self.num_objects = (lo, hi)
        self.cache, self.normalize = bool(cache), bool(normalize)
        self.prerender = bool(prerender)
        self.class_names = BACKGROUND_CLASSES + OBJECT_CLASSES[:self.num_object_classes]
        self.num_classes = len(self.class_names)
        self.ignore_index = IGNORE_INDEX
        self.metainfo = dict(classes=self.class_names, num_classes=self.num_classes,
                             tasks=self.tasks, ignore_index=IGNORE_INDEX, depth_unit='m',
                             normal_frame='camera: x right, y up, z towards the camera',
                             split=split, image_size=self.image_size)
        # Datasets with the same scenes share one process-wide cache holding every task, so the
        # runs of a sweep (each building its own dataset with other tasks) render only once.
        key = (self.seed, split, self.image_size, self.num_object_classes, self.num_objects)
        self._render_tasks = TASK_NAMES if (self.cache and shared_cache) else self.tasks
        self._cache: dict[int, dict] = (_SHARED_CACHES.setdefault(key, {})
                                        if self.cache and shared_cache else {})

    def __len__(self) -> int:
        return self.num_samples

    def full_init(self) -> None:
        """Render all samples into the cache if ``prerender`` (and ``cache``) is set."""
        if self.prerender and self.cache:
            for i in range(self.num_samples):
                if i not in self._cache:
                    self._cache[i] = self._compact(i)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLITS[self.split], index])

    def _check_index(self, index) -> int:
        index = int(index)
        if index < 0:
            index += self.num_samples
        if not 0 <= index < self.num_samples:
            raise IndexError(f'index {index} out of range for {self.num_samples} samples')
        return index

    def get_scene(self, index: int) -> dict:
        """The scene description and full-precision render of sample ``index`` (for tests,
        visualisation and debugging; not cached)."""
        index = self._check_index(index)
        rng = self._rng(index)
        scene = sample_scene(rng, self.num_object_classes, self.num_objects)
        render = render_scene(scene, *self.image_size, rng)
        return dict(scene=scene, render=render)

    def _compact(self, index: int) -> dict:
        rng = self._rng(index)
        scene = sample_scene(rng, self.num_object_classes, self.num_objects)
        r = render_scene(scene, *self.image_size, rng,
                         with_edges='edge_texture' in self._render_tasks,
                         with_keypoints='keypoints2d' in self._render_tasks)
        c = dict(image=np.round(r['image'] * 255).astype(np.uint8))
        for task in self._render_tasks:
            if task == 'segment_semantic':
                c[task] = r['seg']
            elif task == 'depth_zbuffer':
                c[task] = r['depth'].astype(np.float16)
            elif task == 'normal':
                c[task] = np.ascontiguousarray(r['normal'].transpose(2, 0, 1), np.float16)
            elif task == 'edge_texture':
                c[task] = np.round(r['edge'] * 255).astype(np.uint8)
            else:
                c[task] = np.round(r['keypoints'] * 255).astype(np.uint8)
        return c

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        c = self._cache.get(index)
        if c is None:
            c = self._compact(index)
            if self.cache:
                self._cache[index] = c
        targets = {}  # conversions in numpy: torch intra-op threads crawl on a busy CPU
        for task in self.tasks:
            a = c[task]
            if task == 'segment_semantic':
                a = a.astype(np.int64)
            elif task == 'depth_zbuffer':
                a = a.astype(np.float32)[None]
            elif task == 'normal':
                a = a.astype(np.float32)  # undo the float16 rounding of unit length
                norm = np.sqrt((a * a).sum(0, keepdims=True))
                a /= np.where(norm > 0, norm, 1)
            else:
                a = (a.astype(np.float32) * np.float32(1 / 255))[None]
            targets[task] = torch.from_numpy(a)
        return dict(inputs=image_to_inputs(c['image'], self.normalize), data_samples=targets)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_samples={self.num_samples}, '
                f'image_size={self.image_size}, seed={self.seed}, split={self.split!r}, '
                f'tasks={list(self.tasks)}, num_classes={self.num_classes})')
