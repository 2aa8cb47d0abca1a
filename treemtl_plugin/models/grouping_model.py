"""``TaskGroupingModel``: the networks of a task grouping (Standley et al., ICML 2020).

A grouping is a set of networks, each a whole backbone shared by a group of tasks (an
all-shared :class:`TreeMultiTaskModel` over the group). A task may belong to several networks:
it is trained in every one of them (each network learns from all its members, which is where
the multi-task benefit comes from), but at inference it uses only the head of its *chosen*
network. Networks flagged half-width are built from ``half_width_backbone``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from ..checks import is_int
from ..errors import ConfigError
from ..registry import MODELS
from .tree_model import TreeMultiTaskModel, collate_targets


@MODELS.register_module()
class TaskGroupingModel(BaseModel):
    """mmengine model of a task grouping: one all-shared network per group.

    Args:
        backbone: config of a ``TimmBlockBackbone`` (or a module, deep-copied per network);
            every full-width network builds its own copy from it.
        tasks: ``{task: dict(head=..., loss=..., loss_weight=1.0)}`` for every task; each
            network gets the entries of its members (``in_channels`` of a head is filled from
            that network's backbone).
        task_groups: the task list of every network, e.g.
            ``[['seg', 'depth'], ['depth', 'normal']]`` (formerly ``groups``).
        chosen: ``{task: index into task_groups}``: the network whose head serves the task at
            inference; the group must contain the task. Every task needs an entry.
        half_width_backbone: backbone config of the half-width networks.
        half_width: one flag per group (default: all full width).
        data_preprocessor: mmengine data preprocessor config (default: moves data to device).

    Forward modes: ``'tensor'`` -> ``{task: prediction of its chosen network}``; ``'loss'`` ->
    ``{'loss_{task}@net{k}': value}`` for every member of every network (mmengine sums them);
    ``'predict'`` -> one ``{'pred': {task: ...}, 'gt': {...}}`` dict per sample, from the chosen
    networks. Networks that serve no task at inference are skipped in 'tensor'/'predict'.
    """

    def __init__(self, backbone: dict | nn.Module, tasks: Mapping[str, Mapping],
                 task_groups: Sequence[Sequence[str]], chosen: Mapping[str, int],
                 half_width_backbone: dict | nn.Module | None = None,
                 half_width: Sequence[bool] | None = None,
                 data_preprocessor: dict | None = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not tasks:
            raise ConfigError('TaskGroupingModel needs at least one task in `tasks`')
        self.task_names = list(tasks)
        self.task_groups = _check_groups(task_groups, self.task_names)
        self.chosen = _check_chosen(chosen, self.task_groups, self.task_names)
        self.half_width = _check_half_width(half_width, self.task_groups, half_width_backbone)

        self.networks = nn.ModuleList()
        for k, group in enumerate(self.task_groups):
            source = half_width_backbone if self.half_width[k] else backbone
            try:
                network = TreeMultiTaskModel(
                    backbone=copy.deepcopy(source),
                    tasks={t: copy.deepcopy(dict(tasks[t])) for t in group}, layout=None)
            except ConfigError as err:
                raise ConfigError(f'network {k} (group {list(group)}): {err}') from None
            self.networks.append(network)

    # -- structure ----------------------------------------------------------------------
    @property
    def deployed_networks(self) -> list[int]:
        """Indices of the networks that serve at least one task at inference."""
        return sorted(set(self.chosen.values()))

    def chosen_network(self, task: str) -> TreeMultiTaskModel:
        """The network whose head serves ``task`` at inference."""
        if task not in self.chosen:
            raise KeyError(f'unknown task {task!r}; tasks are {self.task_names}')
        return self.networks[self.chosen[task]]

    def deployed_parameters(self) -> int:
        """Parameters a deployment needs: the backbone of every network that serves a task
        (with ``chosen`` covering all networks: every group's backbone) plus only the chosen
        heads; heads of non-chosen (training-only) memberships are dropped."""
        total = 0
        for k in self.deployed_networks:
            total += sum(p.numel() for p in self.networks[k].branches.parameters())
        for task, k in self.chosen.items():
            total += sum(p.numel() for p in self.networks[k].heads[task].parameters())
        return total

    # -- forward ------------------------------------------------------------------------
    def predict_tasks(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{task: prediction of its chosen network}``; each deployed network runs once."""
        by_network = {k: self.networks[k].predict_tasks(inputs) for k in self.deployed_networks}
        return {task: by_network[self.chosen[task]][task] for task in self.task_names}

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        """mmengine contract: 'tensor' -> {task: pred}; 'loss' -> {loss_task@netk: value};
        'predict' -> one dict per sample with 'pred' (and 'gt' when targets are given)."""
        if mode not in ('tensor', 'loss', 'predict'):
            raise ConfigError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        if mode == 'loss':
            targets = collate_targets(data_samples)
            losses = {}
            for k, network in enumerate(self.networks):
                for key, value in network(inputs, targets, mode='loss').items():
                    losses[f'{key}@net{k}'] = value
            return losses
        preds = self.predict_tasks(inputs)
        if mode == 'tensor':
            return preds
        targets = collate_targets(data_samples)
        results = []
        for i in range(inputs.shape[0]):
            item = {'pred': {t: preds[t][i].detach() for t in self.task_names}}
            if targets:
                item['gt'] = {t: v[i] for t, v in targets.items() if isinstance(v, torch.Tensor)}
            results.append(item)
        return results


# -- validation -----------------------------------------------------------------------------
def _check_groups(groups, task_names: list[str]) -> list[list[str]]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups:
        raise ConfigError(f'task_groups must be a non-empty list of task lists, got {groups!r}')
    known = set(task_names)
    out = []
    for k, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence):
            raise ConfigError(f'group {k} must be a list of task names, got {group!r}')
        group = list(group)
        if not group:
            raise ConfigError(f'group {k} is empty; every network needs at least one task')
        unknown = [t for t in group if t not in known]
        if unknown:
            raise ConfigError(f'group {k} {group} uses unknown task(s) {unknown}; the tasks '
                             f'(keys of `tasks`) are {task_names}')
        duplicated = sorted({t for t in group if group.count(t) > 1})
        if duplicated:
            raise ConfigError(f'group {k} {group} lists task(s) {duplicated} more than once')
        out.append(group)
    covered = {t for group in out for t in group}
    uncovered = [t for t in task_names if t not in covered]
    if uncovered:
        raise ConfigError(f'task(s) {uncovered} are in no group; every task must be trained '
                         f'in at least one network (groups: {out})')
    return out


def _check_chosen(chosen, groups: list[list[str]], task_names: list[str]) -> dict[str, int]:
    if not isinstance(chosen, Mapping):
        raise ConfigError(f'chosen must be a dict {{task: group index}}, got {chosen!r}')
    unknown = [t for t in chosen if t not in task_names]
    if unknown:
        raise ConfigError(f'chosen names unknown task(s) {unknown}; the tasks are {task_names}')
    out = {}
    for task in task_names:
        member_of = [k for k, group in enumerate(groups) if task in group]
        if task not in chosen:
            raise ConfigError(f'task {task!r} has no chosen network; chosen[{task!r}] must be '
                             f'one of the groups containing it: {member_of}')
        k = chosen[task]
        if not is_int(k):
            raise ConfigError(f'chosen[{task!r}] must be a group index (int), got {k!r}')
        k = int(k)
        if not 0 <= k < len(groups):
            raise ConfigError(f'chosen[{task!r}] = {k} is not a group index (0..{len(groups) - 1})')
        if k not in member_of:
            raise ConfigError(f'chosen[{task!r}] = {k} but group {k} {groups[k]} does not contain '
                             f'{task!r}; it is in group(s) {member_of}')
        out[task] = k
    return out


def _check_half_width(half_width, groups: list[list[str]], half_width_backbone) -> list[bool]:
    if half_width is None:
        return [False] * len(groups)
    if isinstance(half_width, (str, bytes)) or not isinstance(half_width, Sequence):
        raise ConfigError(f'half_width must be a list of booleans (one per group), '
                         f'got {half_width!r}')
    if len(half_width) != len(groups):
        raise ConfigError(f'half_width has {len(half_width)} flags but there are {len(groups)} '
                         'groups; give one flag per group')
    flags = [bool(f) for f in half_width]
    if half_width_backbone is None:
        for k, flag in enumerate(flags):
            if flag:
                raise ConfigError(f'group {k} {groups[k]} is half-width but no '
                                 '`half_width_backbone` config is given')
    return flags
