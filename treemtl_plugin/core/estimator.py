"""Task accuracy estimator: a layout's per-task accuracy and score from the two-task table.

Task ``i``'s estimate in a layout is the mean over ``j != i`` of ``A[i, j, b_ij]`` (its relative
performance in the two-task model that shares the same ``b_ij`` leading blocks). The score is
``sum_i w_i * estimate_i`` with SVD-entropy (SVDE) task weights: tasks whose two-task curves
fluctuate less over the branching point are trusted more (``docs/method.md``, "Task weights").
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from .encoding import matrix_to_row, pair_columns, pair_index

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
                warnings.warn(note, stacklevel=2)
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
    if w.shape != (num_tasks,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(f'task_weights must be {num_tasks} finite non-negative numbers with a '
                         f'positive sum (one per task {list(tasks)}); got {np.ravel(w).tolist()}')
    return w / w.sum(), 'user-given task weights'


class TaskAccuracyEstimator:
    """Scores layouts from a two-task array and task weights, vectorised over many layouts.

    Precomputes, for each pair column ``p = (j, i)`` and branch ``b``, the pair's contribution
    ``(w_i A[i,j,b] + w_j A[j,i,b]) / (T-1)``; a layout's score is the sum over its pairs.
    """

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

    def estimate(self, bp_matrix: np.ndarray) -> np.ndarray:
        """Per-task estimates for one layout given as its (T, T) branch-point matrix."""
        return self.estimates_matrix(matrix_to_row(bp_matrix)[None])[0]

    def score(self, bp_matrix: np.ndarray) -> float:
        """Score of one layout given as its (T, T) branch-point matrix."""
        return float(self.scores(matrix_to_row(bp_matrix)[None])[0])
