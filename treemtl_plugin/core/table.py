"""The two-task table: pairwise relative performance of every task pair at every branch point.

``A[i, j, b]`` is task ``i``'s relative performance (%, higher is better, vs. its single-task
model) in the two-task model in which tasks ``i`` and ``j`` share the first ``b`` backbone blocks.
It is the only training-derived input of the recommender, so it is validated strictly on load and
every error says which row is wrong and how to fix it.

File format (CSV, long form)::

    task_a,task_b,branch,perf_a,perf_b
    segment_semantic,normal,1,2.7905982905983,2.369395744052871
    ...

One row per unordered task pair and branch ``0..B``; rows for branch 0 may be omitted (branch 0
is the pair of single-task models, so both values are 0 by definition).

This module is pure numpy + stdlib (no torch, pandas or mmengine).
"""

from __future__ import annotations

import csv
import math
import numbers
import operator
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import TwoTaskTableError, did_you_mean
from .uncertainty import TableNoise

__all__ = ['COLUMNS', 'TwoTaskTable', 'TwoTaskTableError']

#: Largest plausible relative performance, in % (larger values are typos or wrong units).
MAX_PERF = 1e6
#: The canonical CSV header, in canonical order.
COLUMNS: tuple[str, ...] = ('task_a', 'task_b', 'branch', 'perf_a', 'perf_b')

_MAX_LISTED = 20

PathLike = Union[str, 'os.PathLike[str]']
TaskRef = Union[str, int]


# --------------------------------------------------------------------------- helpers


def _listing(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    """Format ``items`` as an indented bullet list, truncated after ``limit`` entries."""
    shown = [f'\n  - {item}' for item in items[:limit]]
    if len(items) > limit:
        shown.append(f'\n  ... and {len(items) - limit} more')
    return ''.join(shown)


def _fmt_raw(raw: Any) -> str:
    """Show a raw input value the way the user wrote it (quoted if a string)."""
    return repr(raw)


class _Row:
    """One not-yet-validated table row plus where it came from (for error messages)."""

    __slots__ = ('where', 'task_a', 'task_b', 'branch', 'perf_a', 'perf_b')

    def __init__(self, where: str, task_a: Any, task_b: Any, branch: Any, perf_a: Any,
                 perf_b: Any) -> None:
        self.where = where
        self.task_a = task_a
        self.task_b = task_b
        self.branch = branch
        self.perf_a = perf_a
        self.perf_b = perf_b


class _Parsed:
    """A validated row: stripped task names, integer branch, finite float perfs."""

    __slots__ = ('where', 'a', 'b', 'branch', 'pa', 'pb')

    def __init__(self, where: str, a: str, b: str, branch: int, pa: float, pb: float) -> None:
        self.where = where
        self.a = a
        self.b = b
        self.branch = branch
        self.pa = pa
        self.pb = pb


def _parse_task(raw: Any, column: str, problems: list[str], where: str) -> str | None:
    if not isinstance(raw, str):
        problems.append(f'{where}: {column} {_fmt_raw(raw)} is not a string; '
                        'task names must be text such as "depth_zbuffer"')
        return None
    name = raw.strip()
    if not name:
        problems.append(f'{where}: {column} is empty; every row needs both task names')
        return None
    return name


def _parse_branch(raw: Any, problems: list[str], where: str) -> int | None:
    fix = 'branch must be a whole number of shared blocks (0..B)'
    if isinstance(raw, bool):
        problems.append(f'{where}: branch {raw!r} is a boolean, not a number; {fix}')
        return None
    if isinstance(raw, numbers.Integral):
        value: float = int(raw)
    else:
        text = raw.strip() if isinstance(raw, str) else raw
        if isinstance(text, str):
            if not text:
                problems.append(f'{where}: branch is empty; {fix}')
                return None
            try:
                return _check_branch_sign(int(text), problems, where, fix)
            except ValueError:
                pass
        try:
            value = float(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            problems.append(f'{where}: branch {_fmt_raw(raw)} is not a number; {fix}')
            return None
        if not math.isfinite(value):
            problems.append(f'{where}: branch {_fmt_raw(raw)} is not finite; {fix}')
            return None
        if value != int(value):
            problems.append(f'{where}: branch {_fmt_raw(raw)} is not an integer; {fix}')
            return None
    return _check_branch_sign(int(value), problems, where, fix)


def _check_branch_sign(value: int, problems: list[str], where: str, fix: str) -> int | None:
    if value < 0:
        problems.append(f'{where}: branch {value} is negative; {fix}')
        return None
    return value


def _parse_perf(raw: Any, column: str, problems: list[str], where: str) -> float | None:
    fix = 'write the relative performance in % as a plain finite number such as -1.25'
    if isinstance(raw, bool):
        problems.append(f'{where}: {column} {raw!r} is a boolean, not a number; {fix}')
        return None
    if isinstance(raw, str) and not raw.strip():
        problems.append(f'{where}: {column} is empty; {fix}')
        return None
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        problems.append(f'{where}: {column} {_fmt_raw(raw)} is not a number; {fix}')
        return None
    if not math.isfinite(value):
        problems.append(f'{where}: {column} {_fmt_raw(raw)} is NaN or infinite; {fix}')
        return None
    if abs(value) > MAX_PERF:
        problems.append(f'{where}: {column} {_fmt_raw(raw)} is not a plausible relative '
                        f'performance (beyond ±{MAX_PERF:g} %); {fix}')
        return None
    return value


def _resolve_tasks(requested: Any, available: Sequence[str], source: str) -> tuple[str, ...]:
    """Validate a user's ``tasks=`` list against the tasks present in a table."""
    if isinstance(requested, str) or not isinstance(requested, Iterable):
        raise TwoTaskTableError(
            f'{source}: tasks={requested!r} must be a list of task names, e.g. '
            f'tasks={list(available[:2])!r}')
    names: list[str] = []
    for item in requested:
        if not isinstance(item, str) or not item.strip():
            raise TwoTaskTableError(
                f'{source}: tasks contains {item!r}, which is not a task name; '
                f'available tasks: {list(available)!r}')
        names.append(item.strip())
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TwoTaskTableError(
            f'{source}: tasks lists {duplicates!r} more than once; list each task once')
    unknown = [n for n in names if n not in available]
    if unknown:
        details = ', '.join(f'{n!r}{did_you_mean(n, available)}' for n in unknown)
        raise TwoTaskTableError(
            f'{source}: requested task(s) not in the table: {details}; '
            f'available tasks: {list(available)!r}. Fix the task names or use a table that '
            'contains them.')
    if len(names) < 2:
        raise TwoTaskTableError(
            f'{source}: tasks={names!r} has fewer than 2 tasks; a two-task table needs at '
            f'least 2 (available: {list(available)!r})')
    return tuple(names)


def _check_num_blocks(num_blocks: Any, source: str) -> int:
    try:
        if isinstance(num_blocks, bool):
            raise TypeError
        value = operator.index(num_blocks)
    except TypeError:
        raise TwoTaskTableError(
            f'{source}: num_blocks={num_blocks!r} must be a positive integer (the number of '
            'branching points B) or None to infer it from the largest branch') from None
    if value < 1:
        raise TwoTaskTableError(
            f'{source}: num_blocks={value} must be >= 1 (the number of branching points B), '
            'or None to infer it from the largest branch')
    return value


# --------------------------------------------------------------------------- the table


def _read_rows(path, source: str):
    """The header, the rows and the per-line problems of a long-form table CSV."""
    header: list[str] | None = None
    rows: list[_Row] = []
    problems: list[str] = []
    with open(path, newline='', encoding='utf-8-sig') as handle:
        reader = csv.reader(handle)
        for cells in reader:
            line = reader.line_num
            if header is None:
                if not any(c.strip() for c in cells):
                    continue  # leading blank lines
                header = [c.strip() for c in cells]
                _check_columns(header, source, f'line {line}: header')
                positions = [header.index(c) for c in COLUMNS]
                continue
            if not any(c.strip() for c in cells):
                continue  # blank lines, e.g. a trailing newline
            if len(cells) != len(COLUMNS):
                problems.append(
                    f'line {line}: has {len(cells)} fields {cells!r}, expected '
                    f'{len(COLUMNS)} ({",".join(header)})')
                continue
            rows.append(_Row(f'line {line}', *(cells[p] for p in positions)))
    return header, rows, problems


@dataclass(frozen=True, eq=False, repr=False)
class TwoTaskTable:
    """Validated two-task table; ``values[i, j, b]`` = perf of ``tasks[i]`` paired with ``tasks[j]``
    sharing ``b`` blocks (%). Build it with :meth:`from_csv`, :meth:`from_records` or
    :meth:`from_mapping`; direct construction validates shape and the zero diagonal/branch 0."""

    tasks: tuple[str, ...]
    num_blocks: int
    values: np.ndarray
    source: str = '<array>'
    noise: TableNoise | None = None     # the values' seed noise, when it was measured

    def __post_init__(self) -> None:
        source = str(self.source)
        object.__setattr__(self, 'source', source)
        if isinstance(self.tasks, str):
            raise TwoTaskTableError(f'{source}: tasks must be a sequence of names, not a string')
        tasks = tuple(self.tasks)
        if any(not isinstance(t, str) or not t.strip() or t != t.strip() for t in tasks):
            raise TwoTaskTableError(
                f'{source}: task names must be non-empty strings without surrounding '
                f'whitespace, got {tasks!r}')
        if len(set(tasks)) != len(tasks):
            raise TwoTaskTableError(f'{source}: duplicate task names in {tasks!r}')
        if len(tasks) < 2:
            raise TwoTaskTableError(
                f'{source}: the table has {len(tasks)} task(s) {list(tasks)!r}; a two-task '
                'table needs at least 2 tasks')
        num_blocks = _check_num_blocks(self.num_blocks, source)
        values = np.array(self.values, dtype=np.float64, copy=True)
        expected = (len(tasks), len(tasks), num_blocks + 1)
        if values.shape != expected:
            raise TwoTaskTableError(
                f'{source}: values has shape {values.shape}, expected (T, T, B+1) = {expected}')
        if not np.all(np.isfinite(values)):
            raise TwoTaskTableError(f'{source}: values contains NaN or infinite entries')
        if np.any(np.abs(values) > MAX_PERF):
            raise TwoTaskTableError(f'{source}: values beyond ±{MAX_PERF:g} % are not '
                                    'plausible relative performances')
        if np.any(values[:, :, 0] != 0):
            raise TwoTaskTableError(
                f'{source}: values[:, :, 0] must be 0 (branch 0 = single-task models)')
        idx = np.arange(len(tasks))
        if np.any(values[idx, idx, :] != 0):
            raise TwoTaskTableError(f'{source}: the diagonal values[i, i, :] must be 0')
        values.setflags(write=False)
        object.__setattr__(self, 'tasks', tasks)
        object.__setattr__(self, 'num_blocks', num_blocks)
        object.__setattr__(self, 'values', values)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_csv(cls, path: PathLike, tasks: Sequence[str] | None = None,
                 num_blocks: int | None = None) -> 'TwoTaskTable':
        """Load a long-form CSV (header ``task_a,task_b,branch,perf_a,perf_b``, any column order).

        Line numbers in error messages count the header as line 1.
        """
        source = os.fspath(path)
        try:
            header, rows, problems = _read_rows(path, source)
        except UnicodeDecodeError as err:
            raise TwoTaskTableError(
                f'{source}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset '
                f'{err.start}); save the table as a UTF-8 CSV') from None
        if header is None:
            raise TwoTaskTableError(
                f'{source}: the file is empty; expected the header '
                f'"{",".join(COLUMNS)}" followed by one row per task pair and branch')
        if problems:
            raise TwoTaskTableError(
                f'{source}: {len(problems)} malformed row(s):{_listing(problems)}')
        return cls._build(rows, source, tasks, num_blocks)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]],
                     tasks: Sequence[str] | None = None, num_blocks: int | None = None,
                     source: str = '<records>') -> 'TwoTaskTable':
        """Build from dicts with exactly the five column keys (values may be strings or numbers).

        Records are numbered from 1 in error messages.
        """
        rows: list[_Row] = []
        for number, record in enumerate(records, start=1):
            where = f'record {number}'
            if not isinstance(record, Mapping):
                raise TwoTaskTableError(
                    f'{source}: {where} is a {type(record).__name__}, not a dict; each record '
                    f'needs the keys {list(COLUMNS)!r}')
            _check_columns(list(record.keys()), source, where)
            rows.append(_Row(where, *(record[c] for c in COLUMNS)))
        return cls._build(rows, source, tasks, num_blocks)

    @classmethod
    def from_mapping(cls, mapping: Mapping[tuple[str, str], Any],
                     tasks: Sequence[str] | None = None,
                     num_blocks: int | None = None) -> 'TwoTaskTable':
        """Build from ``{(task_a, task_b): seq}``.

        ``seq`` is either a list of ``(perf_a, perf_b)`` indexed by branch ``0..B`` (index =
        branch), or a dict ``{branch: (perf_a, perf_b)}`` in which branch 0 may be omitted.
        """
        source = '<mapping>'
        if not isinstance(mapping, Mapping):
            raise TwoTaskTableError(
                f'{source}: expected a dict {{(task_a, task_b): per-branch values}}, got '
                f'{type(mapping).__name__}')
        rows: list[_Row] = []
        for key, seq in mapping.items():
            if isinstance(key, str) or not isinstance(key, tuple) or len(key) != 2:
                raise TwoTaskTableError(
                    f'{source}: key {key!r} must be a (task_a, task_b) tuple of two names')
            label = f'mapping[{key!r}]'
            if isinstance(seq, Mapping):
                items: Iterator[tuple[Any, Any]] = iter(seq.items())
            elif isinstance(seq, (str, bytes)) or not isinstance(seq, Iterable):
                raise TwoTaskTableError(
                    f'{source}: {label} is {seq!r}; give a list of (perf_a, perf_b) for '
                    'branches 0..B or a dict {branch: (perf_a, perf_b)}')
            else:
                items = iter(enumerate(seq))
            for branch, perfs in items:
                where = f'{label}[{branch!r}]'
                if (isinstance(perfs, (str, bytes)) or not isinstance(perfs, Iterable)
                        or len(perfs := tuple(perfs)) != 2):
                    raise TwoTaskTableError(
                        f'{source}: {where} is {perfs!r}; each branch needs a pair '
                        '(perf_a, perf_b)')
                rows.append(_Row(where, key[0], key[1], branch, perfs[0], perfs[1]))
        return cls._build(rows, source, tasks, num_blocks)

    @classmethod
    def _build(cls, rows: list[_Row], source: str, tasks: Sequence[str] | None,
               num_blocks: int | None) -> 'TwoTaskTable':
        """Validate raw rows and assemble the (T, T, B+1) array."""
        if not rows:
            raise TwoTaskTableError(
                f'{source}: the table is empty (no data rows); add one row per task pair and '
                f'branch with the columns {",".join(COLUMNS)}')
        if num_blocks is not None:
            num_blocks = _check_num_blocks(num_blocks, source)

        # 1. per-row checks: names, self-pairs, numbers, branch range.
        problems: list[str] = []
        parsed: list[_Parsed] = []
        for row in rows:
            before = len(problems)
            a = _parse_task(row.task_a, 'task_a', problems, row.where)
            b = _parse_task(row.task_b, 'task_b', problems, row.where)
            if a is not None and a == b:
                problems.append(
                    f'{row.where}: pairs task {a!r} with itself; each row must name two '
                    'different tasks (the single-task model is branch 0 of every pair)')
            branch = _parse_branch(row.branch, problems, row.where)
            if branch is not None and num_blocks is not None and branch > num_blocks:
                problems.append(
                    f'{row.where}: branch {branch} is greater than num_blocks={num_blocks}; '
                    f'branches must be in 0..{num_blocks} (or pass the right num_blocks)')
            pa = _parse_perf(row.perf_a, 'perf_a', problems, row.where)
            pb = _parse_perf(row.perf_b, 'perf_b', problems, row.where)
            if len(problems) == before:
                parsed.append(_Parsed(row.where, a, b, branch, pa, pb))  # type: ignore[arg-type]
        if problems:
            raise TwoTaskTableError(
                f'{source}: {len(problems)} invalid value(s):{_listing(problems)}')

        # 2. duplicates (either orientation) and nonzero branch-0 rows, over the whole input.
        seen: dict[tuple[frozenset[str], int], _Parsed] = {}
        duplicates: list[str] = []
        nonzero0: list[str] = []
        for row in parsed:
            key = (frozenset((row.a, row.b)), row.branch)
            first = seen.get(key)
            if first is None:
                seen[key] = row
            else:
                flipped = '' if (first.a, first.b) == (row.a, row.b) else \
                    f' (given as ({first.a}, {first.b}) and ({row.a}, {row.b}))'
                duplicates.append(f'pair ({row.a}, {row.b}) branch {row.branch}: {first.where} '
                                  f'and {row.where}{flipped}')
            if row.branch == 0 and (row.pa != 0 or row.pb != 0):
                nonzero0.append(f'{row.where}: ({row.a}, {row.b}) branch 0 has '
                                f'perf_a={row.pa!r}, perf_b={row.pb!r}')
        if duplicates:
            raise TwoTaskTableError(
                f'{source}: {len(duplicates)} duplicate row(s) for the same unordered pair and '
                f'branch:{_listing(duplicates)}\nKeep exactly one row per unordered pair and '
                'branch ((a, b) and (b, a) are the same pair).')
        if nonzero0:
            raise TwoTaskTableError(
                f'{source}: {len(nonzero0)} branch-0 row(s) are nonzero:{_listing(nonzero0)}\n'
                'Branch 0 means nothing is shared, i.e. the two single-task models, so the '
                'relative performance against the single-task model is 0 by definition. Set '
                'these values to 0 or delete the branch-0 rows (they may be omitted).')

        # 3. tasks and number of blocks.
        available: list[str] = []
        for row in parsed:
            for name in (row.a, row.b):
                if name not in available:
                    available.append(name)
        if len(available) < 2:
            raise TwoTaskTableError(
                f'{source}: the table names only {len(available)} task(s) {available!r}; a '
                'two-task table needs at least 2 tasks')
        names = tuple(available) if tasks is None else _resolve_tasks(tasks, available, source)
        index = {name: i for i, name in enumerate(names)}
        largest = max(row.branch for row in parsed)
        if num_blocks is None:
            if largest == 0:
                raise TwoTaskTableError(
                    f'{source}: every row has branch 0, so the number of blocks cannot be '
                    'inferred; add rows for branches 1..B (the two-task models)')
            num_blocks = largest
            how = f'B={num_blocks} inferred from the largest branch in the input; pass ' \
                  'num_blocks= if that is wrong'
        else:
            how = f'num_blocks={num_blocks} was given'

        # 4. completeness over the requested pairs, then fill the array.
        values = np.zeros((len(names), len(names), num_blocks + 1), dtype=np.float64)
        present: set[tuple[int, int, int]] = set()
        for row in parsed:
            i, j = index.get(row.a), index.get(row.b)
            if i is None or j is None:
                continue
            values[i, j, row.branch] = row.pa
            values[j, i, row.branch] = row.pb
            present.add((min(i, j), max(i, j), row.branch))
        missing: list[str] = []
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                absent = [b for b in range(1, num_blocks + 1) if (i, j, b) not in present]
                if len(absent) == num_blocks:
                    missing.append(f'pair ({names[i]}, {names[j]}): no rows at all')
                else:
                    missing.extend(f'pair ({names[i]}, {names[j]}) branch {b}' for b in absent)
        if missing:
            raise TwoTaskTableError(
                f'{source}: {len(missing)} missing (pair, branch) combination(s):'
                f'{_listing(missing)}\nEvery unordered pair of the tasks {list(names)!r} needs '
                f'one row for each branch 1..{num_blocks} ({how}); branch-0 rows may be omitted.'
                + _unknown_names(parsed, names))
        return cls(tasks=names, num_blocks=num_blocks, values=values, source=source)

    # ------------------------------------------------------------------ accessors

    @property
    def num_tasks(self) -> int:
        """Number of tasks T."""
        return len(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def _index(self, task: TaskRef) -> int:
        if isinstance(task, str):
            try:
                return self.tasks.index(task)
            except ValueError:
                raise TwoTaskTableError(
                    f'{self.source}: unknown task {task!r}{did_you_mean(task, self.tasks)}; '
                    f'tasks: {list(self.tasks)!r}') from None
        if isinstance(task, (bool, np.bool_)) or not isinstance(task, (int, np.integer)):
            raise TwoTaskTableError(
                f'{self.source}: task {task!r} must be a task name or an index 0..'
                f'{self.num_tasks - 1}')
        if not 0 <= int(task) < self.num_tasks:
            raise TwoTaskTableError(
                f'{self.source}: task index {int(task)} out of range 0..{self.num_tasks - 1} '
                f'(tasks: {list(self.tasks)!r})')
        return int(task)

    def pair(self, a: TaskRef, b: TaskRef) -> np.ndarray:
        """Per-branch perf of ``a`` and of ``b`` in their two-task models: shape (B+1, 2)."""
        i, j = self._index(a), self._index(b)
        if i == j:
            raise TwoTaskTableError(
                f'{self.source}: pair({a!r}, {b!r}) names the same task twice; give two '
                'different tasks')
        return np.stack([self.values[i, j, :], self.values[j, i, :]], axis=1)

    def subset(self, tasks: Sequence[str]) -> 'TwoTaskTable':
        """The table restricted to (and reordered as) ``tasks``."""
        names = _resolve_tasks(tasks, self.tasks, self.source)
        idx = np.array([self.tasks.index(n) for n in names])
        noise = None if self.noise is None else TableNoise(
            self.noise.entry_var[np.ix_(idx, idx)], self.noise.baseline_var[idx],
            self.noise.seeds)
        return type(self)(tasks=names, num_blocks=self.num_blocks,
                          values=self.values[np.ix_(idx, idx)], source=self.source,
                          noise=noise)

    def to_csv(self, path_or_handle) -> None:
        """Write every pair (in task order) and branch 0..B to a path or an open text file;
        floats use repr, so reloading gives bit-identical values."""
        if hasattr(path_or_handle, 'write'):
            self._write_csv(path_or_handle)
            return
        with open(path_or_handle, 'w', newline='', encoding='utf-8') as handle:
            self._write_csv(handle)

    def _write_csv(self, handle) -> None:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(COLUMNS)
        for i in range(self.num_tasks):
            for j in range(i + 1, self.num_tasks):
                for b in range(self.num_blocks + 1):
                    writer.writerow((self.tasks[i], self.tasks[j], b,
                                     repr(float(self.values[i, j, b])),
                                     repr(float(self.values[j, i, b]))))

    # ------------------------------------------------------------------ dunder

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TwoTaskTable):
            return NotImplemented
        return (self.tasks == other.tasks and self.num_blocks == other.num_blocks
                and np.array_equal(self.values, other.values))

    def __hash__(self) -> int:
        return hash((self.tasks, self.num_blocks, self.values.tobytes()))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(tasks={self.tasks!r}, num_blocks={self.num_blocks}, '
                f'source={self.source!r})')


def _unknown_names(parsed: list[_Parsed], names: Sequence[str]) -> str:
    """Task names of the input outside ``names`` that look like typos of one of them, with
    the rows where they appear (explains a missing pair)."""
    rows: dict[str, list[str]] = {}
    for row in parsed:
        for name in (row.a, row.b):
            if name not in names and did_you_mean(name, names):
                rows.setdefault(name, []).append(row.where)
    if not rows:
        return ''
    found = [f"{name!r}{did_you_mean(name, names)} on {', '.join(where[:3])}"
             + (f' and {len(where) - 3} more' if len(where) > 3 else '')
             for name, where in rows.items()]
    return '\nThe table names task(s) that are not among the tasks: ' + '; '.join(found) + \
        '. Fix the spelling in the table (or in `tasks`).'


def _check_columns(columns: list[Any], source: str, where: str) -> None:
    """Require exactly the five canonical column names (any order, no duplicates)."""
    expected = set(COLUMNS)
    got = [str(c) for c in columns]
    missing = [c for c in COLUMNS if c not in got]
    extra = [c for c in got if c not in expected]
    repeated = sorted({c for c in got if got.count(c) > 1})
    if missing or extra or repeated:
        parts = []
        if missing:
            parts.append(f'missing column(s) {missing!r}')
        if extra:
            hints = ''.join(did_you_mean(c, COLUMNS) for c in extra)
            parts.append(f'unexpected column(s) {extra!r}{hints}')
        if repeated:
            parts.append(f'repeated column(s) {repeated!r}')
        raise TwoTaskTableError(
            f'{source}: {where} has wrong columns: {"; ".join(parts)}. Expected exactly the '
            f'columns "{",".join(COLUMNS)}" (in any order).')
