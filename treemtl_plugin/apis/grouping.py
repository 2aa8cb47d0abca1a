"""Task-grouping strategy and the tree-vs-grouping comparison for ``tools/recommend.py``."""
from __future__ import annotations

import copy
import csv
import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

from ..cost import Budget, BudgetError, CostModel
from ..recommender import recommend
from ..task_grouping import GroupingRecommendation, recommend_task_groups
from ..two_task_table import TwoTaskTable
from .recommend import _atomic_write, _recommender_options, build_budget

GROUPING_KEYS = ('half_width', 'measured_groups')


def grouping_options(cfg: Mapping) -> dict:
    """``recommender.task_grouping`` settings: half-width results and measured groups."""
    options = dict((_recommender_options(cfg).get('task_grouping') or {}))
    unknown = sorted(set(options) - set(GROUPING_KEYS))
    if unknown:
        raise ValueError(f'unknown recommender.task_grouping option(s) {unknown}; known: '
                         f'{list(GROUPING_KEYS)}')
    measured = options.get('measured_groups')
    if measured:   # config form: [dict(tasks=[...], perf={task: value}), ...]
        options['measured_groups'] = {tuple(item['tasks']): item['perf'] for item in measured}
    return options


def run_task_grouping(cfg: Mapping, table: TwoTaskTable, cost: CostModel,
                      topk: int | None = None,
                      budget_overrides: Mapping[str, Any] | None = None
                      ) -> GroupingRecommendation:
    options = _recommender_options(cfg)
    return recommend_task_groups(
        table, cost, build_budget(cfg, budget_overrides),
        topk=topk if topk is not None else options.get('topk', 5),
        task_weights=options.get('task_weights', 'svde'), **grouping_options(cfg))


def write_grouping_outputs(rec: GroupingRecommendation, work_dir: str) -> dict[str, str]:
    """top_layouts.json (entries carry groups and chosen networks), recommendation.json,
    groupings.csv."""
    os.makedirs(work_dir, exist_ok=True)
    paths = {name: osp.join(work_dir, name) for name in
             ('top_layouts.json', 'recommendation.json', 'groupings.csv')}
    top = [s.to_dict() for s in rec.top]
    _atomic_write(paths['top_layouts.json'], lambda f: json.dump(top, f, indent=2))
    cost = rec.cost_model
    summary = dict(strategy='task_grouping', method=rec.method, tasks=list(rec.tasks),
                   num_candidates=rec.num_candidates, budget_text=rec.budget.describe(cost),
                   max_models=rec.max_models, seconds=rec.seconds,
                   task_weights=dict(zip(rec.tasks, map(float, rec.weights))),
                   task_weights_note=rec.weights_note, flops_unit=cost.flops_unit,
                   flops_convention=cost.flops_convention, backbone_flops=cost.backbone_flops)
    _atomic_write(paths['recommendation.json'], lambda f: json.dump(summary, f, indent=2))

    def rows(f):
        writer = csv.writer(f)
        writer.writerow(['rank', 'score'] + [f'est_{t}' for t in rec.tasks]
                        + ['models', 'flops', 'flops_ratio', 'params', 'groups', 'chosen'])
        for s in rec.top:
            writer.writerow([s.rank, repr(s.score)] + [repr(s.estimates[t]) for t in rec.tasks]
                            + [s.models, repr(s.flops), repr(s.flops_ratio),
                               '' if s.params is None else repr(s.params),
                               json.dumps(s.groups), json.dumps(s.chosen)])
    _atomic_write(paths['groupings.csv'], rows)
    return paths


def print_grouping_report(rec: GroupingRecommendation, save_path: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..report import _is_tty
    console = Console(width=None if _is_tty() else 200, record=True)
    cost = rec.cost_model
    head = Text(f'Task grouping (Standley et al. 2020) for {len(rec.tasks)} tasks: '
                f'{rec.num_candidates} candidate networks, exact search in {rec.seconds:.2f} s, '
                f'budget: {rec.budget.describe(cost)} (<= {rec.max_models:g} backbones).\n'
                f'Task weights ({rec.weights_note}): '
                + ', '.join(f'{t}={w:.3f}' for t, w in zip(rec.tasks, rec.weights)))
    table = Table(title=f'Top-{len(rec.top)} task groupings', show_lines=True)
    table.add_column('rank', justify='right')
    table.add_column('score', justify='right')
    for task in rec.tasks:
        table.add_column(f'{task} (%)', justify='right', overflow='fold')
    table.add_column('backbones', justify='right')
    table.add_column(f'FLOPs ({cost.flops_unit})', justify='right')
    table.add_column('networks (each task uses its chosen one)', no_wrap=True)
    for s in rec.top:
        table.add_row(str(s.rank), f'{s.score:.3f}',
                      *[f'{s.estimates[t]:.2f}' for t in rec.tasks],
                      f'{s.models:g}', f'{s.flops:.3f}', s.draw())
    console.print(head)
    console.print(table)
    if save_path:
        console.save_text(save_path)


def compare_strategies(cfg: Mapping, table: TwoTaskTable, cost: CostModel,
                       budgets: Sequence[float]) -> list[dict]:
    """Best tree layout vs best task grouping at each budget (in backbone-equivalents)."""
    options = _recommender_options(cfg)
    weights = options.get('task_weights', 'svde')
    rows = []
    for k in budgets:
        budget = Budget(max_models=float(k))
        row = dict(max_models=float(k))
        try:
            tree = recommend(table, cost, budget, topk=1, task_weights=weights,
                             csv_rows=0, max_layouts=options.get('max_layouts', 50_000_000)).top[0]
            row.update(tree_score=tree.score, tree_flops=tree.flops, tree_models=tree.models,
                       tree_layout=tree.layout.short())
        except BudgetError:
            row.update(tree_score=None, tree_flops=None, tree_models=None, tree_layout=None)
        try:
            result = recommend_task_groups(table, cost, budget, topk=1, task_weights=weights,
                                           **grouping_options(cfg))
            group = result.top[0]
            row.update(grouping_score=group.score,
                       grouping_score_tree_estimator=tree_estimator_score(
                           group, table, result.weights),
                       grouping_flops=group.flops, grouping_models=group.models,
                       grouping=json.dumps(group.groups))
        except BudgetError:
            row.update(grouping_score=None, grouping_score_tree_estimator=None,
                       grouping_flops=None, grouping_models=None, grouping=None)
        # the winner is decided on one scale: the tree estimator applied to both
        scores = [(row['tree_score'], 'tree'),
                  (row['grouping_score_tree_estimator'], 'task grouping')]
        scores = [s for s in scores if s[0] is not None]
        row['winner'] = max(scores)[1] if scores else None
        if len(scores) == 2 and abs(scores[0][0] - scores[1][0]) <= 1e-12:
            row['winner'] = 'tie'
        rows.append(row)
    return rows


def tree_estimator_score(solution, table: TwoTaskTable, weights) -> float:
    """A grouping scored with the tree recommender's estimator, for a like-for-like comparison.

    Each task's chosen network is an all-shared tree over its members, so the tree estimator
    gives ``sum_{j in network, j != i} A[i, j, B] / (T - 1)`` (tasks outside the network count
    as separate, 0); Standley's approximation divides by ``|network| - 1`` instead. A
    half-width single-task network keeps its measured value.
    """
    tasks = list(table.tasks)
    num_tasks, branch = len(tasks), table.num_blocks
    total = 0.0
    for i, task in enumerate(tasks):
        network = solution.networks[solution.chosen[task]]
        if network.half_width:
            estimate = solution.estimates[task]
        else:
            estimate = sum(table.values[i, tasks.index(j), branch]
                           for j in network.tasks if j != task) / max(num_tasks - 1, 1)
        total += float(weights[i]) * estimate
    return total


def write_comparison(rows: list[dict], cost: CostModel, work_dir: str) -> dict[str, str]:
    """compare.json, compare.csv and compare.png (score vs budget for both strategies)."""
    os.makedirs(work_dir, exist_ok=True)
    paths = {n: osp.join(work_dir, n) for n in ('compare.json', 'compare.csv', 'compare.png')}
    _atomic_write(paths['compare.json'], lambda f: json.dump(rows, f, indent=2))

    def write_csv(f):
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _atomic_write(paths['compare.csv'], write_csv)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for key, label, marker in (('tree_score', 'best tree layout', 'o'),
                               ('grouping_score_tree_estimator',
                                'best task grouping (tree estimator)', 's'),
                               ('grouping_score', 'best task grouping (Standley estimator)',
                                '^')):
        pts = [(r['max_models'], r[key]) for r in rows if r[key] is not None]
        if pts:
            ax.plot(*zip(*pts), marker=marker, label=label)
    ax.set_xlabel('budget (backbone-equivalents of FLOPs)')
    ax.set_ylabel('estimated score (weighted relative performance, %)')
    ax.set_title('Tree layouts vs task grouping on the same two-task results')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths['compare.png'])
    plt.close(fig)
    return paths


def print_comparison(rows: list[dict], cost: CostModel, save_path: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..report import _is_tty
    console = Console(width=None if _is_tty() else 200, record=True)
    table = Table(title='Best tree layout vs best task grouping per budget (estimated; the '
                  'winner is decided with the tree estimator applied to both)')
    for name in ('budget (backbones)', 'tree score', f'tree FLOPs ({cost.flops_unit})',
                 'grouping score (tree est.)', 'grouping score (Standley est.)',
                 f'grouping FLOPs ({cost.flops_unit})', 'winner', 'best tree',
                 'best grouping'):
        table.add_column(name, justify='right' if 'score' in name or 'FLOPs' in name
                         or 'budget' in name else 'left')

    def fmt(v, d=3):
        return '-' if v is None else f'{v:.{d}f}'
    for r in rows:
        table.add_row(f'{r["max_models"]:g}', fmt(r['tree_score']), fmt(r['tree_flops']),
                      fmt(r['grouping_score_tree_estimator']), fmt(r['grouping_score']),
                      fmt(r['grouping_flops']), str(r['winner']),
                      r['tree_layout'] or '-', r['grouping'] or '-')
    console.print(table)
    if save_path:
        console.save_text(save_path)


def export_grouping_configs(cfg, rec: GroupingRecommendation, export_dir: str,
                            name: str) -> list[str]:
    """One training config per grouping: one all-shared network per group; each task's head
    is used from its chosen network (``TaskGroupingModel``)."""
    from ..sweep.executor import run_config
    os.makedirs(export_dir, exist_ok=True)
    paths = []
    for s in rec.top:
        base = run_config(cfg, list(rec.tasks), None, osp.join('work_dirs', f'{name}_group{s.rank}'),
                          f'{name}_group{s.rank}', keep_checkpoints=True)
        model = dict(type='TaskGroupingModel', backbone=copy.deepcopy(cfg.model.backbone),
                     tasks={t: copy.deepcopy(cfg.task_heads[t]) for t in rec.tasks},
                     groups=s.groups, chosen=s.chosen,
                     half_width=[n.half_width for n in s.networks])
        if any(n.half_width for n in s.networks):
            if not cfg.get('half_width_backbone'):
                raise ValueError(f'grouping rank {s.rank} uses half-width networks; set '
                                 '`half_width_backbone` (a TimmBlockBackbone config) to export it')
            model['half_width_backbone'] = copy.deepcopy(cfg.half_width_backbone)
        base.model = model
        for key in ('sweep', 'recommender', 'two_task_table', 'experiment_name'):
            base.pop(key, None)
        base.recommendation = dict(strategy='task_grouping', rank=s.rank, score=s.score,
                                   estimates=s.estimates, groups=s.groups, chosen=s.chosen,
                                   models=s.models, source=cfg.filename)
        path = osp.join(export_dir, f'group{s.rank}_{name}.py')
        base.dump(path)
        paths.append(path)
    return paths
