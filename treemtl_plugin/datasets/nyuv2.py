"""NYUv2 (3 tasks: semantic segmentation, depth, surface normals) for ``treemtl_plugin``.

The paper's NYUv2 experiments use the preprocessed copy from AdaShare (Sun et al., NeurIPS 2020),
loaded by TreeMTL's ``data/nyuv2_dataloader_adashare.py``. That layout is supported, as is the
``.npy`` layout of MTAN (Liu et al., CVPR 2019), the other widely shared NYUv2 copy. Which of
the two is on disk is found automatically (``layout='auto'``). The layout that was found goes to
the log and is stored in ``dataset.layout`` and ``dataset.metainfo['layout']``.

Layout ``'adashare'``: the AdaShare/TreeMTL copy ("formatted NYU v2" linked from both READMEs)
--------------------------------------------------------------------------------------------
::

    <data_root>/
        nyu_v2_3task.json          {"train": [[img, seg, normal, depth], ...], "test": [...]}
        img/0061.png ...           RGB,  uint8, 3 channels (480 x 640 in the authors' copy)
        seg/0061.png ...           labels, uint8, 1 channel: 0..39 = NYUv2-40 classes, 255 = ignore
        normal_mask/0061.png ...   normals, uint8, 3 channels, n = v / 255 * 2 - 1
        depth/0061.npy ...         depth, float32 (H, W) array, metres, 0 = no measurement

Each json entry lists four paths relative to ``<data_root>`` in the order image, segmentation,
normal, depth. The sample id is the image's file name without its extension (``'0061'``).

Evidence:

* ``zhanglijun95/TreeMTL:data/nyuv2_dataloader_adashare.py`` (same code as
  ``sunxm2357/AdaShare:dataloaders/nyu_v2_dataloader.py``) opens
  ``os.path.join(dataroot, 'nyu_v2_3task.json')`` and takes ``info[mode]``. For each entry
  ``img_path, seg_path, normal_path, depth_path`` it reads the image and the normal with
  ``cv2.imread`` (BGR), the segmentation with ``cv2.IMREAD_GRAYSCALE``, and the depth with
  ``np.load``.
* ``sunxm2357/AdaShare:nyu_v2_samples/{img,seg,normal_mask}/0061.png`` and
  ``nyu_v2_samples/depth/0061.npy``, together with ``NYU_v2_Customize`` in the same loader, give
  the folder names and the entries' form (``('img/0061.png', 'seg/0061.png',
  'normal_mask/0061.png', 'depth/0061.npy')``, relative to the data root).
* ``TreeMTL:data/pixel2pixel_loss.py`` and ``pixel2pixel_metrics.py`` (``NYUCriterions``,
  ``NYUMetrics``) set ``num_seg_cls = 40`` and use ``CrossEntropyLoss(ignore_index=255)``; the
  metric keeps only pixels with ``gt < 40``. The depth loss and metric count only pixels with
  ``depth > 3e-5``, so 0 means missing. ``TreeMTL:Example.ipynb`` uses the splits ``'train'`` and
  ``'test'`` (the test split doubles as validation) and ``crop_h = crop_w = 321``.
* The segmentation is the **40-class** NYUv2 labelling, not the 13-class one.

Layout ``'mtan'``: ``lorenmt/mtan`` (``im2im_pred/create_dataset.py``)
---------------------------------------------------------------------
::

    <data_root>/
        train/  image/0.npy ... image/<N-1>.npy   float (H, W, 3) RGB in [0, 1] (288 x 384)
                label/<i>.npy                       float (H, W): NYUv2-13 ids 0..12, -1 = ignore
                depth/<i>.npy                       float (H, W, 1) or (H, W), metres, 0 = missing
                normal/<i>.npy                      float (H, W, 3) in [-1, 1], all-zero = missing
        val/    (same four folders: the 654 official NYUv2 test images)

Evidence: MTAN's ``NYUv2`` reads ``root + '/train'`` or ``root + '/val'``, counts
``*.npy`` in ``image/`` and loads ``{image,label,depth,normal}/{index:d}.npy``. There the image,
depth and normal are moved from HWC to CHW.

Splits
------
``split`` names the json key for ``'adashare'`` and the folder for ``'mtan'``. Neither copy has a
separate validation split. ``split='val'`` therefore uses the ``'test'`` key (AdaShare), as TreeMTL
does, and ``split='test'`` uses the ``'val'`` folder (MTAN). When this happens it is logged.

Decoding into the data contract (``/tmp/notes/data_contract.md``)
------------------------------------------------------------------
* ``inputs``: RGB scaled to [0, 1], then normalised with the ImageNet mean and std. The authors
  subtract a Caffe BGR mean instead.
* ``segment_semantic``: int64 (H, W). The stored class ids are kept. 255 (AdaShare), -1 (MTAN)
  and any id >= ``num_classes`` (40 for AdaShare, 13 for MTAN) become 255 (ignore).
* ``depth_zbuffer``: float32 (1, H, W) in metres. 0 stays 0 (missing), and so do NaN and negative
  values.
* ``normal``: float32 (3, H, W) unit vectors. AdaShare PNG: ``n = v / 255 * 2 - 1`` per channel
  in the PNG's stored R, G, B order (x, y, z), then renormalised. A pixel stored as (0, 0, 0) is
  missing and becomes the zero vector. The authors feed the raw uint8 BGR values to their cosine
  loss without decoding; we decode as the brief asks. MTAN: the stored vectors are renormalised.
  For both, a decoded vector shorter than 0.5 is treated as missing (all zeros).
* Resizing (``image_size``, without ``augment``) follows the authors' val/test branch: the image
  is bilinear and the labels are nearest-neighbour. ``augment=True`` follows their train branch:
  a random scale in ``scale_range`` (0.5-1.5), a horizontal flip with probability ``flip_prob``,
  then padding and a random crop to ``image_size``. Padding gives the normalised image 0 (the
  mean colour), segmentation 255, and depth and normals 0. Unlike the authors, a flip negates the
  normals' x component. Random numbers come from torch's global RNG, which DataLoader workers seed.

Errors
------
Missing or incomplete data raises :class:`DatasetLayoutError` (a ``FileNotFoundError``). It says
what is missing and where: the data root, the split (a json key or folder), a task's folder
(listing the task folders that are present), or task files missing for some samples (naming the
first sample ids and the task). It is also raised when no samples are found. An unknown task name
raises ``ValueError``, which lists the valid names.
"""
from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..registry import DATASETS

__all__ = ['DatasetLayoutError', 'NYUv2Dataset', 'ALL_TASKS', 'TASK_ALIASES', 'IGNORE_INDEX']

# Task names of the data contract (Taskonomy naming), in canonical order.
ALL_TASKS = ('segment_semantic', 'depth_zbuffer', 'normal', 'edge_texture', 'keypoints2d')
# Names used by AdaShare/MTAN/TreeMTL configs, accepted as aliases.
TASK_ALIASES = {
    'seg': 'segment_semantic', 'sseg': 'segment_semantic', 'semantic': 'segment_semantic',
    'segmentation': 'segment_semantic', 'segmentsemantic': 'segment_semantic',
    'depth': 'depth_zbuffer', 'zbuffer': 'depth_zbuffer',
    'sn': 'normal', 'normals': 'normal', 'surface_normal': 'normal',
    'edge': 'edge_texture', 'edges': 'edge_texture',
    'keypoint': 'keypoints2d', 'keypoints': 'keypoints2d', 'keypoints_2d': 'keypoints2d',
}
from .transforms_common import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
# Decoded normal vectors shorter than this are treated as missing (all-zero vector).
_MIN_NORMAL_NORM = 0.5

SizeLike = Union[None, int, Sequence[int]]


class DatasetLayoutError(FileNotFoundError):
    """The data on disk does not match the documented layout: something is missing or incomplete.

    The message says what is missing and where.
    """


def load_split_json(json_path: str, dataset: str, layout: str) -> dict:
    """The ``{split: [entries]}`` json of the authors' layouts, with clear errors."""
    if not osp.isfile(json_path):
        raise DatasetLayoutError(
            f'{dataset} ({layout} layout): split file {json_path!r} does not exist')
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
    """Canonical task names for ``tasks`` (None = all ``available``); unknown names: ValueError."""
    if tasks is None:
        return tuple(available)
    if isinstance(tasks, str):
        tasks = [tasks]
    tasks = list(tasks)
    if not tasks:
        raise ValueError(f'{dataset_name}: tasks is empty; choose from {list(available)}')
    out: List[str] = []
    for t in tasks:
        if not isinstance(t, str):
            raise ValueError(f'{dataset_name}: task names must be strings, got {t!r}')
        key = t.strip().lower()
        key = TASK_ALIASES.get(key, key)
        if key not in ALL_TASKS:
            raise ValueError(
                f'{dataset_name}: unknown task {t!r}; valid task names are {list(available)} '
                f'(aliases: {sorted(a for a, c in TASK_ALIASES.items() if c in available)})')
        if key not in available:
            raise ValueError(f'{dataset_name}: task {t!r} is not offered by this dataset; '
                             f'it has {list(available)}')
        if key not in out:
            out.append(key)
    return tuple(out)


def normalize_size(size: SizeLike, name: str = 'image_size') -> Optional[Tuple[int, int]]:
    """None, an int (square) or (H, W) -> None or (H, W)."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f'{name} must be an int or (H, W) of positive ints, got {size!r}')
    return size


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
    """Shared output path: normalise, resize or augment, contract dtypes. Subclasses fill
    ``self.samples`` (dicts with at least ``'id'``) and implement :meth:`load_raw`."""

    DATASET_NAME = 'dataset'
    AVAILABLE_TASKS: Tuple[str, ...] = ()

    def __init__(self, data_root: str, split: str, tasks, image_size: SizeLike, augment: bool,
                 scale_range: Sequence[float] = (0.5, 1.5), flip_prob: float = 0.5,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 base_size: SizeLike = None):
        if data_root is None or str(data_root) == '':
            raise DatasetLayoutError(f'{self.DATASET_NAME}: data_root is empty')
        self.data_root = osp.abspath(osp.expanduser(str(data_root)))
        self.split = str(split)
        self.tasks = resolve_tasks(tasks, self.AVAILABLE_TASKS, self.DATASET_NAME)
        self.image_size = normalize_size(image_size)
        self.base_size = normalize_size(base_size, 'base_size')
        self.augment = bool(augment)
        scale_range = tuple(float(s) for s in scale_range)
        if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f'scale_range must be (lo, hi) with 0 < lo <= hi, got {scale_range}')
        self.scale_range = scale_range
        self.flip_prob = float(flip_prob)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.samples: List[dict] = []
        self.layout = ''
        if not osp.isdir(self.data_root):
            what = 'is not a folder' if osp.exists(self.data_root) else 'does not exist'
            raise DatasetLayoutError(f'{self.DATASET_NAME}: data_root {self.data_root!r} {what}')

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
                f'layout={self.layout!r}, tasks={list(self.tasks)}, samples={len(self)}, '
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
                raise DatasetLayoutError(
                    f'{self.DATASET_NAME} split {self.split!r}: {n_missing} of {len(self.samples)} '
                    f'samples have no file for task {task!r} (looked in {where.get(task, "?")}): '
                    f'{text}{more}')


# ----------------------------------------------------------------------------- NYUv2
_NYU_TASKS = ('segment_semantic', 'depth_zbuffer', 'normal')
# json entry position -> task (TreeMTL: img_path, seg_path, normal_path, depth_path)
_ADASHARE_ORDER = ('image', 'segment_semantic', 'normal', 'depth_zbuffer')
_MTAN_FOLDERS = {'image': 'image', 'segment_semantic': 'label', 'depth_zbuffer': 'depth',
                 'normal': 'normal'}
_SPLIT_FALLBACK = {'val': ('test',), 'test': ('val',)}


@DATASETS.register_module()
class NYUv2Dataset(DenseMultiTaskDataset):
    """NYUv2 with tasks ``segment_semantic``, ``depth_zbuffer`` and ``normal``.

    See the module docstring for the two supported on-disk layouts and how they are decoded.

    Args:
        data_root: the dataset folder (it holds ``nyu_v2_3task.json``, or ``train/`` and ``val/``).
        split: ``'train'``, ``'val'`` or ``'test'`` (a json key or folder name; see *Splits*).
        tasks: a subset of the three tasks (aliases such as ``'seg'``, ``'sn'``, ``'depth'`` are
            accepted). None means all three.
        image_size: None keeps the stored size. An int or (H, W) is the resize target, or the crop
            target when ``augment=True``. The authors use 321 (AdaShare/TreeMTL); MTAN uses
            (288, 384).
        augment: random scale, flip and crop (the authors' training transform).
        layout: ``'auto'``, ``'adashare'`` or ``'mtan'``.
        ann_file: the json for ``'adashare'`` (default ``<data_root>/nyu_v2_3task.json``).
        num_classes: ids at or above it become 255. Defaults to 40 (AdaShare) or 13 (MTAN).
        check_files: check at construction that every requested task file exists (one directory
            listing per folder).
        scale_range, flip_prob: the augmentation parameters.
        mean, std: the normalisation of the [0, 1] RGB input.
    """

    DATASET_NAME = 'NYUv2'
    AVAILABLE_TASKS = _NYU_TASKS
    ANN_FILE = 'nyu_v2_3task.json'

    def __init__(self, data_root: str, split: str = 'train', tasks=None,
                 image_size: SizeLike = None, augment: bool = False, layout: str = 'auto',
                 ann_file: Optional[str] = None,
                 num_classes: Optional[int] = None, check_files: bool = True,
                 scale_range: Sequence[float] = (0.5, 1.5), flip_prob: float = 0.5,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        super().__init__(data_root, split, tasks, image_size, augment, scale_range, flip_prob,
                         mean, std)
        if layout not in ('auto', 'adashare', 'mtan'):
            raise ValueError(f"NYUv2: layout must be 'auto', 'adashare' or 'mtan', got {layout!r}")
        root = self.data_root
        json_path = ann_file if ann_file is not None else osp.join(root, self.ANN_FILE)
        if ann_file is not None and not osp.isabs(json_path):
            json_path = osp.join(root, json_path)
        if layout == 'auto':
            if osp.isfile(json_path):
                layout = 'adashare'
            elif any(osp.isdir(osp.join(root, s, 'image'))
                     for s in ('train', 'val', 'test', split)):
                layout = 'mtan'
            else:
                present = sorted(os.listdir(root))
                raise DatasetLayoutError(
                    f'NYUv2: no known layout under {root!r}: expected {json_path!r} '
                    f"(AdaShare/TreeMTL layout) or {osp.join(root, split, 'image')!r} with *.npy "
                    f'files (MTAN layout); found: {_short_list(present, 10)}')
        self.layout = layout
        self.num_classes = int(num_classes) if num_classes is not None else \
            (40 if layout == 'adashare' else 13)
        listing = DirListing()
        if layout == 'adashare':
            self._init_adashare(json_path, listing, check_files)
        else:
            self._init_mtan(listing, check_files)
        if not self.samples:
            raise DatasetLayoutError(
                f'NYUv2 split {self.split!r}: zero samples found ({self._where})')
        self.metainfo = dict(dataset_name='NYUv2', layout=self.layout, split=self.split,
                             resolved_split=self.resolved_split, tasks=list(self.tasks),
                             num_classes={'segment_semantic': self.num_classes},
                             ignore_index=IGNORE_INDEX, depth_unit='m')
        self._log(f'NYUv2Dataset: {self.layout} layout found at {root} ({self._where}); split '
                  f'{self.split!r} -> {self.resolved_split!r}: {len(self)} samples, '
                  f'tasks {list(self.tasks)}')

    # -- AdaShare / TreeMTL ---------------------------------------------------------------
    def _init_adashare(self, json_path: str, listing: DirListing, check_files: bool) -> None:
        root = self.data_root
        info = load_split_json(json_path, 'NYUv2', 'AdaShare')
        key = self.split
        if key not in info:
            key = next((k for k in _SPLIT_FALLBACK.get(self.split, ()) if k in info), None)
            if key is None:
                raise DatasetLayoutError(
                    f'NYUv2 (AdaShare layout): split {self.split!r} missing from {json_path!r}; '
                    f'splits present: {sorted(info)}')
            self._log(f"NYUv2Dataset: split {self.split!r} is not in {osp.basename(json_path)}; "
                      f'using {key!r} as the authors do')
        self.resolved_split = key
        self._where = f'{json_path} [{key!r}]'
        entries = info[key]
        if not isinstance(entries, list):
            raise ValueError(f'NYUv2: {json_path!r}[{key!r}] must be a list of entries')
        needed = ('image',) + self.tasks
        for i, entry in enumerate(entries):
            if not isinstance(entry, (list, tuple)) or len(entry) != 4 or \
                    not all(isinstance(p, str) for p in entry):
                raise ValueError(
                    f'NYUv2: {json_path!r}[{key!r}][{i}] must be 4 paths [image, segmentation, '
                    f'normal, depth], got {entry!r}')
            paths = {name: osp.join(root, p) for name, p in zip(_ADASHARE_ORDER, entry)}
            sid = osp.splitext(osp.basename(entry[0]))[0]
            self.samples.append(dict(id=sid, paths=paths))
        if check_files and self.samples:
            # a whole folder missing -> name the task and the folders that are there
            folders = {t: self._task_folders(t) for t in _ADASHARE_ORDER}
            for t in needed:
                absent = [d for d in folders[t] if not listing.is_dir(d)]
                if absent:
                    present = [f'{osp.relpath(d, root)} ({tt})' for tt, ds in folders.items()
                               for d in ds if listing.is_dir(d)]
                    raise DatasetLayoutError(
                        f'NYUv2 (AdaShare layout): folder for task {t!r} is missing: '
                        f'{_short_list(absent, 3)} (referenced by '
                        f'{osp.basename(json_path)}[{key!r}]); task folders present: '
                        f'{_short_list(sorted(set(present)), 10)}')
            self._check_files(listing, needed, {t: _short_list(folders[t], 3) for t in needed})

    # -- MTAN -------------------------------------------------------------------------------
    def _init_mtan(self, listing: DirListing, check_files: bool) -> None:
        root = self.data_root
        folder = self.split
        if not listing.is_dir(osp.join(root, folder)):
            alt = next((s for s in _SPLIT_FALLBACK.get(self.split, ())
                        if listing.is_dir(osp.join(root, s))), None)
            if alt is None:
                present = sorted(d for d in (listing.names(root) or ())
                                 if osp.isdir(osp.join(root, d)))
                raise DatasetLayoutError(
                    f'NYUv2 (MTAN layout): split folder {osp.join(root, folder)!r} is missing; '
                    f'split folders present: {_short_list(present, 10)}')
            self._log(f'NYUv2Dataset: no {folder!r} folder; using {alt!r} (MTAN stores the '
                      f'official NYUv2 test images as val)')
            folder = alt
        self.resolved_split = folder
        base = osp.join(root, folder)
        self._where = base
        needed = ('image',) + self.tasks
        present = [t for t in _MTAN_FOLDERS if listing.is_dir(osp.join(base, _MTAN_FOLDERS[t]))]
        for t in needed:
            if t not in present:
                raise DatasetLayoutError(
                    f'NYUv2 (MTAN layout): folder {osp.join(base, _MTAN_FOLDERS[t])!r} for task '
                    f'{t!r} is missing; task folders present in {base!r}: '
                    + _short_list([f'{_MTAN_FOLDERS[p]} ({p})' for p in present], 10))
        ids = []
        for name in listing.names(osp.join(base, 'image')):
            stem, ext = osp.splitext(name)
            if ext == '.npy':
                ids.append(stem)
        ids.sort(key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s))
        for sid in ids:
            paths = {t: osp.join(base, _MTAN_FOLDERS[t], sid + '.npy') for t in _MTAN_FOLDERS}
            self.samples.append(dict(id=sid, paths=paths))
        if check_files:
            self._check_files(listing, self.tasks,
                              {t: osp.join(base, _MTAN_FOLDERS[t]) for t in self.tasks})

    # -- decoding ---------------------------------------------------------------------------
    def _seg_to_contract(self, seg: np.ndarray) -> np.ndarray:
        seg = np.asarray(seg)
        if seg.ndim == 3:
            seg = seg[..., 0]
        if np.issubdtype(seg.dtype, np.floating):
            seg = np.where(np.isfinite(seg), seg, -1)
            seg = np.rint(seg)
        seg = seg.astype(np.int64)
        return np.where((seg < 0) | (seg >= self.num_classes), IGNORE_INDEX, seg)

    @staticmethod
    def _depth_to_contract(depth: np.ndarray) -> np.ndarray:
        depth = np.asarray(depth, dtype=np.float32)
        if depth.ndim == 3:
            depth = depth[..., 0] if depth.shape[-1] == 1 else depth[0]
        return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)

    def load_raw(self, index: int):
        paths = self.sample_paths(index)
        out: Dict[str, np.ndarray] = {}
        if self.layout == 'adashare':
            rgb = read_image(paths['image'], 'RGB').astype(np.float32) / 255.0
            if 'segment_semantic' in self.tasks:
                out['segment_semantic'] = self._seg_to_contract(
                    read_label_png(paths['segment_semantic']))
            if 'normal' in self.tasks:
                out['normal'] = decode_normal_uint8(read_image(paths['normal'], 'RGB'))
            if 'depth_zbuffer' in self.tasks:
                out['depth_zbuffer'] = self._depth_to_contract(np.load(paths['depth_zbuffer']))
        else:
            rgb = np.load(paths['image'])
            if rgb.ndim == 3 and rgb.shape[0] == 3 and rgb.shape[-1] != 3:
                rgb = np.moveaxis(rgb, 0, -1)
            rgb = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
            if 'segment_semantic' in self.tasks:
                out['segment_semantic'] = self._seg_to_contract(np.load(paths['segment_semantic']))
            if 'normal' in self.tasks:
                n = np.load(paths['normal']).astype(np.float32)
                if n.ndim == 3 and n.shape[0] == 3 and n.shape[-1] != 3:
                    n = np.moveaxis(n, 0, -1)
                out['normal'] = unit_normals(n)
            if 'depth_zbuffer' in self.tasks:
                out['depth_zbuffer'] = self._depth_to_contract(np.load(paths['depth_zbuffer']))
        return rgb, out
