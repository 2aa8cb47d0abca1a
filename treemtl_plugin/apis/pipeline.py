"""The full job from a training config: block costs -> sweep -> table -> recommend -> export.

``tools/recommend.py`` calls :func:`run_pipeline` when the config describes a model to train
(a ``model`` with a ``TimmBlockBackbone``) instead of, or as well as, a ready two-task table.
"""
from __future__ import annotations

import copy
import json
import os
import os.path as osp
from collections.abc import Callable

from mmengine.config import Config

from ..cost import CostModel
from ..recommender import Recommendation
from ..sweep.executor import SweepExecutor, load_results, run_config, train_and_evaluate
from ..sweep.merge import build_two_task_table, missing_runs
from ..sweep.plan import plan_sweep
from ..two_task_table import TwoTaskTable
from .recommend import ConfigError, build_budget, recommend_from_table


def config_tasks(cfg: Config) -> list[str]:
    tasks = cfg.get('tasks')
    if not tasks or isinstance(tasks, str):
        raise ConfigError('the config has no `tasks` list (e.g. '
                          "tasks = ['segment_semantic', 'depth_zbuffer', 'normal'])")
    heads = cfg.get('task_heads') or {}
    missing = [t for t in tasks if t not in heads]
    if missing:
        raise ConfigError(f'task(s) {missing} have no head/loss in `task_heads` (it defines '
                          f'{sorted(heads)}); add e.g. task_heads[{missing[0]!r}] = '
                          "dict(head=dict(type='LightConvHead', num_outputs=1), "
                          "loss=dict(type='DepthL1Loss'))")
    for task in tasks:
        spec = heads[task]
        for key in ('head', 'loss'):
            if key not in spec:
                raise ConfigError(f'task_heads[{task!r}] has no `{key}`')
    return list(tasks)


def fill_model_tasks(cfg: Config) -> Config:
    """A config whose ``model.tasks`` is None gets the heads of ``cfg.tasks`` from task_heads."""
    if cfg.get('model') is not None and cfg.model.get('tasks') is None and cfg.get('tasks'):
        tasks = config_tasks(cfg)
        cfg.model.tasks = {t: copy.deepcopy(cfg.task_heads[t]) for t in tasks}
    return cfg


def check_data_root(cfg: Config) -> None:
    """Fail fast when a dataset's data_root does not exist (before any training)."""
    for key in ('train_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        root = dataset.get('data_root')
        if root and not osp.isdir(root):
            raise ConfigError(f'{key}.dataset.data_root {root!r} does not exist; download the '
                              'dataset there or set data_root (see README "Real datasets")')


def measure_costs(cfg: Config, tasks: list[str]) -> tuple[CostModel, dict]:
    """Cost model from the backbone's detected blocks (fvcore GFLOPs, M params) and heads."""
    import torch

    from ..models.timm_block_backbone import fvcore_flops
    from ..registry import MODELS
    import treemtl_plugin.models  # noqa: F401  (registers the entries)
    backbone = MODELS.build(copy.deepcopy(cfg.model.backbone))
    backbone.eval()
    x = torch.zeros(1, *backbone.input_size)
    with torch.no_grad():
        feat = backbone(x)
    head_flops, head_params = {}, {}
    for task in tasks:
        head_cfg = dict(copy.deepcopy(cfg.task_heads[task]['head']))
        head_cfg.setdefault('in_channels', backbone.out_channels)
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
                train_fn=train_and_evaluate) -> TwoTaskTable | None:
    """Run (a shard of) the sweep; return the merged table, or None if runs are missing."""
    runs = plan_sweep(tasks, num_blocks)
    SweepExecutor(cfg, runs, sweep_dir, shard=shard, train_fn=train_fn, log=log).execute()
    records = load_results(sweep_dir)
    if missing_runs(runs, records):
        return None
    table = build_two_task_table(runs, records, tasks, num_blocks,
                                 source=osp.join(sweep_dir, 'runs'))
    table.to_csv(osp.join(sweep_dir, 'two_task_table.csv'))
    return table


def export_configs(cfg: Config, rec: Recommendation, export_dir: str, name: str) -> list[str]:
    """One drop-in training config per recommended layout (``tools/train.py <file>``)."""
    os.makedirs(export_dir, exist_ok=True)
    paths = []
    for item in rec.top:
        work_dir = osp.join('work_dirs', f'{name}_rank{item.rank}')
        exported = run_config(cfg, list(rec.tasks), item.layout, work_dir,
                              f'{name}_rank{item.rank}', keep_checkpoints=True)
        for key in ('sweep', 'recommender', 'two_task_table', 'experiment_name'):
            exported.pop(key, None)
        exported.recommendation = dict(
            rank=item.rank, score=item.score, estimates=item.estimates, flops=item.flops,
            flops_ratio=item.flops_ratio, params=item.params, layout=item.layout.to_list(),
            source=cfg.filename)
        path = osp.join(export_dir, f'rank{item.rank}_{name}.py')
        exported.dump(path)
        paths.append(path)
    return paths


def train_exported(paths: list[str], top: list, sweep_dir: str, cfg: Config,
                   work_dir: str, log: Callable[[str], None] = print,
                   train_fn=train_and_evaluate) -> list[dict]:
    """Train exported configs with the sweep's schedule; measured vs estimated Δ per task."""
    from ..evaluation.relative_performance import relative_performance
    from ..engine import trust_checkpoints_in
    records = load_results(sweep_dir)
    singles = {r['tasks'][0]: r['metrics'] for r in records.values() if len(r['tasks']) == 1}
    overrides = (cfg.get('sweep') or {}).get('overrides') or {}
    rows = []
    for path, item in zip(paths, top):
        run_cfg = Config.fromfile(path)
        run_cfg.work_dir = osp.join(work_dir, 'train_top', f'rank{item.rank}')
        run_cfg.experiment_name = f'train_top_rank{item.rank}'
        run_cfg.default_hooks['checkpoint'] = None
        if overrides:
            run_cfg.merge_from_dict(dict(overrides))
        trust_checkpoints_in(run_cfg.work_dir)
        log(f'[train-top] training rank {item.rank} ({path})')
        metrics = train_fn(run_cfg)
        measured = {t: relative_performance(metrics, singles[t], t) for t in item.estimates}
        structure = item.layout.to_list() if hasattr(item, 'layout') else item.groups
        rows.append(dict(rank=item.rank, layout=structure, metrics=metrics,
                         estimated=item.estimates, measured=measured,
                         estimated_mean=sum(item.estimates.values()) / len(item.estimates),
                         measured_mean=sum(measured.values()) / len(measured)))
    with open(osp.join(work_dir, 'train_top.json'), 'w', encoding='utf-8') as f:
        json.dump(rows, f, indent=2)
    return rows


def prepare_full(cfg: Config, work_dir: str, budget_overrides=None, shard=None,
                 log: Callable[[str], None] = print, train_fn=train_and_evaluate):
    """Costs from the backbone, then the sweep's table (or the config's CSV).

    Returns ``(cfg, table, cost)``, or None when this shard is done but others are not.
    """
    from ..engine import trust_checkpoints_in
    tasks = config_tasks(cfg)
    check_data_root(cfg)
    build_budget(cfg, budget_overrides)   # validate the budget before any training
    cfg = fill_model_tasks(cfg)
    cost, backbone_info = measure_costs(cfg, tasks)
    num_blocks = cost.num_blocks
    log(f'[costs] {backbone_info["model_name"]} at {backbone_info["input_size"]}: '
        f'{len(backbone_info["detected"])} detected blocks -> {num_blocks} branching points; '
        'GFLOPs per branching point (fvcore): '
        + ', '.join(f'{f:.4g}' for f in cost.block_flops))
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'backbone_blocks.json'), 'w', encoding='utf-8') as f:
        json.dump(backbone_info, f, indent=2, default=str)
    sweep_dir = osp.join(work_dir, 'sweep')
    trust_checkpoints_in(sweep_dir)
    if cfg.get('two_task_table'):
        table = TwoTaskTable.from_csv(cfg.two_task_table, tasks=tasks, num_blocks=num_blocks)
    else:
        table = sweep_table(cfg, tasks, num_blocks, sweep_dir, shard=shard, log=log,
                            train_fn=train_fn)
        if table is None:
            log('[sweep] this shard is done; other shards still have runs to finish. Run '
                'the same command without --shard (or after all shards) to merge and '
                'recommend.')
            return None
    return cfg, table, cost


def run_pipeline(cfg: Config, work_dir: str, topk=None, budget_overrides=None, shard=None,
                 train_top: int = 0, strategy: str = 'tree',
                 log: Callable[[str], None] = print, progress=None,
                 train_fn=train_and_evaluate) -> dict:
    """Detection and costs, sweep (or the config's table), recommendation, export."""
    prepared = prepare_full(cfg, work_dir, budget_overrides, shard, log, train_fn)
    if prepared is None:
        return dict(status='shard_done')
    cfg, table, cost = prepared
    name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    if strategy == 'task_grouping':
        from .grouping import export_grouping_configs, run_task_grouping
        rec = run_task_grouping(cfg, table, cost, topk, budget_overrides)
        exported = export_grouping_configs(cfg, rec, osp.join(work_dir, 'exported'), name)
    else:
        rec = recommend_from_table(cfg, table, cost, topk=topk,
                                   budget_overrides=budget_overrides, progress=progress)
        exported = export_configs(cfg, rec, osp.join(work_dir, 'exported'), name)
    result = dict(status='done', recommendation=rec, exported=exported, table=table,
                  cost=cost, cfg=cfg, strategy=strategy)
    if train_top:
        result['train_top'] = train_exported(exported[:train_top], rec.top[:train_top],
                                             osp.join(work_dir, 'sweep'), cfg, work_dir,
                                             log=log, train_fn=train_fn)
    return result
