"""Prediction grids of multi-task models: ``MultiTaskVisualizer`` and its test hook.

The OpenMMLab way (as mmseg's ``SegLocalVisualizer`` + ``SegVisualizationHook``):

* :class:`MultiTaskVisualizer` (registered in ``VISUALIZERS``) is an mmengine ``Visualizer``.
  ``add_datasample(name, image, sample)`` draws one sample as a row of panels -- the input
  (de-normalised), then for every task its prediction and its ground truth side by side -- and
  sends the image to its vis backends (``add_image``: the ``LocalVisBackend`` writes
  ``<save_dir>/vis_data/vis_image/<name>_<step>.png``, TensorBoard / W&B log it).
* :class:`MultiTaskVisualizationHook` (registered in ``HOOKS``) hands the first
  ``max_samples`` test samples (every ``interval``-th one) to the runner's visualizer after
  each test iteration. ``tools/test.py --show-dir DIR`` adds it and points the visualizer at
  ``DIR``.

Colour maps (the same for a task's prediction and its ground truth):

* segmentation: a fixed palette (``dataset_meta['palette']`` when the dataset gives one), the
  ignore label (and any label < 0) black; the prediction is the argmax of the logits; when the
  dataset names its classes a legend row lists them;
* depth: ``viridis`` over the valid ground-truth range (gt > 0; missing gt black), the
  prediction clipped to the same range, which the panel titles state;
* other single-channel maps (edges, keypoint heatmaps): ``magma`` over ``[0, 1]`` when the
  ground truth lies in it, else over the ground-truth range;
* surface normals: RGB ``(n + 1) / 2`` of unit vectors (the prediction is L2-normalised;
  missing gt black);
* scalar tasks (classification): the predicted / true class as text.

Sample format: the model's 'predict' output, ``{'pred': {task: tensor}, 'gt': {task: tensor,
f'{task}_mask': optional}}``; the image is the ``inputs`` tensor of the batch (CHW, normalised
with ``mean``/``std``, ImageNet by default) or an RGB uint8 ``(H, W, 3)`` array.
"""
from __future__ import annotations

import math
import os
import os.path as osp
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer

from ..checks import check_int
from ..errors import ConfigError
from ..evaluation.relative_performance import TASK_KINDS
from ..registry import HOOKS, VISUALIZERS

__all__ = ['MultiTaskVisualizer', 'MultiTaskVisualizationHook', 'DEFAULT_PALETTE',
           'colorize_labels', 'colorize_scalar', 'colorize_normals']

IMAGENET_MEAN = (0.485, 0.456, 0.406)   # as datasets/transforms_common.py
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Distinct, never black, RGB colours; label k gets colour k (cycled beyond the list).
DEFAULT_PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)
#: Tasks of the data contract whose values lie in [0, 1].
_UNIT_RANGE_TASKS = ('edge_texture', 'keypoints2d')

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT = (20, 20, 20)
_BACKGROUND = 255


def _lut(name: str) -> np.ndarray:
    import matplotlib
    cmap = matplotlib.colormaps[name]
    return np.round(cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


_LUTS: dict[str, np.ndarray] = {}


def _cmap(name: str) -> np.ndarray:
    if name not in _LUTS:
        _LUTS[name] = _lut(name)
    return _LUTS[name]


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point() and x.dtype != torch.float64:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _plane(a: np.ndarray) -> np.ndarray:
    """``(1, H, W)`` / ``(H, W, 1)`` -> ``(H, W)``."""
    a = np.asarray(a)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a


# -- colour maps ------------------------------------------------------------------------------
def colorize_labels(labels, palette=DEFAULT_PALETTE, ignore_index: int | None = 255
                    ) -> np.ndarray:
    """``(H, W)`` integer labels -> ``(H, W, 3)`` uint8; ignore / negative labels black."""
    labels = _plane(_numpy(labels)).astype(np.int64)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    invalid = labels < 0
    if ignore_index is not None:
        invalid |= labels == ignore_index
    rgb = pal[np.where(invalid, 0, labels) % len(pal)]
    rgb[invalid] = 0
    return rgb


def colorize_scalar(values, vmin: float, vmax: float, cmap: str = 'viridis',
                    valid=None) -> np.ndarray:
    """``(H, W)`` values -> ``(H, W, 3)`` uint8 through ``cmap`` over ``[vmin, vmax]``
    (clipped); non-finite values and pixels outside ``valid`` black."""
    v = _plane(_numpy(values)).astype(np.float64)
    span = vmax - vmin if vmax > vmin else 1.0
    finite = np.isfinite(v)
    t = np.clip((np.where(finite, v, vmin) - vmin) / span, 0.0, 1.0)
    rgb = _cmap(cmap)[np.round(t * 255).astype(np.int64)]
    keep = finite if valid is None else finite & np.asarray(valid, dtype=bool)
    rgb[~keep] = 0
    return rgb


def colorize_normals(normals, valid=None) -> np.ndarray:
    """``(3, H, W)`` vectors -> RGB ``(n + 1) / 2`` of the unit vectors, uint8 ``(H, W, 3)``;
    zero vectors map to grey, pixels outside ``valid`` black."""
    n = _numpy(normals).astype(np.float64)
    if n.ndim != 3 or n.shape[0] != 3:
        raise ValueError(f'normals must be (3, H, W), got shape {n.shape}')
    n = np.nan_to_num(n, nan=0.0, posinf=0.0, neginf=0.0)
    norm = np.sqrt((n * n).sum(0, keepdims=True))
    unit = n / np.maximum(norm, 1e-12)
    rgb = np.round(np.clip((unit.transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0) * 255)
    rgb = rgb.astype(np.uint8)
    if valid is not None:
        rgb[~np.asarray(valid, dtype=bool)] = 0
    return rgb


def _valid_mask(gt: Mapping, task: str, shape: tuple[int, int]) -> np.ndarray | None:
    mask = gt.get(f'{task}_mask') if isinstance(gt, Mapping) else None
    if mask is None:
        return None
    mask = _plane(_numpy(mask))
    if mask.shape != shape:
        return None
    return mask != 0


def _fmt(x: float) -> str:
    return f'{x:.3g}' if abs(x) < 1e4 else f'{x:.2e}'


# -- the visualizer ---------------------------------------------------------------------------
@VISUALIZERS.register_module()
class MultiTaskVisualizer(Visualizer):
    """Draws a multi-task sample as ``input | task1 pred | task1 gt | task2 pred | ...``.

    Args:
        name, image, vis_backends, save_dir, fig_save_cfg, fig_show_cfg: as mmengine's
            ``Visualizer`` (the Runner fills ``name`` and ``save_dir``).
        mean, std: the normalisation of the ``inputs`` tensor, in [0, 1] units (default
            ImageNet, as every dataset of the plugin); ``None`` = inputs already in [0, 1].
        task_kinds: ``{task: kind}`` for tasks outside the data contract; kinds are
            ``'segmentation' | 'depth' | 'normal' | 'map' | 'l1' | 'regression' |
            'classification'`` (guessed from the tensors when not given).
        palette: segmentation colours (``[(r, g, b), ...]``); default: the dataset's
            ``palette`` if it has one, else :data:`DEFAULT_PALETTE`.
        ignore_index: segmentation label drawn black (default: the dataset's, else 255).
        depth_cmap, map_cmap: matplotlib colour maps of depth and other single-channel maps.
        min_panel_width: panels are enlarged by an integer factor (nearest neighbour) to at
            least this width, so that small images and their titles stay readable.
        legend: add a row naming the segmentation classes when the dataset names them.
    """

    def __init__(self, name: str = 'visualizer', image: np.ndarray | None = None,
                 vis_backends=None, save_dir: str | None = None,
                 mean: Sequence[float] | None = IMAGENET_MEAN,
                 std: Sequence[float] | None = IMAGENET_STD,
                 task_kinds: Mapping[str, str] | None = None,
                 palette: Sequence[Sequence[int]] | None = None,
                 ignore_index: int | None = None, depth_cmap: str = 'viridis',
                 map_cmap: str = 'magma', min_panel_width: int = 192, legend: bool = True,
                 fig_save_cfg: dict | None = None, fig_show_cfg: dict | None = None) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends, save_dir=save_dir,
                         fig_save_cfg=fig_save_cfg or dict(frameon=False),
                         fig_show_cfg=fig_show_cfg or dict(frameon=False))
        if (mean is None) != (std is None):
            raise ConfigError('MultiTaskVisualizer: give both mean and std, or neither')
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)
        kinds = dict(task_kinds or {})
        known = ('segmentation', 'depth', 'normal', 'map', 'l1', 'regression', 'classification')
        bad = {t: k for t, k in kinds.items() if k not in known}
        if bad:
            raise ConfigError(f'MultiTaskVisualizer: unknown task kind(s) {bad}; kinds are '
                              f'{list(known)}')
        self.task_kinds = kinds
        self.palette = None if palette is None else self._check_palette(palette)
        self.ignore_index = ignore_index
        for cmap in (depth_cmap, map_cmap):
            try:
                _cmap(cmap)
            except (KeyError, ValueError):
                raise ConfigError(f'MultiTaskVisualizer: unknown matplotlib colour map '
                                  f'{cmap!r}') from None
        self.depth_cmap, self.map_cmap = depth_cmap, map_cmap
        if int(min_panel_width) < 1:
            raise ConfigError(f'min_panel_width must be >= 1, got {min_panel_width!r}')
        self.min_panel_width = int(min_panel_width)
        self.legend = bool(legend)

    @staticmethod
    def _check_palette(palette) -> np.ndarray:
        pal = np.asarray(palette)
        if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) == 0 or pal.min() < 0 \
                or pal.max() > 255:
            raise ConfigError('palette must be a non-empty list of (r, g, b) colours in 0..255, '
                              f'got {palette!r}')
        return pal.astype(np.uint8)

    # -- dataset information --------------------------------------------------------------
    def _meta(self) -> dict:
        return dict(self.dataset_meta or {})

    def _palette(self) -> np.ndarray:
        if self.palette is not None:
            return self.palette
        meta_palette = self._meta().get('palette')
        if meta_palette is not None:
            try:
                return self._check_palette(meta_palette)
            except ConfigError:
                pass
        return np.asarray(DEFAULT_PALETTE, dtype=np.uint8)

    def _ignore_index(self) -> int | None:
        if self.ignore_index is not None:
            return self.ignore_index
        return int(self._meta().get('ignore_index', 255))

    def _kind(self, task: str, pred: np.ndarray, gt: np.ndarray | None) -> str:
        kind = self.task_kinds.get(task) or TASK_KINDS.get(task)
        if kind is not None:
            return 'map' if kind in ('l1', 'regression') else kind
        if gt is not None and np.issubdtype(gt.dtype, np.integer):
            return 'classification' if gt.size == 1 else 'segmentation'
        if pred.ndim <= 1:
            return 'classification'
        if pred.ndim == 3 and pred.shape[0] == 3:
            return 'normal'
        if pred.ndim == 3 and pred.shape[0] > 3:
            return 'segmentation'
        return 'map'

    # -- panels ---------------------------------------------------------------------------
    def image_panel(self, image) -> np.ndarray:
        """The input as RGB uint8 ``(H, W, 3)``: a normalised ``(C, H, W)`` tensor is
        de-normalised with ``mean``/``std``; an ``(H, W, 3)`` uint8 array is used as is."""
        a = _numpy(image)
        if a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] in (1, 3):
            return np.ascontiguousarray(np.repeat(a, 3, -1) if a.shape[-1] == 1 else a)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise ValueError(f'image must be (C, H, W) or (H, W, 3) uint8, got shape {a.shape}')
        a = a.astype(np.float64)
        c = a.shape[0]
        if self.mean is not None:
            k = min(c, self.mean.size)
            a[:k] = a[:k] * self.std[:k, None, None] + self.mean[:k, None, None]
        a = a[:3] if c >= 3 else np.repeat(a[:1], 3, 0)
        a = np.nan_to_num(a, nan=0.0)
        return np.round(np.clip(a, 0.0, 1.0) * 255).astype(np.uint8).transpose(1, 2, 0).copy()

    def task_panels(self, task: str, pred, gt=None, gt_all: Mapping | None = None,
                    size: tuple[int, int] | None = None) -> list[tuple[list[str], np.ndarray]]:
        """``[(title lines, pred RGB), (title lines, gt RGB)]`` of one task, both at ``size``
        (``(H, W)``, default the prediction's) with the same colour map and range."""
        p = _numpy(pred)
        g = None if gt is None else _numpy(gt)
        kind = self._kind(task, p, g)
        gt_all = gt_all or {}
        if kind == 'classification':
            return self._class_panels(task, p, g, size or (64, 64))
        if kind == 'segmentation':
            if p.ndim == 3 and np.issubdtype(p.dtype, np.floating):
                labels = p.argmax(0) if p.shape[0] > 1 else (p[0] > 0).astype(np.int64)
            else:
                labels = _plane(p)
            size = size or labels.shape[-2:]
            ignore = self._ignore_index()
            pal = self._palette()
            out_p = colorize_labels(_resize(labels, size), pal, ignore)
            out_g = None if g is None else colorize_labels(_resize(_plane(g), size), pal, ignore)
            mask = _valid_mask(gt_all, task, size)
            if out_g is not None and mask is not None:
                out_g[~mask] = 0
            return [([task, 'prediction'], out_p), ([task, 'ground truth'], out_g)]
        if kind == 'normal':
            size = size or p.shape[-2:]
            out_p = colorize_normals(_resize(p, size))
            out_g = None
            if g is not None:
                g = _resize(g.reshape(3, *g.shape[-2:]), size)
                valid = np.sqrt((g.astype(np.float64) ** 2).sum(0)) > 0
                mask = _valid_mask(gt_all, task, size)
                out_g = colorize_normals(g, valid if mask is None else valid & mask)
            return [([task, 'prediction, (n+1)/2'], out_p),
                    ([task, 'ground truth, (n+1)/2'], out_g)]
        # depth and other single-channel maps: one colour range for both
        pp = _plane(p)
        if pp.ndim != 2:   # a multi-channel map: show its first channel
            pp = pp.reshape(-1, *pp.shape[-2:])[0]
        size = size or pp.shape[-2:]
        pp = _resize(pp.astype(np.float64), size)
        gg = None if g is None else _resize(
            _plane(g).reshape(-1, *g.shape[-2:])[0].astype(np.float64), size)
        if kind == 'depth':
            valid = None if gg is None else np.isfinite(gg) & (gg > 0)
            cmap, unit = self.depth_cmap, self._meta().get('depth_unit', '')
        else:
            valid = None if gg is None else np.isfinite(gg)
            cmap, unit = self.map_cmap, ''
        mask = _valid_mask(gt_all, task, size)
        if valid is not None and mask is not None:
            valid = valid & mask
        ref = gg[valid] if gg is not None and valid.any() else pp[np.isfinite(pp)]
        if ref.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(ref.min()), float(ref.max())
        if kind == 'map' and (task in _UNIT_RANGE_TASKS or (lo >= 0.0 and hi <= 1.0)):
            lo, hi = 0.0, 1.0
        if hi <= lo:
            hi = lo + 1.0
        rng = f'{_fmt(lo)}-{_fmt(hi)}' + (f' {unit}' if unit else '')
        out_p = colorize_scalar(pp, lo, hi, cmap)
        out_g = None if gg is None else colorize_scalar(gg, lo, hi, cmap, valid)
        return [([task, f'prediction, {rng}'], out_p), ([task, f'ground truth, {rng}'], out_g)]

    @staticmethod
    def _class_panels(task, p, g, size):
        label = int(p.argmax()) if np.issubdtype(p.dtype, np.floating) and p.size > 1 \
            else int(p.reshape(-1)[0])
        def tile(value):
            out = np.full((*size, 3), 235, np.uint8)
            _put_centered(out, f'class {value}')
            return out

        true = None if g is None else int(g.reshape(-1)[0])
        return [([task, 'prediction'], tile(label)),
                ([task, 'ground truth'], None if true is None else tile(true))]

    def compose_panels(self, image, data_sample: Mapping) -> list[tuple[list[str], np.ndarray]]:
        """``[(title lines, RGB uint8 (H, W, 3)), ...]``: the input, then per task (in the
        prediction's order) its prediction and ground truth; a missing gt is a grey panel."""
        if not isinstance(data_sample, Mapping) or 'pred' not in data_sample:
            raise ValueError("data_sample must be the model's 'predict' output {'pred': {task: "
                             f"tensor}}, 'gt': {{...}}}}, got {type(data_sample).__name__}")
        img = self.image_panel(image)
        size = img.shape[:2]
        pred = data_sample['pred']
        gt = data_sample.get('gt') or {}
        panels = [(['input'], img)]
        for task, value in pred.items():
            for title, rgb in self.task_panels(task, value, gt.get(task), gt, size):
                if rgb is None:
                    rgb = np.full((*size, 3), 200, np.uint8)
                    title = [title[0], 'no ground truth']
                panels.append((title, rgb))
        return panels

    def panel_geometry(self, height: int, width: int) -> dict:
        """Sizes of the grid of ``height`` x ``width`` images: ``scale`` (enlargement),
        ``panel`` (h, w) of an enlarged image, ``cell`` (h, w) of a panel with its title and
        margins, ``title_height`` and ``margin``; a grid is ``cell[1] * panels`` wide."""
        scale = max(1, math.ceil(self.min_panel_width / max(1, width)))
        margin = 4
        title_height = 2 * 16 + 6
        panel = (height * scale, width * scale)
        cell = (title_height + panel[0] + margin, panel[1] + 2 * margin)
        return dict(scale=scale, panel=panel, cell=cell, title_height=title_height,
                    margin=margin)

    def compose(self, image, data_sample: Mapping) -> np.ndarray:
        """The grid of one sample as RGB uint8: titled panels side by side, and a legend of
        the segmentation classes below when the dataset names them."""
        panels = self.compose_panels(image, data_sample)
        h, w = panels[0][1].shape[:2]
        geo = self.panel_geometry(h, w)
        (ch, cw), (ph, pw), m, th = geo['cell'], geo['panel'], geo['margin'], geo['title_height']
        grid = np.full((ch, cw * len(panels), 3), _BACKGROUND, np.uint8)
        for k, (title, rgb) in enumerate(panels):
            x0 = k * cw + m
            if rgb.shape[:2] != (h, w):
                rgb = _resize(rgb, (h, w))
            big = np.repeat(np.repeat(rgb, geo['scale'], 0), geo['scale'], 1)
            grid[th:th + ph, x0:x0 + pw] = big
            for line, text in enumerate(title[:2]):
                _put_text(grid, text, x0, 4 + 16 * line, pw, bold=line == 0)
        legend = self._legend_rows(data_sample, grid.shape[1])
        if legend is not None:
            grid = np.concatenate([grid, legend], 0)
        return grid

    def _legend_rows(self, data_sample: Mapping, width: int) -> np.ndarray | None:
        classes = self._meta().get('classes')
        if not self.legend or not classes:
            return None
        seg = [t for t, v in data_sample['pred'].items()
               if self._kind(t, _numpy(v), None if t not in (data_sample.get('gt') or {})
                             else _numpy(data_sample['gt'][t])) == 'segmentation']
        if not seg:
            return None
        pal = self._palette()
        items = [(f'{k}: {name}', pal[k % len(pal)]) for k, name in enumerate(classes)]
        ignore = self._ignore_index()
        if ignore is not None:
            items.append((f'{ignore}: ignored', np.zeros(3, np.uint8)))
        row_h, scale = 18, 0.4
        rows, x = [[]], 6
        for text, colour in items:
            tw = cv2.getTextSize(text, _FONT, scale, 1)[0][0] + 12 + 4 + 14
            if x + tw > width and rows[-1]:
                rows.append([])
                x = 6
            rows[-1].append((x, text, colour))
            x += tw
        strip = np.full((row_h * len(rows) + 8, width, 3), _BACKGROUND, np.uint8)
        for r, row in enumerate(rows):
            y = 4 + r * row_h
            for x, text, colour in row:
                cv2.rectangle(strip, (x, y + 2), (x + 11, y + 13), tuple(int(c) for c in colour),
                              -1)
                cv2.rectangle(strip, (x, y + 2), (x + 11, y + 13), (90, 90, 90), 1)
                cv2.putText(strip, text, (x + 16, y + 12), _FONT, scale, _TEXT, 1, cv2.LINE_AA)
        return strip

    # -- the mmengine entry point ----------------------------------------------------------
    @master_only
    def add_datasample(self, name: str, image, data_sample: Mapping, show: bool = False,
                       wait_time: float = 0.0, out_file: str | None = None,
                       step: int = 0) -> np.ndarray:
        """Draw one sample; show it, write it to ``out_file``, or else send it to the vis
        backends as image ``name`` at ``step``. Returns the RGB grid."""
        grid = self.compose(image, data_sample)
        if show:
            self.show(grid, win_name=name, wait_time=wait_time)
        if out_file is not None:
            folder = osp.dirname(out_file)
            if folder:
                os.makedirs(folder, exist_ok=True)
            cv2.imwrite(out_file, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        else:
            self.add_image(name, grid, step)
        return grid


def _resize(a: np.ndarray, size) -> np.ndarray:
    """Nearest-neighbour resize of ``(H, W)``, ``(H, W, 3)`` or ``(C, H, W)`` to ``size``."""
    size = tuple(int(s) for s in size)
    if a.ndim == 2 and a.shape == size or a.ndim == 3 and (a.shape[:2] == size
                                                           or a.shape[1:] == size):
        return a
    if a.ndim == 3 and a.shape[-1] != 3 and a.shape[0] <= 4:   # (C, H, W)
        return np.stack([_resize(c, size) for c in a])
    dtype = a.dtype
    work = a.astype(np.float32) if dtype not in (np.uint8, np.float32, np.float64) else a
    out = cv2.resize(work, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return out.astype(dtype)


def _put_text(canvas: np.ndarray, text: str, x: int, y: int, width: int,
              bold: bool = False) -> None:
    """Write ``text`` with its top at ``y``, shrunk (then cut) to fit ``width`` pixels."""
    thickness = 1
    scale = 0.45 if bold else 0.42
    while scale > 0.3 and cv2.getTextSize(text, _FONT, scale, thickness)[0][0] > width:
        scale -= 0.02
    while len(text) > 3 and cv2.getTextSize(text, _FONT, scale, thickness)[0][0] > width:
        text = text[:-3] + '..'
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    x += max(0, (width - tw) // 2)
    cv2.putText(canvas, text, (x, y + th + 1), _FONT, scale, _TEXT,
                2 if bold and scale >= 0.4 else thickness, cv2.LINE_AA)


def _put_centered(tile: np.ndarray, text: str) -> None:
    (tw, th), _ = cv2.getTextSize(text, _FONT, 0.4, 1)
    h, w = tile.shape[:2]
    cv2.putText(tile, text, (max(0, (w - tw) // 2), (h + th) // 2), _FONT, 0.4, _TEXT, 1,
                cv2.LINE_AA)


# -- the hook ---------------------------------------------------------------------------------
@HOOKS.register_module()
class MultiTaskVisualizationHook(Hook):
    """During test, hand the first ``max_samples`` samples (every ``interval``-th one) to the
    runner's :class:`MultiTaskVisualizer`, which draws them and saves them through its vis
    backends as ``<name>_<index>`` (the LocalVisBackend: ``<save_dir>/vis_data/vis_image/
    <name>_<index>.png``, ``index`` counting the test samples from 0).

    Args:
        max_samples: how many samples to draw (``None``: all of them).
        interval: draw every ``interval``-th test sample.
        name: image name given to the backends.
        show: also show each image in a window (needs a display).
        wait_time: seconds a shown image stays (0: until a key is pressed).
    """

    priority = 'NORMAL'

    def __init__(self, max_samples: int | None = 8, interval: int = 1,
                 name: str = 'test_sample', show: bool = False, wait_time: float = 0.0):
        if max_samples is not None:
            check_int('MultiTaskVisualizationHook: max_samples', max_samples, low=0)
        check_int('MultiTaskVisualizationHook: interval', interval, low=1)
        self.max_samples, self.interval = max_samples, interval
        self.name, self.show, self.wait_time = str(name), bool(show), float(wait_time)
        self._index = 0
        self._drawn = 0

    def before_test(self, runner) -> None:
        self._index = 0
        self._drawn = 0

    def _visualizer(self, runner):
        visualizer = runner.visualizer
        if not callable(getattr(visualizer, 'add_datasample', None)):
            raise ConfigError(
                f'MultiTaskVisualizationHook needs visualizer = dict(type='
                f"'MultiTaskVisualizer', ...) in the config; the runner's visualizer is a "
                f'{type(visualizer).__name__}')
        return visualizer

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        if self.max_samples is not None and self._drawn >= self.max_samples:
            self._index += len(outputs)
            return
        inputs = _batch_inputs(data_batch)
        if len(inputs) != len(outputs):
            raise ValueError(f'MultiTaskVisualizationHook: the batch has {len(inputs)} inputs '
                             f'but the model returned {len(outputs)} samples')
        visualizer = self._visualizer(runner)
        for image, sample in zip(inputs, outputs):
            index = self._index
            self._index += 1
            if index % self.interval:
                continue
            if self.max_samples is not None and self._drawn >= self.max_samples:
                continue
            visualizer.add_datasample(self.name, image, sample, show=self.show,
                                      wait_time=self.wait_time, step=index)
            self._drawn += 1


def _batch_inputs(data_batch) -> list:
    """The images of a batch: ``data_batch['inputs']`` (a tensor or a list of them) or, for
    an uncollated batch, each sample's ``'inputs'``."""
    if isinstance(data_batch, Mapping) and 'inputs' in data_batch:
        inputs = data_batch['inputs']
    elif isinstance(data_batch, Sequence) and data_batch and \
            all(isinstance(d, Mapping) and 'inputs' in d for d in data_batch):
        inputs = [d['inputs'] for d in data_batch]
    else:
        raise ValueError("MultiTaskVisualizationHook: the batch has no 'inputs' (got "
                         f'{type(data_batch).__name__})')
    return list(inputs)
