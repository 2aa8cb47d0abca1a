"""The validation harness: statistics on known inputs, and the whole study on a tiny config."""
from __future__ import annotations

import json

import numpy as np
import pytest
from mmengine.config import Config

from treemtl_plugin.apis.validation import summarise
from treemtl_plugin.core.layout import Layout
from treemtl_plugin.evaluation.agreement import (
    agreement,
    anova,
    budget_regrets,
    difference_se,
    precision_at_k,
    reliability,
    spearman_ci,
)
from treemtl_plugin.io.atomic import dumps_strict

from helpers import ROOT, tiny_config


# -- statistics -----------------------------------------------------------------------------
def test_agreement_on_known_rankings():
    perfect = agreement([3, 2, 1, 0], [30, 20, 10, 0], k=2)
    assert perfect['spearman'] == pytest.approx(1) and perfect['kendall'] == pytest.approx(1)
    assert perfect['top1_regret'] == 0 and perfect['precision_at_k'] == 1
    assert perfect['precision_chance'] == pytest.approx(0.5)
    reversed_ = agreement([3, 2, 1, 0], [0, 10, 20, 30], k=2)
    assert reversed_['spearman'] == pytest.approx(-1)
    assert reversed_['top1_regret'] == 30 and reversed_['precision_at_k'] == 0
    half = agreement([4, 3, 2, 1, 0], [5, 9, 1, 2, 0], k=2)
    assert half['top1_regret'] == 4 and half['precision_at_k'] == 1.0
    assert np.isnan(agreement([1, 1, 1], [1, 2, 3])['spearman'])     # constant estimate


def test_ties_count_against_the_estimate():
    # the estimate ties its two best: the worse-trained one counts as its pick
    assert agreement([5, 5, 0, 0], [10, 4, 0, 1])['top1_regret'] == 6
    # measured ties at the top-2 boundary: the layout outside the estimated top-2 counts
    assert precision_at_k([4, 3, 2, 1], [9, 5, 5, 0], k=2) == pytest.approx(0.5)
    assert precision_at_k([4, 3, 2, 1], [9, 5, 4, 0], k=2) == 1.0
    # an estimate that ties everything gets chance-level or worse
    assert precision_at_k([1, 1, 1, 1], [4, 3, 2, 1], k=2) == 0.0


def test_spearman_ci_brackets_the_estimate_and_narrows_with_layouts():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200)
    noisy = truth + rng.normal(scale=0.7, size=200)
    a = agreement(noisy, truth)
    lo, hi = a['spearman_ci']
    assert lo < a['spearman'] < hi and hi - lo < 0.15
    lo30, hi30 = spearman_ci(noisy[:30], truth[:30])
    assert hi30 - lo30 > hi - lo
    assert np.isnan(spearman_ci([1, 2, 3], [1, 2, 3])[0])


def test_anova_f_and_the_difference_se():
    rng = np.random.default_rng(3)
    layouts = rng.normal(0, 2.0, size=(30, 1))
    scores = layouts + np.array([[0.0, 3.0, -1.0]]) + rng.normal(0, 0.5, size=(30, 3))
    table = anova(scores)
    assert table['F'] > 20 and table['p'] < 1e-6 and table['df_resid'] == 58
    assert difference_se(scores) == pytest.approx(np.sqrt(table['ms_resid'] * 2 / 3))
    assert difference_se(scores) == pytest.approx(0.5 * np.sqrt(2 / 3), rel=0.25)
    flat = anova(rng.normal(size=(30, 3)))
    assert flat['F'] < 3 and flat['p'] > 0.001
    assert anova(np.zeros((4, 1))) == {}


def test_budget_regrets_pick_the_best_estimated_within_each_budget():
    est = np.array([5.0, 4.0, 3.0, 2.0])
    mea = np.array([5.0, 1.0, 3.0, 2.0])
    flops = np.array([4.0, 1.0, 2.0, 3.0])
    out = budget_regrets(est, mea, flops, se=0.5, quantiles=(0.25, 0.5, 1.0))
    rows = out['budgets']
    assert [r['layouts'] for r in rows] == [1, 2, 4]
    assert [r['regret'] for r in rows] == [0.0, 2.0, 0.0]      # at 2 layouts it picks flops 1
    assert out['within_se_share'] == pytest.approx(2 / 3)


def test_one_seed_has_no_se_and_says_so_instead_of_not_within():
    from treemtl_plugin.visualization.report import validation_summary_lines
    est, mea, flops = np.array([5.0, 4.0, 3.0]), np.array([5.0, 1.0, 3.0]), np.ones(3)
    out = budget_regrets(est, mea, flops, se=float('nan'), quantiles=(0.5, 1.0))
    assert out['within_se_share'] is None and {r['within_se'] for r in out['budgets']} == {None}
    summary = dict(agreement=dict(spearman=1.0, spearman_ci=[None, None], spearman_p=None,
                                  kendall=1.0, k=1, precision_at_k=1.0, precision_chance=0.33,
                                  top1_regret=0.0),
                   difference_se=float('nan'), top1_within_se=None, budgets=out)
    text = '\n'.join(validation_summary_lines(summary))
    assert 'no SE of a difference (one seed per layout' in text
    assert 'within one SE' not in text and 'not within' not in text


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
    # the ceiling of any correlation is sqrt(reliability), its CI brackets it
    assert r['ceiling'] == pytest.approx(r['reliability'] ** 0.5)
    lo, hi = r['ceiling_ci']
    assert lo <= r['ceiling'] <= hi and hi - lo < 0.1
    assert reliability(np.zeros((5, 1))) == {}


# -- the study ------------------------------------------------------------------------------
def study_cfg() -> Config:
    """The tiny config with a study of 3 seeds at 3 iterations a training (the sweep's 2)."""
    return tiny_config(validation=dict(train_cfg=dict(max_iters=3), seeds=3))


def fake_train(calls):
    """Metrics: segmentation improves with the shared blocks, plus a small seed effect."""
    def train(cfg):
        calls.append((cfg.experiment_name, cfg.train_cfg.max_iters, cfg.randomness.seed,
                      cfg.val_dataloader.dataset.split))
        layout = Layout(cfg.model.layout)
        tasks = list(cfg.model.tasks)
        shared = layout.branch_point(*tasks) if len(tasks) == 2 else 0
        noise = 0.01 * (cfg.randomness.seed % 7) * (1 + len(tasks) + shared)
        out = {}
        if 'segment_semantic' in tasks:
            out['segment_semantic/mIoU'] = 40.0 + 2.0 * shared + noise
            out['segment_semantic/pixel_acc'] = 80.0
        if 'depth_zbuffer' in tasks:
            out['depth_zbuffer/abs_err'] = 1.0 - 0.05 * shared + noise
            out['depth_zbuffer/rel_err'] = 0.5
        return out
    return train


def test_study_trains_every_layout_per_seed_and_agrees(tmp_path):
    from treemtl_plugin.apis.validation import run_validation
    calls = []
    study = run_validation(study_cfg(), str(tmp_path), train_fn=fake_train(calls),
                           log=lambda m: None)
    validation = [c for c in calls if c[1] == 3]
    assert len(validation) == 3 * 3 + 2 * 3          # 3 layouts x 3 seeds + 2 singles x 3
    sweep_seeds = {c[2] for c in calls if c[1] != 3}
    assert sweep_seeds == {0}
    assert sorted({c[2] for c in validation}) == [1000, 1001, 1002]   # never a sweep seed
    assert all(c[3] == 'test' for c in validation)     # scored on the held-out split
    assert all(c[3] == 'val' for c in calls if c[1] != 3)
    saved = json.loads((tmp_path / 'validation.json').read_text())
    assert saved['seeds'] == [1000, 1001, 1002] and saved['sweep_seeds'] == [0]
    assert saved['num_blocks'] == 2 and saved['scored_on'] == 'test_dataloader'
    assert len(saved['layouts']) == 3
    for item in saved['layouts']:
        assert set(item) >= {'layout', 'estimated_score', 'estimated', 'measured', 'flops'}
        assert set(item['measured']) == {'1000', '1001', '1002'}
        assert item['flops'] > 0
    weighted = saved['summary']['weighted']
    assert weighted['agreement']['spearman'] == pytest.approx(1.0)   # more sharing is better
    assert weighted['agreement']['top1_regret'] == pytest.approx(0.0, abs=1e-9)
    assert weighted['reliability']['seeds'] == 3 and weighted['anova']['F'] > 1
    assert weighted['cost_alone']['spearman_flops'] == pytest.approx(-1.0)  # cheaper = better
    assert len(weighted['budgets']['budgets']) == 10
    assert weighted['agreement']['precision_chance'] == pytest.approx(1.0)  # k=3 of 3
    assert (tmp_path / 'validation.png').read_bytes()[:4] == b'\x89PNG'
    assert study['summary'] == saved['summary']
    # resumable: a second call reuses every run
    calls.clear()
    with pytest.raises(Exception, match='pass --resume'):
        run_validation(study_cfg(), str(tmp_path), train_fn=fake_train(calls),
                       log=lambda m: None)
    run_validation(study_cfg(), str(tmp_path), resume=True,
                   train_fn=fake_train(calls), log=lambda m: None)
    assert calls == []


def test_sharded_study_says_which_shard_must_run_again(tmp_path):
    from treemtl_plugin.apis.validation import run_validation
    logs, calls = [], []
    for shard in ((1, 2), (2, 2)):         # shard 1 ends with the sweep incomplete
        assert run_validation(study_cfg(), str(tmp_path), resume=True, shard=shard,
                              train_fn=fake_train(calls), log=logs.append) is None
    said = [m for m in logs if 'study runs are not trained and no process holds them' in m]
    assert len(said) == 1 and 'Run each other shard again with --resume' in said[0]
    assert not any('being trained by other processes' in m for m in logs)
    study = run_validation(study_cfg(), str(tmp_path), resume=True, shard=(1, 2),
                           train_fn=fake_train(calls), log=logs.append)
    assert study is not None and len(study['layouts']) == 3


def test_stratified_sample_keeps_extremes_and_top(tmp_path):
    from treemtl_plugin import CostModel, TwoTaskTable, recommend_layouts
    from treemtl_plugin.apis.validation import select_layouts
    table = TwoTaskTable.from_csv(str(ROOT / 'configs/paper/data/taskonomy_mobilenetv2.csv'))
    rec = recommend_layouts(table, CostModel([1.0] * 5), topk=1)
    right = Layout([[['segment_semantic', 'normal'], ['depth_zbuffer', 'edge_texture',
                                                      'keypoints2d']]] * 5)
    picked = select_layouts(rec, 20, include=(right,))
    assert len(picked) == 20
    assert right.with_tasks(table.tasks) in [p['layout'] for p in picked]
    ranks = [p['estimated_rank'] for p in picked]
    assert ranks == sorted(ranks) and ranks[:5] == [1, 2, 3, 4, 5]
    assert ranks[-1] == rec.num_layouts                        # the bottom
    layouts = [p['layout'] for p in picked]
    assert Layout.all_shared(table.tasks, 5) in layouts
    assert Layout.independent(table.tasks, 5) in layouts


def test_tool_runs_and_prints_the_summary(tmp_path, monkeypatch, capsys, tool):
    from treemtl_plugin.sweep import executor
    calls = []
    monkeypatch.setattr(executor, 'train_and_evaluate', fake_train(calls))
    cfg_path = tmp_path / 'micro.py'
    from treemtl_plugin.io.config_file import dump_config
    dump_config(study_cfg(), str(cfg_path))
    validate = tool('analysis/validate_recommender')
    assert validate.main([str(cfg_path), '--work-dir', str(tmp_path / 'w'), '--seeds', '2']) == 0
    out = capsys.readouterr().out
    assert 'estimate vs trained: Spearman 1.000' in out and 'validation.json' in out
    assert 'seeds [1000, 1001] (sweep: [0]), scored on test_dataloader' in out
    assert 'FLOPs alone vs trained: Spearman -1.000' in out and '(chance 1.00)' in out


def test_a_study_never_reuses_the_sweeps_seeds(tmp_path):
    from treemtl_plugin.apis.validation import validation_settings
    from treemtl_plugin.errors import ConfigError
    cfg = study_cfg()
    assert validation_settings(cfg)['seeds'] == [1000, 1001, 1002]
    assert validation_settings(cfg)['sweep_seeds'] == [0]
    with pytest.raises(ConfigError, match=r'validation seeds \[0\] are seeds the sweep trained'):
        validation_settings(tiny_config(validation=dict(seeds=[0, 5])))
    cfg = tiny_config(validation=dict(seeds=[1000, 1001]))
    cfg.merge_from_dict({'sweep.seeds': [1001, 7]})
    with pytest.raises(ConfigError, match=r'\[1001\] .*sweep seeds \[1001, 7\]'):
        validation_settings(cfg)
    cfg = tiny_config(validation=dict(seeds=2))
    cfg.randomness.seed = 1000                 # a count skips the sweep's seeds
    assert validation_settings(cfg)['seeds'] == [1001, 1002]


def test_a_study_without_a_test_split_says_it_is_scored_on_val(tmp_path):
    from treemtl_plugin.apis.validation import run_validation
    cfg = study_cfg()
    cfg.test_dataloader = cfg.val_dataloader
    cfg.merge_from_dict({'validation.right_tree': [[['depth_zbuffer'], ['segment_semantic']]] * 2})
    study = run_validation(cfg, str(tmp_path), train_fn=fake_train([]), log=lambda m: None)
    assert study['scored_on'].startswith('val_dataloader (the config has no separate test')
    right = study['summary']['weighted']['right_tree']
    assert right['estimated_rank'] == 3 and right['trained_rank'] == 3 and right['layouts'] == 3


# -- the tree against task grouping ---------------------------------------------------------
def fake_train3(calls):
    """Three tasks: segment_semantic and depth_zbuffer gain 2 points per block they share,
    normal loses 1 degree per block it shares with anyone; a small seed effect."""
    def train(cfg):
        calls.append((cfg.experiment_name, tuple(cfg.model.tasks), cfg.randomness.seed))
        layout = Layout(cfg.model.layout)
        tasks = list(cfg.model.tasks)

        def shared(a, b):
            return layout.branch_point(a, b) if a in tasks and b in tasks else 0
        noise = 0.01 * (cfg.randomness.seed % 7)
        sd = shared('segment_semantic', 'depth_zbuffer')
        out = {}
        if 'segment_semantic' in tasks:
            out.update({'segment_semantic/mIoU': 40.0 + 2.0 * sd + noise,
                        'segment_semantic/pixel_acc': 80.0})
        if 'depth_zbuffer' in tasks:
            out.update({'depth_zbuffer/abs_err': 1.0 - 0.05 * sd + noise,
                        'depth_zbuffer/rel_err': 0.5})
        if 'normal' in tasks:
            hurt = max(shared('normal', 'segment_semantic'), shared('normal', 'depth_zbuffer'))
            out.update({'normal/mean_angle': 20.0 + hurt + noise, 'normal/median_angle': 15.0,
                        'normal/within_11.25': 30.0, 'normal/within_22.5': 60.0,
                        'normal/within_30': 70.0})
        return out
    return train


def test_study_trains_the_grouping_recommended_at_each_budget_beside_the_tree(tmp_path):
    from treemtl_plugin.apis.validation import rescore_study, run_validation

    from helpers import DEFAULT_TASKS
    calls = []
    cfg = tiny_config(tasks=DEFAULT_TASKS, validation=dict(train_cfg=dict(max_iters=3),
                                                            seeds=2))
    study = run_validation(cfg, str(tmp_path), train_fn=fake_train3(calls),
                           log=lambda m: None)
    assert len(study['budgets']) == 10
    assert study['estimator'] == 'paper' and np.asarray(study['table']).shape == (3, 3, 3)
    # a grouping's network of two tasks is trained as an all-shared model of those two, once
    # per study seed; a network of every task is the all-shared layout the study trains anyway
    groups = {c[1] for c in calls if c[0].startswith('group_')}
    picked = {tuple(sorted(g)) for b in study['budgets'] for p in b['grouping'].values()
              if p for g in p['groups'] if 1 < len(g) < 3}
    assert groups == picked and groups
    assert sum(c[0].startswith('group_') for c in calls) == 2 * len(groups)
    # every estimator's tree pick at every budget is among the studied layouts
    studied = [Layout(item['layout']) for item in study['layouts']]
    for budget in study['budgets']:
        assert set(budget['tree']) == {'paper', 'blockwise'}
        for layout in budget['tree'].values():
            assert Layout(layout) in studied
            assert Layout(layout).sets_per_block().sum() <= 3 * 2
    summary = study['summary']
    assert set(summary['estimators']) == {'paper', 'blockwise'}
    result = summary['tree_vs_grouping']['weighted']
    assert len(result['budgets']) == 10
    # where the tree is the grouping {seg, depth} {normal} itself, both train the same
    target = Layout([[['depth_zbuffer', 'segment_semantic'], ['normal']]] * 2)
    for row, budget in zip(result['budgets'], study['budgets']):
        pick = budget['grouping']['weighted']
        for name, entry in row['tree'].items():
            if Layout(entry['layout']) == target and pick and \
                    sorted(map(sorted, pick['groups'])) == [['depth_zbuffer',
                                                              'segment_semantic'], ['normal']]:
                assert entry['minus_grouping'] == pytest.approx(0.0, abs=1e-9)
        assert row['best_trained'] >= max(e['mean'] for e in row['tree'].values()) - 1e-9
    tally = result['better']['paper']
    assert sum(tally.values()) == 10
    # every figure is recomputed from the rows
    saved = json.loads((tmp_path / 'validation.json').read_text())
    again = rescore_study(saved)
    assert again['summary']['tree_vs_grouping'] == saved['summary']['tree_vs_grouping']
    assert again['summary']['estimators'] == saved['summary']['estimators']


def test_the_grouping_gets_the_trees_backbone_budget_whatever_the_heads_cost():
    """A budget of exactly two backbones admits a two-network grouping, heads or not (the
    trees' budgets count backbone FLOPs only)."""
    from treemtl_plugin.apis.validation import grouping_picks
    from treemtl_plugin.core.cost import CostModel
    from treemtl_plugin.core.table import TwoTaskTable
    values = np.zeros((3, 3, 3))
    values[0, 1, 1:] = values[1, 0, 1:] = 10.0        # a and b gain from sharing
    values[2, :2, 1:] = values[:2, 2, 1:] = -20.0      # c loses from sharing
    table = TwoTaskTable(('a', 'b', 'c'), 2, values)
    cost = CostModel([1.0, 1.0], head_flops=0.5)
    picks = grouping_picks(table, cost, dict(weighted=np.full(3, 1 / 3)), [4.0, 2.0])
    assert sorted(map(sorted, picks[0]['weighted']['groups'])) == [['a', 'b'], ['c']]
    assert picks[0]['weighted']['models'] == 2.0
    assert picks[1]['weighted']['groups'] == [['a', 'b', 'c']]          # one backbone
    assert picks[0]['weighted']['chosen'] == {'a': ['a', 'b'], 'b': ['a', 'b'], 'c': ['c']}
