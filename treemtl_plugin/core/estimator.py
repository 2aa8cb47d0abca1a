"""Task accuracy estimators: a layout's per-task accuracy and score from the two-task table.

* ``'paper'`` (:class:`TaskAccuracyEstimator`, Zhang, Liu & Guan 2022): task ``i``'s estimate in
  a layout is the mean over *every* ``j != i`` of ``A[i, j, b_ij]`` (its relative performance in
  the two-task model sharing the same ``b_ij`` leading blocks). A partner ``i`` does not share
  with still counts, as 0: a gain from one partner is divided by ``T - 1``.
* ``'blockwise'`` (:class:`BlockwiseEstimator`): the estimate accrues block by block; sharing
  block ``k`` adds the mean, over the tasks that share block ``k`` with ``i``, of their pairwise
  marginal effects ``A[i, j, k] - A[i, j, k-1]``. Standley et al.'s higher-order approximation
  (a group's value for a task is the mean of its pairwise values) applied at every block.

Both are linear in the table for a fixed layout (``coefficients``), which is what the score's
error bars need. The score is ``sum_i w_i * estimate_i`` with SVD-entropy (SVDE) task weights:
tasks whose two-task curves fluctuate less over the branching point are trusted more
(``docs/advanced/method.md``, "Task weights" and "Estimate and score").
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, ReportedWarning
from .encoding import full_matrix, matrix_to_row, pair_columns, pair_index

SVDE_ORDER = 3
SVDE_DELAY = 1


def svd_entropy(x: Sequence[float], order: int = SVDE_ORDER, delay: int = SVDE_DELAY) -> float:
    """Normalised SVD entropy of a sequence, in [0, 1].

    Rows of the time-delay embedding are ``[x_k, x_{k+delay}, ..., x_{k+(order-1)delay}]``;
    its singular values, normalised to sum 1, give a Shannon entropy in bits, divided by
    ``log2(order)``. ``0 * log 0 = 0``; an all-zero sequence has entropy 0 (fully predictable).
    """
    x = np.asarray(x, dtype=np.float64)
    rows = len(x) - (order - 1) * delay
    if rows < 1:
        raise ConfigError(f'svd_entropy needs at least {(order - 1) * delay + 1} values for '
                         f'order={order}, delay={delay}; got {len(x)}')
    embedded = np.stack([x[k * delay:k * delay + rows] for k in range(order)], axis=1)
    sing = np.linalg.svd(embedded, compute_uv=False)
    total = sing.sum()
    if total == 0:
        return 0.0
    p = sing / total
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum() / np.log2(order))


def svde_task_weights(values: np.ndarray) -> np.ndarray:
    """SVDE task weights from a (T, T, B+1) two-task array; needs B >= 3.

    ``H_ij`` = svd_entropy of ``A[i, j, 1..B]`` (branch 0 excluded); ``w_i = 1 - mean_j H_ij``,
    normalised to sum 1. This is the authors' published convention (the paper's Eq. 1 writes
    ``-H``). If every ``w_i`` is 0 the weights fall back to uniform.
    """
    num_tasks, _, width = values.shape
    num_blocks = width - 1
    if num_blocks < SVDE_ORDER:
        raise ConfigError(f'SVDE weights need at least {SVDE_ORDER} branching points (an '
                         f'order-{SVDE_ORDER} embedding); got B={num_blocks}. '
                         "Use task_weights='uniform' or explicit weights.")
    entropy = np.zeros((num_tasks, num_tasks))
    for i in range(num_tasks):
        for j in range(num_tasks):
            if i != j:
                entropy[i, j] = svd_entropy(values[i, j, 1:])
    off_diag = ~np.eye(num_tasks, dtype=bool)
    raw = 1.0 - entropy[off_diag].reshape(num_tasks, num_tasks - 1).mean(axis=1)
    if raw.sum() <= 0:
        return np.full(num_tasks, 1.0 / num_tasks)
    return raw / raw.sum()


def resolve_task_weights(values: np.ndarray, tasks: Sequence[str],
                         weights='svde') -> tuple[np.ndarray, str]:
    """Task weights from a spec: 'svde' (default), 'uniform', a list, or a {task: w} dict.

    Returns the normalised weights and a note on how they were obtained. With ``'svde'`` and
    fewer than 3 branching points the SVD entropy is undefined: uniform weights are used and
    the note (and a warning) says so.
    """
    num_tasks = len(tasks)
    if isinstance(weights, str):
        if weights == 'svde':
            if values.shape[2] - 1 < SVDE_ORDER:
                note = (f'SVDE needs >= {SVDE_ORDER} branching points, the table has '
                        f'{values.shape[2] - 1}: uniform task weights used')
                warnings.warn(note, ReportedWarning, stacklevel=2)
                return np.full(num_tasks, 1.0 / num_tasks), note
            return svde_task_weights(values), 'SVD-entropy (1 - H) task weights'
        if weights == 'uniform':
            return np.full(num_tasks, 1.0 / num_tasks), 'uniform task weights'
        raise ConfigError(f"task_weights={weights!r} is not known; use 'svde', 'uniform', a "
                         'list with one weight per task, or a {task: weight} dict')
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(tasks))
        missing = [t for t in tasks if t not in weights]
        if unknown or missing:
            raise ConfigError(f'task_weights dict must give every task exactly once: unknown '
                              f'{unknown}, missing {missing}')
        weights = [weights[t] for t in tasks]
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) \
            and not isinstance(weights, np.ndarray) \
            or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number))
                   for v in np.ravel(np.asarray(weights, dtype=object))):
        raise ConfigError(f"task_weights must be 'svde', 'uniform', a list of {num_tasks} numbers "
                          f'or a {{task: weight}} dict; got {weights!r}')
    w = np.asarray(weights, dtype=np.float64)
    with np.errstate(over='ignore'):
        total = w.sum()
    if w.shape != (num_tasks,) or not np.all(np.isfinite(w)) or np.any(w < 0) or total <= 0 \
            or not np.isfinite(total) or np.any((w > 0) & (w / total == 0)):
        raise ConfigError(f'task_weights must be {num_tasks} finite non-negative numbers with a '
                         f'positive, finite sum (one per task {list(tasks)}; only their ratios '
                         f'matter, e.g. {[1] * (num_tasks - 1) + [2]}); got '
                         f'{np.ravel(w).tolist()}')
    return w / w.sum(), 'user-given task weights'


class TaskAccuracyEstimator:
    """The paper's estimator: a task's estimate is the mean of its two-task values over every
    other task; vectorised over many layouts.

    Precomputes, for each pair column ``p = (j, i)`` and branch ``b``, the pair's contribution
    ``(w_i A[i,j,b] + w_j A[j,i,b]) / (T-1)``; a layout's score is the sum over its pairs
    (``additive``: what the exact branch-and-bound search needs).
    """

    name = 'paper'
    additive = True

    def __init__(self, values: np.ndarray, weights: np.ndarray):
        values = np.asarray(values, dtype=np.float64)
        num_tasks = values.shape[0]
        if values.ndim != 3 or values.shape[1] != num_tasks:
            raise ConfigError(f'two-task values must have shape (T, T, B+1), got {values.shape}')
        self.values = values
        self.weights = np.asarray(weights, dtype=np.float64)
        self.num_tasks = num_tasks
        self.num_blocks = values.shape[2] - 1
        self.pairs = pair_index(num_tasks)
        denom = max(num_tasks - 1, 1)
        self.pair_gain = np.array(
            [(self.weights[i] * values[i, j] + self.weights[j] * values[j, i]) / denom
             for j, i in self.pairs], dtype=np.float64).reshape(len(self.pairs),
                                                                self.num_blocks + 1)

    def scores(self, branch_points: np.ndarray) -> np.ndarray:
        """Scores of many layouts given as (n, P) pair branch points (see ``pair_index``)."""
        bp = np.asarray(branch_points)
        total = np.zeros(len(bp), dtype=np.float64)
        for p in range(bp.shape[1]):
            total += self.pair_gain[p][bp[:, p]]
        return total

    def estimates_matrix(self, branch_points: np.ndarray) -> np.ndarray:
        """(n, T) per-task estimates (%, mean of the task's two-task values)."""
        bp = np.asarray(branch_points)
        n, num_tasks = len(bp), self.num_tasks
        if num_tasks == 1:
            return np.zeros((n, 1))
        cols = pair_columns(num_tasks)
        est = np.zeros((n, num_tasks))
        for i in range(num_tasks):
            for j in range(num_tasks):
                if i != j:
                    est[:, i] += self.values[i, j][bp[:, cols[i, j]]]
        return est / (num_tasks - 1)

    def coefficients(self, branch_points: np.ndarray) -> np.ndarray:
        """(n, T, T, B+1) ``C`` with ``estimate_i = sum_{j,b} C[n, i, j, b] A[i, j, b]``:
        ``1/(T-1)`` at each pair's own branch point."""
        bp = np.asarray(branch_points)
        num_tasks, width = self.num_tasks, self.num_blocks + 1
        full = full_matrix(bp, num_tasks, self.num_blocks).astype(np.int64)
        coef = (full[..., None] == np.arange(width)).astype(np.float64)
        coef[:, np.arange(num_tasks), np.arange(num_tasks)] = 0.0
        return coef / max(num_tasks - 1, 1)

    def estimate(self, bp_matrix: np.ndarray) -> np.ndarray:
        """Per-task estimates for one layout given as its (T, T) branch-point matrix."""
        return self.estimates_matrix(matrix_to_row(bp_matrix)[None])[0]

    def score(self, bp_matrix: np.ndarray) -> float:
        """Score of one layout given as its (T, T) branch-point matrix."""
        return float(self.scores(matrix_to_row(bp_matrix)[None])[0])


class BlockwiseEstimator(TaskAccuracyEstimator):
    """Task ``i``'s estimate accrues block by block: with ``S_k(i)`` the tasks sharing block
    ``k`` with ``i`` (``b_ij >= k``), ``estimate_i = sum_k mean_{j in S_k(i)} (A[i,j,k] -
    A[i,j,k-1])`` (an empty ``S_k`` adds 0).

    Why: the paper's mean over every partner credits a task that shares with one partner only
    ``1/(T-1)`` of that pair's effect, and a task that shares with several partners their mean,
    so it shrinks the tasks' effects by different factors (measured: 0.44-0.65 on the teacher
    benchmark). Here a task sharing with one partner gets the pair's value, a task sharing a
    whole backbone with a group gets the mean of its pairwise values (Standley et al.'s
    higher-order approximation), and a tree gets that at every block. It equals the table on
    two-task layouts and the paper's estimate on the all-shared layout. Not additive over pairs:
    the exact search needs the paper's estimator.
    """

    name = 'blockwise'
    additive = False

    def __init__(self, values: np.ndarray, weights: np.ndarray):
        super().__init__(values, weights)
        self.marginal = np.diff(self.values, axis=2)           # (T, T, B): k-1 -> k

    def _sharing(self, branch_points: np.ndarray):
        """Per task ``i``: its partners, ``share[n, j, k-1] = b_ij >= k`` and the counts."""
        bp = np.asarray(branch_points)
        full = full_matrix(bp, self.num_tasks, self.num_blocks)
        blocks = np.arange(1, self.num_blocks + 1)
        for i in range(self.num_tasks):
            partners = np.array([j for j in range(self.num_tasks) if j != i], dtype=np.int64)
            share = full[:, i, partners][:, :, None] >= blocks            # (n, T-1, B)
            count = share.sum(axis=1)                                     # (n, B)
            yield i, partners, share, np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0)

    def scores(self, branch_points: np.ndarray) -> np.ndarray:
        return self.estimates_matrix(branch_points) @ self.weights

    def estimates_matrix(self, branch_points: np.ndarray) -> np.ndarray:
        est = np.zeros((len(branch_points), self.num_tasks))
        for i, partners, share, inverse in self._sharing(branch_points):
            total = np.einsum('njk,jk->nk', share, self.marginal[i, partners])
            est[:, i] = (total * inverse).sum(axis=1)
        return est

    def coefficients(self, branch_points: np.ndarray) -> np.ndarray:
        """Entry ``A[i,j,b]`` (b >= 1) enters block ``b``'s mean with ``+1/|S_b|`` and block
        ``b+1``'s with ``-1/|S_b+1|`` while ``j`` shares them."""
        width = self.num_blocks + 1
        coef = np.zeros((len(branch_points), self.num_tasks, self.num_tasks, width))
        for i, partners, share, inverse in self._sharing(branch_points):
            term = share * inverse[:, None, :]                              # (n, T-1, B)
            coef[:, i, partners, 1:] += term
            coef[:, i, partners, 1:width - 1] -= term[:, :, 1:]
        return coef


#: the estimators a recommender can use, by name
ESTIMATORS = {cls.name: cls for cls in (TaskAccuracyEstimator, BlockwiseEstimator)}
#: the recommender's estimator unless the config names one
DEFAULT_ESTIMATOR = 'paper'


def build_estimator(name: str, values: np.ndarray, weights: np.ndarray
                    ) -> TaskAccuracyEstimator:
    """The estimator called ``name`` (``'paper'`` or ``'blockwise'``) on a table."""
    if name not in ESTIMATORS:
        raise ConfigError(f'recommender.estimator={name!r} is not known; use one of '
                          f'{list(ESTIMATORS)}')
    return ESTIMATORS[name](values, weights)
