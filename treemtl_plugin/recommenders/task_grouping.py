"""Task grouping (Standley et al., ICML 2020) as a recommender on the same two-task results.

A grouping is a set of networks, each a whole backbone shared by a group of tasks; a task may
sit in several networks and is served by its best one. The exact search is in
:mod:`treemtl_plugin.core.search.task_grouping`.
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..checks import is_number
from ..core.cost import CostModel
from ..core.estimator import resolve_task_weights
from ..core.search.task_grouping import GroupingCandidates, Network, budget_units, search_groupings
from ..core.table import TwoTaskTable
from ..errors import BudgetError, ConfigError
from ..registry import RECOMMENDERS
from .base import BaseRecommender, Candidate, Recommendation

__all__ = ['GroupingCandidate', 'GroupingRecommendation', 'TaskGroupingRecommender',
           'recommend_task_groups', 'tree_estimator_score']


@dataclass
class GroupingCandidate(Candidate):
    """A recommended task grouping: its networks and the network that serves each task."""
    networks: list[Network] = field(default_factory=list)
    chosen: dict[str, int] = field(default_factory=dict)   # task -> index into networks

    @property
    def groups(self) -> list[list[str]]:
        return [list(n.tasks) for n in self.networks]

    def structure(self) -> dict:
        return dict(groups=self.groups, half_width=[n.half_width for n in self.networks],
                    chosen=self.chosen,
                    chosen_group={t: list(self.networks[i].tasks)
                                  for t, i in self.chosen.items()})

    def draw(self) -> str:
        lines = ['input']
        for k, net in enumerate(self.networks):
            last = k == len(self.networks) - 1
            served = [t for t, idx in self.chosen.items() if idx == k]
            width = ' (half width)' if net.half_width else ''
            lines.append(f'{"└── " if last else "├── "}network {k + 1}{width}: '
                         f'{", ".join(net.tasks)} -> serves {", ".join(served) or "-"}')
        return '\n'.join(lines)

    def short(self) -> str:
        return ' · '.join('{' + ', '.join(n.tasks) + '}' + (' (½)' if n.half_width else '')
                          for n in self.networks)


@dataclass
class GroupingRecommendation(Recommendation):
    """Top-k task groupings."""
    candidates_name = 'task groupings'
    num_candidates: int = 0
    max_models: float = 0.0
    expansions: int = 0

    @property
    def summary_line(self) -> str:
        return (f'Task grouping (Standley et al. 2020) for {len(self.tasks)} tasks: '
                f'{self.num_candidates} candidate networks, exact search in '
                f'{self.seconds:.2f} s, budget: {self.budget.describe(self.cost_model)} '
                f'(<= {self.max_models:g} backbones).')

    @property
    def csv_name(self) -> str:
        return 'groupings.csv'

    def csv_rows(self) -> Iterator[list]:
        yield (['rank', 'score'] + [f'est_{t}' for t in self.tasks]
               + ['models', 'flops', 'flops_ratio', 'params', 'groups', 'chosen'])
        for s in self.top:
            yield ([s.rank, repr(s.score)] + [repr(s.estimates[t]) for t in self.tasks]
                   + [s.models, repr(s.flops), repr(s.flops_ratio),
                      '' if s.params is None else repr(s.params),
                      json.dumps(s.groups), json.dumps(s.chosen)])

    def summary(self) -> dict:
        return dict(super().summary(), num_candidates=self.num_candidates,
                    max_models=self.max_models, expansions=self.expansions)


@RECOMMENDERS.register_module()
class TaskGroupingRecommender(BaseRecommender):
    """Exact top-k task groupings under a budget (Standley et al., ICML 2020).

    Args:
        topk, budget: as for every recommender.
        task_weights: ``'uniform'`` (default: Standley et al.'s objective, the plain sum of
            the tasks' performance), ``'svde'``, a list or a ``{task: w}`` dict.
        half_width: ``{task: relative perf}`` of half-width single-task networks (cost 1/2).
        measured_groups: measured per-task values of groups of 3+ tasks, as
            ``[dict(tasks=[...], perf={task: value}), ...]`` or ``{(tasks...): {task: v}}``.
        half_width_backbone: backbone config of the half-width networks (to export them).
    """

    name = 'task_grouping'

    def __init__(self, topk: int = 5, budget=None, task_weights='uniform',
                 half_width: Mapping[str, float] | None = None,
                 measured_groups=None, half_width_backbone: Mapping | None = None):
        super().__init__(topk, budget)
        self.task_weights = task_weights
        if half_width is not None and not (isinstance(half_width, Mapping) and all(
                isinstance(k, str) and is_number(v) for k, v in half_width.items())):
            raise ConfigError(f'recommender.half_width={half_width!r}: give the relative '
                              'performance (%) of half-width single-task networks as '
                              "{task: number}, e.g. dict(depth_zbuffer=-1.5)")
        if half_width_backbone is not None and not isinstance(half_width_backbone, Mapping):
            raise ConfigError(f'recommender.half_width_backbone={half_width_backbone!r}: give '
                              "a backbone config dict, e.g. dict(type='TimmBlockBackbone', ...)")
        self.half_width = half_width
        self.measured_groups = _measured_groups(measured_groups)
        self.half_width_backbone = half_width_backbone

    def recommend(self, table: TwoTaskTable, cost: CostModel) -> GroupingRecommendation:
        start = time.perf_counter()
        tasks = table.tasks
        weights, note = resolve_task_weights(table.values, tasks, self.task_weights)
        cand = GroupingCandidates(table, weights, self.half_width, self.measured_groups)
        limits = self.budget.limits(cost, tasks)
        max_units = budget_units(limits, cost, len(tasks))
        found = search_groupings(cand, max_units, self.topk, self.budget.describe(cost))
        top = [_candidate(rank, key, cand, weights, cost, limits)
               for rank, key in enumerate(found.solutions, start=1)]
        return GroupingRecommendation(
            strategy=type(self).__name__, tasks=tasks, weights=weights, weights_note=note,
            budget=self.budget, cost_model=cost, top=top,
            search='task grouping: exact best-first branch-and-bound with a subset-DP bound',
            seconds=time.perf_counter() - start, num_candidates=len(cand),
            max_models=max_units / 2, expansions=found.expansions)

    def check_feasible(self, cost: CostModel, tasks) -> None:
        if budget_units(self.budget.limits(cost, tasks), cost, len(tasks)) < 2:
            raise BudgetError(
                f'no task grouping fits the budget ({self.budget.describe(cost)}): the '
                'cheapest, one network shared by all tasks, costs 1 backbone-equivalent '
                f'({cost.backbone_flops:g} {cost.flops_unit} + heads).')

    def model_override(self, base_model: Mapping, candidate: GroupingCandidate) -> dict:
        model = dict(_delete_=True, type='TaskGroupingModel',
                     backbone=copy.deepcopy(base_model['backbone']),
                     tasks=copy.deepcopy(dict(base_model['tasks'])),
                     task_groups=candidate.groups, chosen=dict(candidate.chosen),
                     half_width=[n.half_width for n in candidate.networks])
        if any(n.half_width for n in candidate.networks):
            if not self.half_width_backbone:
                raise ConfigError(f'grouping rank {candidate.rank} uses half-width networks; '
                                  'set recommender.half_width_backbone (a TimmBlockBackbone '
                                  'config) to export it')
            model['half_width_backbone'] = copy.deepcopy(dict(self.half_width_backbone))
        if 'data_preprocessor' in base_model:
            model['data_preprocessor'] = copy.deepcopy(base_model['data_preprocessor'])
        return model


def _measured_groups(measured):
    """Config form ``[dict(tasks=[...], perf={...}), ...]`` or a ``{tasks: perf}`` mapping."""
    if not measured:
        return None
    if isinstance(measured, Mapping):
        return dict(measured)
    out = {}
    for item in measured:
        if not isinstance(item, Mapping) or set(item) != {'tasks', 'perf'}:
            raise ConfigError('measured_groups entries must be dict(tasks=[...], '
                              f'perf={{task: value}}), got {item!r}')
        out[tuple(item['tasks'])] = item['perf']
    return out


def _candidate(rank, key, cand: GroupingCandidates, weights, cost: CostModel,
               limits) -> GroupingCandidate:
    tasks = cand.tasks
    n = len(tasks)
    nets = [(Network(tuple(tasks[i] for i in range(n) if cand.masks[c] >> i & 1),
                     cand.half[c]), c) for c in key]
    # display order: full networks before half-width ones, then by their tasks' order
    nets.sort(key=lambda nc: (nc[0].half_width, [tasks.index(t) for t in nc[0].tasks]))
    networks = [nc[0] for nc in nets]
    chosen, estimates = {}, {}
    for i, task in enumerate(tasks):
        scores = [cand.perf[c, i] for _, c in nets]
        k = int(np.argmax(scores))          # first best network wins ties
        chosen[task] = k
        estimates[task] = float(cand.perf[nets[k][1], i])
    models = sum(n_.cost for n_ in networks)
    flops = models * cost.backbone_flops
    params = None if not cost.has_params else models * cost.backbone_params
    ok = bool(limits.allows(np.array([flops]),
                            None if params is None else np.array([params]))[0])
    score = float(sum(weights[i] * estimates[t] for i, t in enumerate(tasks)))
    return GroupingCandidate(rank=rank, score=score, estimates=estimates, models=models,
                             flops=flops, flops_ratio=flops / (n * cost.backbone_flops),
                             params=params, head_flops=cost.head_flops_total(tasks),
                             head_params=cost.head_params_total(tasks), within_budget=ok,
                             networks=networks, chosen=chosen)


def recommend_task_groups(table: TwoTaskTable, cost_model: CostModel, budget=None,
                          topk: int = 5, task_weights='uniform', **options
                          ) -> GroupingRecommendation:
    """Exact top-``topk`` task groupings under ``budget`` (see :class:`TaskGroupingRecommender`)."""
    return TaskGroupingRecommender(topk=topk, budget=budget,
                                   task_weights=task_weights, **options).recommend(table,
                                                                                   cost_model)


def tree_estimator_score(candidate: GroupingCandidate, table: TwoTaskTable, weights) -> float:
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
        network = candidate.networks[candidate.chosen[task]]
        if network.half_width:
            estimate = candidate.estimates[task]
        else:
            estimate = sum(table.values[i, tasks.index(j), branch]
                           for j in network.tasks if j != task) / max(num_tasks - 1, 1)
        total += float(weights[i]) * estimate
    return total
