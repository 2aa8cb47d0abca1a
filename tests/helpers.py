"""What many tests share: the repository's paths, the built-in default config shrunk to
seconds, and a loader for the scripts under ``tools/``."""
from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CFG = ROOT / 'configs' / 'synthetic' / 'tree_resnet18_synthetic_3task.py'
PAPER_CFG = ROOT / 'configs' / 'paper' / 'nyuv2_deeplab_resnet34.py'
TEACHER_CFG = ROOT / 'configs' / 'teacher' / 'tree_resnet10t_teacher_3task.py'
#: the tasks of DEFAULT_CFG, in its order
DEFAULT_TASKS = ('segment_semantic', 'depth_zbuffer', 'normal')
TINY_TASKS = ('segment_semantic', 'depth_zbuffer')

_loaded = itertools.count()


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` (``name`` may hold a subfolder: ``'analysis/validate_recommender'``)
    imported as a fresh module under a name of its own (not put in ``sys.modules``)."""
    path = ROOT / 'tools' / f'{name}.py'
    module_name = f"tool_{name.replace('/', '_')}_{next(_loaded)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_config(tasks=TINY_TASKS, blocks: int = 2, iters: int = 2, val_samples: int = 4,
                **changes) -> Config:
    """The default config at ``img_size`` 32, ``blocks`` branching points, 8 training scenes,
    ``iters`` iterations per training (also in the sweep), one worker; ``changes`` are merged
    last, then ``img_size`` is applied (as ``load_config`` does)."""
    from mmengine.config import Config

    from treemtl_plugin.engine.img_size import apply_img_size
    cfg = Config.fromfile(str(DEFAULT_CFG))
    cfg.merge_from_dict({
        'img_size': 32, 'model.backbone.num_branch_points': blocks,
        'train_dataloader.batch_size': 4, 'train_dataloader.dataset.num_samples': 8,
        'val_dataloader.batch_size': 4,
        'val_dataloader.dataset.num_samples': val_samples,
        'test_dataloader.batch_size': 4,
        'test_dataloader.dataset.num_samples': val_samples,
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters, 'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': iters,
        'sweep.overrides.train_cfg.max_iters': iters, 'sweep.workers': 1,
        'log_level': 'WARNING'})
    cfg.model.tasks = {t: cfg.model.tasks[t] for t in tasks}
    cfg.merge_from_dict(changes)
    apply_img_size(cfg)
    return cfg
