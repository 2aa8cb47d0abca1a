"""NYUv2 (3 tasks: semantic segmentation, depth, surface normals) for ``treemtl_plugin``.

The paper's NYUv2 experiments use the preprocessed copy from AdaShare (Sun et al., NeurIPS 2020),
loaded by TreeMTL's ``data/nyuv2_dataloader_adashare.py``. That format is supported, as is the
``.npy`` format of MTAN (Liu et al., CVPR 2019), the other widely shared NYUv2 copy. Which of
the two is on disk is found automatically (``data_format='auto'``). The format that was found goes
to the log and is stored in ``dataset.data_format`` and ``dataset.metainfo['data_format']``.
The shared output path (normalisation, resizing, augmentation) is
:class:`~treemtl_plugin.datasets.base.DenseMultiTaskDataset`.

Format ``'adashare'``: the AdaShare/TreeMTL copy ("formatted NYU v2" linked from both READMEs)
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

Format ``'mtan'``: ``lorenmt/mtan`` (``im2im_pred/create_dataset.py``)
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

Decoding into the data contract (``treemtl_plugin/datasets/base.py``)
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
Missing or incomplete data raises :class:`~treemtl_plugin.errors.DatasetFormatError` (a
a ``FileNotFoundError``). It says what is missing and
where: the data root, the split (a json key or folder), a task's folder (listing the task folders
that are present), or task files missing for some samples (naming the first sample ids and the
task). It is also raised when no samples are found. A bad argument (an unknown format or task
name, a bad split, image size or ``num_classes`` ...) raises
:class:`~treemtl_plugin.errors.ConfigError` (a ``ValueError``), which names the value and lists
the valid ones. A malformed ``nyu_v2_3task.json`` raises ``ValueError``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np

from ..checks import is_int
from ..errors import ConfigError
from ..registry import DATASETS
from .base import (
    DatasetFormatError,
    DenseMultiTaskDataset,
    DirListing,
    SizeLike,
    _short_list,
    check_choice,
    decode_normal_uint8,
    load_split_json,
    read_image,
    read_label_png,
    unit_normals,
)
from .transforms_common import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD

__all__ = ['NYUv2Dataset']

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

    See the module docstring for the two supported on-disk formats and how they are decoded.

    Args:
        data_root: the dataset folder (it holds ``nyu_v2_3task.json``, or ``train/`` and ``val/``).
        split: ``'train'``, ``'val'`` or ``'test'`` (a json key or folder name; see *Splits*).
        tasks: a subset of the three tasks (aliases such as ``'seg'``, ``'sn'``, ``'depth'`` are
            accepted). None means all three.
        image_size: None keeps the stored size. An int or (H, W) is the resize target, or the crop
            target when ``augment=True``. The authors use 321 (AdaShare/TreeMTL); MTAN uses
            (288, 384).
        augment: random scale, flip and crop (the authors' training transform).
        data_format: ``'auto'``, ``'adashare'`` or ``'mtan'``.
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
    DATA_FORMATS = ('auto', 'adashare', 'mtan')

    def __init__(self, data_root: str, split: str = 'train', tasks=None,
                 image_size: SizeLike = None, augment: bool = False, data_format: str = 'auto',
                 ann_file: Optional[str] = None,
                 num_classes: Optional[int] = None, check_files: bool = True,
                 scale_range: Sequence[float] = (0.5, 1.5), flip_prob: float = 0.5,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        data_format = check_choice('NYUv2', 'data_format', data_format, self.DATA_FORMATS)
        if num_classes is not None and not (is_int(num_classes) and num_classes > 0):
            raise ConfigError(f'NYUv2: num_classes={num_classes!r} must be a positive int, or '
                              "None for the format's own (40 for AdaShare, 13 for MTAN)")
        if ann_file is not None and not isinstance(ann_file, (str, os.PathLike)):
            raise ConfigError(f'NYUv2: ann_file={ann_file!r} must be the path of the split json '
                              f'(default: <data_root>/{self.ANN_FILE}) or None')
        super().__init__(data_root, split, tasks, image_size, augment, scale_range, flip_prob,
                         mean, std)
        root = self.data_root
        json_path = os.fspath(ann_file) if ann_file is not None else osp.join(root, self.ANN_FILE)
        if ann_file is not None and not osp.isabs(json_path):
            json_path = osp.join(root, json_path)
        if data_format == 'auto':
            if osp.isfile(json_path):
                data_format = 'adashare'
            elif any(osp.isdir(osp.join(root, s, 'image'))
                     for s in ('train', 'val', 'test', split)):
                data_format = 'mtan'
            else:
                present = sorted(os.listdir(root))
                raise DatasetFormatError(
                    f'NYUv2: no known format under {root!r}: expected {json_path!r} '
                    f"(AdaShare/TreeMTL format) or {osp.join(root, split, 'image')!r} with *.npy "
                    f'files (MTAN format); found: {_short_list(present, 10)}')
        self.data_format = data_format
        self.num_classes = int(num_classes) if num_classes is not None else \
            (40 if data_format == 'adashare' else 13)
        listing = DirListing()
        if data_format == 'adashare':
            self._init_adashare(json_path, listing, check_files)
        else:
            self._init_mtan(listing, check_files)
        if not self.samples:
            raise DatasetFormatError(
                f'NYUv2 split {self.split!r}: zero samples found ({self._where})')
        self.metainfo = dict(dataset_name='NYUv2', data_format=self.data_format, split=self.split,
                             resolved_split=self.resolved_split, tasks=list(self.tasks),
                             num_classes={'segment_semantic': self.num_classes},
                             ignore_index=IGNORE_INDEX, depth_unit='m')
        self._log(f'NYUv2Dataset: {self.data_format} format found at {root} ({self._where}); split '
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
                raise DatasetFormatError(
                    f'NYUv2 (AdaShare format): split {self.split!r} missing from {json_path!r}; '
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
                    raise DatasetFormatError(
                        f'NYUv2 (AdaShare format): folder for task {t!r} is missing: '
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
                raise DatasetFormatError(
                    f'NYUv2 (MTAN format): split folder {osp.join(root, folder)!r} is missing; '
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
                raise DatasetFormatError(
                    f'NYUv2 (MTAN format): folder {osp.join(base, _MTAN_FOLDERS[t])!r} for task '
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
        if self.data_format == 'adashare':
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
