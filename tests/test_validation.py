"""The validation harness: statistics on known inputs, and the whole study on a tiny config."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from helpers import tiny_config

from treemtl_plugin.core.layout import Layout
from treemtl_plugin.apis.validation import summarise
from treemtl_plugin.io.atomic import dumps_strict
from treemtl_plugin.evaluation.agreement import agreement, noise_floor, reliability, seed_splits

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CFG = ROOT / 'configs' / 'synthetic' / 'tree_resnet18_synthetic_3task.py'


# -- statistics -----------------------------------------------------------------------------
def test_agreement_on_known_rankings():
    perfect = agreement([3, 2, 1, 0], [30, 20, 10, 0], k=2)
    assert perfect['spearman'] == pytest.approx(1) and perfect['kendall'] == pytest.approx(1)
    assert perfect['top1_regret'] == 0 and perfect['precision_at_k'] == 1
    reversed_ = agreement([3, 2, 1, 0], [0, 10, 20, 30], k=2)
    assert reversed_['spearman'] == pytest.approx(-1)
    assert reversed_['top1_regret'] == 30 and reversed_['precision_at_k'] == 0
    half = agreement([4, 3, 2, 1, 0], [5, 9, 1, 2, 0], k=2)
    assert half['top1_regret'] == 4 and half['precision_at_k'] == 1.0
    assert np.isnan(agreement([1, 1, 1], [1, 2, 3])['spearman'])     # constant estimate


def test_noise_floor_splits_and_bounds():
    assert seed_splits(1) == []
    assert seed_splits(2) == [((0,), (1,))]
    assert len(seed_splits(3)) == 3 and len(seed_splits(4)) == 3
    truth = np.arange(10.0)
    noiseless = np.stack([truth] * 4, axis=1)
    floor = noise_floor(noiseless)
    assert floor['spearman']['min'] == pytest.approx(1) and floor['splits'] == 3
    rng = np.random.default_rng(0)
    noisy = truth[:, None] + rng.normal(0, 50, size=(10, 4))
    assert noise_floor(noisy)['spearman']['mean'] < 0.8


def test_undefined_statistics_stay_strict_json():
    items = [dict(estimated={'a': 0.0, 'b': 0.0},
                  measured={'0': {'a': 1.0, 'b': 2.0}, '1': {'a': 1.0, 'b': 2.0}})] * 3
    summary = summarise(items, {'a': 0.5, 'b': 0.5}, [0, 1])     # constant: no correlation
    assert summary['weighted']['agreement']['spearman'] is None
    assert summary['per_task']['a']['spearman'] is None
    json.loads(dumps_strict(summary))


def test_reliability_separates_layout_spread_from_seed_noise():
    rng = np.random.default_rng(1)
    truth = rng.normal(0, 1.0, size=4000)                       # layout SD 1
    scores = truth[:, None] + rng.normal(0, 2.0, size=(4000, 4))  # seed SD 2, 4 seeds
    r = reliability(scores)
    assert r['seed_sd'] == pytest.approx(2.0, rel=0.03)
    assert r['layout_sd'] == pytest.approx(1.0, rel=0.06)
    assert r['reliability'] == pytest.approx(1 / (1 + 4 / 4), abs=0.03)    # 0.5
    assert r['seeds_for_target'] == pytest.approx(4 * 4, rel=0.12)       # 0.8/0.2 * 4/1
    noiseless = reliability(np.stack([np.arange(5.0)] * 3, axis=1))
    assert noiseless['reliability'] == 1 and noiseless['seeds_for_target'] == 1
    flat = reliability(rng.normal(0, 1, size=(50, 3)) * 0 + rng.normal(0, 1, size=(50, 3)))
    assert flat['reliability'] < 0.3
    shifted = reliability(scores + np.array([0.0, 5.0, -5.0, 10.0]))   # per-seed shifts
    assert shifted['reliability'] == pytest.approx(r['reliability'], abs=1e-9)
    assert shifted['seed_shift_sd'] > 5
    none = reliability(np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]))    # means equal
    assert none['layout_sd'] == 0 and none['seeds_for_target'] is None
    assert reliability(np.zeros((5, 1))) == {}


# -- the study ------------------------------------------------------------------------------
def micro_cfg(tmp_path) -> Config:
    return tiny_config(validation=dict(train_cfg=dict(max_iters=3), seeds=3))


def fake_train(calls):
    """Metrics: segmentation improves with the shared blocks, plus a small seed effect."""
    def train(cfg):
        calls.append((cfg.experiment_name, cfg.train_cfg.max_iters, cfg.randomness.seed))
        layout = Layout(cfg.model.layout)
        tasks = list(cfg.model.tasks)
        shared = layout.branch_point(*tasks) if len(tasks) == 2 else 0
        noise = 0.01 * cfg.randomness.seed
        out = {}
        if 'segment_semantic' in tasks:
            out['segment_semantic/mIoU'] = 40.0 + 2.0 * shared + noise
            out['segment_semantic/pixel_acc'] = 80.0
        if 'depth_zbuffer' in tasks:
            out['depth_zbuffer/abs_err'] = 1.0 - 0.05 * shared + noise
            out['depth_zbuffer/rel_err'] = 0.5
        return out
    return train


def _tool():
    spec = importlib.util.spec_from_file_location(
        'validate_tool', ROOT / 'tools' / 'analysis' / 'validate_recommender.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_trains_every_layout_per_seed_and_agrees(tmp_path):
    from treemtl_plugin.apis.validation import run_validation
    calls = []
    study = run_validation(micro_cfg(tmp_path), str(tmp_path), train_fn=fake_train(calls),
                           log=lambda m: None)
    validation = [c for c in calls if c[1] == 3]
    assert len(validation) == 3 * 3 + 2 * 3          # 3 layouts x 3 seeds + 2 singles x 3
    assert sorted({c[2] for c in validation}) == [0, 1, 2]
    saved = json.loads((tmp_path / 'validation.json').read_text())
    assert saved['seeds'] == [0, 1, 2] and saved['num_blocks'] == 2
    assert len(saved['layouts']) == 3
    for item in saved['layouts']:
        assert set(item) >= {'layout', 'estimated_score', 'estimated', 'measured'}
        assert set(item['measured']) == {'0', '1', '2'}
    weighted = saved['summary']['weighted']
    assert weighted['agreement']['spearman'] == pytest.approx(1.0)   # more sharing is better
    assert weighted['agreement']['top1_regret'] == pytest.approx(0.0, abs=1e-9)
    assert weighted['noise_floor']['splits'] == 3
    assert weighted['reliability']['seeds'] == 3
    assert weighted['agreement']['spearman_p'] < 0.05
    assert (tmp_path / 'validation.png').read_bytes()[:4] == b'\x89PNG'
    assert study['summary'] == saved['summary']
    # resumable: a second call reuses every run
    calls.clear()
    with pytest.raises(Exception, match='pass --resume'):
        run_validation(micro_cfg(tmp_path), str(tmp_path), train_fn=fake_train(calls),
                       log=lambda m: None)
    run_validation(micro_cfg(tmp_path), str(tmp_path), resume=True,
                   train_fn=fake_train(calls), log=lambda m: None)
    assert calls == []


def test_stratified_sample_keeps_extremes_and_top(tmp_path):
    from treemtl_plugin import CostModel, TwoTaskTable, recommend_layouts
    from treemtl_plugin.apis.validation import select_layouts
    table = TwoTaskTable.from_csv(str(ROOT / 'configs/paper/data/taskonomy_mobilenetv2.csv'))
    rec = recommend_layouts(table, CostModel([1.0] * 5), topk=1)
    picked = select_layouts(rec, 20)
    assert len(picked) == 20
    ranks = [p['estimated_rank'] for p in picked]
    assert ranks == sorted(ranks) and ranks[:5] == [1, 2, 3, 4, 5]
    assert ranks[-1] == rec.num_layouts                        # the bottom
    layouts = [p['layout'] for p in picked]
    assert Layout.all_shared(table.tasks, 5) in layouts
    assert Layout.independent(table.tasks, 5) in layouts


def test_tool_runs_and_prints_the_summary(tmp_path, monkeypatch, capsys):
    from treemtl_plugin.sweep import executor
    calls = []
    monkeypatch.setattr(executor, 'train_and_evaluate', fake_train(calls))
    cfg_path = tmp_path / 'micro.py'
    from treemtl_plugin.io.config_file import dump_config
    dump_config(micro_cfg(tmp_path), str(cfg_path))
    tool = _tool()
    assert tool.main([str(cfg_path), '--work-dir', str(tmp_path / 'w'), '--seeds', '2']) == 0
    out = capsys.readouterr().out
    assert 'weighted: Spearman 1.000' in out and 'validation.json' in out
