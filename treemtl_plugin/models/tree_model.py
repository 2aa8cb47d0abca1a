"""``TreeMultiTaskModel``: a tree-structured multi-task network built from a layout.

For every block ``b`` and every task set of ``layout[b]`` the model holds one copy of backbone
block ``b``; all copies start from the same backbone weights (so pretrained weights reach
every branch). A forward pass computes each shared block once and feeds its output to the
child task sets; each task's head reads the last block of its own branch.

Each task head is built under its own random stream, seeded from ``torch.initial_seed()`` and
the task name: a task's head starts from the same weights whatever the other tasks are and in
whatever order they are listed. The state dict records the layout and tasks (``_extra_state``),
so a checkpoint of another layout is refused even when its parameter names and shapes match.
"""
from __future__ import annotations

import copy
import inspect
import zlib
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel

from ..core.layout import Layout, as_layout
from ..errors import CheckpointError, ConfigError, LayoutError
from ..registry import MODELS

_FORMATS = ('NCHW', 'NHWC', 'NLC', 'NC')


@MODELS.register_module()
class TreeMultiTaskModel(BaseModel):
    """mmengine model for a tree layout over a :class:`TimmBlockBackbone`.

    Args:
        backbone: config of a ``TimmBlockBackbone`` (or any module with ``blocks`` and
            ``out_channels``). Its weights (``pretrained=True`` or ``init_cfg=dict(
            type='Pretrained', checkpoint=...)``) are loaded when it is built, so every branch
            copy starts from them.
        tasks: ``{task: dict(head=..., loss=..., loss_weight=1.0)}``; ``in_channels`` of each
            head is filled from the backbone, and ``in_format`` from its ``out_format`` when the
            head takes one (NCHW / NHWC / NLC features).
        layout: the tree (JSON form of ``docs/advanced/method.md``, "Layouts", or a ``Layout``);
            ``None`` = all tasks share the whole backbone.
        data_preprocessor: mmengine data preprocessor config (default: moves data to device).
        channels_last: keep weights and images in channels-last memory format (faster
            convolutions on recent GPUs, especially with bf16).
    """

    def __init__(self, backbone: dict | nn.Module, tasks: Mapping[str, Mapping],
                 layout=None, data_preprocessor: dict | None = None, init_cfg=None,
                 channels_last: bool = False):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not tasks:
            raise ConfigError('TreeMultiTaskModel needs at least one task in `tasks`')
        self.task_names = list(tasks)
        backbone = MODELS.build(backbone) if isinstance(backbone, Mapping) else backbone
        num_blocks = len(backbone.blocks)
        if layout is None:
            layout = Layout.all_shared(self.task_names, num_blocks)
        try:
            layout = as_layout(layout)
        except LayoutError as err:
            raise LayoutError(f'invalid model.layout: {err}') from None
        if set(layout.tasks) != set(self.task_names):
            raise ConfigError(
                f'the layout\'s tasks {sorted(layout.tasks)} do not match the model\'s tasks '
                f'{sorted(self.task_names)} (the `tasks` dict keys); every task needs a head '
                'and a loss, and every layout task must be one of them')
        if layout.num_blocks != num_blocks:
            raise ConfigError(
                f'the layout has {layout.num_blocks} blocks but the backbone has {num_blocks} '
                'branching points; set num_branch_points / block_groups of the backbone to '
                'match the layout, or use a layout with that many blocks')
        self.layout = layout.with_tasks(self.task_names)
        self.backbone_info = dict(
            block_names=list(getattr(backbone, 'block_names', [])),
            block_flops=list(getattr(backbone, 'block_flops', [])),
            block_params=list(getattr(backbone, 'block_params', [])))

        # one copy of block b per task set; the first set reuses the built block itself
        self.branches = nn.ModuleDict()
        self._plan: list[list[tuple[str, frozenset, str | None]]] = []
        parents: dict[frozenset, str | None] = {frozenset(self.task_names): None}
        for b in range(num_blocks):
            row = []
            for k, task_set in enumerate(self.layout.task_sets(b)):
                members = frozenset(task_set)
                parent = next(key for s, key in parents.items() if members <= s)
                key = f'b{b}_s{k}'
                block = backbone.blocks[b]
                self.branches[key] = block if k == 0 else copy.deepcopy(block)
                row.append((key, members, parent))
            self._plan.append(row)
            parents = {members: key for key, members, _ in row}
        self._leaf_of = {t: key for key, members, _ in self._plan[-1] for t in members}

        out_channels = backbone.out_channels
        out_format = getattr(backbone, 'out_format', None)
        base_seed = torch.initial_seed()
        self.heads = nn.ModuleDict()
        self.losses = nn.ModuleDict()
        self.loss_weights: dict[str, float] = {}
        for task, spec in tasks.items():
            spec = dict(spec)
            if 'head' not in spec:
                raise ConfigError(f'task {task!r} has no `head` config (e.g. '
                                 "head=dict(type='LightConvHead', num_outputs=1))")
            if 'loss' not in spec:
                raise ConfigError(f'task {task!r} has no `loss` config (e.g. '
                                 "loss=dict(type='DepthL1Loss'))")
            head_cfg = dict(spec['head'])
            head_cfg.setdefault('in_channels', out_channels)
            if out_format in _FORMATS and 'in_format' not in head_cfg and \
                    _takes_argument(head_cfg.get('type'), 'in_format'):
                head_cfg['in_format'] = out_format
            self.heads[task] = _build_seeded(head_cfg, base_seed, task)
            self.losses[task] = MODELS.build(spec['loss'])
            self.loss_weights[task] = float(spec.get('loss_weight', 1.0))

        self.register_load_state_dict_pre_hook(_fill_missing_extra_state)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    # -- checkpoints --------------------------------------------------------------------
    def get_extra_state(self) -> dict:
        """Saved in the state dict (``_extra_state``): the layout and the task list."""
        return dict(layout=self.layout.to_list(), tasks=list(self.task_names))

    def set_extra_state(self, state) -> None:
        """Refuse a state dict saved from a model with another layout or other tasks
        (``CheckpointError``), even when its parameter names and shapes match."""
        try:
            saved = Layout(state['layout'], tasks=state.get('tasks'))
        except (KeyError, TypeError, AttributeError, LayoutError) as err:
            raise CheckpointError(f'the checkpoint\'s TreeMultiTaskModel record is not a '
                                  f'layout ({type(err).__name__}: {err}); got {state!r}') from None
        if saved != self.layout or set(saved.tasks) != set(self.task_names):
            raise CheckpointError(
                f'the checkpoint was saved from a TreeMultiTaskModel with layout '
                f'{saved.short()} (tasks {list(saved.tasks)}) but this model has layout '
                f'{self.layout.short()} (tasks {list(self.task_names)}); its weights belong to '
                'other branches. Build the model with the checkpoint\'s layout (model.layout = '
                f'{saved.to_json()}) or load a checkpoint of this layout.')

    # -- structure ----------------------------------------------------------------------
    def branch_parameters(self, task: str) -> list[nn.Parameter]:
        """Backbone parameters on ``task``'s path from the input to its head."""
        params = []
        for row in self._plan:
            for key, members, _ in row:
                if task in members:
                    params.extend(self.branches[key].parameters())
        return params

    # -- forward ------------------------------------------------------------------------
    def extract_feats(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Final backbone feature of every task; each shared block runs once."""
        feats: dict[str | None, torch.Tensor] = {None: inputs}
        for row in self._plan:
            current = {}
            for key, _, parent in row:
                current[key] = self.branches[key](feats[parent])
            feats = current
        return {task: feats[self._leaf_of[task]] for task in self.task_names}

    def predict_tasks(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs; dense ones are upsampled to the input resolution."""
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        feats = self.extract_feats(inputs)
        out = {}
        for task in self.task_names:
            pred = self.heads[task](feats[task])
            if getattr(self.heads[task], 'dense', False) and pred.shape[-2:] != inputs.shape[-2:]:
                pred = F.interpolate(pred, size=inputs.shape[-2:], mode='bilinear',
                                     align_corners=False)
            out[task] = pred
        return out

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        """mmengine contract: 'tensor' -> {task: pred}; 'loss' -> {loss_task: value};
        'predict' -> one dict per sample with 'pred' (and 'gt' when targets are given)."""
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        preds = self.predict_tasks(inputs)
        if mode == 'tensor':
            return preds
        targets = collate_targets(data_samples)
        if mode == 'loss':
            missing = [t for t in self.task_names if t not in targets]
            if missing:
                raise ConfigError(f'the batch has no targets for task(s) {missing}; '
                                 f'it has {sorted(targets)}')
            losses = {}
            for task in self.task_names:
                mask = targets.get(f'{task}_mask')
                value = self.losses[task](preds[task], targets[task], mask=mask) \
                    if mask is not None else self.losses[task](preds[task], targets[task])
                losses[f'loss_{task}'] = value * self.loss_weights[task]
            return losses
        if mode == 'predict':
            batch = inputs.shape[0]
            results = []
            for i in range(batch):
                item = {'pred': {t: preds[t][i].detach() for t in self.task_names}}
                if targets:
                    item['gt'] = {t: v[i] for t, v in targets.items()
                                  if isinstance(v, torch.Tensor)}
                results.append(item)
            return results
        raise ConfigError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")


def _fill_missing_extra_state(module, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs) -> None:
    """Load-state-dict pre-hook: a state dict saved before the layout was recorded (no
    ``_extra_state``) loads as before, without a layout check."""
    key = prefix + '_extra_state'
    if key not in state_dict:
        state_dict[key] = module.get_extra_state()


def _takes_argument(head_type, name: str) -> bool:
    """Does the head class registered as ``head_type`` take a ``name`` argument?"""
    cls = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    if not inspect.isclass(cls):
        return False
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def _build_seeded(cfg: dict, base_seed: int, task: str) -> nn.Module:
    """Build ``cfg`` under a random stream of its own, seeded with a stable hash of
    ``(base_seed, task)``; the global random state is left as it was."""
    seed = zlib.crc32(f'{base_seed}:{task}'.encode())
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return MODELS.build(cfg)


def collate_targets(data_samples) -> dict[str, torch.Tensor]:
    """Targets as ``{task: batched tensor}`` from a dict of tensors or a list of dicts."""
    if data_samples is None:
        return {}
    if isinstance(data_samples, Mapping):
        return dict(data_samples)
    if isinstance(data_samples, Sequence) and data_samples and \
            isinstance(data_samples[0], Mapping):
        keys = data_samples[0].keys()
        out = {}
        for key in keys:
            values = [s[key] for s in data_samples]
            if all(isinstance(v, torch.Tensor) for v in values):
                out[key] = torch.stack(values)
            elif all(isinstance(v, (int, float)) for v in values):
                out[key] = torch.as_tensor(values)
        return out
    raise TypeError(f'data_samples must be a dict of tensors or a list of dicts, got '
                    f'{type(data_samples).__name__}')
