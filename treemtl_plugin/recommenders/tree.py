"""The tree recommender (Zhang, Liu & Guan 2022): the top-k tree layouts under a budget.

Scores layouts with the task accuracy estimator and either enumerates the whole design space or,
when it is too large, runs the exact branch-and-bound search (same top-k and Pareto front).
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..checks import check_bool, check_choice, check_int
from ..core.cost import CostModel
from ..core.design_space import count_layouts
from ..core.encoding import DEFAULT_CHUNK_ROWS, full_matrix, matrix_to_row
from ..core.estimator import (
    DEFAULT_ESTIMATOR,
    ESTIMATORS,
    TaskAccuracyEstimator,
    build_estimator,
    resolve_task_weights,
)
from ..core.layout import Layout, blocks_from_branch_points
from ..core.ranking import Rows, rank_order
from ..core.search.branch_and_bound import search_pareto_front, search_top_layouts
from ..core.search.enumerate import enumerate_space
from ..core.table import TwoTaskTable
from ..core.uncertainty import probability_best, score_covariance, shrink_table, tied_with_best
from ..errors import ConfigError, SpaceTooLargeError
from ..registry import RECOMMENDERS
from .base import BaseRecommender, Candidate, Recommendation

__all__ = ['TreeCandidate', 'TreeRecommendation', 'TreeRecommender', 'recommend_layouts',
           'SEARCHES']

DEFAULT_MAX_LAYOUTS = 50_000_000
DEFAULT_CSV_ROWS = 200_000
# 'auto' enumerates spaces up to this size (T=7 with B=5 is 2.2 M) and searches beyond it
DEFAULT_SEARCH_THRESHOLD = 5_000_000
SEARCHES = ('auto', 'enumerate', 'branch_and_bound')


@dataclass
class TreeCandidate(Candidate):
    """A recommended tree layout."""
    layout: Layout = None
    sets_per_block: list[int] = field(default_factory=list)

    def structure(self) -> dict:
        return dict(layout=self.layout.to_list(), sets_per_block=self.sets_per_block)

    def draw(self) -> str:
        return self.layout.draw()

    def short(self) -> str:
        return self.layout.short()


@dataclass
class TreeRecommendation(Recommendation):
    """Top-k layouts, the Pareto front and the best evaluated layouts (for layouts.csv)."""
    candidates_name = 'recommended layouts'
    num_blocks: int = 0
    num_layouts: int = 0
    num_within_budget: int | None = None     # None when the space was searched
    evaluated: Rows | None = None
    search_nodes: int = 0                    # partial layouts the exact search generated
    estimator: TaskAccuracyEstimator | None = field(default=None, repr=False)

    @property
    def evaluated_is_complete(self) -> bool:
        return len(self.evaluated) == self.num_layouts

    @property
    def summary_line(self) -> str:
        budget = self.budget.describe(self.cost_model)
        head = f'{len(self.tasks)} tasks over {self.num_blocks} branching points: '
        if self.num_within_budget is None:
            return (head + f'{self.num_layouts:,} layouts, top-{len(self.top)} and Pareto front '
                    f'found by {self.search} in {self.seconds:.2f} s ({self.search_nodes:,} '
                    f'partial layouts generated); budget: {budget}.')
        return (head + f'{self.num_layouts:,} layouts evaluated by {self.search} in '
                f'{self.seconds:.2f} s; {self.num_within_budget:,} within budget ({budget}).')

    @property
    def csv_name(self) -> str:
        return 'layouts.csv'

    def evaluated_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ev = self.evaluated
        return ev.flops, ev.scores, ev.within_budget

    @property
    def space_description(self) -> str:
        n = len(self.evaluated)
        return f'{n:,} layouts' if self.evaluated_is_complete else f'best {n:,} layouts'

    def csv_rows(self) -> Iterator[list]:
        ev = self.evaluated
        yield (['rank', 'score'] + [f'est_{t}' for t in self.tasks] +
               ['flops', 'flops_ratio', 'models', 'params', 'within_budget', 'layout'])
        est = self.estimator.estimates_matrix(ev.branch_points)
        backbone = self.cost_model.backbone_flops
        full = full_matrix(ev.branch_points, len(self.tasks), self.num_blocks)
        for k in range(len(ev)):
            layout = json.dumps(blocks_from_branch_points(self.tasks, full[k], self.num_blocks))
            yield ([k + 1, repr(float(ev.scores[k]))] + [repr(float(v)) for v in est[k]] +
                   [repr(float(ev.flops[k])),
                    repr(float(ev.flops[k] / (len(self.tasks) * backbone))),
                    repr(float(ev.flops[k] / backbone)),
                    '' if ev.params is None else repr(float(ev.params[k])),
                    int(bool(ev.within_budget[k])), layout])

    def summary(self) -> dict:
        return dict(super().summary(), num_blocks=self.num_blocks,
                    num_layouts=self.num_layouts, num_within_budget=self.num_within_budget,
                    search_nodes=self.search_nodes,
                    evaluated_csv_complete=self.evaluated_is_complete)

    def coefficients(self, candidates: list[TreeCandidate]) -> np.ndarray:
        """The estimator's coefficients (N, T, T, B+1) of ``candidates``' layouts."""
        rows = np.stack([matrix_to_row(c.layout.with_tasks(self.tasks).branch_points())
                         for c in candidates])
        return self.estimator.coefficients(rows)

    def candidates_from_rows(self, rows: Rows, start_rank: int = 1) -> list[TreeCandidate]:
        return _candidates(rows, self.tasks, self.num_blocks, self.estimator, self.cost_model,
                           start_rank)


def _candidates(rows: Rows, tasks, num_blocks, estimator, cost,
                start_rank: int = 1) -> list[TreeCandidate]:
    """Materialise compact rows as :class:`TreeCandidate` objects."""
    if len(rows) == 0:
        return []
    full = full_matrix(rows.branch_points, len(tasks), num_blocks)
    est = estimator.estimates_matrix(rows.branch_points)
    head_flops, head_params = cost.head_flops_total(tasks), cost.head_params_total(tasks)
    out = []
    for k in range(len(rows)):
        layout = Layout.from_branch_points(tasks, full[k], num_blocks)
        flops = float(rows.flops[k])
        out.append(TreeCandidate(
            rank=start_rank + k, score=float(rows.scores[k]),
            estimates={t: float(est[k, i]) for i, t in enumerate(tasks)},
            flops=flops, flops_ratio=flops / (len(tasks) * cost.backbone_flops),
            models=flops / cost.backbone_flops,
            params=None if rows.params is None else float(rows.params[k]),
            head_flops=head_flops, head_params=head_params,
            within_budget=bool(rows.within_budget[k]), layout=layout,
            sets_per_block=layout.sets_per_block().tolist()))
    return out


@RECOMMENDERS.register_module()
class TreeRecommender(BaseRecommender):
    """Top-k tree layouts under a budget, scored by the task accuracy estimator.

    Args:
        topk: number of layouts to return.
        budget: ``dict(max_flops=, max_flops_ratio=, max_models=, max_params=)``.
        task_weights: ``'svde'`` (the paper's), ``'uniform'``, a list or a ``{task: w}`` dict.
        search: ``'enumerate'`` evaluates the whole space; ``'branch_and_bound'`` runs the
            exact search (same top-k and Pareto front, without enumerating); ``'auto'``
            enumerates spaces of at most ``search_threshold`` layouts and searches larger ones.
        search_threshold: see ``search``.
        csv_rows: how many best layouts (ignoring the budget) to keep for layouts.csv.
        max_layouts: refuse to enumerate larger spaces.
        chunk_rows: layouts per streamed chunk.
        progress: ``progress(done, total)`` after each enumerated chunk.
        prefer: ``'best'`` recommends the highest score; ``'cheapest_tied'`` the cheapest of
            the top-k candidates tied with it (needs a table with measured noise).
        shrink: score an empirical-Bayes table (noisy entries pulled toward a structured
            fit; needs measured noise) instead of the raw one.
        estimator: ``'paper'`` (the mean of a task's two-task values over every other task,
            as published) or ``'blockwise'`` (sharing block ``k`` adds the mean of the pairwise
            marginal effects over the tasks that share it; ``core/estimator.py``). The exact
            search needs ``'paper'``.
    """

    name = 'tree'
    PREFER = ('best', 'cheapest_tied')

    def __init__(self, topk: int = 5, budget=None, task_weights='svde', search: str = 'auto',
                 search_threshold: int = DEFAULT_SEARCH_THRESHOLD,
                 csv_rows: int = DEFAULT_CSV_ROWS, max_layouts: int = DEFAULT_MAX_LAYOUTS,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 progress: Callable[[int, int], None] | None = None,
                 prefer: str = 'best', shrink: bool = False,
                 estimator: str = DEFAULT_ESTIMATOR):
        super().__init__(topk, budget)
        self.estimator = check_choice('recommender.estimator', estimator, tuple(ESTIMATORS))
        check_choice('recommender.search', search, SEARCHES)
        self.prefer = check_choice('recommender.prefer', prefer, self.PREFER)
        self.shrink = check_bool('recommender.shrink', shrink)
        for name, value in (('search_threshold', search_threshold), ('csv_rows', csv_rows),
                            ('max_layouts', max_layouts), ('chunk_rows', chunk_rows)):
            check_int(f'recommender.{name}', value, low=0 if name == 'csv_rows' else 1)
        self.task_weights = task_weights
        self.search = search
        self.search_threshold = int(search_threshold)
        self.csv_rows = int(csv_rows)
        self.max_layouts = int(max_layouts)
        self.chunk_rows = int(chunk_rows)
        self.progress = progress

    def recommend(self, table: TwoTaskTable, cost: CostModel) -> TreeRecommendation:
        start = time.perf_counter()
        tasks, num_blocks = table.tasks, table.num_blocks
        if cost.num_blocks != num_blocks:
            raise ConfigError(f'the cost model has {cost.num_blocks} blocks but the two-task '
                              f'table {table.source} has B={num_blocks} branching points; give '
                              'one block_flops entry per branching point')
        self.budget.check_feasible(cost, tasks)
        if self.shrink and table.noise is not None:
            table = dataclasses.replace(table, values=shrink_table(table.values, table.noise))
        limits = self.budget.limits(cost, tasks)
        total = count_layouts(len(tasks), num_blocks)
        search = self.search == 'branch_and_bound' or (self.search == 'auto'
                                                       and total > self.search_threshold)
        if search and not ESTIMATORS[self.estimator].additive:
            raise SpaceTooLargeError(
                f'{len(tasks)} tasks over {num_blocks} blocks give {total:,} layouts, above '
                f'what is enumerated (search_threshold={self.search_threshold:,}), and the '
                f'exact search needs an estimator that adds up over pairs: use '
                f"estimator='paper' here, or fewer tasks or coarser branching points, or raise "
                f'search_threshold (enumeration: about 1 s per million layouts).')
        if not search and total > self.max_layouts:
            raise SpaceTooLargeError(
                f'{len(tasks)} tasks over {num_blocks} blocks give {total:,} layouts, above the '
                f'enumeration limit max_layouts={self.max_layouts:,}. Use '
                "search='branch_and_bound' (or 'auto'), fewer tasks or coarser branching points, "
                'or raise the limit.')
        weights, note = resolve_task_weights(table.values, tasks, self.task_weights)
        estimator = build_estimator(self.estimator, table.values, weights)
        common = dict(strategy=type(self).__name__, tasks=tasks, weights=weights,
                      weights_note=note, budget=self.budget, cost_model=cost,
                      num_blocks=num_blocks, num_layouts=total, estimator=estimator)
        if search:
            top = search_top_layouts(estimator, cost, limits, self.topk)
            front = search_pareto_front(estimator, cost, limits)
            rec = TreeRecommendation(top=[], search='exact search (branch-and-bound)',
                                     seconds=0.0, num_within_budget=None,
                                     search_nodes=top.nodes + front.nodes, **common)
            top_rows, front_rows = top.rows, front.rows
            both = top_rows.concat(front_rows)
            rec.evaluated = both.take(rank_order(both.scores, both.flops, both.branch_points))
        else:
            result = enumerate_space(estimator, cost, limits, self.topk, self.csv_rows,
                                     self.chunk_rows, self.progress, total)
            rec = TreeRecommendation(top=[], search='enumeration', seconds=0.0,
                                     num_within_budget=result.num_within_budget,
                                     evaluated=result.evaluated, **common)
            top_rows, front_rows = result.top, result.front
        rec.top = rec.candidates_from_rows(top_rows)
        rec.pareto = rec.candidates_from_rows(front_rows, start_rank=0)
        for item in rec.pareto:
            item.rank = 0   # the front is ordered by cost, not by score
        rec.uncertainty_note = attach_uncertainty(
            rec.top, weights, table.noise,
            None if table.noise is None or not rec.top else rec.coefficients(rec.top))
        if self.shrink:
            rec.uncertainty_note += ('; scored on the shrunk (empirical-Bayes) table'
                                     if table.noise is not None else
                                     '; shrink=True needs the noise too: the raw table is scored')
        if self.prefer == 'cheapest_tied':
            rec.uncertainty_note += '; ' + prefer_cheapest_tied(rec.top, cost.flops_unit)
        rec.seconds = time.perf_counter() - start
        return rec

    def model_override(self, base_model: Mapping, candidate: TreeCandidate) -> dict:
        return dict(layout=candidate.layout.to_list())


def attach_uncertainty(top: list[TreeCandidate], weights, noise, coefficients) -> str:
    """Give each candidate its score's SE, P(best among the top-k) and whether it is tied
    with the best (``core/uncertainty.py``; ``coefficients``: the candidates' estimator
    coefficients); returns what the report says about it."""
    if noise is None:
        return ('no error bars: the two-task table has one seed per entry; sweep.seeds=2 (or '
                'more) measures its noise and gives every score an SE')
    if not top:
        return ''
    cov = score_covariance(coefficients, weights, noise)
    scores = [c.score for c in top]
    p_best = probability_best(scores, cov)
    tied = tied_with_best(scores, cov)
    for k, candidate in enumerate(top):
        candidate.score_se = float(np.sqrt(max(cov[k, k], 0.0)))
        candidate.p_best = float(p_best[k])
        candidate.tied_with_best = bool(tied[k])
    return (f'score ± SE from the seed noise of the table ({noise.seeds} seeds: entries and '
            f'single-task baselines); {int(tied.sum())} of the top {len(top)} within one SE '
            'of a difference of the best')


def prefer_cheapest_tied(top: list[TreeCandidate], flops_unit: str) -> str:
    """Move the cheapest candidate tied with the best to rank 1 (in place); says what it
    saves, or why nothing changed."""
    tied = [c for c in top if c.tied_with_best and c.within_budget]
    if not tied:
        return "prefer='cheapest_tied' needs error bars: the best-scoring layout is kept"
    cheapest = min(tied, key=lambda c: (c.flops, c.rank))
    if cheapest is top[0]:
        return "prefer='cheapest_tied': the best-scoring layout is also the cheapest tied one"
    best = top[0]
    top.remove(cheapest)
    top.insert(0, cheapest)
    old_rank = cheapest.rank
    for rank, candidate in enumerate(top, 1):
        candidate.rank = rank
    return (f"prefer='cheapest_tied': the layout ranked {old_rank} by score is recommended, "
            f'tied with the best-scoring one (score {cheapest.score:.3f} vs {best.score:.3f}) '
            f'at {cheapest.flops:.4g} instead of {best.flops:.4g} {flops_unit} '
            f'({100 * (1 - cheapest.flops / best.flops):.0f}% less)')


def recommend_layouts(table: TwoTaskTable, cost_model: CostModel, budget=None, topk: int = 5,
                      task_weights='svde', **options) -> TreeRecommendation:
    """The top-``topk`` tree layouts within ``budget`` (see :class:`TreeRecommender`)."""
    return TreeRecommender(topk=topk, budget=budget, task_weights=task_weights,
                           **options).recommend(table, cost_model)

