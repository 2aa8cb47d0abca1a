"""The printed report reads at 80, 120 and 200 columns: every number shown in full."""
from __future__ import annotations

import io
import re

import pytest

from treemtl_plugin import CostModel, TwoTaskTable, recommend_layouts, recommend_task_groups
from treemtl_plugin.apis.compare import compare_strategies
from treemtl_plugin.visualization.report import make_console, print_comparison, print_report

from helpers import ROOT

TABLE = ROOT / 'configs' / 'paper' / 'data' / 'taskonomy_deeplab_resnet34.csv'
FLOPS = [0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704]


def render(fn, width: int) -> str:
    buffer = io.StringIO()
    fn(make_console(width, file=buffer))
    return buffer.getvalue()


@pytest.fixture(scope='module')
def table():
    return TwoTaskTable.from_csv(str(TABLE))


@pytest.mark.parametrize('width', [80, 120, 200])
@pytest.mark.parametrize('strategy', ['tree', 'grouping'])
def test_every_number_is_shown_in_full(table, width, strategy):
    cost = CostModel(FLOPS, block_params=[0.0095, 0.222, 1.116, 6.822, 13.114])
    fn = recommend_layouts if strategy == 'tree' else recommend_task_groups
    rec = fn(table, cost, dict(max_models=3), topk=8)
    text = render(lambda console: print_report(rec, console=console), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert '…' not in text
    for c in rec.top:
        assert re.search(rf'\b{c.rank}\s+{c.score:.3f}\s+{c.flops:.4g}', text), c.rank
        for task in rec.tasks:
            assert f'{c.estimates[task]:+.2f}' in text
        flat = ' '.join(text.split())                     # the drawing is there too (long
        assert ' '.join(c.draw().splitlines()[-1].split()) in flat   # lines may wrap)
    title = 'recommended layouts' if strategy == 'tree' else 'task groupings'
    assert f'Top-8 {title}' in text


@pytest.mark.parametrize('width', [80, 120, 200])
def test_comparison_shows_numbers_and_structures(table, width):
    from mmengine.config import Config
    cfg = Config(dict(recommender=dict(type='TreeRecommender')))
    rows = compare_strategies(cfg, table, CostModel(FLOPS), [1, 2, 3])
    text = render(lambda console: print_comparison(rows, 'GMac', console=console), width)
    assert max(len(line) for line in text.splitlines()) <= width and '…' not in text
    for r in rows:
        assert f'{r["tree_score"]:.3f}' in text and f'{r["grouping_score"]:.3f}' in text
        assert f'{r["tree_flops"]:.4g}' in text and f'{r["grouping_flops"]:.4g}' in text
        assert r['grouping'].split(' · ')[0] in text.replace('\n', ' ')


def test_report_file_is_100_columns_and_the_terminal_width_is_honoured(table, tmp_path,
                                                                       monkeypatch):
    rec = recommend_layouts(table, CostModel(FLOPS), topk=3)
    monkeypatch.setenv('COLUMNS', '90')
    buffer = io.StringIO()
    console = make_console(file=buffer)
    assert console.width == 90                       # $COLUMNS when not a terminal
    print_report(rec, save_path=str(tmp_path / 'report.txt'), console=console)
    assert max(len(line) for line in buffer.getvalue().splitlines()) <= 90
    saved = (tmp_path / 'report.txt').read_text().splitlines()
    assert max(len(line) for line in saved) <= 100


def test_pareto_legend_counts_match_layouts_csv(tmp_path):
    """The legend's within/over-budget counts are those of layouts.csv (51 NYUv2 layouts at
    --max-models 2), not the size of the whole space twice."""
    import csv

    from mmengine.config import Config

    from treemtl_plugin.apis.recommendation import recommend_from_config
    from treemtl_plugin.apis.writers import write_recommendation
    from treemtl_plugin.visualization.plots import plot_pareto
    cfg = Config.fromfile(str(ROOT / 'configs/paper/nyuv2_deeplab_resnet34.py'))
    cfg.recommender.budget = dict(max_models=2)
    rec = recommend_from_config(cfg)
    write_recommendation(rec, str(tmp_path))
    with open(tmp_path / 'layouts.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    within = sum(r['within_budget'] == '1' for r in rows)
    assert len(rows) == 51 and 0 < within < 51
    labels = plot_pareto(rec, str(tmp_path / 'again.png'))
    assert f'{within} of 51 layouts (within budget)' in labels
    assert f'{51 - within} of 51 layouts (over budget)' in labels


def test_job_log_lines_follow_the_terminal_width_and_the_file_keeps_them_whole(tmp_path):
    from treemtl_plugin.engine.job_log import JobLog
    out = io.StringIO()
    log = JobLog(str(tmp_path), 'job', console=make_console(width=60, file=out))
    line = '[sweep] run 3/15: pair__a1__a2__b3 ' + ' '.join(f'metric{k}=0.{k}' for k in range(20))
    log(line)
    log.close()
    printed = out.getvalue().splitlines()
    assert len(printed) > 1 and all(len(p) <= 60 for p in printed)
    assert all(p.startswith('    ') for p in printed[1:])
    assert line in (tmp_path / 'job.log').read_text()


def test_small_flops_keep_their_differences():
    """A model of a few MFLOPs shown in GFLOPs: two layouts that differ never print alike."""
    from treemtl_plugin.visualization.report import _cost
    assert _cost(0.0031) != _cost(0.0037) and _cost(0.0031) == '0.0031'
    assert _cost(1234.5678) == '1235' and _cost(None) == '-'
