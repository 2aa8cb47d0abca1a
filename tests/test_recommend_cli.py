"""End-to-end tests of tools/recommend.py and the config-driven API on the paper configs."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from treemtl_plugin.apis.recommendation import recommend_from_config
from treemtl_plugin.errors import ConfigError, TreeMTLError

from helpers import PAPER_CFG as NYU_R34
from helpers import ROOT, load_tool

PAPER = ROOT / 'configs' / 'paper'
TOOL = load_tool('recommend')


def run_tool(*args) -> int:
    return TOOL.main([str(a) for a in args])


def test_end_to_end_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # paths in the config resolve from the config file, not cwd
    work = tmp_path / 'out'
    assert run_tool(NYU_R34, '--work-dir', work) == 0
    printed = capsys.readouterr().out
    assert 'Top-5 recommended layouts' in printed and '51 layouts' in printed

    top = json.loads((work / 'top_layouts.json').read_text())
    assert [t['rank'] for t in top] == [1, 2, 3, 4, 5]
    for key in ('rank', 'layout', 'score', 'estimates', 'flops', 'flops_ratio', 'params'):
        assert key in top[0]
    assert [round(t['flops_saving_pct'], 2) for t in top] == [36.56, 66.67, 46.86, 34.87, 46.86]
    assert top[1]['layout'] == [[['segment_semantic', 'normal', 'depth_zbuffer']]] * 5
    assert set(top[0]['estimates']) == {'segment_semantic', 'normal', 'depth_zbuffer'}
    scores = [t['score'] for t in top]
    assert scores == sorted(scores, reverse=True)
    assert top[1]['flops'] == pytest.approx(37.111698752)
    assert top[1]['params'] == pytest.approx(21.284672)

    with open(work / 'layouts.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 51                       # every layout of the space
    assert [int(r['rank']) for r in rows[:3]] == [1, 2, 3]
    assert json.loads(rows[0]['layout']) == top[0]['layout']
    assert float(rows[0]['score']) == pytest.approx(top[0]['score'], abs=1e-12)

    png = (work / 'pareto.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000
    summary = json.loads((work / 'recommendation.json').read_text())
    assert summary['num_layouts'] == 51 and summary['search'] == 'enumeration'
    assert summary['task_weights']['normal'] == pytest.approx(0.57806, abs=1e-4)
    assert summary['evaluated_csv_complete'] is True
    flops = [p['flops'] for p in summary['pareto']]
    assert flops == sorted(flops) and len(flops) >= 2
    report = (work / 'report.txt').read_text()
    assert 'blocks 4-5: depth_zbuffer -> head' in report
    assert (work / NYU_R34.name).is_file()      # the config used is kept beside the results


def test_budget_flags_and_cfg_options(tmp_path):
    work = tmp_path / 'b'
    assert run_tool(NYU_R34, '--work-dir', work, '--max-models', '2',
                    '--cfg-options', 'recommender.topk=3') == 0
    top = json.loads((work / 'top_layouts.json').read_text())
    assert len(top) == 3
    assert all(t['models'] <= 2 for t in top)
    assert all(t['within_budget'] for t in top)
    # a tighter budget leaves only the all-shared layout
    assert run_tool(NYU_R34, '--work-dir', work, '--max-flops-ratio', '0.34') == 0
    top = json.loads((work / 'top_layouts.json').read_text())
    assert len(top) == 1 and top[0]['models'] == pytest.approx(1.0)
    assert run_tool(NYU_R34, '--work-dir', work, '--max-params', '22', '--topk', '2') == 0
    top = json.loads((work / 'top_layouts.json').read_text())
    assert len(top) == 1 and top[0]['params'] <= 22


def test_infeasible_budget_names_cheapest_cost(tmp_path, capsys):
    assert run_tool(NYU_R34, '--work-dir', tmp_path, '--max-flops', '10') == 1
    err = capsys.readouterr().err
    assert 'cheapest' in err and '37.1117 GMac' in err


@pytest.mark.parametrize('name', ['nyuv2_mobilenetv2', 'taskonomy_deeplab_resnet34',
                                  'taskonomy_mobilenetv2'])
def test_every_paper_config_runs(name, tmp_path):
    assert run_tool(PAPER / f'{name}.py', '--work-dir', tmp_path, '--max-models', '2') == 0
    top = json.loads((tmp_path / 'top_layouts.json').read_text())
    assert len(top) == 5 and all(t['models'] <= 2 + 1e-9 for t in top)


def test_script_runs_as_a_program(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'recommend.py'), str(NYU_R34),
                           '--work-dir', str(tmp_path), '--topk', '2'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'Top-2 recommended layouts' in proc.stdout


def test_missing_config_file(capsys):
    assert run_tool('no/such/config.py') == 2
    assert 'config file not found' in capsys.readouterr().err


def _cfg(**overrides):
    cfg = dict(tasks=['segment_semantic', 'normal', 'depth_zbuffer'],
               two_task_table=str(PAPER / 'data' / 'nyuv2_deeplab_resnet34.csv'),
               block_flops=[1, 2, 3, 4, 5])
    cfg.update(overrides)
    return {k: v for k, v in cfg.items() if v is not None}


@pytest.mark.parametrize('overrides, message', [
    (dict(tasks=None), 'no `tasks`'),
    (dict(tasks=['normal']), 'at least two tasks'),
    (dict(tasks='normal'), 'list of task-name strings'),
    (dict(two_task_table=None), 'no `two_task_table`'),
    (dict(two_task_table='missing.csv'), "not found: 'missing.csv'"),
    (dict(block_flops=None), 'no `block_flops`'),
    (dict(block_flops=[1, 2, 3]), 'branch'),
    (dict(block_flops=[1, 2, 3, 4, -5]), 'finite and >= 0'),
    (dict(block_params=[1, 2]), 'block_params has 2 entries'),
    (dict(recommender=dict(budget=dict(max_model=2))), "unknown budget option"),
    (dict(recommender=dict(top_k=2)), 'unknown recommender option'),
    (dict(recommender=dict(budget=dict(max_params=3))), 'block_params'),
    (dict(recommender=dict(budget=dict(max_flops_ratio=60))), 'fraction'),
    (dict(recommender=dict(task_weights='entropy')), "task_weights='entropy'"),
])
def test_bad_configs_fail_with_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        recommend_from_config(_cfg(**overrides))


def test_unknown_task_suggests_close_name():
    with pytest.raises(ValueError, match='depth_zbuffer'):
        recommend_from_config(_cfg(tasks=['segment_semantic', 'normal', 'depth']))


def test_config_subset_of_table_tasks():
    rec = recommend_from_config(_cfg(tasks=['normal', 'depth_zbuffer'], block_flops=[1] * 5,
                                     recommender=dict(topk=3)))
    assert rec.tasks == ('normal', 'depth_zbuffer')
    assert rec.num_layouts == 6  # two tasks: branch at 0..5
    assert isinstance(rec.top[0].layout.tasks, tuple)


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, TreeMTLError)


TASKONOMY_R34 = PAPER / 'taskonomy_deeplab_resnet34.py'


def test_task_grouping_strategy_outputs(tmp_path, capsys):
    assert run_tool(TASKONOMY_R34, '--work-dir', tmp_path, '--strategy', 'task_grouping',
                    '--max-models', '3', '--topk', '3') == 0
    out = capsys.readouterr().out
    assert 'Top-3 task groupings' in out and 'serves' in out
    top = json.loads((tmp_path / 'top_layouts.json').read_text())
    assert [t['rank'] for t in top] == [1, 2, 3]
    for entry in top:
        assert entry['models'] <= 3
        for task, index in entry['chosen'].items():
            assert task in entry['groups'][index]
            assert entry['chosen_group'][task] == entry['groups'][index]
        assert set(entry['estimates']) == set(entry['chosen'])
    assert top[0]['score'] >= top[1]['score'] >= top[2]['score']
    assert (tmp_path / 'groupings.csv').read_text().count('\n') == 4
    summary = json.loads((tmp_path / 'recommendation.json').read_text())
    assert summary['strategy'] == 'TaskGroupingRecommender' and summary['num_candidates'] == 31


def test_compare_budgets_table_and_plot(tmp_path, capsys):
    assert run_tool(TASKONOMY_R34, '--work-dir', tmp_path, '--compare-budgets', '1', '2',
                    '3', '4', '5') == 0
    out = capsys.readouterr().out
    assert 'Best tree layout vs best task grouping' in out
    wrote = ' '.join(line for line in out.splitlines() if 'wrote in' in line or
                     line.startswith('  '))
    assert 'compare.txt' in wrote and (tmp_path / 'compare.txt').is_file()
    rows = json.loads((tmp_path / 'compare.json').read_text())
    assert [r['max_models'] for r in rows] == [1, 2, 3, 4, 5]
    # one backbone: both strategies can only share everything -> the same model and score
    assert rows[0]['winner'] == 'tie'
    assert rows[0]['tree_score'] == pytest.approx(rows[0]['grouping_score_tree_estimator'])
    for r in rows:
        assert r['tree_models'] <= r['max_models'] + 1e-9
        assert r['grouping_models'] <= r['max_models']
    # larger budgets never lower the best score
    for key in ('tree_score', 'grouping_score'):
        assert all(a[key] <= b[key] + 1e-12 for a, b in zip(rows, rows[1:]))
    png = (tmp_path / 'compare.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'


def test_grouping_budget_below_one_backbone(tmp_path, capsys):
    assert run_tool(TASKONOMY_R34, '--work-dir', tmp_path, '--strategy', 'task_grouping',
                    '--max-models', '0.5') == 1
    assert 'one network shared by all tasks' in capsys.readouterr().err
