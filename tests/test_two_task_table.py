"""Tests for treemtl_plugin.two_task_table: loading the published tables, constructors, and every
validation error (type and message content)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from treemtl_plugin.core.table import TwoTaskTable
from treemtl_plugin.errors import TwoTaskTableError

#: the authors' published two-task tables, as the repository ships them
REF_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'paper' / 'data'
HEADER = 'task_a,task_b,branch,perf_a,perf_b'
NYU = ('segment_semantic', 'normal', 'depth_zbuffer')
TASKONOMY = ('segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d', 'edge_texture')
REFERENCE = {
    'nyuv2_deeplab_resnet34.csv': NYU,
    'nyuv2_mobilenetv2.csv': NYU,
    'taskonomy_deeplab_resnet34.csv': TASKONOMY,
    'taskonomy_mobilenetv2.csv': TASKONOMY,
}



def write(tmp_path: Path, text: str, name: str = 't.csv') -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def small_csv(extra: str = '', b0: bool = True) -> str:
    """A valid 3-task, B=2 table (optionally with branch-0 rows) plus ``extra`` rows."""
    rows = []
    pairs = [('a', 'b'), ('a', 'c'), ('b', 'c')]
    for k, (x, y) in enumerate(pairs):
        if b0:
            rows.append(f'{x},{y},0,0.0,0.0')
        rows.append(f'{x},{y},1,{k + 0.5},{-k - 0.25}')
        rows.append(f'{x},{y},2,{k + 1.5},{-k - 1.25}')
    return HEADER + '\n' + '\n'.join(rows) + '\n' + extra


def raises(tmp_path: Path, text: str, pattern: str, **kwargs) -> str:
    path = write(tmp_path, text)
    with pytest.raises(TwoTaskTableError, match=pattern) as info:
        TwoTaskTable.from_csv(path, **kwargs)
    assert str(path) in str(info.value)  # the message names the file
    return str(info.value)


# ------------------------------------------------------------------ reference tables


@pytest.mark.parametrize('name,tasks', sorted(REFERENCE.items()))
def test_reference_tables_load(name: str, tasks: tuple[str, ...]) -> None:
    path = REF_DIR / name
    table = TwoTaskTable.from_csv(path)
    t = len(tasks)
    assert table.tasks == tasks
    assert table.num_blocks == 5
    assert len(table) == table.num_tasks == t
    assert table.values.shape == (t, t, 6)
    assert table.values.dtype == np.float64
    assert table.source == str(path)
    assert not table.values.flags.writeable
    with pytest.raises(ValueError):
        table.values[0, 1, 1] = 1.0
    assert np.all(table.values[:, :, 0] == 0)
    for i in range(t):
        assert np.all(table.values[i, i, :] == 0)
    # Every CSV cell is reproduced exactly, on both sides of the pair.
    with open(path, newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == t * (t - 1) // 2 * 6
    for row in rows:
        i, j, b = tasks.index(row['task_a']), tasks.index(row['task_b']), int(row['branch'])
        assert table.values[i, j, b] == float(row['perf_a'])
        assert table.values[j, i, b] == float(row['perf_b'])
    # Off-diagonal, nonzero branches are real data (not left at 0).
    off = ~np.eye(t, dtype=bool)
    assert np.all(table.values[off][:, 1:] != 0)


def test_reference_exact_values() -> None:
    table = TwoTaskTable.from_csv(REF_DIR / 'nyuv2_deeplab_resnet34.csv')
    seg, normal, depth = (table.tasks.index(n) for n in NYU)
    assert table.values[seg, normal, 1] == 2.7905982905983
    assert table.values[normal, seg, 1] == 2.369395744052871
    assert table.values[normal, depth, 5] == -3.146595723334057
    assert table.values[depth, normal, 5] == 0.07283699470861352
    assert table.values[seg, depth, 4] == -6.64548321226921
    pair = table.pair('segment_semantic', 'normal')
    assert pair.shape == (6, 2)
    assert pair[1].tolist() == [2.7905982905983, 2.369395744052871]
    assert np.array_equal(table.pair(1, 0), pair[:, ::-1])
    tk = TwoTaskTable.from_csv(REF_DIR / 'taskonomy_mobilenetv2.csv')
    kp, edge = tk.tasks.index('keypoints2d'), tk.tasks.index('edge_texture')
    assert tk.values[kp, edge, 5] == -3.413959917069792
    assert tk.values[edge, kp, 5] == -0.333889816360607


def test_reference_tasks_argument_and_subset() -> None:
    path = REF_DIR / 'taskonomy_deeplab_resnet34.csv'
    full = TwoTaskTable.from_csv(path)
    picked = TwoTaskTable.from_csv(path, tasks=['edge_texture', 'normal', 'keypoints2d'],
                                   num_blocks=5)
    assert picked.tasks == ('edge_texture', 'normal', 'keypoints2d')
    assert picked.values.shape == (3, 3, 6)
    idx = [full.tasks.index(n) for n in picked.tasks]
    assert np.array_equal(picked.values, full.values[np.ix_(idx, idx)])
    sub = full.subset(['edge_texture', 'normal', 'keypoints2d'])
    assert sub == picked
    assert not sub.values.flags.writeable
    assert sub.pair('normal', 'edge_texture')[3, 0] == full.values[1, 4, 3]


def test_reference_round_trip(tmp_path: Path) -> None:
    for name in REFERENCE:
        table = TwoTaskTable.from_csv(REF_DIR / name)
        out = tmp_path / name
        table.to_csv(out)
        again = TwoTaskTable.from_csv(out)
        assert again.tasks == table.tasks
        assert again.num_blocks == table.num_blocks
        assert np.array_equal(again.values, table.values)
        # to_csv writes the canonical long form, so it reproduces the published text exactly.
        assert out.read_text() == (REF_DIR / name).read_text()


# ------------------------------------------------------------------ constructors


def test_from_records_and_mapping_match_csv(tmp_path: Path) -> None:
    path = write(tmp_path, small_csv())
    table = TwoTaskTable.from_csv(path)
    assert table.tasks == ('a', 'b', 'c')
    assert table.num_blocks == 2
    with open(path, newline='') as handle:
        records = list(csv.DictReader(handle))  # all values are strings
    from_rec = TwoTaskTable.from_records(records)
    assert from_rec.source == '<records>'
    assert np.array_equal(from_rec.values, table.values) and from_rec.tasks == table.tasks
    numeric = [{**r, 'branch': int(r['branch']), 'perf_a': float(r['perf_a']),
                'perf_b': float(r['perf_b'])} for r in records]
    assert TwoTaskTable.from_records(numeric, source='x') == table
    as_list = {}
    as_dict = {}
    for r in numeric:
        key = (r['task_a'], r['task_b'])
        as_list.setdefault(key, []).append((r['perf_a'], r['perf_b']))
        if r['branch']:
            as_dict.setdefault(key, {})[r['branch']] = (r['perf_a'], r['perf_b'])
    m1 = TwoTaskTable.from_mapping(as_list)
    m2 = TwoTaskTable.from_mapping(as_dict)
    assert m1.source == m2.source == '<mapping>'
    assert m1 == table and m2 == table
    assert m1.values[0, 2, 2] == 2.5 and m1.values[2, 0, 2] == -2.25


def test_mapping_reversed_key_and_order() -> None:
    table = TwoTaskTable.from_mapping({('y', 'x'): {1: (1.0, 2.0)}})
    assert table.tasks == ('y', 'x')
    assert table.num_blocks == 1
    assert table.pair('x', 'y').tolist() == [[0.0, 0.0], [2.0, 1.0]]
    re_ordered = TwoTaskTable.from_mapping({('y', 'x'): {1: (1.0, 2.0)}}, tasks=['x', 'y'])
    assert re_ordered.values[0, 1, 1] == 2.0 and re_ordered.values[1, 0, 1] == 1.0


def test_omitted_branch0_rows(tmp_path: Path) -> None:
    with_b0 = TwoTaskTable.from_csv(write(tmp_path, small_csv(), 'a.csv'))
    without = TwoTaskTable.from_csv(write(tmp_path, small_csv(b0=False), 'b.csv'))
    assert without == with_b0
    assert np.all(without.values[:, :, 0] == 0)


def test_column_order_whitespace_and_blank_lines(tmp_path: Path) -> None:
    text = ('perf_b, branch ,task_b,perf_a,task_a\n'
            '2.0,1, y ,1.0,x\n'
            '\n'
            '4.0,2,y,3.0, x\n')
    table = TwoTaskTable.from_csv(write(tmp_path, text))
    assert table.tasks == ('x', 'y')
    assert table.pair('x', 'y').tolist() == [[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]


def test_to_csv_round_trip_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    mapping = {}
    names = ['t0', 't1', 't2', 't3']
    for i in range(4):
        for j in range(i + 1, 4):
            mapping[(names[i], names[j])] = [(0.0, 0.0)] + [
                tuple(rng.normal(scale=10, size=2)) for _ in range(3)]
    mapping[('t0', 't1')][1] = (1e-300, -0.1 + 0.2)  # awkward floats survive too
    table = TwoTaskTable.from_mapping(mapping)
    out = tmp_path / 'out.csv'
    table.to_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 1 + 6 * 4  # every pair, branches 0..3
    assert lines[1] == 't0,t1,0,0.0,0.0'
    again = TwoTaskTable.from_csv(out)
    assert again.tasks == table.tasks and again.num_blocks == 3
    assert np.array_equal(again.values, table.values)
    assert again.values[0, 1, 1] == 1e-300 and again.values[1, 0, 1] == -0.1 + 0.2


def test_table_is_immutable(tmp_path: Path) -> None:
    table = TwoTaskTable.from_csv(write(tmp_path, small_csv()))
    with pytest.raises(AttributeError):
        table.num_blocks = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        table.values[0, 1, 1] = 0.0


def test_num_blocks_given_matches(tmp_path: Path) -> None:
    table = TwoTaskTable.from_csv(write(tmp_path, small_csv()), num_blocks=2)
    assert table.values.shape == (3, 3, 3)


def test_pair_errors(tmp_path: Path) -> None:
    table = TwoTaskTable.from_csv(write(tmp_path, small_csv()))
    with pytest.raises(TwoTaskTableError, match=r"'bb'.*did you mean 'b'"):
        table.pair('a', 'bb')
    with pytest.raises(TwoTaskTableError, match='same task'):
        table.pair('a', 0)
    with pytest.raises(TwoTaskTableError, match='out of range'):
        table.pair(0, 7)


# ------------------------------------------------------------------ errors


def test_error_wrong_columns(tmp_path: Path) -> None:
    msg = raises(tmp_path, 'task_a,task_b,branch,perf_a,perfb\nx,y,1,1,1\n',
                 r"missing column\(s\) \['perf_b'\]")
    assert "unexpected column(s) ['perfb']" in msg
    assert HEADER in msg  # says the expected header


def test_error_extra_column(tmp_path: Path) -> None:
    raises(tmp_path, HEADER + ',note\nx,y,1,1,1,hi\n', r"unexpected column\(s\) \['note'\]")


def test_error_missing_column(tmp_path: Path) -> None:
    raises(tmp_path, 'task_a,task_b,perf_a,perf_b\nx,y,1,1\n',
           r"missing column\(s\) \['branch'\].*" + re.escape(HEADER))


def test_error_repeated_column(tmp_path: Path) -> None:
    raises(tmp_path, HEADER + ',branch\nx,y,1,1,1,1\n', r"repeated column\(s\) \['branch'\]")


def test_error_record_keys() -> None:
    with pytest.raises(TwoTaskTableError, match=r"record 2.*missing column\(s\) \['perf_b'\]"):
        TwoTaskTable.from_records([
            dict(task_a='x', task_b='y', branch=1, perf_a=1, perf_b=2),
            dict(task_a='x', task_b='y', branch=2, perf_a=1),
        ])


def test_error_wrong_field_count(tmp_path: Path) -> None:
    raises(tmp_path, HEADER + '\nx,y,1,1.0\n', r'line 2: has 4 fields')


def test_error_empty_file(tmp_path: Path) -> None:
    raises(tmp_path, '', r'empty.*' + re.escape(HEADER))


def test_error_header_only(tmp_path: Path) -> None:
    raises(tmp_path, HEADER + '\n', r'empty \(no data rows\)')


def test_error_empty_records_and_mapping() -> None:
    with pytest.raises(TwoTaskTableError, match=r'<records>: the table is empty'):
        TwoTaskTable.from_records([])
    with pytest.raises(TwoTaskTableError, match=r'<mapping>: the table is empty'):
        TwoTaskTable.from_mapping({})


def test_error_fewer_than_two_tasks_requested(tmp_path: Path) -> None:
    raises(tmp_path, small_csv(), r"fewer than 2 tasks", tasks=['a'])


def test_error_fewer_than_two_tasks_direct() -> None:
    with pytest.raises(TwoTaskTableError, match=r"1 task\(s\) \['a'\]"):
        TwoTaskTable(tasks=('a',), num_blocks=1, values=np.zeros((1, 1, 2)))


def test_error_non_numeric_perf(tmp_path: Path) -> None:
    msg = raises(tmp_path, small_csv('a,b,3,abc,1.0\n'), r"line 11: perf_a 'abc' is not a number")
    assert 'plain finite number' in msg


def test_error_empty_perf(tmp_path: Path) -> None:
    raises(tmp_path, small_csv('a,b,3,1.0,\n'), r'line 11: perf_b is empty')


def test_error_non_numeric_branch(tmp_path: Path) -> None:
    raises(tmp_path, small_csv('a,b,two,1.0,1.0\n'), r"line 11: branch 'two' is not a number")


def test_error_non_integer_branch(tmp_path: Path) -> None:
    raises(tmp_path, small_csv('a,b,2.5,1.0,1.0\n'), r"line 11: branch '2\.5' is not an integer")


def test_error_non_integer_branch_record() -> None:
    with pytest.raises(TwoTaskTableError, match=r'record 1: branch 1\.5 is not an integer'):
        TwoTaskTable.from_records([dict(task_a='x', task_b='y', branch=1.5, perf_a=1, perf_b=1)])


def test_error_negative_branch(tmp_path: Path) -> None:
    raises(tmp_path, small_csv('a,b,-1,1.0,1.0\n'), r'line 11: branch -1 is negative')


def test_error_branch_above_num_blocks(tmp_path: Path) -> None:
    msg = raises(tmp_path, small_csv(), r'line 4: branch 2 is greater than num_blocks=1',
                 num_blocks=1)
    assert 'line 7' in msg and 'line 10' in msg  # every offending row is listed


def test_error_bad_num_blocks_argument(tmp_path: Path) -> None:
    raises(tmp_path, small_csv(), r'num_blocks=0 must be >= 1', num_blocks=0)
    raises(tmp_path, small_csv(), r"num_blocks='2' must be a positive integer", num_blocks='2')


@pytest.mark.parametrize('value', ['nan', 'inf', '-inf', 'NaN'])
def test_error_nan_inf(tmp_path: Path, value: str) -> None:
    raises(tmp_path, small_csv(f'a,b,3,1.0,{value}\n'),
           rf"line 11: perf_b '{re.escape(value)}' is NaN or infinite")


def test_error_nan_record() -> None:
    with pytest.raises(TwoTaskTableError, match=r'record 1: perf_a nan is NaN or infinite'):
        TwoTaskTable.from_records([dict(task_a='x', task_b='y', branch=1, perf_a=float('nan'),
                                        perf_b=0.0)])


def test_error_self_pair(tmp_path: Path) -> None:
    raises(tmp_path, small_csv('b,b,1,0.0,0.0\n'), r"line 11: pairs task 'b' with itself")


def test_error_duplicate_row(tmp_path: Path) -> None:
    raises(tmp_path, small_csv('a,c,2,9.0,9.0\n'),
           r'pair \(a, c\) branch 2: line 7 and line 11')


def test_error_duplicate_reversed(tmp_path: Path) -> None:
    msg = raises(tmp_path, small_csv('c,a,1,9.0,9.0\n'),
                 r'pair \(c, a\) branch 1: line 6 and line 11')
    assert 'given as (a, c) and (c, a)' in msg
    assert '(a, b) and (b, a) are the same pair' in msg


def test_error_duplicate_in_mapping() -> None:
    with pytest.raises(TwoTaskTableError, match=r"mapping\[\('x', 'y'\)\]\[1\] and "
                                                r"mapping\[\('y', 'x'\)\]\[1\]"):
        TwoTaskTable.from_mapping({('x', 'y'): {1: (1, 2)}, ('y', 'x'): {1: (2, 1)}})


def test_error_missing_branch(tmp_path: Path) -> None:
    text = small_csv().replace('b,c,1,2.5,-2.25\n', '')
    msg = raises(tmp_path, text, r'(?s)1 missing \(pair, branch\).*pair \(b, c\) branch 1')
    assert 'B=2 inferred' in msg


def test_error_missing_pair(tmp_path: Path) -> None:
    text = '\n'.join(line for line in small_csv().splitlines() if not line.startswith('a,c'))
    raises(tmp_path, text + '\n', r'pair \(a, c\): no rows at all')


def test_error_missing_branch_with_num_blocks(tmp_path: Path) -> None:
    msg = raises(tmp_path, small_csv(), r'(?s)3 missing.*pair \(a, b\) branch 3', num_blocks=3)
    assert 'pair (a, c) branch 3' in msg and 'pair (b, c) branch 3' in msg
    assert 'num_blocks=3 was given' in msg


def test_error_missing_list_truncated() -> None:
    names = [f't{k}' for k in range(8)]
    mapping = {(names[0], names[1]): {b: (1.0, 1.0) for b in range(1, 4)}}
    for other in names[2:]:
        mapping[(names[0], other)] = {1: (1.0, 1.0)}  # only branch 1 given
    with pytest.raises(TwoTaskTableError) as info:
        TwoTaskTable.from_mapping(mapping)
    msg = str(info.value)
    # 6 pairs miss branches 2,3 (12) + 21 pairs among t1..t7 miss everything = 33 entries.
    assert '33 missing' in msg
    assert 'pair (t0, t2) branch 2' in msg
    assert '... and 13 more' in msg
    assert msg.count('\n  - ') == 20


def test_error_nonzero_branch0(tmp_path: Path) -> None:
    text = small_csv().replace('a,c,0,0.0,0.0', 'a,c,0,0.0,1.5')
    msg = raises(tmp_path, text, r'line 5: \(a, c\) branch 0 has perf_a=0\.0, perf_b=1\.5')
    assert 'single-task models' in msg and 'by definition' in msg


def test_error_empty_task_name(tmp_path: Path) -> None:
    raises(tmp_path, small_csv(' ,b,1,1.0,1.0\n'), r'line 11: task_a is empty')


def test_error_lists_several_rows(tmp_path: Path) -> None:
    msg = raises(tmp_path, small_csv('a,b,x,1.0,1.0\na,,1,1.0,1.0\n'), r'2 invalid value')
    assert "line 11: branch 'x'" in msg and 'line 12: task_b is empty' in msg


def test_error_unknown_requested_task(tmp_path: Path) -> None:
    msg = raises(tmp_path, small_csv(), r"'d'.*available tasks: \['a', 'b', 'c'\]",
                 tasks=['a', 'd'])
    assert 'not in the table' in msg


def test_error_unknown_task_suggestion() -> None:
    mapping = {('depth_zbuffer', 'normal'): [(0, 0), (1, 2)]}
    with pytest.raises(TwoTaskTableError, match=r"'depth' \(did you mean 'depth_zbuffer'\?\)"):
        TwoTaskTable.from_mapping(mapping, tasks=['depth', 'normal'])


def test_error_duplicate_requested_task(tmp_path: Path) -> None:
    raises(tmp_path, small_csv(), r"tasks lists \['a'\] more than once", tasks=['a', 'b', 'a'])


def test_error_subset_unknown(tmp_path: Path) -> None:
    table = TwoTaskTable.from_csv(write(tmp_path, small_csv()))
    with pytest.raises(TwoTaskTableError, match=r"'cc' \(did you mean 'c'\?\)"):
        table.subset(['a', 'cc'])
    with pytest.raises(TwoTaskTableError, match='fewer than 2'):
        table.subset(['a'])


def test_error_only_branch0(tmp_path: Path) -> None:
    raises(tmp_path, HEADER + '\nx,y,0,0,0\n', r'every row has branch 0')


def test_error_bad_mapping_entries() -> None:
    with pytest.raises(TwoTaskTableError, match=r"key 'xy' must be a \(task_a, task_b\) tuple"):
        TwoTaskTable.from_mapping({'xy': [(0, 0), (1, 1)]})  # type: ignore[dict-item]
    with pytest.raises(TwoTaskTableError, match=r"mapping\[\('x', 'y'\)\]\[1\] is \(1,\)"):
        TwoTaskTable.from_mapping({('x', 'y'): [(0, 0), (1,)]})


def test_direct_construction_validates() -> None:
    values = np.zeros((2, 2, 3))
    values[0, 0, 1] = 1.0
    with pytest.raises(TwoTaskTableError, match='diagonal'):
        TwoTaskTable(tasks=('a', 'b'), num_blocks=2, values=values)
    with pytest.raises(TwoTaskTableError, match=r'shape \(2, 2, 3\).*\(2, 2, 4\)'):
        TwoTaskTable(tasks=('a', 'b'), num_blocks=3, values=np.zeros((2, 2, 3)))


def test_misspelled_task_on_one_row_is_named_with_its_line(tmp_path):
    path = tmp_path / 'typo.csv'
    path.write_text('task_a,task_b,branch,perf_a,perf_b\n'
                    'seg,depth,1,1,2\nseg,depth,2,1,2\n'
                    'seg,normal,1,1,2\nsegg,normal,2,1,2\n'
                    'depth,normal,1,1,2\ndepth,normal,2,1,2\n')
    with pytest.raises(TwoTaskTableError) as info:
        TwoTaskTable.from_csv(path, tasks=['seg', 'depth', 'normal'])
    message = str(info.value)
    assert 'pair (seg, normal) branch 2' in message
    assert "'segg' (did you mean 'seg'?) on line 5" in message
