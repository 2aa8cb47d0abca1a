"""Tests for treemtl_plugin.task_grouping (Standley et al., ICML 2020 task grouping).

Ground truth is an independent exhaustive oracle written from the definitions (not from the
implementation's partition / subset-DP branch-and-bound):

* candidates: every non-empty task subset sharing a whole backbone (cost 1; performance 0 for a
  single task, the two-task value at branch B for a pair, the mean of the pair values with the
  other members for >= 3 tasks, unless ``measured_groups`` overrides), then the optional
  half-width single-task networks (cost 1/2) in the order of the ``half_width`` dict;
* a solution is a set of candidates within the budget covering every task; each task takes its
  best network; score = sum_i w_i * best_i; solutions with a network that can be removed without
  losing score or coverage are redundant and dropped;
* ranking: score desc, cost asc, canonical key (sorted candidate indices) asc.

The oracle computes scores exactly (every float is a rational; all weighted performances are
scaled to a common denominator and handled as Python ints), so exact ties are exact ties.
"""
from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

from treemtl_plugin.core.cost import Budget, CostModel
from treemtl_plugin.core.estimator import resolve_task_weights
from treemtl_plugin.core.search.task_grouping import Network
from treemtl_plugin.core.table import TwoTaskTable
from treemtl_plugin.errors import BudgetError
from treemtl_plugin.recommenders import recommend_task_groups

from helpers import ROOT

TASKONOMY_CSV = ROOT / 'configs' / 'paper' / 'data' / 'taskonomy_deeplab_resnet34.csv'
TASKONOMY_GFLOPS = [0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704]
# deliberately not alphabetical: the canonical order is the table's task order
NAMES = ('seg', 'depth', 'normal', 'edge', 'key', 'curv', 'occ', 'rgb', 'sal', 'vp')
SLACK = 1 + 1e-9

pytestmark = pytest.mark.filterwarnings('ignore::UserWarning')


# --------------------------------------------------------------------------- exact oracle


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def oracle_weights(table: TwoTaskTable, spec) -> list[Fraction]:
    """Exact task weights: uniform = 1/T, explicit = w / sum(w), svde = the estimator's floats."""
    n = len(table.tasks)
    if spec == 'uniform':
        return [Fraction(1, n)] * n
    if spec == 'svde':
        weights, _ = resolve_task_weights(table.values, table.tasks, 'svde')
        return [Fraction(float(w)) for w in weights]
    if isinstance(spec, dict):
        spec = [spec[t] for t in table.tasks]
    raw = [Fraction(w) for w in spec]
    return [w / sum(raw) for w in raw]


class Oracle:
    """Candidate networks of a grouping problem with exact integer-scaled weighted values."""

    def __init__(self, table: TwoTaskTable, weights_spec, half_width=None,
                 measured_groups=None):
        tasks = table.tasks
        n = self.n = len(tasks)
        self.tasks = tasks
        index = {t: i for i, t in enumerate(tasks)}
        values = table.values
        branch = table.num_blocks
        override = {}
        for group, perfs in (measured_groups or {}).items():
            mask = 0
            for t in group:
                mask |= 1 << index[t]
            override[mask] = {index[t]: Fraction(float(perfs[t])) for t in group}
        self.names, self.masks, self.units, self.half, perf = [], [], [], [], []
        for mask in range(1, 1 << n):
            members = [i for i in range(n) if mask >> i & 1]
            p = {}
            for i in members:
                others = [Fraction(float(values[i, j, branch])) for j in members if j != i]
                p[i] = sum(others, Fraction(0)) / len(others) if others else Fraction(0)
                p[i] = override.get(mask, {}).get(i, p[i])
            self.names.append((tuple(tasks[i] for i in members), False))
            self.masks.append(mask)
            self.units.append(2)
            self.half.append(False)
            perf.append(p)
        for task, value in (half_width or {}).items():
            self.names.append(((task,), True))
            self.masks.append(1 << index[task])
            self.units.append(1)
            self.half.append(True)
            perf.append({index[task]: Fraction(float(value))})
        self.perf = perf
        self.weights = w = oracle_weights(table, weights_spec)
        weighted = [{i: w[i] * v for i, v in p.items()} for p in perf]
        denom = 1
        for p in weighted:
            for v in p.values():
                denom = _lcm(denom, v.denominator)
        self.denom = denom
        # W[c][i]: exact weighted value * denom (an int); None where task i is not in c
        self.W = [[(int(p[i] * denom) if i in p else None) for i in range(n)]
                  for p in weighted]
        self.full = (1 << n) - 1
        self.index_of = {name: c for c, name in enumerate(self.names)}

    # ------------------------------------------------------------------ set evaluation

    def best(self, key):
        """Per task: (best exact value, number of networks in key attaining it, one of them)."""
        out = []
        for i in range(self.n):
            top, count, arg = None, 0, None
            for c in key:
                v = self.W[c][i]
                if v is None:
                    continue
                if top is None or v > top:
                    top, count, arg = v, 1, c
                elif v == top:
                    count += 1
            out.append((top, count, arg))
        return out

    def all_essential(self, key) -> bool:
        """No network of ``key`` removable without losing score or coverage (exact)."""
        if len(key) == 1:
            return True
        essential = {arg for top, count, arg in self.best(key) if count == 1}
        return essential == set(key)

    def covers(self, key) -> bool:
        mask = 0
        for c in key:
            mask |= self.masks[c]
        return mask == self.full

    def score(self, key) -> int:
        return sum(top for top, _, _ in self.best(key))

    def redundant_by_definition(self, key) -> bool:
        """Literal definition: some network can be dropped keeping coverage and score."""
        if len(key) == 1:
            return False
        value = self.score(key)
        for drop in key:
            rest = tuple(c for c in key if c != drop)
            if self.covers(rest) and self.score(rest) >= value:
                return True
        return False

    # ------------------------------------------------------------------ enumeration

    def brute_force(self, max_units: int) -> list[tuple]:
        """Every candidate subset within ``max_units`` (itertools.combinations by size)."""
        out = []
        cands = range(len(self.masks))
        for size in range(1, len(self.masks) + 1):
            if 2 * size > max_units and min(self.units) * size > max_units:
                break
            for key in itertools.combinations(cands, size):
                units = sum(self.units[c] for c in key)
                if units > max_units or not self.covers(key):
                    continue
                if self.redundant_by_definition(key):
                    continue
                out.append((key, units, self.score(key)))
        return out

    def enumerate(self, max_units: int) -> list[tuple]:
        """Same result as :meth:`brute_force`, faster: extends only all-essential sets.

        Non-redundancy is monotone (adding a network never makes an existing network
        essential again), so a set with a removable network has no non-redundant superset.
        """
        out = []
        ncand = len(self.masks)

        def extend(key, units, start):
            if self.covers(key):
                out.append((key, units, self.score(key)))
            for c in range(start, ncand):
                u = units + self.units[c]
                if u > max_units:
                    continue
                new = key + (c,)
                if self.all_essential(new):
                    extend(new, u, c + 1)

        for c in range(ncand):
            if self.units[c] <= max_units:
                extend((c,), self.units[c], c + 1)
        return out

    @staticmethod
    def rank(solutions, max_units: int, topk: int):
        fit = [s for s in solutions if s[1] <= max_units]
        fit.sort(key=lambda s: (-s[2], s[1], s[0]))
        return fit[:topk]

    def key_of(self, solution) -> tuple[int, ...]:
        return tuple(sorted(self.index_of[(tuple(net.tasks), net.half_width)]
                            for net in solution.networks))

    def as_float(self, exact: int) -> float:
        return float(Fraction(exact, self.denom))


def oracle_units(budget: Budget, cost: CostModel, tasks) -> int:
    """Largest number of half-backbone units within the budget, from the definitions."""
    n = len(tasks)
    one = cost.backbone_flops
    heads_f = cost.head_flops_total(tasks)
    heads_p = cost.head_params_total(tasks)
    best = 0
    for units in range(1, 2 * n + 1):
        models = units / 2
        flops = models * one
        ok = True
        if budget.max_models is not None:
            ok &= models <= budget.max_models * SLACK
        if budget.max_flops_ratio is not None:
            ok &= flops <= budget.max_flops_ratio * n * one * SLACK
        if budget.max_flops is not None:
            ok &= flops + heads_f <= budget.max_flops * SLACK
        if budget.max_params is not None:
            ok &= models * cost.backbone_params + heads_p <= budget.max_params * SLACK
        if ok:
            best = units
    return best


# --------------------------------------------------------------------------- helpers


def random_table(n: int, rng, num_blocks: int = 4, integer: bool = False, lo: int = -2,
                 hi: int = 2) -> TwoTaskTable:
    if integer:
        vals = rng.integers(lo, hi + 1, size=(n, n, num_blocks + 1)).astype(float)
    else:
        vals = rng.normal(0.0, 4.0, size=(n, n, num_blocks + 1))
    vals[:, :, 0] = 0.0
    vals[np.arange(n), np.arange(n), :] = 0.0
    return TwoTaskTable(tasks=NAMES[:n], num_blocks=num_blocks, values=vals)


def cost_for(num_blocks: int, params: bool = True, **kw) -> CostModel:
    flops = [1.0 + 0.5 * b for b in range(num_blocks)]
    return CostModel(block_flops=flops,
                     block_params=[2.0 + b for b in range(num_blocks)] if params else None,
                     **kw)


def random_half(tasks, rng, integer=False):
    chosen = [t for t in tasks if rng.random() < 0.7] or [tasks[-1]]
    rng.shuffle(chosen)                       # dict order matters for the canonical key
    if integer:
        return {t: float(rng.integers(-2, 3)) for t in chosen}
    return {t: float(rng.normal(-1.0, 3.0)) for t in chosen}


def random_measured(tasks, rng, count=3, integer=False):
    out = {}
    n = len(tasks)
    for _ in range(count):
        size = int(rng.integers(2, n + 1))
        group = tuple(sorted(rng.choice(n, size=size, replace=False).tolist()))
        names = tuple(tasks[i] for i in group)
        if integer:
            out[names] = {t: float(rng.integers(-2, 4)) for t in names}
        else:
            out[names] = {t: float(rng.normal(1.0, 4.0)) for t in names}
    return out


def check_against_oracle(rec, oracle: Oracle, solutions, max_units: int, topk: int,
                         label: str = ''):
    expected = Oracle.rank(solutions, max_units, topk)
    got_keys = [oracle.key_of(s) for s in rec.top]
    exp_keys = [s[0] for s in expected]
    assert got_keys == exp_keys, (
        f'{label}: top-{topk} differs\n got      {[oracle.names[c] for k in got_keys for c in k]}'
        f'\n got keys {got_keys}\n expected {exp_keys}\n'
        f' expected scores {[oracle.as_float(s[2]) for s in expected]}\n'
        f' got scores      {[s.score for s in rec.top]}')
    for rank, (sol, (key, units, exact)) in enumerate(zip(rec.top, expected), start=1):
        want = oracle.as_float(exact)
        assert sol.rank == rank
        assert sol.score == pytest.approx(want, rel=1e-9, abs=1e-9), label
        assert sol.models == units / 2
        assert sol.within_budget
        assert [(tuple(n.tasks), n.half_width) for n in sol.networks] == sorted(
            (oracle.names[c] for c in key),
            key=lambda nm: (nm[1], [oracle.tasks.index(t) for t in nm[0]])), label
    return expected


@lru_cache(maxsize=None)
def taskonomy() -> TwoTaskTable:
    return TwoTaskTable.from_csv(TASKONOMY_CSV)


# --------------------------------------------------------------------------- the oracle itself


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('n', [2, 3, 4])
def test_oracle_pruned_enumeration_equals_brute_force(n, seed):
    """The pruned enumeration is exactly the literal combinations-by-size definition."""
    rng = np.random.default_rng(100 + seed)
    table = random_table(n, rng, integer=bool(seed % 2))
    half = random_half(table.tasks, rng, integer=bool(seed % 2)) if seed else None
    units = {2: 4, 3: 6, 4: 5}[n]
    oracle = Oracle(table, 'uniform', half)
    brute = sorted(oracle.brute_force(units))
    fast = sorted(oracle.enumerate(units))
    assert brute == fast
    assert brute  # at least the all-shared network


def test_oracle_hand_example():
    """Two tasks a, b: pair values a -1, b 3; half-width a 2, b -4; uniform weights.

    Candidates: 0 = {a}, 1 = {b}, 2 = {a,b}, 3 = half a, 4 = half b. By hand, the non-redundant
    covering sets and their scores ((perf_a + perf_b) / 2) are listed below; e.g. {b, ab} is
    redundant (ab serves b better: b can go), {ab, hb} too (hb -4 < 3), {a, ha} misses b.
    """
    vals = np.zeros((2, 2, 2))
    vals[0, 1, 1], vals[1, 0, 1] = -1.0, 3.0
    table = TwoTaskTable(tasks=('a', 'b'), num_blocks=1, values=vals)
    half = {'a': 2.0, 'b': -4.0}
    oracle = Oracle(table, 'uniform', half)
    expected = {(2, 3): 2.5, (0, 2): 1.5, (2,): 1.0, (1, 3): 1.0, (0, 1): 0.0,
                (3, 4): -1.0, (0, 4): -2.0}
    for sols in (oracle.brute_force(4), oracle.enumerate(4)):
        assert {key: oracle.as_float(s) for key, _, s in sols} == expected
    rec = recommend_task_groups(table, CostModel(block_flops=[1.0]), Budget(max_models=2),
                                topk=10, task_weights='uniform', half_width=half)
    assert [oracle.key_of(s) for s in rec.top] == [(2, 3), (0, 2), (2,), (1, 3), (0, 1),
                                                   (3, 4), (0, 4)]
    assert [s.score for s in rec.top] == [2.5, 1.5, 1.0, 1.0, 0.0, -1.0, -2.0]
    assert rec.top[0].groups == [['a', 'b'], ['a']]
    assert [n.half_width for n in rec.top[0].networks] == [False, True]
    assert rec.top[0].chosen == {'a': 1, 'b': 0}


# --------------------------------------------------------------------------- 1. random tables


WEIGHT_SPECS = ('uniform', 'svde', 'explicit')


def _weights(spec, n, rng):
    if spec == 'explicit':
        return [float(x) for x in rng.integers(1, 6, size=n)]
    return spec


@pytest.mark.parametrize('n', [2, 3, 4, 5])
@pytest.mark.parametrize('case', range(6))
def test_random_tables_match_oracle(n, case):
    rng = np.random.default_rng(1000 * n + case)
    table = random_table(n, rng)
    spec = WEIGHT_SPECS[case % 3]
    weights = _weights(spec, n, rng)
    half = random_half(table.tasks, rng) if case in (1, 2, 4, 5) else None
    measured = random_measured(table.tasks, rng) if case in (3, 4, 5) else None
    oracle = Oracle(table, weights, half, measured)
    solutions = oracle.enumerate(2 * n)
    cost = cost_for(table.num_blocks)
    for models in range(1, n + 1):
        for topk in (5, 10):
            rec = recommend_task_groups(table, cost, Budget(max_models=models), topk=topk,
                                        task_weights=weights, half_width=half,
                                        measured_groups=measured)
            assert rec.max_models == models
            assert rec.num_candidates == len(oracle.masks)
            check_against_oracle(rec, oracle, solutions, 2 * models, topk,
                                 f'n={n} case={case} models={models} topk={topk}')


@pytest.mark.parametrize('case', range(4))
def test_random_six_tasks_match_oracle(case):
    n = 6
    rng = np.random.default_rng(6000 + case)
    table = random_table(n, rng)
    spec = WEIGHT_SPECS[case % 3]
    weights = _weights(spec, n, rng)
    half = random_half(table.tasks, rng) if case in (1, 3) else None
    measured = random_measured(table.tasks, rng, count=4) if case in (2, 3) else None
    oracle = Oracle(table, weights, half, measured)
    solutions = oracle.enumerate(6)
    cost = cost_for(table.num_blocks)
    for models in (1, 2, 3):
        rec = recommend_task_groups(table, cost, Budget(max_models=models), topk=5,
                                    task_weights=weights, half_width=half,
                                    measured_groups=measured)
        check_against_oracle(rec, oracle, solutions, 2 * models, 5,
                             f'T=6 case={case} models={models}')


@pytest.mark.parametrize('n', [3, 4])
def test_fractional_and_other_budget_kinds(n):
    """max_models 1.5/2.5, max_flops (with heads), max_flops_ratio, max_params, combined."""
    rng = np.random.default_rng(77 + n)
    table = random_table(n, rng)
    half = {t: float(rng.normal(0, 3)) for t in table.tasks}
    cost = cost_for(table.num_blocks, head_flops=0.25, head_params={t: 1.0 for t in table.tasks})
    one_f, one_p = cost.backbone_flops, cost.backbone_params
    oracle = Oracle(table, 'uniform', half)
    solutions = oracle.enumerate(2 * n)
    budgets = [Budget(max_models=1.5), Budget(max_models=2.5), Budget(max_models=1.99),
               Budget(max_models=100),
               Budget(max_flops=2 * one_f + n * 0.25),
               Budget(max_flops=1.5 * one_f + n * 0.25 - 1e-6),
               Budget(max_flops_ratio=2 / n), Budget(max_flops_ratio=1.0),
               Budget(max_params=2.5 * one_p + n),
               Budget(max_models=3, max_flops_ratio=1.5 / n),
               None]
    for budget in budgets:
        units = oracle_units(budget or Budget(), cost, table.tasks)
        rec = recommend_task_groups(table, cost, budget, topk=6, task_weights='uniform',
                                    half_width=half)
        assert rec.max_models == units / 2, budget
        check_against_oracle(rec, oracle, solutions, units, 6, repr(budget))


# --------------------------------------------------------------------------- 2. exact ties


@pytest.mark.parametrize('n', [2, 3, 4, 5])
@pytest.mark.parametrize('case', range(4))
def test_integer_tables_ties_exact_order(n, case):
    """Small integer values: many exact ties; order must follow score, cost, canonical key."""
    rng = np.random.default_rng(50 + 10 * n + case)
    table = random_table(n, rng, integer=True, lo=-1, hi=2)
    weights = ('uniform', [1.0, 1.0, 2.0, 4.0, 8.0][:n], 'uniform', 'uniform')[case]
    half = random_half(table.tasks, rng, integer=True) if case in (1, 3) else None
    measured = random_measured(table.tasks, rng, count=2, integer=True) if case >= 2 else None
    oracle = Oracle(table, weights, half, measured)
    solutions = oracle.enumerate(2 * n)
    cost = cost_for(table.num_blocks, params=False)
    for models in range(1, n + 1):
        for topk in (1, 3, 5, 10):
            rec = recommend_task_groups(table, cost, Budget(max_models=models), topk=topk,
                                        task_weights=weights, half_width=half,
                                        measured_groups=measured)
            check_against_oracle(rec, oracle, solutions, 2 * models, topk,
                                 f'n={n} case={case} models={models} topk={topk}')


def test_float_rounding_does_not_break_exact_ties():
    """Minimal case: two 2-network groupings both score exactly 1/6 (uniform weights 1/3).

    pair values at B=1: seg|depth 0, seg|normal -1, depth|seg 0, depth|normal 2,
    normal|seg -1, normal|depth -1. Groupings (every one costs 2 models):
      {normal}, {seg,depth,normal}: seg -0.5, depth 1, normal 0   -> (-0.5 + 1 + 0) / 3 = 1/6
      {depth,normal}, {seg,depth,normal}: seg -0.5, depth 2, normal -1 -> 1/6
    Equal scores and costs: the canonical key decides ({normal} = candidate 3 < {depth,normal}
    = candidate 5), whatever the last bits of the two float sums are.
    """
    vals = np.zeros((3, 3, 2))
    vals[:, :, 1] = [[0, 0, -1], [0, 0, 2], [-1, -1, 0]]
    table = TwoTaskTable(tasks=('seg', 'depth', 'normal'), num_blocks=1, values=vals)
    rec = recommend_task_groups(table, CostModel(block_flops=[1.0]), Budget(max_models=2),
                                topk=3, task_weights='uniform')
    assert [s.groups for s in rec.top] == [
        [['seg'], ['depth', 'normal']],                      # 1/3, key (0, 5)
        [['seg', 'depth'], ['depth', 'normal']],             # 1/3, key (2, 5)
        [['seg', 'depth', 'normal'], ['normal']],            # 1/6, key (3, 6)
    ]


def test_all_zero_table_ties():
    """Every grouping scores 0: cheapest first, then canonical key (the all-shared network is
    the only 1-model solution)."""
    n = 4
    table = TwoTaskTable(tasks=NAMES[:n], num_blocks=2, values=np.zeros((n, n, 3)))
    oracle = Oracle(table, 'uniform')
    solutions = oracle.enumerate(2 * n)
    rec = recommend_task_groups(table, cost_for(2), Budget(max_models=n), topk=10,
                                task_weights='uniform')
    check_against_oracle(rec, oracle, solutions, 2 * n, 10, 'zeros')
    assert rec.top[0].groups == [list(NAMES[:n])]
    assert all(s.score == 0 for s in rec.top)


# --------------------------------------------------------------------------- 3. Taskonomy


# top-1 at each budget (svde weights, the default), computed with the oracle above; groups in
# the implementation's network order (by the members' table indices). At 5 models the best
# grouping still uses 4 networks: a fifth one would be redundant or worse.
_SEG, _NOR, _DEP, _KEY, _EDG = ('segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d',
                                'edge_texture')
TASKONOMY_TOP1 = {
    1: ([[_SEG, _NOR, _DEP, _KEY, _EDG]], -0.9605439421604149),
    2: ([[_SEG, _NOR, _KEY, _EDG], [_NOR, _DEP]], 3.8011913179807033),
    3: ([[_SEG, _NOR, _KEY], [_NOR, _DEP], [_NOR, _EDG]], 6.037079184714943),
    4: ([[_SEG, _NOR], [_NOR, _DEP], [_NOR, _KEY], [_NOR, _EDG]], 6.533367849798349),
    5: ([[_SEG, _NOR], [_NOR, _DEP], [_NOR, _KEY], [_NOR, _EDG]], 6.533367849798349),
}


@pytest.mark.parametrize('weights', ['svde', 'uniform'])
def test_taskonomy_deeplab_resnet34_matches_oracle(weights):
    table = taskonomy()
    assert table.num_blocks == 5 and len(table.tasks) == 5
    cost = CostModel(block_flops=TASKONOMY_GFLOPS)
    oracle = Oracle(table, weights)
    solutions = oracle.enumerate(10)
    for models in range(1, 6):
        rec = recommend_task_groups(table, cost, Budget(max_models=models), topk=10,
                                    task_weights=weights)
        check_against_oracle(rec, oracle, solutions, 2 * models, 10,
                             f'taskonomy {weights} models={models}')
        if weights == 'svde':
            groups, score = TASKONOMY_TOP1[models]
            assert rec.top[0].groups == groups
            assert rec.top[0].score == pytest.approx(score, abs=1e-9)
            assert rec.top[0].models == len(groups)


# --------------------------------------------------------------------------- 4. solution details


@pytest.mark.parametrize('seed', range(4))
def test_chosen_estimates_and_costs(seed):
    rng = np.random.default_rng(900 + seed)
    n = 4
    table = random_table(n, rng)
    half = random_half(table.tasks, rng)
    measured = random_measured(table.tasks, rng)
    weights = [1.0, 2.0, 3.0, 4.0]
    cost = CostModel(block_flops=[1.0, 2.0, 3.0, 4.0], block_params=[0.5, 0.5, 1.0, 2.0],
                     head_flops=0.3, head_params=0.1)
    oracle = Oracle(table, weights, half, measured)
    budget = Budget(max_models=3)
    rec = recommend_task_groups(table, cost, budget, topk=10, task_weights=weights,
                                half_width=half, measured_groups=measured)
    assert rec.tasks == table.tasks
    assert np.allclose(rec.weights, np.array(weights) / sum(weights))
    for sol in rec.top:
        key = oracle.key_of(sol)
        for i, task in enumerate(table.tasks):
            net = sol.networks[sol.chosen[task]]
            assert task in net.tasks
            c = oracle.index_of[(tuple(net.tasks), net.half_width)]
            best = max(oracle.perf[k][i] for k in key if i in oracle.perf[k])
            assert oracle.perf[c][i] == best
            assert sol.estimates[task] == pytest.approx(float(best), abs=1e-12)
        assert sol.score == pytest.approx(
            sum(w / sum(weights) * sol.estimates[t] for w, t in zip(weights, table.tasks)),
            abs=1e-12)
        units = sum(1 if n_.half_width else 2 for n_ in sol.networks)
        assert sol.models == units / 2 == sum(n_.cost for n_ in sol.networks)
        assert sol.flops == pytest.approx(sol.models * 10.0)
        assert sol.flops_ratio == pytest.approx(sol.models / n)
        assert sol.flops_saving == pytest.approx(100 * (1 - sol.models / n))
        assert sol.params == pytest.approx(sol.models * 4.0)
        assert sol.head_flops == pytest.approx(0.3 * n)
        assert sol.head_params == pytest.approx(0.1 * n)
        assert sol.within_budget
        d = sol.to_dict()
        for k in ('groups', 'chosen', 'chosen_group', 'score', 'estimates', 'flops',
                  'flops_ratio', 'params', 'models'):
            assert k in d, k
        assert d['groups'] == sol.groups == [list(n_.tasks) for n_ in sol.networks]
        assert d['chosen'] == sol.chosen
        assert d['chosen_group'] == {t: list(sol.networks[i].tasks)
                                     for t, i in sol.chosen.items()}
        assert all(t in d['chosen_group'][t] for t in table.tasks)
        assert d['score'] == sol.score and d['estimates'] == sol.estimates
        assert d['models'] == sol.models and d['params'] == sol.params
        assert d['half_width'] == [n_.half_width for n_ in sol.networks]
        assert isinstance(sol.draw(), str) and sol.draw().startswith('input')


def _zero_weight_case():
    vals = np.zeros((3, 3, 2))
    vals[:, :, 1] = [[0, -5, 3], [1, 0, 1], [2, 1, 0]]
    return TwoTaskTable(tasks=('a', 'b', 'c'), num_blocks=1, values=vals)


def test_zero_weight_task_still_takes_its_best_network():
    """Task a has weight 0: its weighted values all tie at 0, but it still takes its best
    network (highest performance), e.g. in {ab, ac} a gets 3 from ac, not -5 from ab."""
    table = _zero_weight_case()
    rec = recommend_task_groups(table, CostModel(block_flops=[1.0]), Budget(max_models=2),
                                topk=4, task_weights=[0.0, 1.0, 1.0])
    oracle = Oracle(table, [0, 1, 1])
    for sol in rec.top:
        key = oracle.key_of(sol)
        for i, task in enumerate(table.tasks):
            assert task in sol.networks[sol.chosen[task]].tasks
            best = max(oracle.perf[c][i] for c in key if i in oracle.perf[c])
            assert sol.estimates[task] == float(best), (sol.groups, task, sol.estimates)


def test_zero_weight_no_runtime_warning():
    """0 * -inf (a task absent from a network) must not raise numpy RuntimeWarnings."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)
        recommend_task_groups(_zero_weight_case(), CostModel(block_flops=[1.0]),
                              Budget(max_models=2), topk=4, task_weights=[0.0, 1.0, 1.0])


def test_no_params_gives_none_and_network_cost():
    rng = np.random.default_rng(5)
    table = random_table(3, rng)
    rec = recommend_task_groups(table, cost_for(4, params=False), Budget(max_models=2),
                                topk=3, task_weights='uniform', half_width={'seg': 1.0})
    assert all(s.params is None and s.to_dict()['params'] is None for s in rec.top)
    assert Network(('a',), True).cost == 0.5 and Network(('a', 'b')).cost == 1.0


def test_measured_groups_override_is_used():
    """A measured triple beats everything; a measured pair replaces its two-task values."""
    vals = np.zeros((3, 3, 2))
    vals[:, :, 1] = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    table = TwoTaskTable(tasks=('a', 'b', 'c'), num_blocks=1, values=vals)
    cost = CostModel(block_flops=[1.0])
    rec = recommend_task_groups(table, cost, Budget(max_models=1), topk=1,
                                task_weights='uniform',
                                measured_groups={('c', 'a', 'b'): {'a': 4, 'b': 5, 'c': 6}})
    assert rec.top[0].estimates == {'a': 4.0, 'b': 5.0, 'c': 6.0}
    rec = recommend_task_groups(table, cost, Budget(max_models=2), topk=1,
                                task_weights='uniform',
                                measured_groups={frozenset({'a', 'b'}): {'a': 9, 'b': 9}})
    # {ab} + any network giving c 1 ({ac}, {bc}, {abc}) ties; {ac} has the lowest index
    assert rec.top[0].groups == [['a', 'b'], ['a', 'c']]
    assert rec.top[0].estimates == {'a': 9.0, 'b': 9.0, 'c': 1.0}
    assert rec.top[0].score == pytest.approx(19 / 3)


# --------------------------------------------------------------------------- 5. errors


def test_budget_below_one_backbone():
    rng = np.random.default_rng(3)
    table = random_table(3, rng)
    cost = cost_for(4, head_flops=1.0)
    for budget in (Budget(max_models=0.9), Budget(max_flops_ratio=0.3),
                   Budget(max_flops=cost.backbone_flops + 2.9),   # heads are 3.0
                   Budget(max_params=cost.backbone_params - 0.1)):
        with pytest.raises(BudgetError, match='one network shared by all tasks'):
            recommend_task_groups(table, cost, budget, task_weights='uniform',
                                  half_width={'seg': 5.0, 'depth': 5.0, 'normal': 5.0})
    # exactly one backbone (heads included) is enough
    rec = recommend_task_groups(table, cost, Budget(max_flops=cost.backbone_flops + 3.0),
                                task_weights='uniform')
    assert [s.groups for s in rec.top] == [[list(table.tasks)]]


@pytest.mark.parametrize('topk', [0, -1, True, 2.5, '3', None])
def test_invalid_topk(topk):
    table = random_table(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match='topk'):
        recommend_task_groups(table, cost_for(4), Budget(max_models=1), topk=topk)


def test_numpy_integer_topk_accepted():
    table = random_table(3, np.random.default_rng(0))
    rec = recommend_task_groups(table, cost_for(4), Budget(max_models=2), topk=np.int64(2),
                                task_weights='uniform')
    assert len(rec.top) == 2


def test_unknown_task_in_half_width():
    table = random_table(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match='half_width'):
        recommend_task_groups(table, cost_for(4), Budget(max_models=2),
                              half_width={'nope': 1.0})
    with pytest.raises(ValueError, match='finite'):
        recommend_task_groups(table, cost_for(4), Budget(max_models=2),
                              half_width={'seg': float('nan')})


@pytest.mark.parametrize('measured', [
    {('seg', 'nope'): {'seg': 1.0, 'nope': 2.0}},      # unknown task
    {('seg',): {'seg': 1.0}},                           # a single task
    {'seg': {'seg': 1.0}},                              # a bare name
    {('seg', 'depth'): {'seg': 1.0}},                   # a member without a value
])
def test_bad_measured_groups(measured):
    table = random_table(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match='measured_groups'):
        recommend_task_groups(table, cost_for(4), Budget(max_models=2),
                              measured_groups=measured)


def test_measured_group_with_repeated_task_rejected():
    """('seg', 'seg') names one task twice: it is not a group of >= 2 tasks. It must be
    rejected, not turned into the bit mask 2 * bit(seg) (= another task's single network)."""
    vals = np.zeros((3, 3, 2))
    vals[:, :, 1] = [[0, 1, 1], [1, 0, -1], [1, -1, 0]]
    table = TwoTaskTable(tasks=('a', 'b', 'c'), num_blocks=1, values=vals)
    with pytest.raises(ValueError, match='measured_groups'):
        rec = recommend_task_groups(table, CostModel(block_flops=[1.0]),
                                    Budget(max_models=2), topk=3, task_weights='uniform',
                                    measured_groups={('a', 'a'): {'a': 50.0}})
        # what goes wrong otherwise: task a is served by network ['b'] with 50%
        for sol in rec.top:
            for t, k in sol.chosen.items():
                assert t in sol.networks[k].tasks


def test_max_params_without_block_params():
    table = random_table(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match='block_params'):
        recommend_task_groups(table, cost_for(4, params=False), Budget(max_params=100.0))


def test_default_objective_is_standleys_unweighted_sum():
    """Standley et al. maximise the plain sum of the tasks' performance: on the published
    Taskonomy table at 2 backbones that is 18.27 (SVDE weights would pick a 16.62 grouping)."""
    table = TwoTaskTable.from_csv(str(TASKONOMY_CSV))
    cost = CostModel([0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704])
    best = recommend_task_groups(table, cost, Budget(max_models=2), topk=1).top[0]
    assert sum(best.estimates.values()) == pytest.approx(18.27, abs=0.005)
    assert best.groups == [['segment_semantic', 'normal', 'keypoints2d'],
                           ['normal', 'depth_zbuffer', 'edge_texture']]
    weighted = recommend_task_groups(table, cost, Budget(max_models=2), topk=1,
                                     task_weights='svde').top[0]
    assert sum(weighted.estimates.values()) == pytest.approx(16.62, abs=0.005)
