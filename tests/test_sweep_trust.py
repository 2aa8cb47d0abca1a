"""A sweep never uses a stale or corrupt result, and processes sharing a work dir never collide."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mmengine.config import Config

from treemtl_plugin.errors import SweepError
from treemtl_plugin.sweep.claims import CLAIM_FILE, try_claim
from treemtl_plugin.sweep.executor import METRICS_FILE, SweepExecutor
from treemtl_plugin.sweep.fingerprint import run_fingerprint
from treemtl_plugin.sweep.plan import plan_sweep
from treemtl_plugin.sweep.run_config import run_config

from helpers import DEFAULT_CFG, ROOT, tiny_config

TASKS = ['segment_semantic', 'depth_zbuffer']


def small_cfg(tasks=TASKS) -> Config:
    cfg = Config.fromfile(str(DEFAULT_CFG))
    cfg.merge_from_dict({'sweep.overrides.train_cfg.max_iters': 2, 'sweep.workers': 1})
    cfg.model.tasks = {t: cfg.model.tasks[t] for t in tasks}
    return cfg


def fake_train(calls=None):
    def train(cfg):
        if calls is not None:
            calls.append(cfg.experiment_name)
        out = {}
        for task in cfg.model.tasks:
            out[f'{task}/score'] = float(len(cfg.experiment_name))
        return out
    return train


def execute(cfg, sweep_dir, calls=None, logs=None, num_blocks=2, shard=None):
    runs = plan_sweep(list(cfg.model.tasks), num_blocks)
    ex = SweepExecutor(cfg, runs, str(sweep_dir), shard=shard, train_fn=fake_train(calls),
                       log=(logs.append if logs is not None else lambda m: None))
    return ex, ex.execute()


# -- fingerprints -------------------------------------------------------------------------
def test_fingerprint_ignores_task_order_and_logging_but_not_what_shapes_a_run():
    cfg = small_cfg()
    run = plan_sweep(TASKS, 2)[-1]
    base = run_fingerprint(run_config(cfg, run.tasks, run.layout(), '/a', 'x'), run.tasks)
    swapped = small_cfg(list(reversed(TASKS)))
    again = run_config(swapped, list(reversed(run.tasks)), run.layout(), '/elsewhere', 'y')
    again.default_hooks.logger.interval = 1
    again.train_dataloader.num_workers = 3
    assert run_fingerprint(again, reversed(run.tasks)) == base
    changes = {
        'model': {'model.backbone.model_name': 'resnet34'},
        'schedule': {'sweep.overrides.train_cfg.max_iters': 3},
        'data': {'train_dataloader.dataset.num_samples': 100},
        'seed': {'randomness.seed': 1},
        'metric': {'val_evaluator.num_classes.segment_semantic': 7},
    }
    for part, change in changes.items():
        other = small_cfg()
        other.merge_from_dict(change)
        fp = run_fingerprint(run_config(other, run.tasks, run.layout(), '/a', 'x'), run.tasks)
        assert fp['key'] != base['key'], change
        assert [p for p in fp['parts'] if fp['parts'][p] != base['parts'][p]] == [part]


def test_changed_backbone_retrains_every_run_and_says_why(tmp_path):
    calls, logs = [], []
    execute(small_cfg(), tmp_path, calls)
    assert len(calls) == 2 + 2
    changed = small_cfg()
    changed.model.backbone.model_name = 'resnet34'
    calls.clear()
    _, report = execute(changed, tmp_path, calls, logs)
    assert len(calls) == 4 and len(report.stale) == 4 and report.reused == 0
    assert any('0 already finished, 4 to train (4 stale, 0 corrupt)' in m for m in logs)
    assert any('retraining single__depth_zbuffer: its model changed since it ran' in m
               for m in logs)
    # the other backbone's finished results are kept, not deleted (a swap in the same work dir)
    kept = {p.parent.name.rsplit('__', 1)[0] for p in
            (tmp_path / 'superseded').glob('*/metrics.json')}
    assert kept == {'single__depth_zbuffer', 'single__segment_semantic',
                    'pair__depth_zbuffer__segment_semantic__b1',
                    'pair__depth_zbuffer__segment_semantic__b2'}
    assert any('kept the earlier result of single__depth_zbuffer' in m for m in logs)


def test_more_branching_points_retrain_and_reordered_tasks_do_not(tmp_path):
    calls = []
    execute(small_cfg(), tmp_path, calls)
    calls.clear()
    _, report = execute(small_cfg(list(reversed(TASKS))), tmp_path, calls)
    assert calls == [] and report.reused == 4               # same runs, other task order
    cfg = small_cfg()
    cfg.model.backbone.num_branch_points = 3
    _, report = execute(cfg, tmp_path, calls, num_blocks=3)
    assert len(calls) == 2 + 3                              # every run is new or stale
    assert set(report.stale) == {'single__depth_zbuffer', 'single__segment_semantic',
                                 'pair__depth_zbuffer__segment_semantic__b1',
                                 'pair__depth_zbuffer__segment_semantic__b2'}


def test_old_results_without_fingerprint_are_stale(tmp_path):
    ex, _ = execute(small_cfg(), tmp_path)
    path = Path(tmp_path, 'runs', 'single__depth_zbuffer', METRICS_FILE)
    record = json.loads(path.read_text())
    del record['fingerprint']
    path.write_text(json.dumps(record))
    logs = []
    _, report = execute(small_cfg(), tmp_path, logs=logs)
    assert 'recorded without a fingerprint' in report.stale['single__depth_zbuffer']
    assert report.reused == 3


def test_a_result_whose_metric_names_were_edited_is_stale_and_kept(tmp_path):
    execute(small_cfg(), tmp_path)
    run_id = 'pair__depth_zbuffer__segment_semantic__b1'
    path = Path(tmp_path, 'runs', run_id, METRICS_FILE)
    record = json.loads(path.read_text())
    record['metrics']['depth_zbuffer/renamed'] = record['metrics'].pop('depth_zbuffer/score')
    path.write_text(json.dumps(record))
    calls, logs = [], []
    _, report = execute(small_cfg(), tmp_path, calls, logs)
    assert calls == [run_id] and report.reused == 3
    assert "reports other metrics for task 'depth_zbuffer' than the evaluator (lacks " \
           "['score'], has ['renamed'] instead)" in report.stale[run_id]
    assert any(f'retraining {run_id}: {path}' in m for m in logs)
    assert len(list(Path(tmp_path, 'superseded').glob(f'{run_id}__*/metrics.json'))) == 1


def test_the_evaluators_metric_names_decide_a_tie():
    from treemtl_plugin.evaluation.relative_performance import reported_metric_names
    from treemtl_plugin.sweep.results import usual_metric_names
    known = reported_metric_names(dict(type='MultiTaskMetric', tasks=dict(a='regression')),
                                  ['a', 'normal', 'b'])
    assert known == {'a': ('mse',), 'normal': ('mean_angle', 'median_angle', 'within_11.25',
                                               'within_22.5', 'within_30')}
    assert reported_metric_names(dict(type='OtherMetric'), ['a']) == {}
    edited = {'tasks': ['a'], 'metrics': {'a/mse_renamed': 1.0}}
    right = {'tasks': ['a', 'b'], 'metrics': {'a/mse': 1.0, 'a/delta': 3.0, 'b/top1': 2.0}}
    assert usual_metric_names([edited, right], known) == {'a': {'mse'}, 'b': {'top1'}}
    assert usual_metric_names([edited, edited, right]) == {'a': {'mse_renamed'},
                                                            'b': {'top1'}}


# -- corrupt results ------------------------------------------------------------------------
def _corrupt(path: Path, how: str) -> None:
    record = json.loads(path.read_text())
    if how == 'truncated':
        path.write_text(path.read_text()[:40])
    elif how == 'not json':
        path.write_text('metrics: done\n')
    elif how == 'missing field':
        del record['metrics']
        path.write_text(json.dumps(record))
    elif how == 'nan':
        key = next(iter(record['metrics']))
        path.write_text(json.dumps(record).replace(json.dumps(record['metrics'][key]), 'NaN', 1))
    elif how == 'other tasks':
        record['tasks'] = ['normal']
        path.write_text(json.dumps(record))
    elif how == 'other layout':
        record['layout'] = [[[t] for t in record['tasks']]] * record['num_blocks']
        path.write_text(json.dumps(record))
    elif how == 'a list':
        path.write_text('[1, 2]')


@pytest.mark.parametrize('how, reason', [
    ('truncated', 'is not readable JSON'), ('not json', 'is not readable JSON'),
    ('missing field', "lacks the field(s) ['metrics']"), ('nan', 'non-finite'),
    ('other tasks', "holds tasks ['normal']"), ('other layout', 'holds another layout'),
    ('a list', 'not a JSON object'),
])
def test_corrupt_results_are_reported_by_path_and_retrained(tmp_path, how, reason):
    execute(small_cfg(), tmp_path)
    run_id = 'pair__depth_zbuffer__segment_semantic__b1'
    path = Path(tmp_path, 'runs', run_id, METRICS_FILE)
    _corrupt(path, how)
    calls, logs = [], []
    ex, report = execute(small_cfg(), tmp_path, calls, logs)
    assert calls == [run_id]
    assert str(path) in report.corrupt[run_id] and reason in report.corrupt[run_id]
    assert any(f'retraining {run_id}: {path}' in m for m in logs)
    assert set(ex.results()) == {r.run_id for r in ex.all_runs}    # valid again


def test_merge_never_uses_a_corrupt_result(tmp_path):
    ex, _ = execute(small_cfg(), tmp_path)
    _corrupt(Path(tmp_path, 'runs', 'single__depth_zbuffer', METRICS_FILE), 'nan')
    assert 'single__depth_zbuffer' not in ex.results()


# -- claims and concurrency ------------------------------------------------------------------
def test_claim_is_exclusive_and_released(tmp_path):
    first = try_claim(str(tmp_path / 'run'))
    assert first is not None and try_claim(str(tmp_path / 'run')) is None
    first.release()
    assert not (tmp_path / 'run' / CLAIM_FILE).exists()
    second = try_claim(str(tmp_path / 'run'))
    assert second is not None
    second.release()


def test_claim_of_a_dead_process_is_taken_over(tmp_path):
    proc = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    (tmp_path / 'run').mkdir()
    import socket
    (tmp_path / 'run' / CLAIM_FILE).write_text(json.dumps(dict(
        host=socket.gethostname(), pid=dead_pid, token='x', started=time.time(),
        heartbeat=time.time())))
    claim = try_claim(str(tmp_path / 'run'))
    assert claim is not None and claim.info['pid'] == os.getpid()
    claim.release()


def test_a_garbage_claim_is_named_and_taken_over_once_old(tmp_path):
    from treemtl_plugin.sweep.claims import WRITE_GRACE_S, claim_owner
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    garbage = run_dir / CLAIM_FILE
    garbage.write_text('{not json')
    assert claim_owner(str(run_dir)) == f'unreadable claim {garbage}'
    assert try_claim(str(run_dir)) is None                  # young: maybe being written
    old = time.time() - WRITE_GRACE_S - 1
    os.utime(garbage, (old, old))
    claim = try_claim(str(run_dir))
    assert claim is not None and claim.info['pid'] == os.getpid()
    claim.release()


def test_run_claimed_by_a_live_process_is_skipped_and_said(tmp_path):
    cfg = small_cfg()
    runs = plan_sweep(TASKS, 2)
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import sys, time; sys.path.insert(0, sys.argv[2])\n'
         'from treemtl_plugin.sweep.claims import try_claim\n'
         'c = try_claim(sys.argv[1]); print("claimed", flush=True); time.sleep(60)',
         str(tmp_path / 'runs' / runs[0].run_id), str(ROOT)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'claimed'
        calls, logs = [], []
        _, report = execute(cfg, tmp_path, calls, logs)
        assert runs[0].run_id not in calls and len(calls) == 3
        assert report.claimed_elsewhere[runs[0].run_id].endswith(f':{holder.pid}')
        assert any('being trained by other processes' in m for m in logs)
    finally:
        holder.kill()
        holder.wait()
    calls = []
    _, report = execute(cfg, tmp_path, calls)                 # the holder died
    assert calls == [runs[0].run_id] and report.reused == 3


def _worker(args):
    sweep_dir, log_path = args
    cfg = small_cfg()

    def slow_train(cfg):
        with open(log_path, 'a') as f:
            f.write(cfg.experiment_name + '\n')
        time.sleep(0.3)
        return {f'{t}/score': 1.0 for t in cfg.model.tasks}
    runs = plan_sweep(list(cfg.model.tasks), 2)
    SweepExecutor(cfg, runs, sweep_dir, train_fn=slow_train, log=lambda m: None).execute()


def test_two_processes_on_one_sweep_train_each_run_once(tmp_path):
    """The same command started twice: each run is trained by exactly one of them and no
    process clears the other's run folder."""
    log = tmp_path / 'trained.txt'
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(2) as pool:
        pool.map(_worker, [(str(tmp_path / 'sweep'), str(log))] * 2)
    trained = log.read_text().split()
    assert sorted(trained) == sorted(r.run_id for r in plan_sweep(TASKS, 2))
    ex = SweepExecutor(small_cfg(), plan_sweep(TASKS, 2), str(tmp_path / 'sweep'))
    assert len(ex.results()) == 4
    assert not list((tmp_path / 'sweep' / 'runs').glob(f'*/{CLAIM_FILE}'))


# -- several seeds per sweep entry ----------------------------------------------------------
def test_seeds_pair_each_run_with_the_single_task_run_of_its_seed_and_average(tmp_path):
    from treemtl_plugin.affinity.methods import PairwiseTable
    from treemtl_plugin.sweep.plan import sweep_seeds
    cfg = small_cfg()
    cfg.merge_from_dict({'sweep.seeds': 2})
    runs = plan_sweep(TASKS, 2, sweep_seeds(cfg.sweep.seeds))
    assert len(runs) == 2 * (2 + 2) and runs[0].run_id == 'single__depth_zbuffer__s0'

    def train(cfg):       # segmentation: +1 per shared block, and the seed shifts everything
        layout = __import__('treemtl_plugin.core.layout', fromlist=['Layout']).Layout(
            cfg.model.layout)
        tasks = list(cfg.model.tasks)
        shared = layout.branch_point(*tasks) if len(tasks) == 2 else 0
        seed = cfg.randomness.seed
        out = {}
        if 'segment_semantic' in tasks:
            out.update({'segment_semantic/mIoU': 40.0 * (1 + seed) + shared * (1 + seed),
                        'segment_semantic/pixel_acc': 80.0})
        if 'depth_zbuffer' in tasks:
            out.update({'depth_zbuffer/abs_err': 1.0, 'depth_zbuffer/rel_err': 0.5})
        return out
    ex = SweepExecutor(cfg, runs, str(tmp_path), train_fn=train, log=lambda m: None)
    ex.execute()
    records = ex.results()
    assert {r['seed'] if 'seed' in r else None for r in records.values()} == {None}
    measured = PairwiseTable().measure(runs, records, sorted(TASKS), 2)
    seg = sorted(TASKS).index('segment_semantic')
    # per seed: seed 0 -> +b/40 of mIoU, seed 1 -> 2b/80: both +2.5 % per block (half of
    # the two metrics), so the mean is exact and the spread is zero
    assert measured.values[seg, 1 - seg, 2] == pytest.approx(100 / 2 * 2 / 40)
    assert measured.spread[seg, 1 - seg, 2] == pytest.approx(0)
    assert measured.noise.seeds == 2 and measured.cost == {}
    for bad in (0, True, [1, 1], 'three'):
        with pytest.raises(Exception, match='sweep.seeds'):
            sweep_seeds(bad)


# -- concurrent workers -------------------------------------------------------------------------
def worker_train(cfg):
    """A picklable fake training for worker processes (records its thread budget)."""
    import torch
    time.sleep(0.2)
    out = {f'{t}/score': float(len(cfg.experiment_name)) for t in cfg.model.tasks}
    out['threads'] = float(torch.get_num_threads())
    out['omp'] = float(os.environ.get('OMP_NUM_THREADS', -1))
    return out


def test_two_workers_give_the_same_results_as_one(tmp_path):
    runs = plan_sweep(TASKS, 2)
    one = SweepExecutor(small_cfg(), runs, str(tmp_path / 'one'), train_fn=worker_train,
                        log=lambda m: None)
    one.execute()
    cfg = small_cfg()
    cfg.merge_from_dict({'sweep.workers': 2})
    logs = []
    two = SweepExecutor(cfg, runs, str(tmp_path / 'two'), train_fn=worker_train,
                        log=logs.append)
    report = two.execute()
    assert sorted(report.trained) == sorted(r.run_id for r in runs)
    assert any('2 workers, 1 thread(s) each' in m for m in logs)
    assert sum('[sweep] finished' in m for m in logs) == len(runs)
    results = two.results()
    assert {r['metrics']['threads'] for r in results.values()} == {1.0}
    assert {r['metrics']['omp'] for r in results.values()} == {1.0}
    strip = {k: {m: v for m, v in r['metrics'].items() if m not in ('threads', 'omp')}
             for k, r in results.items()}
    assert strip == {k: {m: v for m, v in r['metrics'].items() if m not in ('threads', 'omp')}
                     for k, r in one.results().items()}


def worker_fails(cfg):
    """A picklable training that fails in its worker process."""
    raise RuntimeError('out of memory')


def test_a_failing_worker_is_one_sweep_error_sentence(tmp_path):
    cfg = small_cfg()
    cfg.merge_from_dict({'sweep.workers': 2})
    ex = SweepExecutor(cfg, plan_sweep(TASKS, 2), str(tmp_path), train_fn=worker_fails,
                       log=lambda m: None)
    with pytest.raises(SweepError) as err:
        ex.execute()
    text = str(err.value)
    assert 'failed (RuntimeError: out of memory)' in text
    assert text.count('Finished runs are kept') == 1 and '..' not in text


def test_real_trainings_are_identical_with_one_or_two_workers_at_the_same_threads(tmp_path):
    """With sweep.threads fixed, a run's result does not depend on how the sweep is split."""
    def micro(workers):
        return tiny_config(TASKS, val_samples=8, **{'sweep.workers': workers,
                                                     'sweep.threads': 1})
    runs = plan_sweep(TASKS, 2)
    one = SweepExecutor(micro(1), runs, str(tmp_path / 'one'), log=lambda m: None)
    one.execute()
    two = SweepExecutor(micro(2), runs, str(tmp_path / 'two'), log=lambda m: None)
    two.execute()
    first, second = one.results(), two.results()
    assert {k: r['metrics'] for k, r in first.items()} == \
        {k: r['metrics'] for k, r in second.items()}
    assert {r['threads'] for r in first.values()} == {r['threads'] for r in second.values()} \
        == {1}


def test_a_claim_that_cannot_be_written_is_a_sweep_error(tmp_path, monkeypatch):
    from treemtl_plugin.sweep import claims

    def denied(*args, **kwargs):
        raise PermissionError(13, 'Permission denied', str(tmp_path / 'claim.json'))
    monkeypatch.setattr(claims, '_create', denied)
    with pytest.raises(SweepError, match='Permission denied .*claim.json.*--work-dir'):
        claims.try_claim(str(tmp_path))
