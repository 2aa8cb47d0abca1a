"""The tools print a warning once, as a ``warning:`` line of the job (in its log file when one
is open), never as a Python warning with its source line; a fact the report prints anyway
(the task weights' note) is not also warned."""
from __future__ import annotations

import warnings

import numpy as np

from treemtl_plugin.core.estimator import resolve_task_weights
from treemtl_plugin.errors import ReportedWarning

from helpers import PAPER_CFG, ROOT, load_tool


def test_a_strategy_switch_warns_once_as_a_line(tmp_path, capsys):
    code = load_tool('recommend').main([str(PAPER_CFG), '--strategy', 'task_grouping',
                                        '--work-dir', str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0
    assert 'UserWarning' not in out + err and '.py:' not in err
    assert (out + err).count('warning: --strategy task_grouping: the TreeRecommender') == 1


def test_a_fact_the_report_prints_is_not_warned_again(tmp_path, capsys):
    table = tmp_path / 'two_blocks.csv'           # 2 branching points: SVDE falls back
    rows = [f'{a},{b},{k},{k * (1.5 - i)},{k * (1 - 0.5 * i)}' for i, (a, b) in
            enumerate([('a', 'b'), ('a', 'c'), ('b', 'c')]) for k in range(3)]
    table.write_text('task_a,task_b,branch,perf_a,perf_b\n' + '\n'.join(rows) + '\n',
                     encoding='utf-8')
    config = tmp_path / 'two_blocks.py'
    config.write_text(
        f"_base_ = ['{ROOT / 'configs' / '_base_' / 'recommender' / 'default.py'}']\n"
        f"tasks = ['a', 'b', 'c']\ntwo_task_table = '{table}'\nblock_flops = [1.0, 2.0]\n",
        encoding='utf-8')
    code = load_tool('recommend').main([str(config), '--work-dir', str(tmp_path / 'w')])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert 'UserWarning' not in out + err and 'warning:' not in out + err
    assert (out + err).count('SVDE needs >= 3 branching points') == 1     # the report's note
    with warnings.catch_warnings(record=True) as caught:     # the Python API still warns
        warnings.simplefilter('always')
        resolve_task_weights(np.zeros((3, 3, 3)), ['a', 'b', 'c'])
    assert [w.category for w in caught] == [ReportedWarning]
