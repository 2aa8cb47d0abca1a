"""Slow, obvious reference implementation of the tree-structured multi-task recommender.

This module is a test oracle: it re-implements, straight from the definitions in
``docs/advanced/method.md`` ("Layouts" to "Cost and budgets"), the pieces the fast implementation in
``treemtl_plugin`` must agree with. It favours obviousness over speed and imports nothing
from ``treemtl_plugin`` (only the standard library and numpy).

Conventions
-----------
* Tasks are the integers ``0..T-1``; blocks are ``0..B-1``.
* A *layout* is represented canonically as a tuple of length ``B`` whose entry ``b`` is a
  ``frozenset`` of ``frozenset``s of task indices: the partition of the task set at block
  ``b`` (tasks in the same inner set share block ``b``). Partitions only refine going deeper.
* ``values`` is the two-task table: a numpy array of shape ``(T, T, B+1)`` with
  ``values[i, j, b]`` = relative performance (%) of task ``i`` when trained with task ``j``
  sharing the first ``b`` blocks (``b = 0``: nothing shared). The diagonal ``values[i, i, :]``
  is never read.
"""

import math
from collections import deque

import numpy as np

__all__ = [
    "all_shared_layout",
    "apply_cut",
    "brute_force_layouts",
    "set_partitions",
    "refines",
    "brute_force_layouts_by_partitions",
    "is_valid_layout",
    "layout_sort_key",
    "branch_point",
    "embed",
    "svd_entropy",
    "task_weights",
    "estimates",
    "blockwise_estimates",
    "score",
    "flops",
    "rank_layouts",
]


# ---------------------------------------------------------------------------
# Layouts, generator 1: repeated layout cuts from the all-shared layout (BFS)
# ---------------------------------------------------------------------------

def all_shared_layout(T, B):
    """The all-shared layout: every block holds the single set {0..T-1}."""
    everyone = frozenset(range(T))
    return tuple(frozenset([everyone]) for _ in range(B))


def apply_cut(layout, b, task_set, part):
    """Apply one *layout cut* and return the new layout.

    The cut takes the set ``task_set`` of block ``b`` and splits it into the two non-empty
    parts ``part`` and ``task_set - part``, at block ``b`` and at every later block. At a later
    block the sets that descend from ``task_set`` (i.e. are subsets of it) are each replaced
    by their non-empty intersections with the two parts; other sets are left alone. Blocks
    before ``b`` are unchanged.
    """
    task_set = frozenset(task_set)
    part_a = frozenset(part)
    part_b = task_set - part_a
    if task_set not in layout[b]:
        raise ValueError("task_set is not a set of block %d" % b)
    if not part_a or not part_b or not part_a <= task_set:
        raise ValueError("a cut needs two non-empty parts of task_set")
    new_layout = list(layout[:b])
    for block in layout[b:]:
        new_block = set()
        for s in block:
            if s <= task_set:
                for piece in (s & part_a, s & part_b):
                    if piece:
                        new_block.add(piece)
            else:
                new_block.add(s)
        new_layout.append(frozenset(new_block))
    return tuple(new_layout)


def _two_part_splits(task_set):
    """Every way to split ``task_set`` into two non-empty parts.

    Yields the part that contains the smallest element (so each unordered split once).
    """
    items = sorted(task_set)
    first, rest = items[0], items[1:]
    # the part holding `first` is {first} + any subset of `rest` except all of it
    for mask in range(2 ** len(rest)):
        chosen = [rest[k] for k in range(len(rest)) if mask >> k & 1]
        if len(chosen) == len(rest):
            continue
        yield frozenset([first] + chosen)


def brute_force_layouts(T, B):
    """All layouts for ``T`` tasks and ``B`` blocks, found by repeated layout cuts.

    Breadth-first search from the all-shared layout: from each layout, try every cut
    (every block ``b``, every set of block ``b``, every split of it into two non-empty
    parts) and keep the results not yet seen, until no new layout appears. Returns a
    ``set`` of canonical layouts (see module docstring).
    """
    if T < 1 or B < 1:
        raise ValueError("need T >= 1 and B >= 1")
    start = all_shared_layout(T, B)
    seen = {start}
    queue = deque([start])
    while queue:
        layout = queue.popleft()
        for b in range(B):
            for s in layout[b]:
                if len(s) < 2:
                    continue
                for part in _two_part_splits(s):
                    new_layout = apply_cut(layout, b, s, part)
                    if new_layout not in seen:
                        seen.add(new_layout)
                        queue.append(new_layout)
    return seen


# ---------------------------------------------------------------------------
# Layouts, generator 2: chains of refining set partitions
# ---------------------------------------------------------------------------

def set_partitions(items):
    """All set partitions of the list ``items`` (recursive), each a frozenset of frozensets.

    A partition of ``[x] + rest`` is a partition of ``rest`` with ``x`` either added to
    one of its sets or put in a set of its own.
    """
    items = list(items)
    if not items:
        return [frozenset()]
    x, rest = items[0], items[1:]
    result = []
    for p in set_partitions(rest):
        blocks = list(p)
        result.append(frozenset(blocks + [frozenset([x])]))
        for k in range(len(blocks)):
            grown = blocks[:k] + [blocks[k] | {x}] + blocks[k + 1:]
            result.append(frozenset(grown))
    return result


def refines(finer, coarser):
    """True if every set of partition ``finer`` is a subset of some set of ``coarser``."""
    return all(any(f <= c for c in coarser) for f in finer)


def brute_force_layouts_by_partitions(T, B):
    """All layouts for ``T`` tasks and ``B`` blocks, as chains of refining partitions.

    Every sequence of ``B`` set partitions of ``range(T)`` in which the partition of block
    ``b+1`` refines that of block ``b``. Independent of the layout-cut generator; the two
    must give the same set. Returns a ``set`` of canonical layouts.
    """
    if T < 1 or B < 1:
        raise ValueError("need T >= 1 and B >= 1")
    partitions = set_partitions(range(T))
    chains = [(p,) for p in partitions]
    for _ in range(B - 1):
        chains = [c + (p,) for c in chains for p in partitions if refines(p, c[-1])]
    return set(chains)


def is_valid_layout(layout, T):
    """True if ``layout`` is a canonical layout for tasks ``0..T-1``.

    Each block must be a partition of ``{0..T-1}`` into non-empty sets and each block's
    partition must refine the previous block's.
    """
    everyone = frozenset(range(T))
    for b, block in enumerate(layout):
        sets = list(block)
        if any(not s for s in sets):
            return False
        if sum(len(s) for s in sets) != T or frozenset().union(*sets) != everyone:
            return False
        if b > 0 and not refines(block, layout[b - 1]):
            return False
    return True


def layout_sort_key(layout):
    """A deterministic, total sort key for a layout (used only to break score ties).

    Per block: the sorted tuple of the sorted tuples of its sets.
    """
    return tuple(tuple(sorted(tuple(sorted(s)) for s in block)) for block in layout)


# ---------------------------------------------------------------------------
# Pairwise branch point
# ---------------------------------------------------------------------------

def branch_point(layout, i, j):
    """``b_ij``: the number of leading blocks in which tasks ``i`` and ``j`` share a set.

    0 means they separate at the input; ``B`` means they share the whole backbone.
    (For ``i == j`` this is ``B``.)
    """
    count = 0
    for block in layout:
        together = any(i in s and j in s for s in block)
        if not together:
            break
        count += 1
    return count


# ---------------------------------------------------------------------------
# SVD entropy and task weights (SVDE)
# ---------------------------------------------------------------------------

def embed(x, order=3, delay=1):
    """Time-delay embedding: rows ``[x[k], x[k+delay], ..., x[k+(order-1)*delay]]``.

    One row for each ``k = 0 .. len(x) - (order-1)*delay - 1``. Shape
    ``(len(x) - (order-1)*delay, order)``.
    """
    x = [float(v) for v in x]
    n_rows = len(x) - (order - 1) * delay
    rows = []
    for k in range(n_rows):
        rows.append([x[k + m * delay] for m in range(order)])
    return np.array(rows, dtype=float).reshape(n_rows, order)


def svd_entropy(x, order=3, delay=1):
    """Normalised SVD entropy of the 1-D sequence ``x``, as antropy defines it.

    ``antropy.svd_entropy(x, order, delay, normalize=True)``: take the time-delay embedding
    matrix (see :func:`embed`), its singular values ``s``, normalise them to ``p = s / sum(s)``,
    Shannon entropy in bits ``H = -sum p log2 p`` (with ``0 * log 0 = 0``), divided by
    ``log2(order)``. Result in ``[0, 1]``.

    Like antropy: ``order * delay > len(x)`` raises ``ValueError``, and a sequence whose
    embedding is all zeros (every singular value 0) has entropy 0.
    """
    x = list(x)
    if order < 2:
        raise ValueError("order must be at least 2")
    if delay < 1:
        raise ValueError("delay must be at least 1")
    if order * delay > len(x):
        raise ValueError("order * delay must not exceed len(x)")
    matrix = embed(x, order=order, delay=delay)
    singular_values = np.linalg.svd(matrix, compute_uv=False)
    total = float(sum(singular_values))
    if total == 0.0:
        return 0.0
    entropy_bits = 0.0
    for s in singular_values:
        p = float(s) / total
        if p > 0.0:
            entropy_bits -= p * math.log2(p)
    return entropy_bits / math.log2(order)


def task_weights(values):
    """SVDE task weights from the two-task table ``values`` of shape ``(T, T, B+1)``.

    For each task ``i`` and each ``j != i``: ``H_ij = svd_entropy(values[i, j, 1:])``
    (order 3, delay 1; branch 0 excluded). ``w_i = 1 - mean_j H_ij``; then the ``w`` are
    divided by their sum. Returns a numpy array of shape ``(T,)``.

    Raises ``ValueError`` when ``B < 3`` (the order-3 embedding needs at least 3 values),
    when ``T < 2``, or when every raw weight is 0 (all ``H_ij = 1``: nothing to normalise).
    """
    values = np.asarray(values, dtype=float)
    T, T2, B_plus_1 = values.shape
    if T != T2:
        raise ValueError("values must have shape (T, T, B+1)")
    B = B_plus_1 - 1
    if B < 3:
        raise ValueError("SVDE task weights need B >= 3 blocks")
    if T < 2:
        raise ValueError("task weights need at least 2 tasks")
    raw = []
    for i in range(T):
        entropies = [svd_entropy(values[i, j, 1:]) for j in range(T) if j != i]
        raw.append(1.0 - sum(entropies) / len(entropies))
    total = sum(raw)
    if total == 0.0:
        raise ValueError("all raw task weights are 0; cannot normalise")
    return np.array([w / total for w in raw])


# ---------------------------------------------------------------------------
# Estimate, score, cost, ranking
# ---------------------------------------------------------------------------

def estimates(layout, values):
    """Estimated accuracy of every task in ``layout``.

    Task ``i``'s estimate is the mean over ``j != i`` of ``values[i, j, b_ij]`` where
    ``b_ij = branch_point(layout, i, j)``. Returns a numpy array of shape ``(T,)``.
    """
    values = np.asarray(values, dtype=float)
    T = values.shape[0]
    if values.shape != (T, T, len(layout) + 1):
        raise ValueError("values must have shape (T, T, B+1) with B = len(layout)")
    if T < 2:
        raise ValueError("estimates need at least 2 tasks")
    result = []
    for i in range(T):
        picked = [values[i, j, branch_point(layout, i, j)] for j in range(T) if j != i]
        result.append(sum(picked) / len(picked))
    return np.array(result)


def blockwise_estimates(layout, values):
    """The blockwise estimate of every task in ``layout`` (``docs/advanced/method.md``, "Estimate
    and
    score"): at every block ``k`` (1-based) task ``i`` adds the mean, over the other tasks in
    its set of block ``k``, of ``values[i, j, k] - values[i, j, k-1]``; nothing when it is
    alone there."""
    values = np.asarray(values, dtype=float)
    T = values.shape[0]
    result = []
    for i in range(T):
        total = 0.0
        for k, partition in enumerate(layout, start=1):
            own = next(s for s in partition if i in s)
            partners = sorted(own - {i})
            if partners:
                total += sum(values[i, j, k] - values[i, j, k - 1] for j in partners) / len(
                    partners)
        result.append(total)
    return np.array(result)


def score(layout, values, weights):
    """Score of ``layout``: ``sum_i weights[i] * estimates(layout, values)[i]``."""
    est = estimates(layout, values)
    return float(sum(float(w) * float(e) for w, e in zip(weights, est)))


def flops(layout, block_flops):
    """Cost of ``layout``: ``sum_b (number of sets in block b) * block_flops[b]``.

    (Each task set at block ``b`` is one copy of block ``b``; heads are not included.)
    """
    if len(block_flops) != len(layout):
        raise ValueError("need one block_flops entry per block")
    return sum(len(block) * block_flops[b] for b, block in enumerate(layout))


def rank_layouts(values, block_flops=None, weights=None):
    """Every layout of the design space, scored and sorted by score, highest first.

    The layouts are ``brute_force_layouts(T, B)`` for ``values`` of shape ``(T, T, B+1)``;
    ``weights`` default to ``task_weights(values)`` (so ``B >= 3`` unless given).
    Returns a list of ``(score, layout)`` tuples, or ``(score, layout, flops)`` when
    ``block_flops`` is given. Ties in score are ordered by :func:`layout_sort_key`
    (python's sort is stable: sort by that key first, then by score descending).
    """
    values = np.asarray(values, dtype=float)
    T = values.shape[0]
    B = values.shape[2] - 1
    if weights is None:
        weights = task_weights(values)
    layouts = sorted(brute_force_layouts(T, B), key=layout_sort_key)
    rows = []
    for layout in layouts:
        s = score(layout, values, weights)
        if block_flops is None:
            rows.append((s, layout))
        else:
            rows.append((s, layout, flops(layout, block_flops)))
    rows.sort(key=lambda row: row[0], reverse=True)
    return rows
