"""What many tests share: the built-in default config shrunk to seconds."""
from __future__ import annotations

from pathlib import Path

from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CFG = ROOT / 'configs' / 'synthetic' / 'tree_resnet18_synthetic_3task.py'
TINY_TASKS = ('segment_semantic', 'depth_zbuffer')


def tiny_config(tasks=TINY_TASKS, blocks: int = 2, iters: int = 2, val_samples: int = 4,
                **changes) -> Config:
    """The default config at 32 px (``img_size`` and the sizes it drives), ``blocks`` branching points, 8 training scenes, ``iters``
    iterations per training (also in the sweep), one worker; ``changes`` are merged last."""
    cfg = Config.fromfile(str(DEFAULT_CFG))
    cfg.merge_from_dict({
        'img_size': 32, 'model.backbone.input_size': (3, 32, 32), 'model.backbone.num_branch_points': blocks,
        'train_dataloader.batch_size': 4, 'train_dataloader.dataset.num_samples': 8,
        'train_dataloader.dataset.image_size': 32, 'val_dataloader.batch_size': 4,
        'val_dataloader.dataset.num_samples': val_samples,
        'val_dataloader.dataset.image_size': 32, 'test_dataloader.batch_size': 4,
        'test_dataloader.dataset.num_samples': val_samples,
        'test_dataloader.dataset.image_size': 32, 'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters, 'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': iters,
        'sweep.overrides.train_cfg.max_iters': iters, 'sweep.workers': 1,
        'log_level': 'WARNING'})
    cfg.model.tasks = {t: cfg.model.tasks[t] for t in tasks}
    cfg.merge_from_dict(changes)
    return cfg
