"""Full mode's measured inputs: block and head costs of the config's model, and the two-task
table from the sweep (``docs/method.md``, "Two-task table")."""
from __future__ import annotations

import copy
import inspect
import os.path as osp
from collections.abc import Callable

import numpy as np
from mmengine.config import Config

from ..core.cost import CostModel
from ..core.table import TwoTaskTable
from ..io.atomic import atomic_write
from ..sweep.executor import SweepExecutor
from ..sweep.merge import build_two_task_table, missing_runs, seed_spread
from ..sweep.plan import plan_sweep, sweep_seeds

__all__ = ['measure_costs', 'sweep_table']


def measure_costs(cfg: Config, tasks: list[str]) -> tuple[CostModel, dict]:
    """Cost model from the backbone's branching points (fvcore GFLOPs, M params) and heads."""
    import torch

    import treemtl_plugin.models  # noqa: F401  (registers the entries)
    from ..models.timm_block_backbone import fvcore_flops
    from ..registry import MODELS
    backbone = MODELS.build(copy.deepcopy(cfg.model.backbone)).eval()
    with torch.no_grad():
        feat = backbone(torch.zeros(1, *backbone.input_size))
    head_flops, head_params = {}, {}
    for task in tasks:
        head_cfg = dict(copy.deepcopy(cfg.model.tasks[task]['head']))
        head_cfg.setdefault('in_channels', backbone.out_channels)
        if 'in_format' in inspect.signature(MODELS.get(head_cfg['type'])).parameters:
            head_cfg.setdefault('in_format', backbone.out_format)
        head = MODELS.build(head_cfg).eval()
        head_flops[task] = fvcore_flops(head, feat) / 1e9
        head_params[task] = sum(p.numel() for p in head.parameters()) / 1e6
    info = dict(model_name=backbone.model_name, input_size=list(backbone.input_size),
                blocks=backbone.cost_table(), detected=backbone.detected)
    cost = CostModel(block_flops=backbone.block_flops, block_params=backbone.block_params,
                     head_flops=head_flops, head_params=head_params,
                     flops_unit='GFLOPs', params_unit='M')
    return cost, info


def sweep_table(cfg: Config, tasks: list[str], num_blocks: int, sweep_dir: str,
                shard=None, log: Callable[[str], None] = print,
                train_fn=None) -> TwoTaskTable | None:
    """Run (a shard of) the sweep; return the merged table, or None if runs are missing."""
    runs = plan_sweep(tasks, num_blocks, sweep_seeds((cfg.get('sweep') or {}).get('seeds')))
    executor = SweepExecutor(cfg, runs, sweep_dir, shard=shard, train_fn=train_fn, log=log)
    executor.execute()
    records = executor.results()
    if missing_runs(runs, records):
        return None
    table = build_two_task_table(runs, records, tasks, num_blocks,
                                 source=osp.join(sweep_dir, 'runs'))
    atomic_write(osp.join(sweep_dir, 'two_task_table.csv'), table.to_csv)
    effect = np.abs(table.values[..., 1:]).mean()
    spread = seed_spread(runs, records, tasks, num_blocks)
    if spread is None:
        log(f'[sweep] two-task table: mean |relative performance| {effect:.2f} % (one seed: '
            'set sweep.seeds to measure how much of it is seed noise)')
    else:
        sd = TwoTaskTable(tasks=table.tasks, num_blocks=num_blocks, values=spread)
        atomic_write(osp.join(sweep_dir, 'two_task_table_seed_sd.csv'), sd.to_csv)
        log(f'[sweep] two-task table (mean of {len({r.seed for r in runs})} seeds): mean '
            f'|relative performance| {effect:.2f} %, mean seed SD of an entry '
            f'{spread[..., 1:].mean():.2f} % (two_task_table_seed_sd.csv)')
    return table
