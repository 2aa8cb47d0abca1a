"""Cost model (FLOPs, parameters) of tree layouts, and compute budgets.

Each task set at block ``b`` is one copy of block ``b``, so a layout costs
``sum_b |L[b]| * F_b`` backbone FLOPs (same for parameters), plus one head per task (the same for
every layout, reported separately). FLOPs follow fvcore's convention: one fused multiply-add
counts as one FLOP.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..checks import is_number
from ..errors import BudgetError, ConfigError
from .layout import Layout

__all__ = ['FVCORE_CONVENTION', 'BUDGET_RTOL', 'BUDGET_KEYS', 'CostModel', 'Budget',
           'BudgetLimits', 'BudgetError']

FVCORE_CONVENTION = 'fvcore: one fused multiply-add counts as one FLOP'

# Relative slack for budget comparisons: sums of float block costs may differ in the last bits.
BUDGET_RTOL = 1e-9
BUDGET_KEYS = ('max_flops', 'max_flops_ratio', 'max_models', 'max_params')
#: Largest plausible cost of one block or head (in any unit); larger values would overflow
#: the costs of big layouts to infinity.
MAX_COST = 1e15


def _cost_vector(name: str, values, num_blocks: int | None = None) -> np.ndarray:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)) \
            or not all(is_number(v) for v in values):
        raise ConfigError(f'{name} must be a list with one number per block, got {values!r}')
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f'{name} must be a non-empty list with one number per block, got '
                          f'{values!r}')
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f'{name} must be finite and >= 0, got {arr.tolist()}')
    if np.any(arr > MAX_COST):
        raise ConfigError(f'{name} {arr.tolist()} has values above {MAX_COST:g}: not a '
                          'plausible cost per block in any unit (check the unit)')
    if num_blocks is not None and arr.size != num_blocks:
        raise ConfigError(f'{name} has {arr.size} entries but block_flops has {num_blocks}; '
                          'give one value per block')
    return arr


def _head_costs(name: str, value, tasks: Sequence[str]) -> np.ndarray:
    if value is None:
        return np.zeros(len(tasks))
    if isinstance(value, Mapping):
        missing = [t for t in tasks if t not in value]
        if missing:
            raise ConfigError(f'{name} has no entry for task(s) {missing}; give one per task '
                              'or a single number for every head')
        values = [value[t] for t in tasks]
    else:
        values = [value] * len(tasks)
    if not all(is_number(v) for v in values):
        raise ConfigError(f'{name} must be a number or a {{task: number}} dict, got {value!r}')
    arr = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > MAX_COST):
        raise ConfigError(f'{name} must be finite, >= 0 and <= {MAX_COST:g}, got {value!r}')
    return arr


@dataclass(frozen=True)
class CostModel:
    """Per-block backbone costs plus optional per-task head costs.

    ``block_flops``/``block_params`` hold one value per block in the unit of ``flops_unit`` /
    ``params_unit`` (e.g. GFLOPs as fvcore counts them, millions of parameters).
    ``head_flops``/``head_params``: one number for every head, or a ``{task: cost}`` dict.
    ``flops_convention`` says how the FLOPs were counted (shown in every report).
    """
    block_flops: Sequence[float]
    block_params: Sequence[float] | None = None
    head_flops: float | Mapping[str, float] | None = None
    head_params: float | Mapping[str, float] | None = None
    flops_unit: str = 'GFLOPs'
    params_unit: str = 'M'
    flops_convention: str = FVCORE_CONVENTION
    _flops: np.ndarray = field(init=False, repr=False, compare=False)
    _params: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for name, example in (('flops_unit', 'GFLOPs'), ('params_unit', 'M'),
                              ('flops_convention', 'fvcore, one image')):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f'{name} must be a string (a label for reports), got '
                                  f'{getattr(self, name)!r}; e.g. {name}={example!r}')
        flops = _cost_vector('block_flops', self.block_flops)
        params = (None if self.block_params is None else
                  _cost_vector('block_params', self.block_params, flops.size))
        if flops.sum() <= 0:
            raise ConfigError(f'block_flops {flops.tolist()} add up to 0: every layout would '
                              'cost nothing; give the FLOPs of each branching point')
        object.__setattr__(self, '_flops', flops)
        object.__setattr__(self, '_params', params)

    @property
    def num_blocks(self) -> int:
        return self._flops.size

    @property
    def has_params(self) -> bool:
        return self._params is not None

    @property
    def backbone_flops(self) -> float:
        """FLOPs of one whole backbone (the all-shared layout)."""
        return float(self._flops.sum())

    @property
    def backbone_params(self) -> float | None:
        return None if self._params is None else float(self._params.sum())

    def head_flops_total(self, tasks: Sequence[str]) -> float:
        return float(_head_costs('head_flops', self.head_flops, tasks).sum())

    def head_params_total(self, tasks: Sequence[str]) -> float:
        return float(_head_costs('head_params', self.head_params, tasks).sum())

    def flops_of(self, sets_per_block: np.ndarray) -> np.ndarray:
        """Backbone FLOPs from (n, B) block-copy counts; row by row, so a layout's FLOPs are
        bit-identical whatever batch it is computed in."""
        return (np.asarray(sets_per_block, dtype=np.float64) * self._flops).sum(axis=-1)

    def params_of(self, sets_per_block: np.ndarray) -> np.ndarray | None:
        if self._params is None:
            return None
        return (np.asarray(sets_per_block, dtype=np.float64) * self._params).sum(axis=-1)

    def layout_cost(self, layout: Layout) -> dict:
        """Readable cost summary of one layout."""
        counts = layout.sets_per_block()[None]
        flops = float(self.flops_of(counts)[0])
        params = None if self._params is None else float(self.params_of(counts)[0])
        return dict(
            flops=flops, params=params,
            head_flops=self.head_flops_total(layout.tasks),
            head_params=self.head_params_total(layout.tasks),
            flops_ratio=flops / (layout.num_tasks * self.backbone_flops),
            models=flops / self.backbone_flops,
            sets_per_block=counts[0].tolist())


@dataclass(frozen=True)
class BudgetLimits:
    """A budget as upper limits on a layout's *backbone* FLOPs and params (None = no limit).

    Heads are the same in every layout, so a whole-model limit becomes a backbone limit by
    subtracting them. This is the one budget rule: the enumerator, the exact search, task
    grouping and the plots all compare against these numbers.
    """
    flops: float | None
    params: float | None

    def allows(self, flops, params=None) -> np.ndarray:
        """Boolean mask over layouts given their backbone FLOPs (and params)."""
        flops = np.asarray(flops, dtype=np.float64)
        ok = np.ones(flops.shape, dtype=bool)
        if self.flops is not None:
            ok &= flops <= self.flops
        if self.params is not None:
            ok &= np.asarray(params, dtype=np.float64) <= self.params
        return ok


@dataclass(frozen=True)
class Budget:
    """Compute budget; every limit given must hold.

    ``max_flops``/``max_params`` bound the whole model (backbone copies plus heads) in the cost
    model's units. ``max_models`` bounds backbone FLOPs in backbone-equivalents (``k`` models
    <=> ``FLOPs(L) <= k * sum_b F_b``); ``max_flops_ratio`` bounds backbone FLOPs as a fraction
    of ``T`` independent backbones (0.5 = half the cost of separate single-task models).
    """
    max_flops: float | None = None
    max_flops_ratio: float | None = None
    max_models: float | None = None
    max_params: float | None = None

    def __post_init__(self):
        for name in BUDGET_KEYS:
            value = getattr(self, name)
            if value is None:
                continue
            if not (is_number(value) and np.isfinite(value) and value > 0):
                raise ConfigError(f'{name} must be a positive number, got {value!r}')
        if self.max_flops_ratio is not None and self.max_flops_ratio > 1:
            raise ConfigError(f'max_flops_ratio={self.max_flops_ratio} is above 1; it is a '
                              'fraction of the cost of independent models (e.g. 0.6 = 60%)')

    @property
    def is_unlimited(self) -> bool:
        return all(getattr(self, n) is None for n in BUDGET_KEYS)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in BUDGET_KEYS}

    def describe(self, cost: CostModel | None = None) -> str:
        fu = cost.flops_unit if cost else ''
        pu = cost.params_unit if cost else ''
        parts = []
        if self.max_flops is not None:
            parts.append(f'FLOPs <= {self.max_flops:g} {fu}'.rstrip())
        if self.max_flops_ratio is not None:
            parts.append(f'FLOPs <= {100 * self.max_flops_ratio:g}% of independent models')
        if self.max_models is not None:
            parts.append(f'<= {self.max_models:g} backbone-equivalents')
        if self.max_params is not None:
            parts.append(f'params <= {self.max_params:g} {pu}'.rstrip())
        return ', '.join(parts) if parts else 'no budget'

    def limits(self, cost: CostModel, tasks: Sequence[str]) -> BudgetLimits:
        """This budget as limits on backbone FLOPs and params (heads subtracted, slack added)."""
        slack = 1 + BUDGET_RTOL
        one = cost.backbone_flops
        flops = []
        if self.max_flops is not None:
            flops.append(self.max_flops * slack - cost.head_flops_total(tasks))
        if self.max_models is not None:
            flops.append(self.max_models * one * slack)
        if self.max_flops_ratio is not None:
            flops.append(self.max_flops_ratio * len(tasks) * one * slack)
        params = None
        if self.max_params is not None:
            if not cost.has_params:
                raise ConfigError('max_params needs per-block parameter counts: set '
                                  'block_params in the config (one value per block)')
            params = self.max_params * slack - cost.head_params_total(tasks)
        return BudgetLimits(min(flops) if flops else None, params)

    def allows(self, flops: np.ndarray, params: np.ndarray | None, cost: CostModel,
               tasks: Sequence[str]) -> np.ndarray:
        """Boolean mask over layouts given their backbone FLOPs and params."""
        return self.limits(cost, tasks).allows(flops, params)

    def check_feasible(self, cost: CostModel, tasks: Sequence[str]) -> None:
        """Raise :class:`BudgetError` if even the cheapest (all-shared) layout is over budget."""
        params = np.array([cost.backbone_params]) if cost.has_params else None
        if self.allows(np.array([cost.backbone_flops]), params, cost, tasks)[0]:
            return
        hf, hp = cost.head_flops_total(tasks), cost.head_params_total(tasks)
        cheapest = (f'{cost.backbone_flops + hf:g} {cost.flops_unit} '
                    f'({100 / len(tasks):.2f}% of independent models, 1 backbone-equivalent)')
        if cost.has_params:
            cheapest += f', {cost.backbone_params + hp:g} {cost.params_unit} params'
        raise BudgetError(f'no layout fits the budget ({self.describe(cost)}): the cheapest '
                          f'layout, all tasks sharing the whole backbone, costs {cheapest}. '
                          'Raise the budget to at least that.')
