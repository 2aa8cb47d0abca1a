"""Two-task tables from cheap affinity measurements (numpy only).

Both cheap methods measure, for every task pair and every depth ``b``, how well the tasks
would share the first ``b`` blocks, and map it to the long CSV shape of the pairwise sweep
(``A[i, j, b]``, branch 0 = 0), so the enumerator, exact search, budgets, task grouping and
export work unchanged. The mappings (``docs/advanced/method.md``, "Cheap two-task tables"):

* **lookahead** (Fifty et al., NeurIPS 2021, per branching point): ``Z[i, j, b]`` = relative
  decrease of task ``j``'s loss after TAG's step on task ``i``'s own gradient applied to blocks
  ``1..b`` only (averaged over the training); ``A[j, i, b] = 100 * Z[i, j, b]``: how much (in %
  of its loss) sharing the first ``b`` blocks with ``i`` moves ``j``, helping or hurting.
* **similarity** (Vandenhende et al., BMVC 2020): ``S[i, j, l]`` = representation similarity
  of the single-task models of ``i`` and ``j`` at block ``l`` (RSA: the Spearman correlation
  of their dissimilarity matrices over the same images). As in the paper, ``1 - S`` is the
  *cost* of sharing block ``l``: ``A[i, j, b] = -100 * sum_{l<=b} (1 - S[i, j, l]) / B``;
  separate tasks cost 0, sharing never gains, and the budget sets the trade-off.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ['rdm', 'rsa_similarity', 'similarity_table', 'lookahead_table',
           'lookahead_affinity']


def rdm(features: np.ndarray) -> np.ndarray:
    """Representation dissimilarity matrix of (K, D) features: 1 - Pearson correlation."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norm == 0, 1.0, norm)
    return 1.0 - x @ x.T


def rsa_similarity(rdm_a: np.ndarray, rdm_b: np.ndarray) -> float:
    """Spearman correlation of two RDMs (square matrices, or their upper triangles as
    vectors): representation similarity analysis; 1 = the same geometry of the images."""
    a, b = np.asarray(rdm_a, dtype=np.float64), np.asarray(rdm_b, dtype=np.float64)
    if a.ndim == 2:
        iu = np.triu_indices(len(a), k=1)
        a, b = a[iu], b[iu]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b)[0])


def similarity_table(similarity: np.ndarray) -> np.ndarray:
    """(T, T, B+1) table from (T, T, B) pair similarities per block: the cost form of the
    module doc (``-100 * sum_{l<=b} (1 - S) / B``)."""
    sim = np.asarray(similarity, dtype=np.float64)
    num_tasks, _, num_blocks = sim.shape
    values = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    values[:, :, 1:] = -100.0 * np.cumsum(1.0 - sim, axis=2) / num_blocks
    values[np.arange(num_tasks), np.arange(num_tasks)] = 0.0
    return values


def lookahead_affinity(base_losses: np.ndarray, lookahead_losses: np.ndarray) -> np.ndarray:
    """``Z[i, j, b] = 1 - L_j(after a step on i, blocks <= b) / L_j(before)``.

    ``base_losses``: (T,) losses before; ``lookahead_losses``: (T_i, B, T_j) after."""
    base = np.asarray(base_losses, dtype=np.float64)
    after = np.asarray(lookahead_losses, dtype=np.float64)
    safe = np.where(base == 0, 1.0, base)
    return np.transpose(1.0 - after / safe[None, None, :], (0, 2, 1))   # (i, j, b)


def lookahead_table(affinity: np.ndarray, normalize: bool = False) -> np.ndarray:
    """(T, T, B+1) table from mean lookahead affinities ``Z[i, j, b]`` (T, T, B):
    ``A[j, i, b] = 100 * Z[i, j, b]`` (with ``normalize``, divided by ``j``'s self-affinity
    ``Z[j, j, b]``, 0 where that is not positive), branch 0 and the diagonal 0."""
    z = np.asarray(affinity, dtype=np.float64)
    num_tasks, _, num_blocks = z.shape
    if normalize:
        own = np.einsum('jjb->jb', z)[None, :, :]                      # acts on j
        z = np.divide(z, own, out=np.zeros_like(z), where=own > 0)
    values = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    values[:, :, 1:] = 100.0 * np.transpose(z, (1, 0, 2))
    values[np.arange(num_tasks), np.arange(num_tasks)] = 0.0
    return values
