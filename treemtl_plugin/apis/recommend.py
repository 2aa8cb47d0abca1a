"""Config-driven recommendation: read an mmengine config, recommend, write the work dir.

Config keys (see README "Config reference"): ``tasks``, ``two_task_table`` (CSV path),
``block_flops`` (one per branching point), optional ``block_params``, ``head_flops``,
``head_params``, ``flops_unit``, ``params_unit`` and a ``recommender`` dict
(``topk``, ``task_weights``, ``budget``, ``csv_rows``, ``max_layouts``).
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
from collections.abc import Callable, Mapping
from typing import Any

from ..cost import FVCORE_CONVENTION, Budget, CostModel
from ..recommender import (DEFAULT_CSV_ROWS, DEFAULT_MAX_LAYOUTS, DEFAULT_SEARCH_THRESHOLD,
                           Recommendation, recommend)
from ..two_task_table import TwoTaskTable

BUDGET_KEYS = ('max_flops', 'max_flops_ratio', 'max_models', 'max_params')


class ConfigError(ValueError):
    """A config that cannot drive a recommendation (message names the key and the fix)."""


def _get(cfg: Mapping, key: str, default=None):
    return cfg.get(key, default) if hasattr(cfg, 'get') else default


def resolve_path(path: str, cfg_dir: str | None) -> str:
    """A config path: absolute, relative to the working directory, or to the config file."""
    if osp.isabs(path) or osp.exists(path) or cfg_dir is None:
        return path
    candidate = osp.join(cfg_dir, path)
    return candidate if osp.exists(candidate) else path


def load_table(cfg: Mapping, cfg_dir: str | None = None) -> TwoTaskTable:
    """The two-task table named by ``cfg.two_task_table``, restricted to ``cfg.tasks``."""
    tasks = _get(cfg, 'tasks')
    if tasks is None:
        raise ConfigError('the config has no `tasks`: list the task names, e.g. '
                          "tasks = ['segment_semantic', 'normal', 'depth_zbuffer']")
    if isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks):
        raise ConfigError(f'`tasks` must be a list of task-name strings, got {tasks!r}')
    if len(tasks) < 2:
        raise ConfigError(f'`tasks` needs at least two tasks to share a backbone, got {tasks}')
    path = _get(cfg, 'two_task_table')
    if not path:
        raise ConfigError('the config has no `two_task_table`: give the path of a two-task '
                          'CSV (header task_a,task_b,branch,perf_a,perf_b; see README)')
    path = resolve_path(str(path), cfg_dir)
    if not osp.isfile(path):
        raise ConfigError(f'two_task_table file not found: {path!r} (relative paths are looked '
                          'up from the working directory, then from the config file\'s folder)')
    num_blocks = len(_get(cfg, 'block_flops') or []) or None
    return TwoTaskTable.from_csv(path, tasks=list(tasks), num_blocks=num_blocks)


def build_cost_model(cfg: Mapping) -> CostModel:
    block_flops = _get(cfg, 'block_flops')
    if block_flops is None:
        raise ConfigError('the config has no `block_flops`: give one FLOPs value per branching '
                          'point (e.g. GFLOPs as fvcore counts them, one image)')
    try:
        return CostModel(block_flops=list(block_flops),
                         block_params=_get(cfg, 'block_params'),
                         head_flops=_get(cfg, 'head_flops'),
                         head_params=_get(cfg, 'head_params'),
                         flops_unit=_get(cfg, 'flops_unit', 'GFLOPs'),
                         params_unit=_get(cfg, 'params_unit', 'M'),
                         flops_convention=_get(cfg, 'flops_convention', FVCORE_CONVENTION))
    except (TypeError, ValueError) as err:
        raise ConfigError(f'bad cost settings in the config: {err}') from None


def build_budget(cfg: Mapping, overrides: Mapping[str, Any] | None = None) -> Budget:
    """Budget from ``cfg.recommender.budget``, with command-line ``overrides`` on top."""
    settings = dict(_get(_get(cfg, 'recommender', {}) or {}, 'budget', {}) or {})
    unknown = sorted(set(settings) - set(BUDGET_KEYS))
    if unknown:
        raise ConfigError(f'unknown budget key(s) {unknown} in recommender.budget; use '
                          f'{list(BUDGET_KEYS)}')
    for key, value in (overrides or {}).items():
        if value is not None:
            settings[key] = value
    try:
        return Budget(**settings)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'bad budget: {err}') from None


def _recommender_options(cfg: Mapping) -> dict:
    options = dict(_get(cfg, 'recommender', {}) or {})
    known = {'topk', 'task_weights', 'budget', 'csv_rows', 'max_layouts', 'task_grouping',
             'method', 'search_threshold'}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f'unknown recommender option(s) {unknown}; known: {sorted(known)}')
    return options


def recommend_from_table(cfg: Mapping, table: TwoTaskTable, cost: CostModel,
                         topk: int | None = None,
                         budget_overrides: Mapping[str, Any] | None = None,
                         progress: Callable[[int, int], None] | None = None) -> Recommendation:
    """Recommend from a ready table and cost model with the config's recommender options."""
    options = _recommender_options(cfg)
    budget = build_budget(cfg, budget_overrides)
    return recommend(table, cost, budget,
                     topk=topk if topk is not None else options.get('topk', 5),
                     task_weights=options.get('task_weights', 'svde'),
                     csv_rows=options.get('csv_rows', DEFAULT_CSV_ROWS),
                     max_layouts=options.get('max_layouts', DEFAULT_MAX_LAYOUTS),
                     progress=progress, method=options.get('method', 'auto'),
                     search_threshold=options.get('search_threshold',
                                                  DEFAULT_SEARCH_THRESHOLD))


def recommend_from_config(cfg: Mapping, cfg_dir: str | None = None, topk: int | None = None,
                          budget_overrides: Mapping[str, Any] | None = None,
                          progress: Callable[[int, int], None] | None = None
                          ) -> Recommendation:
    """Run the recommender on the config's two-task table and block costs."""
    _recommender_options(cfg)
    table = load_table(cfg, cfg_dir)
    cost = build_cost_model(cfg)
    return recommend_from_table(cfg, table, cost, topk, budget_overrides, progress)


def _atomic_write(path: str, write: Callable[[Any], None], mode: str = 'w') -> None:
    """Write via a temporary file and rename, so an interrupted run leaves no half file."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, mode, **({} if 'b' in mode else {'encoding': 'utf-8', 'newline': ''})) as f:
        write(f)
    os.replace(tmp, path)


def summary_dict(rec: Recommendation) -> dict:
    """Everything about a run except the per-layout rows (recommendation.json)."""
    cost = rec.cost_model
    return dict(
        tasks=list(rec.tasks), num_blocks=rec.num_blocks, method=rec.method,
        num_layouts=rec.num_layouts, num_within_budget=rec.num_within_budget,
        search_nodes=rec.search_nodes,
        seconds=rec.seconds, budget={k: getattr(rec.budget, k) for k in BUDGET_KEYS},
        budget_text=rec.budget.describe(cost),
        task_weights=dict(zip(rec.tasks, map(float, rec.weights))),
        task_weights_note=rec.weights_note,
        flops_unit=cost.flops_unit, params_unit=cost.params_unit,
        flops_convention=cost.flops_convention,
        backbone_flops=cost.backbone_flops, backbone_params=cost.backbone_params,
        block_flops=list(map(float, cost.block_flops)),
        block_params=None if cost.block_params is None else list(map(float, cost.block_params)),
        pareto=[p.to_dict() for p in rec.pareto],
        evaluated_csv_complete=rec.evaluated_is_complete)


def write_outputs(rec: Recommendation, work_dir: str) -> dict[str, str]:
    """Write top_layouts.json, recommendation.json, layouts.csv and pareto.png to work_dir."""
    os.makedirs(work_dir, exist_ok=True)
    paths = {name: osp.join(work_dir, name) for name in
             ('top_layouts.json', 'recommendation.json', 'layouts.csv', 'pareto.png')}
    top = [r.to_dict() for r in rec.top]
    _atomic_write(paths['top_layouts.json'], lambda f: json.dump(top, f, indent=2))
    _atomic_write(paths['recommendation.json'],
                  lambda f: json.dump(summary_dict(rec), f, indent=2))
    _atomic_write(paths['layouts.csv'], lambda f: write_layouts_csv(rec, f))
    from ..visualization import plot_pareto  # matplotlib only when writing outputs
    plot_pareto(rec, paths['pareto.png'])
    return paths


def write_layouts_csv(rec: Recommendation, handle) -> None:
    """One row per evaluated layout (the best ``csv_rows`` by score), in rank order."""
    ev = rec.evaluated
    est = rec.estimator.estimates_matrix(ev.branch_points)
    writer = csv.writer(handle)
    header = ['rank', 'score'] + [f'est_{t}' for t in rec.tasks] + \
        ['flops', 'flops_ratio', 'models', 'params', 'within_budget', 'layout']
    writer.writerow(header)
    backbone = rec.cost_model.backbone_flops
    num_tasks = len(rec.tasks)
    layouts_json = _rows_to_json(ev.branch_points, rec.tasks, rec.num_blocks)
    for k in range(len(ev.scores)):
        writer.writerow(
            [k + 1, repr(float(ev.scores[k]))] + [repr(float(v)) for v in est[k]] +
            [repr(float(ev.flops[k])), repr(float(ev.flops[k] / (num_tasks * backbone))),
             repr(float(ev.flops[k] / backbone)),
             '' if ev.params is None else repr(float(ev.params[k])),
             int(bool(ev.within_budget[k])), layouts_json[k]])


def _rows_to_json(rows, tasks, num_blocks) -> list[str]:
    """Layout JSON for many compact rows, without building (validated) Layout objects."""
    from ..design_space import _full_matrix
    from ..layout import blocks_from_branch_points
    return [json.dumps(blocks_from_branch_points(tasks, m, num_blocks))
            for m in _full_matrix(rows, len(tasks), num_blocks)]
