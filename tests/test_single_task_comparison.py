"""tools/train.py and tools/test.py compare an exported recommendation's trained model with the
sweep's single-task models, like for like or saying what differs."""
from __future__ import annotations

import json
from pathlib import Path

from mmengine.config import Config

from treemtl_plugin.apis.single_task import (
    compare_with_single_task,
    comparison_lines,
    report_against_single_task,
)
from treemtl_plugin.core.layout import Layout
from treemtl_plugin.engine.img_size import apply_img_size
from treemtl_plugin.sweep.fingerprint import run_fingerprint
from treemtl_plugin.sweep.run_config import run_config

from helpers import TEACHER_CFG

TASKS = ['a1', 'a2', 'c']


def exported(tmp_path, seed=0) -> Config:
    """The teacher config as exported: a tree layout and where its sweep is."""
    cfg = Config.fromfile(str(TEACHER_CFG))
    apply_img_size(cfg)
    cfg.model.layout = [[['a1', 'a2'], ['c']]] * 4
    cfg.merge_from_dict({'randomness.seed': seed})
    cfg.recommendation = dict(rank=1, estimates=dict(a1=8.0, a2=6.0, c=0.0),
                              sweep_dir=str(tmp_path / 'sweep'))
    cfg.work_dir = str(tmp_path / 'train')
    return cfg


def write_single(tmp_path, cfg, task, mse, test_mse=None, seed=None):
    """A single-task result as the sweep writes it, fingerprinted from ``cfg``."""
    run_id = f'single__{task}' + ('' if seed is None else f'__s{seed}')
    run_cfg = run_config(cfg, [task], Layout.all_shared([task], 4), '', '', overrides=None,
                         seed=seed)
    record = dict(run_id=run_id, tasks=[task], branch=None, num_blocks=4,
                  layout=Layout.all_shared([task], 4).to_list(), metrics={f'{task}/mse': mse},
                  fingerprint=run_fingerprint(run_cfg, [task], tested=test_mse is not None))
    if test_mse is not None:
        record['test_metrics'] = {f'{task}/mse': test_mse}
    folder = tmp_path / 'sweep' / 'runs' / run_id
    folder.mkdir(parents=True)
    (folder / 'metrics.json').write_text(json.dumps(record))


def test_like_for_like_on_both_splits(tmp_path):
    cfg = exported(tmp_path)
    for task in TASKS:
        write_single(tmp_path, cfg, task, mse=1.0, test_mse=2.0)
    trained = {'a1/mse': 0.9, 'a2/mse': 0.95, 'c/mse': 1.0}
    val = compare_with_single_task(cfg, trained, 'val')
    assert {t: round(r['measured'], 6) for t, r in val['tasks'].items()} == \
        {'a1': 10.0, 'a2': 5.0, 'c': 0.0}            # lower mse is better: +10 %
    assert all(r['like_for_like'] and r['differ'] == [] for r in val['tasks'].values())
    assert round(val['mean']['measured'], 6) == 5.0 and val['mean']['estimated'] == 14 / 3
    lines = comparison_lines(val)
    assert '(validation split)' in lines[0] and any('like for like: same' in x for x in lines)
    assert any(x.split() == ['a1', '+10.00', '+8.00', 'single__a1'] for x in lines)
    test = compare_with_single_task(cfg, {'a1/mse': 1.0, 'a2/mse': 2.0, 'c/mse': 3.0}, 'test')
    assert round(test['tasks']['a1']['measured'], 6) == 50.0     # against the test metrics
    assert round(test['tasks']['c']['measured'], 6) == -50.0


def test_baselines_tested_on_another_test_split_are_not_like_for_like(tmp_path):
    cfg = exported(tmp_path)
    sweep_cfg = cfg.copy()
    sweep_cfg.merge_from_dict({'test_dataloader.dataset.num_samples': 8})   # the sweep's split
    for task in TASKS:
        write_single(tmp_path, sweep_cfg, task, mse=1.0, test_mse=2.0)
    trained = {'a1/mse': 0.9, 'a2/mse': 0.95, 'c/mse': 1.0}
    val = compare_with_single_task(cfg, trained, 'val')      # validation: still like for like
    assert all(r['like_for_like'] for r in val['tasks'].values())
    test = compare_with_single_task(cfg, trained, 'test')
    assert all(not r['like_for_like'] and r['differ'] == ['test'] for r in test['tasks'].values())
    lines = comparison_lines(test)
    assert any('not like for like' in x and 'test split' in x for x in lines)
    assert not any('like for like: same' in x for x in lines)


def test_a_changed_test_split_makes_only_the_tested_baselines_stale(tmp_path):
    from treemtl_plugin.engine.runner import TEST_METRICS_KEY
    from treemtl_plugin.sweep.executor import SweepExecutor
    from treemtl_plugin.sweep.plan import plan_sweep
    trained = []

    def train(run_cfg):
        trained.append(run_cfg.experiment_name)
        out = {f'{t}/mse': 1.0 for t in run_cfg.model.tasks}
        if run_cfg.get('test_after_train'):
            out[TEST_METRICS_KEY] = {f'{t}/mse': 2.0 for t in run_cfg.model.tasks}
        return out
    cfg = Config.fromfile(str(TEACHER_CFG))
    cfg.merge_from_dict({'sweep.workers': 1})
    runs = plan_sweep(['a1', 'a2'], 4)
    SweepExecutor(cfg, runs, str(tmp_path), train_fn=train, log=lambda m: None).execute()
    assert len(trained) == 6
    trained.clear()
    size = cfg.test_dataloader.dataset.get('num_samples', 2048)
    cfg.merge_from_dict({'test_dataloader.dataset.num_samples': size // 2})
    report = SweepExecutor(cfg, runs, str(tmp_path), train_fn=train, log=lambda m: None).execute()
    assert sorted(trained) == ['single__a1', 'single__a2'] and report.reused == 4
    assert report.stale['single__a1'] == 'its test split changed since it ran'


def test_other_seeds_are_used_and_said(tmp_path):
    cfg = exported(tmp_path, seed=7)
    for task in TASKS:
        for seed, mse in ((0, 1.0), (1, 0.8)):
            write_single(tmp_path, cfg, task, mse=mse, seed=seed)
    result = compare_with_single_task(cfg, {'a1/mse': 0.9, 'a2/mse': 0.9, 'c/mse': 0.9},
                                      'val')
    row = result['tasks']['a1']
    assert row['runs'] == ['single__a1__s0', 'single__a1__s1'] and row['differ'] == ['seed']
    assert not row['like_for_like']
    assert round(row['measured'], 6) == round((10.0 - 12.5) / 2, 6)   # mean over the seeds
    assert any('not like for like' in x and 'its seed' in x for x in comparison_lines(result))


def test_what_cannot_be_compared_is_said(tmp_path, capsys):
    cfg = exported(tmp_path)
    metrics = {'a1/mse': 0.9, 'a2/mse': 0.9, 'c/mse': 0.9}
    gone = compare_with_single_task(cfg, metrics, 'val')
    assert gone['tasks'] == {} and 'is gone' in gone['problems'][0]
    write_single(tmp_path, cfg, 'a1', mse=1.0)               # no test metrics, a2/c missing
    result = compare_with_single_task(cfg, metrics, 'test')
    assert 'mean' not in result and len(result['problems']) == 3
    assert 'a1: its single-task runs have no test split metrics' in result['problems'][0]
    assert result['problems'][1].startswith('a2: no finished single-task run')
    plain = Config.fromfile(str(TEACHER_CFG))                 # not an exported config
    assert compare_with_single_task(plain, metrics, 'val') is None
    assert report_against_single_task(plain, metrics, 'val') is None
    assert capsys.readouterr().out == ''
    report_against_single_task(cfg, None, 'val')             # no final validation
    assert 'ended without a validation' in ' '.join(capsys.readouterr().out.split())  # wrapped


def test_report_writes_the_comparison_beside_the_checkpoints(tmp_path, capsys):
    cfg = exported(tmp_path)
    for task in TASKS:
        write_single(tmp_path, cfg, task, mse=1.0)
    report_against_single_task(cfg, {'a1/mse': 0.9, 'a2/mse': 0.9, 'c/mse': 1.1}, 'val')
    saved = json.loads(Path(cfg.work_dir, 'relative_performance_val.json').read_text())
    assert saved['split'] == 'val' and round(saved['tasks']['c']['measured'], 6) == -10.0
    assert saved['metrics']['c/mse'] == 1.1
    assert 'relative_performance_val.json' in capsys.readouterr().out


def test_only_the_sweeps_single_task_baselines_are_tested(tmp_path):
    from treemtl_plugin.affinity.methods import build_table_method
    from treemtl_plugin.sweep.executor import SweepExecutor
    from treemtl_plugin.sweep.plan import plan_sweep
    cfg = Config.fromfile(str(TEACHER_CFG))
    runs = plan_sweep(TASKS, 4) + build_table_method(dict(method='similarity')).plan(
        TASKS, 4, None)
    executor = SweepExecutor(cfg, runs, str(tmp_path))
    tested = sorted(r for r, c in executor.configs.items() if c.get('test_after_train'))
    assert tested == ['single__a1', 'single__a2', 'single__c']    # not pairs nor probes
    same = Config.fromfile(str(TEACHER_CFG))
    same.test_dataloader = same.val_dataloader                     # no separate test split
    assert not any(c.get('test_after_train') for c in
                   SweepExecutor(same, runs, str(tmp_path)).configs.values())


def test_a_baseline_recorded_without_test_metrics_is_retrained_once(tmp_path, monkeypatch):
    from treemtl_plugin.engine.runner import TEST_AFTER_TRAIN, TEST_METRICS_KEY
    from treemtl_plugin.sweep import executor as executor_module
    from treemtl_plugin.sweep.executor import SweepExecutor
    from treemtl_plugin.sweep.plan import plan_sweep
    trained = []

    def training(tests):          # the plugin's training, with or without the test split
        def train(cfg):
            trained.append(cfg.experiment_name)
            out = {f'{t}/mse': 1.0 for t in cfg.model.tasks}
            if tests and cfg.get(TEST_AFTER_TRAIN):
                out[TEST_METRICS_KEY] = {f'{t}/mse': 2.0 for t in cfg.model.tasks}
            return out
        return train
    cfg = Config.fromfile(str(TEACHER_CFG))
    cfg.merge_from_dict({'sweep.workers': 1})
    runs = plan_sweep(['a1', 'a2'], 4)
    monkeypatch.setattr(executor_module, 'train_and_evaluate', training(tests=False))
    SweepExecutor(cfg, runs, str(tmp_path), log=lambda m: None).execute()   # an older version
    assert len(SweepExecutor(cfg, runs, str(tmp_path)).results()) == 6   # the table can use it
    trained.clear()
    monkeypatch.setattr(executor_module, 'train_and_evaluate', training(tests=True))
    report = SweepExecutor(cfg, runs, str(tmp_path), log=lambda m: None).execute()
    assert sorted(trained) == ['single__a1', 'single__a2'] and report.reused == 4
    assert 'no test-split metrics' in report.stale['single__a1']
    record = json.loads((tmp_path / 'runs' / 'single__a1' / 'metrics.json').read_text())
    assert record['test_metrics'] == {'a1/mse': 2.0}
    trained.clear()
    SweepExecutor(cfg, runs, str(tmp_path), log=lambda m: None).execute()
    assert trained == []                                           # once
