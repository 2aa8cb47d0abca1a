"""One result interface for every recommendation strategy.

A strategy (tree layouts, task grouping) returns a :class:`Recommendation` whose ``top`` holds
:class:`Candidate` objects. Everything downstream -- the printed report, the plots, the JSON/CSV
writers, config export and ``--train-top`` -- reads only this interface.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import check_int, check_options
from ..core.cost import BUDGET_KEYS, Budget, CostModel
from ..core.table import TwoTaskTable
from ..errors import ConfigError

__all__ = ['Candidate', 'Recommendation', 'BaseRecommender']


@dataclass
class Candidate(ABC):
    """One recommended model: its estimated accuracy and its cost."""
    rank: int
    score: float
    estimates: dict[str, float]
    flops: float                     # backbone FLOPs (block copies)
    flops_ratio: float               # vs T independent backbones
    models: float                    # backbone-equivalents
    params: float | None
    head_flops: float
    head_params: float
    within_budget: bool
    score_se: float | None = None          # from the table's seed noise, when measured
    p_best: float | None = None            # P(best among the top-k), by sampling
    tied_with_best: bool | None = None     # within one SE of a difference of the best

    @property
    def flops_saving(self) -> float:
        """FLOPs saved vs independent models, in % (the paper's "FLOPs -x%")."""
        return 100.0 * (1.0 - self.flops_ratio)

    @abstractmethod
    def structure(self) -> dict:
        """The JSON fields that describe the model (``layout``, or ``groups`` and ``chosen``)."""

    @abstractmethod
    def draw(self) -> str:
        """A multi-line text drawing of the model."""

    @abstractmethod
    def short(self) -> str:
        """A one-line description of the model."""

    def to_dict(self) -> dict:
        return dict(rank=self.rank, **self.structure(), score=self.score,
                    estimates=self.estimates, flops=self.flops, flops_ratio=self.flops_ratio,
                    flops_saving_pct=self.flops_saving, models=self.models,
                    params=self.params, head_flops=self.head_flops,
                    head_params=self.head_params, within_budget=self.within_budget,
                    score_se=self.score_se, p_best=self.p_best,
                    tied_with_best=self.tied_with_best, tree=self.draw())


@dataclass
class Recommendation(ABC):
    """What a recommender returns: the top-k candidates and how they were found."""
    strategy: str                    # registry name of the recommender that ran
    tasks: tuple[str, ...]
    weights: np.ndarray
    weights_note: str
    budget: Budget
    cost_model: CostModel
    top: list[Candidate]
    search: str                       # how the candidates were found
    seconds: float
    pareto: list[Candidate] = field(default_factory=list)   # cheapest first
    table_info: dict | None = None    # where the two-task table came from (sweep.method, cost)
    uncertainty_note: str = ''        # how sure the scores are (or why there are no error bars)

    @property
    @abstractmethod
    def summary_line(self) -> str:
        """One sentence: what was searched, how, how fast, under which budget."""

    #: what the candidates are called in reports
    candidates_name = 'recommendations'

    @property
    @abstractmethod
    def csv_name(self) -> str:
        """File name of the CSV of evaluated candidates."""

    @abstractmethod
    def csv_rows(self) -> Iterator[list]:
        """Header, then one row per evaluated candidate (in rank order)."""

    def evaluated_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(backbone FLOPs, score, within budget) of every evaluated candidate kept (plots)."""
        return (np.array([c.flops for c in self.top]), np.array([c.score for c in self.top]),
                np.array([c.within_budget for c in self.top], dtype=bool))

    @property
    def space_description(self) -> str:
        """What the plot's points are, e.g. '51 layouts'."""
        return f'top-{len(self.top)}'

    def summary(self) -> dict:
        """Everything about the run except the per-candidate rows (recommendation.json)."""
        cost = self.cost_model
        return dict(
            strategy=self.strategy, search=self.search, tasks=list(self.tasks),
            seconds=self.seconds, budget=self.budget.to_dict(),
            budget_text=self.budget.describe(cost),
            task_weights=dict(zip(self.tasks, map(float, self.weights))),
            task_weights_note=self.weights_note,
            flops_unit=cost.flops_unit, params_unit=cost.params_unit,
            flops_convention=cost.flops_convention,
            backbone_flops=cost.backbone_flops, backbone_params=cost.backbone_params,
            block_flops=[float(v) for v in cost.block_flops],
            block_params=None if cost.block_params is None else
            [float(v) for v in cost.block_params],
            pareto=[p.to_dict() for p in self.pareto], two_task_table=self.table_info,
            uncertainty=self.uncertainty_note)


class BaseRecommender(ABC):
    """A registered strategy: turns a two-task table and block costs into a Recommendation.

    ``topk`` and ``budget`` are common to every strategy; subclasses add their own options.
    ``budget`` is a dict of :class:`~treemtl_plugin.core.cost.Budget` limits.
    """

    #: The ``--strategy`` name of the strategy.
    name: str = ''
    #: Keyword arguments every strategy accepts (the rest are strategy-specific).
    common_options = ('topk', 'budget')

    def __init__(self, topk: int = 5, budget: Mapping[str, Any] | Budget | None = None):
        self.topk = check_int('topk', topk, low=1)
        self.budget = as_budget(budget)

    @abstractmethod
    def recommend(self, table: TwoTaskTable, cost: CostModel) -> Recommendation:
        """The top-``topk`` candidates under the budget."""

    def check_feasible(self, cost: CostModel, tasks) -> None:
        """Raise BudgetError if no candidate can fit the budget (checked before training)."""
        self.budget.check_feasible(cost, tasks)

    @abstractmethod
    def model_override(self, base_model: Mapping, candidate: Candidate) -> dict:
        """What to merge onto the config's ``model`` so that it trains ``candidate``
        (mmengine merge rules: ``_delete_=True`` replaces the whole model)."""


def as_budget(budget) -> Budget:
    """A :class:`Budget` from a Budget, a dict of limits or None (no limit)."""
    if budget is None:
        return Budget()
    if isinstance(budget, Budget):
        return budget
    if not isinstance(budget, Mapping):
        raise ConfigError(f'budget must be a dict such as dict(max_models=2), got {budget!r}')
    check_options('budget', budget, BUDGET_KEYS)
    return Budget(**{k: v for k, v in budget.items() if v is not None})
