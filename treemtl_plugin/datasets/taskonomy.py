"""Tiny-Taskonomy with 5 tasks (AdaShare / TreeMTL setting) for ``treemtl_plugin``.

The tasks are ``segment_semantic``, ``normal``, ``depth_zbuffer``, ``keypoints2d`` and
``edge_texture``. The authors' loader is TreeMTL's ``data/taskonomy_dataloader_adashare.py``;
``sunxm2357/AdaShare:dataloaders/taskonomy_dataloader.py`` holds the same code with ``dataroot`` as
the path base. Every file keeps the official Taskonomy name
``point_<P>_view_<V>_domain_<D>.png``, where ``<D>`` is ``rgb``, ``segmentsemantic``, ``normal``,
``depth_zbuffer``, ``keypoints2d`` or ``edge_texture``. Three ways of arranging these files are
supported. ``data_format='auto'`` picks the one on disk; the choice goes to the log, to
``dataset.data_format`` and to ``dataset.metainfo['data_format']``. The shared output path
(normalisation, resizing, augmentation) is
:class:`~treemtl_plugin.datasets.base.DenseMultiTaskDataset`.

Format ``'json'``: the authors' (TreeMTL / AdaShare / AutoMTL)
-------------------------------------------------------------
::

    <data_root>/
        taskonomy.json            {"train": [[rgb, seg, normal, depth, keypoints, edge], ...],
                                   "test": [...], "test_small": [...]}
        semseg_prior_factor.npy   optional: 17 class weights for the segmentation loss
        train/<building>/rgb/point_0_view_0_domain_rgb.png
              <building>/segment_semantic/point_0_view_0_domain_segmentsemantic.png
              <building>/normal/point_0_view_0_domain_normal.png
              <building>/depth_zbuffer/point_0_view_0_domain_depth_zbuffer.png
              <building>/keypoints2d/point_0_view_0_domain_keypoints2d.png
              <building>/edge_texture/point_0_view_0_domain_edge_texture.png
        test/<building>/...       (the same folders)

Each json entry lists six paths in the order rgb, segment_semantic, normal, depth_zbuffer,
keypoints2d, edge_texture. If every path carries its ``_domain_<D>`` marker, the markers are used
instead. TreeMTL resolves the paths against ``<data_root>/train`` for ``'train'`` and against
``<data_root>/test`` for ``'test'`` and ``'test_small'``; AdaShare resolves them against
``<data_root>``. Both are accepted: the first base under which the first entry's rgb file exists
is used.

Evidence:

* ``zhanglijun95/TreeMTL:data/taskonomy_dataloader_adashare.py`` loads
  ``os.path.join(dataroot, 'taskonomy.json')`` and takes ``info[mode]``. It sets ``self.dataroot``
  to ``os.path.join(dataroot, 'train')`` for train and to ``os.path.join(dataroot, 'test')`` for
  ``'test'`` and ``'test_small'``. Each entry is unpacked as ``img_path, seg_path, sn_path,
  depth_path, keypoint_path, edge_path``. It also loads ``semseg_prior_factor.npy`` from
  ``dataroot``.
* ``TreeMTL:Example.ipynb`` uses the splits ``'train'`` and ``'test_small'`` (the latter for
  validation), ``crop_h = crop_w = 224`` and 17 segmentation classes.
* ``zhanglijun95/AutoMTL:data/dataloader/taskonomy_dataloader.py`` (same authors) keeps, commented
  out, the builder of these file lists. It reads the buildings of a split from
  ``train_val_test_tiny.csv`` (``row['id']`` where ``row[split] == '1'``), walks
  ``os.path.join(dataroot, split, building, 'rgb')``, and names each label file by replacing the
  rgb file's last ``_``-token with ``<task>.png`` (``segmentsemantic.png`` for segment_semantic).
  So the per-building folder tree above, and hence the ``'buildings'`` format below, is also what
  the json paths point into.

Format ``'buildings'``: the official Taskonomy release, one folder per building
------------------------------------------------------------------------------
::

    <data_root>/[<split>/]<building>/{rgb,segment_semantic,normal,depth_zbuffer,keypoints2d,
                                      edge_texture}/point_<P>_view_<V>_domain_<D>.png

Format ``'omnidata'``: the tree that the omnidata downloader writes for Taskonomy
--------------------------------------------------------------------------------
::

    <data_root>/[<split>/]<task_folder>/taskonomy/<building>/point_<P>_view_<V>_domain_<D>.png

For the two scanned formats, a split's buildings come from the first of these that applies:

1. ``buildings=[...]``;
2. ``split_file``, one of
   * the official CSV (``splits/train_val_test_tiny.csv``): header ``id,train,val,test``, one row
     per building, and ``1`` in the column of its split;
   * a ``.json`` file ``{"train": [building, ...], "val": [...], "test": [...]}``;
   * a ``.txt`` file with one building per line (all of them belong to this split);
3. a per-split folder ``<data_root>/<split>/``, where every building found inside is used.

Passing ``buildings`` or ``split_file`` makes ``data_format='auto'`` scan the folders even when a
``taskonomy.json`` is present.

Samples are the rgb files of those buildings, sorted. A sample's id is
``<building>/point_P_view_V``.

Decoding into the data contract (``treemtl_plugin/datasets/base.py``), following the authors
----------------------------------------------------------------------------------------
* Every sample is first resized to ``base_size`` (256 x 256), as the authors do. Then it is either
  resized to ``image_size`` (their test branch) or, with ``augment=True``, randomly scaled
  (0.5-1.5), flipped and padded/cropped to ``image_size`` (their train branch, crop 224). The
  image is bilinear and the labels are nearest-neighbour. The authors use nearest for the RGB too.
* ``inputs``: RGB in [0, 1], normalised with the ImageNet mean and std (the authors subtract a BGR
  Caffe mean).
* ``segment_semantic`` (8-bit PNG): the authors compute ``mask = raw > 0`` and
  ``label = max(raw, 1) - 1``, which gives 17 classes with raw 0 weighted 0 in the loss. Here raw
  ``1..17`` becomes ``0..16``, and raw 0 (and anything above 17) becomes 255 (ignore).
* ``depth_zbuffer`` (16-bit PNG, 1/512 m units, 65535 = sky / no data): pixels with
  ``raw >= 64500`` are missing (the authors' ``make_depth_mask``) and become 0. With
  ``depth_encoding='log'`` (default, the authors') the others become ``log(1 + raw) / log(2**16)``,
  a value in [0, 1]. ``'metres'`` gives ``raw / 512``, and ``'raw'`` keeps the stored value.
* ``normal`` (8-bit RGB PNG): ``n = v / 255 * 2 - 1`` per channel (x, y, z = R, G, B), renormalised
  to unit length. As in the authors' code, normals are masked with the depth mask: where the
  sample's depth file says ``raw >= 64500``, the normal is the zero vector. The depth file is read
  for this even when depth is not a requested task (``normal_mask_from_depth``). A decoded vector
  shorter than 0.5 is treated as missing too. A flip negates x, as the authors do.
* ``keypoints2d`` / ``edge_texture`` (16-bit PNG): ``v = raw / 2**16`` is clipped to
  [0, 0.005] / [0, 0.08] and divided by that maximum, giving [0, 1]. The authors then map this to
  [-1, 1] (``2 * ours - 1``); the contract wants [0, 1]. An 8-bit file is read as ``raw * 257``.
  Padding added by ``augment`` is 0. The authors pad with 255 and ignore those pixels.

Errors
------
Missing data raises :class:`~treemtl_plugin.errors.DatasetFormatError` (a
a ``FileNotFoundError``). The message names what is missing
and where: the data root, the split (a json key or per-split folder), a building, a task folder
(listing the task folders present), the files of a task for some samples (naming the first ids),
or zero samples. A bad argument (an unknown format, task name or ``depth_encoding``, a bad split
or image size, ``buildings``/``split_file`` with the json format ...) raises
:class:`~treemtl_plugin.errors.ConfigError` (a ``ValueError``) naming the value and the fix. A
malformed ``taskonomy.json`` or split file raises ``ValueError``.
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..errors import ConfigError, DatasetFormatError
from ..registry import DATASETS
from .base import (
    DenseMultiTaskDataset,
    DirListing,
    SizeLike,
    _short_list,
    check_choice,
    load_split_json,
    read_image,
    read_label_png,
    unit_normals,
)
from .transforms_common import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD

__all__ = ['TaskonomyDataset', 'TASKONOMY_TASKS', 'TASK_FOLDERS', 'DOMAIN_SUFFIX']

TASKONOMY_TASKS = ('segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d', 'edge_texture')
# 'image' = the rgb input
TASK_FOLDERS = {'image': 'rgb', 'segment_semantic': 'segment_semantic', 'normal': 'normal',
                'depth_zbuffer': 'depth_zbuffer', 'keypoints2d': 'keypoints2d',
                'edge_texture': 'edge_texture'}
DOMAIN_SUFFIX = {'image': 'rgb', 'segment_semantic': 'segmentsemantic', 'normal': 'normal',
                 'depth_zbuffer': 'depth_zbuffer', 'keypoints2d': 'keypoints2d',
                 'edge_texture': 'edge_texture'}
# json entry position -> task (TreeMTL's unpacking order)
_JSON_ORDER = ('image', 'segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d',
               'edge_texture')
_RGB_RE = re.compile(r'^(?P<stem>.+)_domain_rgb\.png$')
DEPTH_INVALID_FROM = 64500          # the authors' make_depth_mask threshold
DEPTH_UNITS_PER_METRE = 512.0       # Taskonomy depth_zbuffer: 1/512 m per unit
KEYPOINTS_MAX = 0.005               # the authors' current_scale for keypoints2d
EDGE_MAX = 0.08                     # the authors' current_scale for edge_texture
NUM_SEG_CLASSES = 17


def _task_of_path(path: str) -> Optional[str]:
    name = osp.basename(path)
    for task, suffix in DOMAIN_SUFFIX.items():
        if name.endswith(f'_domain_{suffix}.png'):
            return task
    return None


def _read_16bit(path: str) -> np.ndarray:
    arr = read_label_png(path)
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) * 257.0
    return arr.astype(np.float64)


@DATASETS.register_module()
class TaskonomyDataset(DenseMultiTaskDataset):
    """Tiny-Taskonomy with the 5 tasks of AdaShare/TreeMTL. See the module docstring for the
    formats, the split rules and the decoding.

    Args:
        data_root: the dataset folder.
        split: ``'train'``, ``'val'``, ``'test'`` or ``'test_small'`` (json key or split name). For
            the json format ``'val'`` falls back to ``'test_small'`` and then to ``'test'``, as
            TreeMTL validates on ``'test_small'``.
        tasks: a subset of the five tasks (aliases accepted); None means all five.
        buildings: explicit building list for the scanned formats.
        split_file: building lists for the scanned formats (CSV / json / txt, see above).
        image_size: the final size (resize target, or crop target with ``augment``); default
            (256, 256). The authors train and test at 224.
        augment: random scale, flip and crop (the authors' training transform).
        data_format: ``'auto'``, ``'json'``, ``'buildings'`` or ``'omnidata'``.
        ann_file: the json for the json format (default ``<data_root>/taskonomy.json``).
        base_size: size every sample is first resized to (the authors: 256); None skips this step.
        depth_encoding: ``'log'`` (the authors'), ``'metres'`` or ``'raw'``.
        normal_mask_from_depth: zero the normals where the depth is invalid, as the authors do.
        check_files: check at construction that every requested task file exists.
        scale_range, flip_prob: the augmentation parameters.
        mean, std: the normalisation of the [0, 1] RGB input.
    """

    DATASET_NAME = 'Taskonomy'
    AVAILABLE_TASKS = TASKONOMY_TASKS
    ANN_FILE = 'taskonomy.json'
    DATA_FORMATS = ('auto', 'json', 'buildings', 'omnidata')
    DEPTH_ENCODINGS = ('log', 'metres', 'raw')

    def __init__(self, data_root: str, split: str = 'train', tasks=None,
                 buildings: Optional[Sequence[str]] = None, split_file: Optional[str] = None,
                 image_size: SizeLike = (256, 256), augment: bool = False,
                 data_format: str = 'auto', ann_file: Optional[str] = None,
                 base_size: SizeLike = (256, 256),
                 depth_encoding: str = 'log', normal_mask_from_depth: bool = True,
                 check_files: bool = True, scale_range: Sequence[float] = (0.5, 1.5),
                 flip_prob: float = 0.5, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD):
        data_format = check_choice('Taskonomy', 'data_format', data_format, self.DATA_FORMATS)
        check_choice('Taskonomy', 'depth_encoding', depth_encoding, self.DEPTH_ENCODINGS)
        if isinstance(buildings, str):
            buildings = [buildings]
        if buildings is not None:
            buildings = self._check_buildings(buildings)
        for key, value in (('split_file', split_file), ('ann_file', ann_file)):
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise ConfigError(f'Taskonomy: {key}={value!r} must be a file path or None')
        super().__init__(data_root, split, tasks, image_size, augment, scale_range, flip_prob,
                         mean, std, base_size=base_size)
        self.depth_encoding = depth_encoding
        self.normal_mask_from_depth = bool(normal_mask_from_depth)
        self.num_classes = NUM_SEG_CLASSES
        root = self.data_root
        json_path = osp.join(root, os.fspath(ann_file or self.ANN_FILE))
        listing = DirListing()
        if data_format == 'auto':
            data_format = self._detect_format(root, json_path, listing, buildings, split_file)
        self.data_format = data_format
        if data_format == 'json':
            if buildings is not None or split_file is not None:
                raise ConfigError(
                    'Taskonomy: buildings=/split_file= select buildings for the scanned formats; '
                    f"data_format='json' takes its samples from {osp.basename(json_path)}. Drop "
                    "them, or pass data_format='buildings' or 'omnidata'")
            self._init_json(json_path, listing, check_files)
        else:
            self._init_scanned(listing, buildings, split_file, check_files)
        if not self.samples:
            raise DatasetFormatError(
                f'Taskonomy split {self.split!r}: zero samples found ({self._where})')
        prior = osp.join(root, 'semseg_prior_factor.npy')
        self.class_weights = None
        if osp.isfile(prior):
            self.class_weights = torch.from_numpy(np.load(prior).astype(np.float32)).flatten()
        self.metainfo = dict(
            dataset_name='Taskonomy', data_format=self.data_format, split=self.split,
            resolved_split=self.resolved_split, tasks=list(self.tasks),
            num_classes={'segment_semantic': NUM_SEG_CLASSES}, ignore_index=IGNORE_INDEX,
            depth_encoding=depth_encoding,
            class_weights=None if self.class_weights is None else self.class_weights.tolist())
        self._log(f'TaskonomyDataset: {self.data_format} format found at {root} ({self._where}); '
                  f'split {self.split!r} -> {self.resolved_split!r}: {len(self)} samples, '
                  f'tasks {list(self.tasks)}')

    @staticmethod
    def _check_buildings(buildings) -> List[str]:
        try:
            names = list(buildings)
        except TypeError:
            names = None
        if not names or not all(isinstance(b, str) and b.strip() for b in names):
            raise ConfigError(f'Taskonomy: buildings={buildings!r} must be a non-empty list of '
                              "building names (e.g. ['allensville']), or None to take them from "
                              'split_file= or the per-split folder')
        return names

    # -- format detection ----------------------------------------------------------------------
    def _detect_format(self, root, json_path, listing, buildings, split_file) -> str:
        if osp.isfile(json_path) and buildings is None and split_file is None:
            return 'json'
        # this split's folder, the root, then other per-split folders (so that a missing split
        # folder is reported as such)
        others = [osp.join(root, n) for n in sorted(listing.names(root) or ())]
        for base in [osp.join(root, self.split), root] + others:
            if listing.is_dir(osp.join(base, 'rgb', 'taskonomy')):
                return 'omnidata'
            names = listing.names(base) or ()
            if any(listing.is_dir(osp.join(base, n, 'rgb')) for n in names):
                return 'buildings'
        if buildings or split_file:
            return 'buildings'      # lets _init_scanned name the missing building folders
        present = sorted(listing.names(root) or ())
        raise DatasetFormatError(
            f'Taskonomy: no known format under {root!r}: expected {json_path!r} (the authors\' '
            f"json format), <building>/rgb/ folders in {osp.join(root, self.split)!r} or {root!r} "
            f"('buildings' format), or {osp.join(root, 'rgb', 'taskonomy')!r} ('omnidata' format); "
            f'found: {_short_list(present, 10)}')

    # -- json format ---------------------------------------------------------------------------
    def _json_key(self, info: dict, json_path: str) -> str:
        if self.split in info:
            return self.split
        fallback = {'val': ('test_small', 'test'), 'test': ('test_small',),
                    'test_small': ('test',)}.get(self.split, ())
        for key in fallback:
            if key in info:
                self._log(f'TaskonomyDataset: split {self.split!r} is not in '
                          f'{osp.basename(json_path)}; using {key!r} as the authors do')
                return key
        raise DatasetFormatError(
            f'Taskonomy (json format): split {self.split!r} missing from {json_path!r}; splits '
            f'present: {sorted(info)}')

    @staticmethod
    def _entry_paths(entry, where: str) -> Dict[str, str]:
        if not isinstance(entry, (list, tuple)) or not all(isinstance(p, str) for p in entry):
            raise ValueError(f'Taskonomy: {where} must be a list of paths, got {entry!r}')
        by_marker = {}
        for p in entry:
            t = _task_of_path(p)
            if t is None or t in by_marker:
                by_marker = None
                break
            by_marker[t] = p
        if by_marker is not None and 'image' in by_marker:
            return by_marker
        if len(entry) == len(_JSON_ORDER):
            return dict(zip(_JSON_ORDER, entry))
        raise ValueError(
            f'Taskonomy: {where} must list 6 paths [rgb, segment_semantic, normal, depth_zbuffer, '
            f'keypoints2d, edge_texture] or paths named *_domain_<task>.png; got {entry!r}')

    @staticmethod
    def _sample_id(rel_rgb: str) -> str:
        parts = rel_rgb.replace('\\', '/').split('/')
        m = _RGB_RE.match(parts[-1])
        stem = m.group('stem') if m else osp.splitext(parts[-1])[0]
        if len(parts) >= 3 and parts[-2] == 'rgb':
            building = parts[-3]
        elif len(parts) >= 2:
            building = parts[-2]
        else:
            building = ''
        return f'{building}/{stem}' if building else stem

    def _init_json(self, json_path: str, listing: DirListing, check_files: bool) -> None:
        root = self.data_root
        info = load_split_json(json_path, 'Taskonomy', 'json')
        key = self._json_key(info, json_path)
        self.resolved_split = key
        entries = info[key]
        if not isinstance(entries, list):
            raise ValueError(f'Taskonomy: {json_path!r}[{key!r}] must be a list of entries')
        parsed = [self._entry_paths(e, f'{osp.basename(json_path)}[{key!r}][{i}]')
                  for i, e in enumerate(entries)]
        split_dir = 'train' if key.startswith('train') else 'test'
        candidates = [osp.join(root, key), osp.join(root, split_dir), root]
        candidates = list(dict.fromkeys(candidates))
        base = None
        if parsed:
            first = parsed[0]['image']
            base = next((b for b in candidates if listing.exists(osp.join(b, first))), None)
        if base is None:
            existing = [b for b in candidates[:-1] if listing.is_dir(b)]
            if not existing and parsed:
                present = sorted(d for d in (listing.names(root) or ())
                                 if osp.isdir(osp.join(root, d)))
                raise DatasetFormatError(
                    f'Taskonomy (json format): split folder {osp.join(root, split_dir)!r} for '
                    f'split {key!r} is missing (entries are relative to it); folders present in '
                    f'{root!r}: {_short_list(present, 10)}')
            base = existing[0] if existing else root
        self._where = f'{json_path} [{key!r}], files under {base}'
        self._base = base
        self._omni = False
        needed = ('image',) + self.tasks
        for i, paths in enumerate(parsed):
            missing_tasks = [t for t in needed if t not in paths]
            if missing_tasks:
                raise ValueError(f'Taskonomy: {osp.basename(json_path)}[{key!r}][{i}] has no path '
                                 f'for {missing_tasks}')
            # relative paths only (shared with the parsed json): full paths are made on access
            self.samples.append(dict(id=self._sample_id(paths['image']), rel=paths))
        self.buildings = list(dict.fromkeys(s['id'].rsplit('/', 1)[0] for s in self.samples
                                            if '/' in s['id']))
        if check_files and self.samples:
            folders = {t: self._task_folders(t) for t in needed}
            for t, dirs in folders.items():
                absent = [d for d in dirs if not listing.is_dir(d)]
                if absent:
                    raise DatasetFormatError(
                        f'Taskonomy (json format): folder for task {t!r} is missing: '
                        f'{_short_list(absent, 3)}; ' + self._present_task_folders(
                            osp.dirname(absent[0]), listing))
            self._check_files(listing, needed, {t: _short_list(d, 3) for t, d in folders.items()})

    # -- paths ---------------------------------------------------------------------------------
    def sample_path(self, index: int, task: str) -> str:
        sample = self.samples[index]
        if 'rel' in sample:                                   # json format
            rel = sample['rel'].get(task)
            if rel is None:
                raise KeyError(f'Taskonomy: sample {sample["id"]!r} lists no file for {task!r}')
            return osp.join(self._base, rel)
        b, stem = sample['building'], sample['stem']          # scanned formats
        folder = osp.join(self._base, TASK_FOLDERS[task], 'taskonomy', b) if self._omni else \
            osp.join(self._base, b, TASK_FOLDERS[task])
        return osp.join(folder, f'{stem}_domain_{DOMAIN_SUFFIX[task]}.png')

    def sample_paths(self, index: int) -> Dict[str, str]:
        sample = self.samples[index]
        names = sample['rel'] if 'rel' in sample else TASK_FOLDERS
        return {t: self.sample_path(index, t) for t in names}

    @staticmethod
    def _present_task_folders(parent: str, listing: DirListing) -> str:
        names = listing.names(parent) or ()
        rev = {v: k for k, v in TASK_FOLDERS.items()}
        present = [f'{n} ({rev[n]})' for n in sorted(names) if n in rev and
                   listing.is_dir(osp.join(parent, n))]
        return f'task folders present in {parent!r}: {_short_list(present, 10)}'

    # -- scanned formats -------------------------------------------------------------------------
    def _buildings_from_split_file(self, split_file: str) -> List[str]:
        split_file = os.fspath(split_file)
        path = split_file if osp.isabs(split_file) else (
            split_file if osp.isfile(split_file) else osp.join(self.data_root, split_file))
        if not osp.isfile(path):
            raise DatasetFormatError(f'Taskonomy: split_file {split_file!r} does not exist '
                                     f'(looked for {path!r})')
        ext = osp.splitext(path)[1].lower()
        if ext == '.json':
            with open(path, 'r') as f:
                info = json.load(f)
            if not isinstance(info, dict) or self.split not in info:
                raise DatasetFormatError(
                    f'Taskonomy: split {self.split!r} missing from split_file {path!r}; splits '
                    f'present: {sorted(info) if isinstance(info, dict) else "(not a dict)"}')
            return [str(b) for b in info[self.split]]
        if ext == '.csv':
            with open(path, newline='') as f:
                rows = list(csv.reader(f))
            if not rows:
                raise ValueError(f'Taskonomy: split_file {path!r} is empty')
            header = [h.strip().lower() for h in rows[0]]
            if self.split.lower() not in header:
                raise DatasetFormatError(
                    f'Taskonomy: split {self.split!r} missing from split_file {path!r}; columns: '
                    f'{rows[0]}')
            col = header.index(self.split.lower())
            id_col = header.index('id') if 'id' in header else 0
            return [r[id_col].strip() for r in rows[1:]
                    if len(r) > col and r[col].strip() in ('1', '1.0', 'true', 'True')]
        with open(path, 'r') as f:
            return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith('#')]

    def _init_scanned(self, listing: DirListing, buildings, split_file, check_files) -> None:
        root = self.data_root
        split_base = osp.join(root, self.split)
        base = split_base if listing.is_dir(split_base) else root
        omni = self.data_format == 'omnidata'

        def rgb_dir(b):
            return osp.join(base, 'rgb', 'taskonomy', b) if omni else osp.join(base, b, 'rgb')

        def task_dir(b, t):
            return osp.join(base, TASK_FOLDERS[t], 'taskonomy', b) if omni else \
                osp.join(base, b, TASK_FOLDERS[t])

        if buildings is not None:
            chosen, source = [str(b) for b in buildings], 'buildings argument'
        elif split_file is not None:
            chosen = self._buildings_from_split_file(split_file)
            source = f'split_file {split_file!r}'
        elif base == split_base:
            if omni:
                chosen = sorted(listing.names(osp.join(base, 'rgb', 'taskonomy')) or ())
            else:
                chosen = sorted(n for n in listing.names(base) if listing.is_dir(osp.join(base, n)))
            source = f'per-split folder {split_base!r}'
        else:
            present = sorted(d for d in (listing.names(root) or ()) if osp.isdir(osp.join(root, d)))
            raise DatasetFormatError(
                f'Taskonomy ({self.data_format} format): split folder {split_base!r} is missing, '
                f'and no buildings= or split_file= says which buildings form split {self.split!r}; '
                f'folders present in {root!r}: {_short_list(present, 10)}')
        self.resolved_split = self.split
        self._where = f'{base}, buildings from {source}'
        self.buildings = list(dict.fromkeys(chosen))
        if not self.buildings:
            raise DatasetFormatError(f'Taskonomy split {self.split!r}: no buildings in {source}')
        needed = ('image',) + self.tasks
        all_present = sorted(listing.names(osp.join(base, 'rgb', 'taskonomy')) or ()) if omni else \
            sorted(n for n in (listing.names(base) or ()) if listing.is_dir(osp.join(base, n)))
        self._base, self._omni = base, omni
        for b in self.buildings:
            if not listing.is_dir(rgb_dir(b)):
                parent = osp.join(base, b)
                if not omni and not listing.is_dir(parent):
                    raise DatasetFormatError(
                        f'Taskonomy ({self.data_format} format): building {b!r} of split '
                        f'{self.split!r} (from {source}) has no folder {parent!r}; buildings '
                        f'present in {base!r}: {_short_list(all_present, 10)}')
                if omni and not listing.is_dir(osp.join(base, 'rgb', 'taskonomy')):
                    raise DatasetFormatError(
                        f"Taskonomy (omnidata format): input folder "
                        f"{osp.join(base, 'rgb', 'taskonomy')!r} is missing")
                raise DatasetFormatError(
                    f'Taskonomy ({self.data_format} format): building {b!r} has no rgb folder '
                    f'{rgb_dir(b)!r}; '
                    + (f'buildings present: {_short_list(all_present, 10)}' if omni
                       else self._present_task_folders(parent, listing)))
            for t in self.tasks:
                if not listing.is_dir(task_dir(b, t)):
                    if omni:
                        tdir = osp.join(base, TASK_FOLDERS[t], 'taskonomy')
                        present = [f'{TASK_FOLDERS[x]} ({x})' for x in TASK_FOLDERS
                                   if listing.is_dir(osp.join(base, TASK_FOLDERS[x], 'taskonomy'))]
                        what = (f'folder {tdir!r}' if not listing.is_dir(tdir)
                                else f'folder {task_dir(b, t)!r} (building {b!r})')
                        raise DatasetFormatError(
                            f'Taskonomy (omnidata format): task {t!r} is missing: {what}; task '
                            f'folders present in {base!r}: {_short_list(present, 10)}')
                    raise DatasetFormatError(
                        f'Taskonomy (buildings format): folder for task {t!r} is missing: '
                        f'{task_dir(b, t)!r}; ' + self._present_task_folders(osp.join(base, b),
                                                                             listing))
            stems = sorted(m.group('stem') for m in map(_RGB_RE.match, listing.names(rgb_dir(b)))
                           if m)
            for stem in stems:
                self.samples.append(dict(id=f'{b}/{stem}', building=b, stem=stem))
        if check_files:
            where = {t: (osp.join(base, TASK_FOLDERS[t], 'taskonomy', '<building>') if omni
                         else osp.join(base, '<building>', TASK_FOLDERS[t])) for t in needed}
            self._check_files(listing, needed, where)

    # -- decoding ------------------------------------------------------------------------------
    @staticmethod
    def decode_segment(raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw).astype(np.int64)
        valid = (raw >= 1) & (raw <= NUM_SEG_CLASSES)
        return np.where(valid, raw - 1, IGNORE_INDEX)

    def decode_depth(self, raw: np.ndarray) -> np.ndarray:
        valid = raw < DEPTH_INVALID_FROM
        if self.depth_encoding == 'log':
            d = np.log1p(raw) / np.log(2.0 ** 16)
        elif self.depth_encoding == 'metres':
            d = raw / DEPTH_UNITS_PER_METRE
        else:
            d = raw
        return np.where(valid, d, 0.0).astype(np.float32)

    @staticmethod
    def decode_normal(raw: np.ndarray, invalid: Optional[np.ndarray] = None) -> np.ndarray:
        raw = np.asarray(raw)[..., :3].astype(np.float32)
        vec = raw / 255.0 * 2.0 - 1.0
        if invalid is not None and invalid.shape != vec.shape[:2]:
            invalid = None
        return unit_normals(vec, invalid)

    @staticmethod
    def decode_heatmap(raw16: np.ndarray, max_value: float) -> np.ndarray:
        v = np.clip(raw16 / 2.0 ** 16, 0.0, max_value) / max_value
        return v.astype(np.float32)

    def load_raw(self, index: int):
        paths = self.sample_paths(index)
        rgb = read_image(paths['image'], 'RGB').astype(np.float32) / 255.0
        out: Dict[str, np.ndarray] = {}
        depth_raw = None
        depth_path = paths.get('depth_zbuffer')
        if 'depth_zbuffer' in self.tasks or (
                'normal' in self.tasks and self.normal_mask_from_depth
                and depth_path is not None and osp.isfile(depth_path)):
            depth_raw = _read_16bit(depth_path)
        if 'segment_semantic' in self.tasks:
            out['segment_semantic'] = self.decode_segment(read_label_png(paths['segment_semantic']))
        if 'normal' in self.tasks:
            invalid = None
            if self.normal_mask_from_depth and depth_raw is not None:
                invalid = depth_raw >= DEPTH_INVALID_FROM
            out['normal'] = self.decode_normal(read_image(paths['normal'], 'RGB'), invalid)
        if 'depth_zbuffer' in self.tasks:
            out['depth_zbuffer'] = self.decode_depth(depth_raw)
        if 'keypoints2d' in self.tasks:
            out['keypoints2d'] = self.decode_heatmap(_read_16bit(paths['keypoints2d']),
                                                     KEYPOINTS_MAX)
        if 'edge_texture' in self.tasks:
            out['edge_texture'] = self.decode_heatmap(_read_16bit(paths['edge_texture']), EDGE_MAX)
        return rgb, out
