"""What the real-data loaders (NYUv2, Taskonomy) share: the base class and its helpers.

:class:`DenseMultiTaskDataset` is the output path of every dense real dataset. A subclass finds
its samples on disk (filling ``self.samples``) and decodes one sample in :meth:`load_raw`; the
base class normalises the image, resizes or augments the sample and returns the data contract
every dataset of the plugin follows (the built-in benchmark too)::

    {'inputs': float32 (3, H, W),
     'data_samples': {'segment_semantic': int64 (H, W), 255 = ignore,
                      'depth_zbuffer' / 'edge_texture' / 'keypoints2d': float32 (1, H, W),
                      'normal': float32 (3, H, W) unit vectors, zero vector = missing}}

The helpers here are shared by both loaders: task-name resolution (with the aliases used by
AdaShare/MTAN/TreeMTL configs), argument checks, a cached directory listing for checking many
files, image and label reading, normal decoding, and the resize and augmentation of a sample.

"Format" is the on-disk arrangement of a dataset copy (``data_format='adashare'``, ``'mtan'``,
``'json'`` ...); the word "layout" is kept for the tree layouts of multi-task models.

Errors: a bad constructor argument (unknown format or task name, bad split, image size, scale
range ...) raises :class:`~treemtl_plugin.errors.ConfigError` (a ``ValueError``) naming the value
and the fix. Data on disk that does not match the format raises
:class:`~treemtl_plugin.errors.DatasetFormatError` (a ``FileNotFoundError``) saying what is
missing and where.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from abc import ABC, abstractmethod
from numbers import Real
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .. import checks
from ..checks import check_number
from ..errors import ConfigError, DatasetFormatError, did_you_mean
from .transforms_common import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, TASK_NAMES

__all__ = [
    'DenseMultiTaskDataset', 'DatasetFormatError', 'DirListing',
    'ALL_TASKS', 'TASK_ALIASES', 'SizeLike', 'check_choice',
    'load_split_json', 'resolve_tasks', 'normalize_size', 'read_image', 'read_label_png',
    'decode_normal_uint8', 'unit_normals', 'resize_sample', 'augment_sample',
]

#: Task names of the data contract (Taskonomy naming), in canonical order.
ALL_TASKS = TASK_NAMES
#: Names used by AdaShare/MTAN/TreeMTL configs, accepted as aliases.
TASK_ALIASES = {
    'seg': 'segment_semantic', 'sseg': 'segment_semantic', 'semantic': 'segment_semantic',
    'segmentation': 'segment_semantic', 'segmentsemantic': 'segment_semantic',
    'depth': 'depth_zbuffer', 'zbuffer': 'depth_zbuffer',
    'sn': 'normal', 'normals': 'normal', 'surface_normal': 'normal',
    'edge': 'edge_texture', 'edges': 'edge_texture',
    'keypoint': 'keypoints2d', 'keypoints': 'keypoints2d', 'keypoints_2d': 'keypoints2d',
}
# Decoded normal vectors shorter than this are treated as missing (all-zero vector).
_MIN_NORMAL_NORM = 0.5

SizeLike = Union[None, int, Sequence[int]]



# ----------------------------------------------------------------------------- argument checks
def check_choice(dataset_name: str, name: str, value, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; otherwise a ConfigError naming it and the choices."""
    return checks.check_choice(f'{dataset_name}: {name}', value, choices)


def load_split_json(json_path: str, dataset: str, data_format: str) -> dict:
    """The ``{split: [entries]}`` json of the authors' formats, with clear errors."""
    if not osp.isfile(json_path):
        raise DatasetFormatError(
            f'{dataset} ({data_format} format): split file {json_path!r} does not exist')
    try:
        with open(json_path, 'r') as f:
            info = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{dataset}: {json_path!r} is not valid json: {e}') from e
    if not isinstance(info, dict):
        raise ValueError(f'{dataset}: {json_path!r} must hold a dict of split -> entries')
    return info


# ----------------------------------------------------------------------------- small helpers
def _short_list(items: Iterable, limit: int = 5) -> str:
    items = list(items)
    text = ', '.join(str(i) for i in items[:limit])
    if len(items) > limit:
        text += f', ... ({len(items)} in all)'
    return text or '(none)'


def resolve_tasks(tasks, available: Sequence[str], dataset_name: str) -> Tuple[str, ...]:
    """Canonical task names for ``tasks`` (None = all ``available``); bad names: ConfigError."""
    if tasks is None:
        return tuple(available)
    if isinstance(tasks, str):
        tasks = [tasks]
    try:
        tasks = list(tasks)
    except TypeError:
        raise ConfigError(f'{dataset_name}: tasks={tasks!r} must be a task name or a list of '
                          f'them, from {list(available)}') from None
    if not tasks:
        raise ConfigError(f'{dataset_name}: tasks is empty; choose from {list(available)} '
                          '(or pass tasks=None for all of them)')
    aliases = sorted(a for a, c in TASK_ALIASES.items() if c in available)
    out: List[str] = []
    for t in tasks:
        if not isinstance(t, str):
            raise ConfigError(f'{dataset_name}: task names must be strings, got {t!r}; choose '
                              f'from {list(available)}')
        key = t.strip().lower()
        key = TASK_ALIASES.get(key, key)
        if key not in ALL_TASKS:
            raise ConfigError(
                f'{dataset_name}: unknown task {t!r}{did_you_mean(t, list(available) + aliases)}; '
                f'valid task names are {list(available)} (aliases: {aliases})')
        if key not in available:
            raise ConfigError(f'{dataset_name}: task {t!r} is not offered by this dataset; '
                              f'it has {list(available)}')
        if key not in out:
            out.append(key)
    return tuple(out)


def _as_int(value) -> Optional[int]:
    """``value`` as an int if it is a whole number (not a bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, Real) and float(value).is_integer():
        return int(value)
    return None


def normalize_size(size: SizeLike, name: str = 'image_size',
                   dataset_name: str = '') -> Optional[Tuple[int, int]]:
    """None, an int (square) or (H, W) -> None or (H, W); anything else: ConfigError."""
    if size is None:
        return None
    if _as_int(size) is not None:
        out = (_as_int(size), _as_int(size))
    elif isinstance(size, (Sequence, np.ndarray)) and not isinstance(size, (str, bytes)) \
            and len(size) == 2:
        out = (_as_int(size[0]), _as_int(size[1]))
    else:
        out = (None, None)
    if None in out or min(out) <= 0:
        prefix = f'{dataset_name}: ' if dataset_name else ''
        raise ConfigError(f'{prefix}{name}={size!r} is not a size; pass a positive int (square) '
                          f'or (H, W) of positive ints, e.g. {name}=(256, 256), or None')
    return out


class DirListing:
    """Caches ``os.listdir`` results so that checking many files costs one listing per folder."""

    def __init__(self):
        self._cache: Dict[str, Optional[frozenset]] = {}

    def names(self, folder: str) -> Optional[frozenset]:
        folder = osp.normpath(folder)
        if folder not in self._cache:
            try:
                self._cache[folder] = frozenset(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                self._cache[folder] = None
        return self._cache[folder]

    def is_dir(self, folder: str) -> bool:
        return self.names(folder) is not None

    def exists(self, path: str) -> bool:
        path = osp.normpath(path)
        names = self.names(osp.dirname(path))
        return names is not None and osp.basename(path) in names


def read_image(path: str, mode: Optional[str] = None) -> np.ndarray:
    """Reads an image file with PIL, keeping 16-bit PNGs at 16 bits (``mode=None``)."""
    from PIL import Image
    with Image.open(path) as im:
        if mode is not None and im.mode != mode:
            im = im.convert(mode)
        arr = np.array(im)
    return arr


def read_label_png(path: str) -> np.ndarray:
    """Single-channel label PNG (L, P, I;16 or I); of a 3-channel file the first channel."""
    arr = read_image(path)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return arr


def decode_normal_uint8(raw: np.ndarray, zero_is_missing: bool = True) -> np.ndarray:
    """uint8 (H, W, 3) normal image -> float32 (H, W, 3) unit vectors, zero vector where missing."""
    raw = np.asarray(raw)
    if raw.ndim != 3 or raw.shape[-1] < 3:
        raise ValueError(f'normal image must be (H, W, 3), got shape {raw.shape}')
    raw = raw[..., :3]
    vec = raw.astype(np.float32) / 255.0 * 2.0 - 1.0
    invalid = np.zeros(raw.shape[:2], dtype=bool)
    if zero_is_missing:
        invalid |= ~raw.any(axis=-1)
    return unit_normals(vec, invalid)


def unit_normals(vec: np.ndarray, invalid: Optional[np.ndarray] = None) -> np.ndarray:
    """Renormalises (H, W, 3) vectors. Short (< 0.5), non-finite or ``invalid`` ones become 0."""
    vec = np.asarray(vec, dtype=np.float32)
    finite = np.isfinite(vec).all(axis=-1)
    vec = np.where(finite[..., None], vec, 0.0).astype(np.float32)
    norm = np.linalg.norm(vec, axis=-1)
    bad = (norm < _MIN_NORMAL_NORM) | ~finite
    if invalid is not None:
        bad |= invalid
    out = vec / np.maximum(norm, 1e-12)[..., None]
    out[bad] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- geometry (torch)
def _resize_target(task: str, value: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    if task == 'segment_semantic':
        return F.interpolate(value[None, None].float(), size=size, mode='nearest')[0, 0].long()
    return F.interpolate(value[None], size=size, mode='nearest')[0]


def resize_sample(img: torch.Tensor, targets: Dict[str, torch.Tensor],
                  size: Tuple[int, int]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Image bilinear, labels nearest-neighbour (the authors' val/test resize)."""
    if tuple(img.shape[-2:]) != tuple(size):
        img = F.interpolate(img[None], size=size, mode='bilinear', align_corners=False)[0]
    out = {}
    for task, value in targets.items():
        out[task] = value if tuple(value.shape[-2:]) == tuple(size) else \
            _resize_target(task, value, size)
    return img, out


_PAD_VALUE = {'segment_semantic': IGNORE_INDEX}


def augment_sample(img: torch.Tensor, targets: Dict[str, torch.Tensor], out_size: Tuple[int, int],
                   scale_range: Tuple[float, float], flip_prob: float
                   ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Random scale, horizontal flip, then centred padding and a random crop to ``out_size`` (the
    authors' train branch). The normals' x component is negated on a flip."""
    h, w = img.shape[-2:]
    lo, hi = scale_range
    s = lo + (hi - lo) * torch.rand(()).item()
    new = (max(1, int(h * s)), max(1, int(w * s)))
    img, targets = resize_sample(img, targets, new)
    if flip_prob > 0 and torch.rand(()).item() < flip_prob:
        img = img.flip(-1)
        targets = {t: v.flip(-1) for t, v in targets.items()}
        if 'normal' in targets:
            n = targets['normal'].clone()
            n[0] = -n[0]
            targets['normal'] = n
    oh, ow = out_size
    ph, pw = max(new[0], oh), max(new[1], ow)
    top, left = (ph - new[0]) // 2, (pw - new[1]) // 2
    y0 = int(torch.randint(0, ph - oh + 1, ()).item())
    x0 = int(torch.randint(0, pw - ow + 1, ()).item())

    def pad_crop(t: torch.Tensor, fill) -> torch.Tensor:
        if (ph, pw) != tuple(new):
            canvas = torch.full((*t.shape[:-2], ph, pw), fill, dtype=t.dtype)
            canvas[..., top:top + new[0], left:left + new[1]] = t
            t = canvas
        return t[..., y0:y0 + oh, x0:x0 + ow].contiguous()

    img = pad_crop(img, 0.0)
    targets = {t: pad_crop(v, _PAD_VALUE.get(t, 0)) for t, v in targets.items()}
    return img, targets


# ----------------------------------------------------------------------------- shared base
class DenseMultiTaskDataset(Dataset, ABC):
    """Shared output path: normalise, resize or augment, contract dtypes.

    The constructor checks the shared arguments (ConfigError on a bad one) and that
    ``data_root`` is a folder (DatasetFormatError). Subclasses then set ``self.data_format`` (the
    on-disk format found), fill ``self.samples`` (dicts with at least ``'id'``) and implement
    :meth:`load_raw`.
    """

    DATASET_NAME = 'dataset'
    AVAILABLE_TASKS: Tuple[str, ...] = ()

    def __init__(self, data_root: str, split: str, tasks, image_size: SizeLike, augment: bool,
                 scale_range: Sequence[float] = (0.5, 1.5), flip_prob: float = 0.5,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 base_size: SizeLike = None):
        name = self.DATASET_NAME
        if data_root is None or str(data_root) == '':
            raise ConfigError(f'{name}: data_root is empty; set it to the dataset folder')
        if not isinstance(split, str) or not split.strip():
            raise ConfigError(f"{name}: split={split!r} must be a non-empty string such as "
                              "'train', 'val' or 'test'")
        self.data_root = osp.abspath(osp.expanduser(str(data_root)))
        self.split = split
        self.tasks = resolve_tasks(tasks, self.AVAILABLE_TASKS, name)
        self.image_size = normalize_size(image_size, 'image_size', name)
        self.base_size = normalize_size(base_size, 'base_size', name)
        self.augment = bool(augment)
        try:
            scales = tuple(float(s) for s in scale_range)
        except (TypeError, ValueError):
            scales = ()
        if len(scales) != 2 or not 0 < scales[0] <= scales[1]:
            raise ConfigError(f'{name}: scale_range={scale_range!r} must be (lo, hi) with '
                              '0 < lo <= hi, e.g. (0.5, 1.5)')
        self.scale_range = scales
        self.flip_prob = check_number(f'{name}: flip_prob', flip_prob, low=0, high=1)
        for key, value, default in (('mean', mean, IMAGENET_MEAN), ('std', std, IMAGENET_STD)):
            try:
                values = [float(v) for v in value]
            except (TypeError, ValueError):
                values = []
            if len(values) != 3 or (key == 'std' and min(values) <= 0):
                raise ConfigError(f'{name}: {key}={value!r} must be 3 numbers (R, G, B) for the '
                                  f'[0, 1] input{", all > 0" if key == "std" else ""}; the '
                                  f'default is {default}')
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.samples: List[dict] = []
        self.data_format = ''
        if not osp.isdir(self.data_root):
            what = 'is not a folder' if osp.exists(self.data_root) else 'does not exist'
            raise DatasetFormatError(f'{name}: data_root {self.data_root!r} {what}')

    # subclasses -------------------------------------------------------------------------
    @abstractmethod
    def load_raw(self, index: int) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
        """-> (RGB float32 (H, W, 3) in [0, 1], {task: decoded array}) with
        segment_semantic (H, W) int64, depth/edge/keypoints (H, W) float32, normal (H, W, 3)."""

    # API ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    @property
    def sample_ids(self) -> List[str]:
        return [s['id'] for s in self.samples]

    def get_sample_id(self, index: int) -> str:
        return self.samples[index]['id']

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(
                f'{self.DATASET_NAME}: index {index} out of range ({len(self)} samples)')
        rgb, raw = self.load_raw(index)
        img = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)
        img = (img - self.mean) / self.std
        targets: Dict[str, torch.Tensor] = {}
        for task in self.tasks:
            arr = raw[task]
            if task == 'segment_semantic':
                targets[task] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.int64))
            elif task == 'normal':
                targets[task] = torch.from_numpy(
                    np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)
            else:
                targets[task] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]
        for task, value in targets.items():
            if tuple(value.shape[-2:]) != tuple(img.shape[-2:]):
                raise ValueError(
                    f'{self.DATASET_NAME}: sample {self.get_sample_id(index)!r}: task {task!r} has '
                    f'size {tuple(value.shape[-2:])} but the image has {tuple(img.shape[-2:])}')
        if self.base_size is not None:
            img, targets = resize_sample(img, targets, self.base_size)
        if self.augment:
            out_size = self.image_size or tuple(img.shape[-2:])
            img, targets = augment_sample(img, targets, out_size, self.scale_range, self.flip_prob)
        elif self.image_size is not None:
            img, targets = resize_sample(img, targets, self.image_size)
        return dict(inputs=img.contiguous().float(),
                    data_samples={t: targets[t].contiguous() for t in self.tasks})

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(data_root={self.data_root!r}, split={self.split!r}, '
                f'data_format={self.data_format!r}, tasks={list(self.tasks)}, samples={len(self)}, '
                f'image_size={self.image_size}, augment={self.augment})')

    # helpers for subclasses -----------------------------------------------------------------
    def _log(self, msg: str) -> None:
        try:
            from mmengine.logging import print_log
            print_log(msg, logger='current')
        except Exception:  # pragma: no cover - logging must never break loading
            pass

    def sample_paths(self, index: int) -> Dict[str, str]:
        """{'image' or task: file path} of sample ``index``."""
        return self.samples[index]['paths']

    def sample_path(self, index: int, task: str) -> str:
        return self.sample_paths(index)[task]

    def _task_folders(self, task: str) -> List[str]:
        return sorted({osp.dirname(self.sample_path(i, task)) for i in range(len(self.samples))})

    def _check_files(self, listing: DirListing, tasks: Sequence[str],
                     where: Dict[str, str]) -> None:
        """Raises on the first task with files missing for some samples (streamed, so that
        hundreds of thousands of samples need no extra lists)."""
        for task in tasks:
            shown: List[Tuple[str, str]] = []
            n_missing = 0
            for i in range(len(self.samples)):
                path = self.sample_path(i, task)
                if not listing.exists(path):
                    n_missing += 1
                    if len(shown) < 3:
                        shown.append((self.samples[i]['id'], path))
            if n_missing:
                text = '; '.join(f'{sid} ({p})' for sid, p in shown)
                more = f' ... and {n_missing - len(shown)} more' if n_missing > len(shown) else ''
                raise DatasetFormatError(
                    f'{self.DATASET_NAME} split {self.split!r}: {n_missing} of {len(self.samples)} '
                    f'samples have no file for task {task!r} (looked in {where.get(task, "?")}): '
                    f'{text}{more}')

