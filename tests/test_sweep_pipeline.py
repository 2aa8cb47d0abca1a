"""The two-task sweep (plan, resume, shards, merge) and the full recommend -> export -> train
job."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mmengine.config import Config

from treemtl_plugin.affinity.methods import PairwiseTable
from treemtl_plugin.apis import run_recommendation
from treemtl_plugin.apis.config import config_tasks, recommender_spec
from treemtl_plugin.core.layout import Layout
from treemtl_plugin.core.table import TwoTaskTable
from treemtl_plugin.errors import ConfigError, SweepError
from treemtl_plugin.sweep.executor import METRICS_FILE, SweepExecutor
from treemtl_plugin.sweep.merge import missing_runs
from treemtl_plugin.sweep.plan import SweepRun, parse_shard, plan_sweep, shard_runs
from treemtl_plugin.sweep.run_config import run_config

from helpers import DEFAULT_CFG, ROOT, tiny_config

TASKS = ['segment_semantic', 'depth_zbuffer']


def load_results(cfg, runs, sweep_dir):
    return SweepExecutor(cfg, runs, str(sweep_dir)).results()


def pairwise_table(runs, records, tasks, num_blocks) -> TwoTaskTable:
    """The table the pairwise method measures from ``records``."""
    values = PairwiseTable().measure(runs, records, tasks, num_blocks).values
    return TwoTaskTable(tasks=tuple(tasks), num_blocks=num_blocks, values=values)


def run_pipeline(cfg, work_dir, topk=None, strategy=None, budget=None, train_fn=None):
    """``run_recommendation`` on ``cfg`` with the flags merged as ``load_config`` merges them."""
    if strategy is not None:
        cfg.recommender = recommender_spec(cfg, strategy)
    flags = {'recommender.topk': topk, 'recommender.budget': budget}
    cfg.merge_from_dict({k: v for k, v in flags.items() if v is not None})
    return run_recommendation(cfg, work_dir, log=lambda m: None, train_fn=train_fn)


def fake_train(calls: list):
    """Deterministic stand-in for training: metrics depend on the tasks and the layout."""
    def train(cfg: Config) -> dict:
        layout = Layout(cfg.model.layout)
        tasks = list(cfg.model.tasks)
        calls.append((tuple(tasks), json.dumps(cfg.model.layout)))
        shared = layout.branch_point(*tasks) if len(tasks) == 2 else 0
        out = {}
        if 'segment_semantic' in tasks:
            out.update({'segment_semantic/mIoU': 40.0 + 1.5 * shared,
                        'segment_semantic/pixel_acc': 80.0 - 0.5 * shared})
        if 'depth_zbuffer' in tasks:
            out.update({'depth_zbuffer/abs_err': 1.0 - 0.1 * shared,
                        'depth_zbuffer/rel_err': 0.5 + 0.05 * shared})
        return out
    return train


# -- plan -----------------------------------------------------------------------------------
def test_plan_counts_layouts_and_shards():
    runs = plan_sweep(['a', 'b', 'c'], 5)
    assert len(runs) == 3 + 3 * 5                       # T singles + C(T,2) * B pairs
    assert [r.run_id for r in runs[:4]] == ['single__a', 'single__b', 'single__c',
                                            'pair__a__b__b1']
    pair = next(r for r in runs if r.run_id == 'pair__a__c__b3')
    assert pair.layout().branch_point('a', 'c') == 3
    assert runs[0].layout() == Layout.all_shared(['a'], 5)
    shards = [shard_runs(runs, (i, 4)) for i in range(1, 5)]
    assert sorted(r.run_id for s in shards for r in s) == sorted(r.run_id for r in runs)
    assert sum(len(s) for s in shards) == len(runs)
    assert parse_shard('2/4') == (2, 4)
    for bad in ('0/4', '5/4', '2', 'a/b'):
        with pytest.raises(ValueError, match='shard'):
            parse_shard(bad)
    with pytest.raises(ValueError, match='double underscore'):
        plan_sweep(['a__b', 'c'], 2)


def test_run_config_restricts_tasks_and_sets_layout():
    cfg = tiny_config(TASKS)
    layout = plan_sweep(TASKS, 2)[-1].layout()
    run = run_config(cfg, TASKS, layout, '/tmp/x', 'exp')
    assert set(run.model.tasks) == set(TASKS)
    assert run.model.layout == layout.to_list()
    assert run.train_dataloader.dataset.tasks == TASKS
    assert run.val_evaluator.tasks == TASKS
    assert run.default_hooks.checkpoint is None
    assert run.train_cfg.max_iters == 2                 # sweep.overrides merged in
    full = Config.fromfile(str(DEFAULT_CFG))
    one = run_config(full, ['normal'], Layout.all_shared(['normal'], 4), '/tmp/x', 'exp')
    assert list(one.model.tasks) == ['normal'] and one.val_dataloader.dataset.tasks == ['normal']
    assert list(full.model.tasks) == ['segment_semantic', 'depth_zbuffer', 'normal']  # untouched


# -- resume, shards, merge ------------------------------------------------------------------
def test_killed_sweep_resumes_without_retraining(tmp_path):
    cfg = tiny_config(TASKS)
    runs = plan_sweep(TASKS, 2)
    reference_calls = []
    SweepExecutor(cfg, runs, str(tmp_path / 'ref'), train_fn=fake_train(reference_calls),
                  log=lambda m: None).execute()
    reference = pairwise_table(runs, load_results(cfg, runs, tmp_path / 'ref'), TASKS, 2)

    calls = []
    train = fake_train(calls)

    def dies_on_third(cfg):
        if len(calls) == 2:
            calls.append('crash')
            raise KeyboardInterrupt('killed')   # like Ctrl-C / a preempted job
        return train(cfg)

    sweep_dir = str(tmp_path / 'sweep')
    with pytest.raises(KeyboardInterrupt):
        SweepExecutor(cfg, runs, sweep_dir, train_fn=dies_on_third, log=lambda m: None).execute()
    finished = load_results(cfg, runs, sweep_dir)
    assert len(finished) == 2
    # the interrupted run left a folder without metrics.json: it must be restarted cleanly
    partial = Path(sweep_dir) / 'runs' / runs[2].run_id
    partial.mkdir(parents=True, exist_ok=True)
    (partial / 'stale.log').write_text('half a run')
    calls.clear()
    logs = []
    SweepExecutor(cfg, runs, sweep_dir, train_fn=train, log=logs.append).execute()
    assert len(calls) == len(runs) - 2                 # finished runs were not retrained
    assert not (partial / 'stale.log').exists()
    assert any('2 already finished' in m for m in logs)
    assert any('ETA' in m for m in logs)
    table = pairwise_table(runs, load_results(cfg, runs, sweep_dir), TASKS, 2)
    assert table == reference


def test_sharded_runs_merge_into_the_same_table(tmp_path):
    cfg = tiny_config(TASKS)
    runs = plan_sweep(TASKS, 2)
    SweepExecutor(cfg, runs, str(tmp_path / 'one'), train_fn=fake_train([]),
                  log=lambda m: None).execute()
    single = pairwise_table(runs, load_results(cfg, runs, tmp_path / 'one'), TASKS, 2)
    shared_dir = str(tmp_path / 'sharded')
    SweepExecutor(cfg, runs, shared_dir, shard=(1, 2), train_fn=fake_train([]),
                  log=lambda m: None).execute()
    assert len(missing_runs(runs, load_results(cfg, runs, shared_dir))) == len(runs) // 2
    SweepExecutor(cfg, runs, shared_dir, shard=(2, 2), train_fn=fake_train([]),
                  log=lambda m: None).execute()
    merged = pairwise_table(runs, load_results(cfg, runs, shared_dir), TASKS, 2)
    assert merged == single
    # relative performance: seg mIoU +1.5/block (higher better), pixel acc -0.5/block
    b = 2
    expected = 100 / 2 * ((1.5 * b) / 40.0 - (0.5 * b) / 80.0)
    assert merged.values[0, 1, b] == pytest.approx(expected)


def test_failed_run_raises_sweep_error_and_keeps_finished(tmp_path):
    cfg = tiny_config(TASKS)
    runs = plan_sweep(TASKS, 2)

    def fails(cfg):
        raise RuntimeError('CUDA out of memory')

    with pytest.raises(SweepError, match='single__depth_zbuffer failed.*run the sweep again'):
        SweepExecutor(cfg, runs, str(tmp_path), train_fn=fails, log=lambda m: None).execute()
    assert not any(Path(tmp_path, 'runs').glob(f'*/{METRICS_FILE}'))


# -- the real job on mmengine -----------------------------------------------------------------
def test_full_pipeline_exports_a_config_that_trains(tmp_path, monkeypatch, capsys, tool):
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(TASKS)
    work = str(tmp_path / 'job')
    result = run_pipeline(cfg, work, topk=2)
    assert result.status == 'done'
    rec = result.recommendation
    assert rec.num_layouts == 3                      # 2 tasks, B=2: branch at 0, 1 or 2
    table_csv = Path(work, 'sweep', 'two_task_table.csv')
    assert table_csv.is_file() and len(table_csv.read_text().splitlines()) == 1 + 3
    assert len(list(Path(work, 'sweep', 'runs').glob(f'*/{METRICS_FILE}'))) == 2 + 2
    blocks = json.loads(Path(work, 'backbone_blocks.json').read_text())
    assert blocks['model_name'] == 'resnet18' and len(blocks['blocks']) == 2
    exported = result.exported
    assert len(exported) == 2
    exp_cfg = Config.fromfile(exported[0])
    assert Layout(exp_cfg.model.layout) == rec.top[0].layout
    assert list(exp_cfg.model.tasks) == TASKS            # the sweep's task order
    assert exp_cfg.recommendation['rank'] == 1
    text = Path(exported[0]).read_text()                  # short: inherits the run's config
    assert text.startswith('# TreeRecommender rank 1 of 2') and '_base_' in text
    assert '\n# backbone resnet18, ' in text          # a backbone swap shows in the header
    assert 'train_dataloader' not in text and len(text.splitlines()) < 40
    assert exp_cfg.work_dir == os.path.join(work, 'train', 'rank1_tree_resnet18_synthetic_3task')
    from treemtl_plugin.apis.export import exported_name  # after a swap the name says it
    assert exported_name(rec, rec.top[0], 'tree_resnet18_synthetic_3task', 'convnext_nano') == \
        'rank1_tree_resnet18_synthetic_3task_convnext_nano'
    assert exported_name(rec, rec.top[0], 'tree_resnet18_synthetic_3task', 'resnet18') == \
        'rank1_tree_resnet18_synthetic_3task'
    # a plain mmengine Runner builds and trains it (no plugin tool involved)
    from mmengine.runner import Runner
    plain = Config.fromfile(exported[0])
    plain.merge_from_dict({'train_cfg.max_iters': 1, 'work_dir': str(tmp_path / 'plain')})
    Runner.from_cfg(plain).train()
    # `tools/train.py <exported.py>` trains it unchanged (2 iterations here)
    train = tool('train')
    assert train.main([exported[0], '--work-dir', str(tmp_path / 'train'), '--cfg-options',
                       'train_cfg.max_iters=2', 'log_level=WARNING']) == 0
    assert (tmp_path / 'train' / 'iter_2.pth').is_file()
    # ... and compares it with the sweep's single-task models, saying the schedule differs
    out = ' '.join(capsys.readouterr().out.split())     # the console wraps long lines
    assert 'relative performance (%) vs the single-task models' in out
    assert 'not like for like' in out and 'its schedule' in out
    compared = json.loads((tmp_path / 'train' / 'relative_performance_val.json').read_text())
    assert set(compared['tasks']) == set(TASKS) and compared['tasks'][TASKS[0]]['differ'] \
        == ['schedule'] and compared['rank'] == 1
    # tools/test.py compares on the test split: the sweep tested its single-task runs
    single = json.loads(Path(work, 'sweep', 'runs', f'single__{TASKS[0]}',
                             METRICS_FILE).read_text())
    assert set(single['test_metrics']) == set(single['metrics'])
    assert tool('test').main([exported[0], str(tmp_path / 'train' / 'iter_2.pth'),
                              '--work-dir', str(tmp_path / 'test')]) == 0
    assert '(test split)' in ' '.join(capsys.readouterr().out.split())
    assert (tmp_path / 'test' / 'relative_performance_test.json').is_file()
    # --resume continues from the checkpoint under torch>=2.6 (trusted work dir)
    assert train.main([exported[0], '--work-dir', str(tmp_path / 'train'), '--resume',
                       '--cfg-options', 'train_cfg.max_iters=4', 'log_level=WARNING']) == 0
    assert (tmp_path / 'train' / 'iter_4.pth').is_file()
    # rank 2 is another layout: resuming it from rank 1's checkpoint is refused, clearly
    assert train.main([exported[1], '--work-dir', str(tmp_path / 'train2'), '--resume',
                       str(tmp_path / 'train' / 'iter_4.pth')]) == 1


def test_recommend_tool_full_mode_with_train_top(tmp_path, monkeypatch, capsys, tool):
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(TASKS)
    cfg_path = tmp_path / 'micro.py'
    cfg.dump(str(cfg_path))
    recommend = tool('recommend')
    work = tmp_path / 'wd'
    assert recommend.main([str(cfg_path), '--work-dir', str(work), '--topk', '1',
                           '--train-top', '1']) == 0
    out = capsys.readouterr().out
    assert 'exported training configs' in out and 'measured' in out
    log = (work / 'recommend.log').read_text()                # every plugin line, logged
    assert '[sweep] finished single__depth_zbuffer' in log and 'measured' in log
    assert 'Runtime environment' not in out and 'Hook' not in out    # a quiet console
    assert len(out.splitlines()) < 120
    rows = json.loads((work / 'train_top.json').read_text())
    assert rows[0]['rank'] == 1 and set(rows[0]['measured']) == set(TASKS)
    assert rows[0]['like_for_like'] and rows[0]['single_task_runs'] == {
        t: [f'single__{t}'] for t in TASKS}              # the sweep's schedule and seed
    assert (work / 'top_layouts.json').is_file() and (work / 'pareto.png').is_file()
    # a shard of a fresh sweep stops after its runs, without recommending
    assert recommend.main([str(cfg_path), '--work-dir', str(tmp_path / 'shard'),
                           '--shard', '1/2']) == 0
    assert 'this shard is done' in capsys.readouterr().out
    assert not (tmp_path / 'shard' / 'top_layouts.json').exists()


@pytest.mark.parametrize('change, message', [
    (dict(tasks=['segment_semantic', 'surface_curvature']), "unknown: 'surface_curvature'"),
    (dict(tasks=['segment_semantic', 'depth']), "did you mean 'depth_zbuffer'"),
    (dict(model=dict(type='TreeMultiTaskModel', backbone=dict(type='TimmBlockBackbone',
                                                              model_name='resnet18'),
                     tasks={'segment_semantic': dict(head=dict(type='LightConvHead',
                                                               num_outputs=6)),
                            'depth_zbuffer': dict(head=dict(type='LightConvHead',
                                                            num_outputs=1),
                                                  loss=dict(type='DepthL1Loss'))})),
     r"model.tasks\['segment_semantic'\] needs a `head` and a `loss`"),
    (dict(model=dict(type='TreeMultiTaskModel', tasks=None)), 'model.tasks must be a dict'),
])
def test_bad_configs_fail_before_training(tmp_path, change, message):
    cfg = tiny_config(TASKS)
    for key, value in change.items():     # replaced, not merged
        cfg[key] = value
    calls = []
    with pytest.raises(ConfigError, match=message):
        run_pipeline(cfg, str(tmp_path), train_fn=fake_train(calls))
    assert calls == []


def test_missing_data_root_fails_fast(tmp_path):
    cfg = tiny_config(TASKS)
    cfg.train_dataloader.dataset = dict(type='NYUv2Dataset', data_root=str(tmp_path / 'nyu'))
    with pytest.raises(ConfigError, match='data_root .* does not exist'):
        run_pipeline(cfg, str(tmp_path / 'wd'), train_fn=fake_train([]))
    assert not os.path.exists(tmp_path / 'wd' / 'sweep')


SHIPPED = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)


@pytest.mark.parametrize('path', SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_every_shipped_config_parses(path):
    cfg = Config.fromfile(str(path))
    assert len(config_tasks(cfg)) >= 2
    if cfg.get('model') is not None:      # full-mode configs: heads for every task, a backbone
        assert cfg.default_scope == 'treemtl_plugin'
        assert cfg.model.backbone.type == 'TimmBlockBackbone'


@pytest.mark.parametrize('path', [p for p in SHIPPED if 'paper' not in p.parts],
                         ids=[str(p.relative_to(ROOT)) for p in SHIPPED if 'paper' not in p.parts])
def test_every_shipped_config_builds_as_it_is(path):
    """MODELS.build(cfg.model) works on every training config, as a plain mmengine user does
    it (pretrained weights off: no downloads here; small input to keep it fast)."""
    from mmengine.registry import init_default_scope

    from treemtl_plugin.registry import MODELS
    cfg = Config.fromfile(str(path))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.pretrained = False
    cfg.model.backbone.input_size = (3, 64, 64)
    model = MODELS.build(cfg.model)
    assert list(model.heads) == config_tasks(cfg)

@pytest.mark.parametrize('name', ['nyuv2/tree_deeplab_resnet34_nyuv2.py',
                                  'taskonomy/tree_mobilenetv2_taskonomy.py'])
def test_real_dataset_configs_fail_fast_without_data(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                # data/ does not exist here
    cfg = Config.fromfile(str(ROOT / 'configs' / name))
    with pytest.raises(ConfigError, match="data_root 'data/"):
        run_pipeline(cfg, str(tmp_path / 'wd'), train_fn=fake_train([]))


def test_task_grouping_export_trains(tmp_path, monkeypatch, tool):
    """Full mode with --strategy task_grouping: the exported TaskGroupingModel config trains."""
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(TASKS)
    cfg.model.tasks = Config.fromfile(str(DEFAULT_CFG)).model.tasks
    result = run_pipeline(cfg, str(tmp_path / 'job'), topk=2, strategy='task_grouping',
                          budget=dict(max_models=2), train_fn=fake_train_3([]))
    assert result.status == 'done'
    best = result.recommendation.top[0]
    exp_cfg = Config.fromfile(result.exported[0])
    assert exp_cfg.model.type == 'TaskGroupingModel'
    assert exp_cfg.model.task_groups == best.groups and exp_cfg.model.chosen == best.chosen
    train = tool('train')
    assert train.main([result.exported[0], '--work-dir', str(tmp_path / 'train'),
                       '--cfg-options', 'train_cfg.max_iters=2', 'log_level=WARNING']) == 0
    assert (tmp_path / 'train' / 'iter_2.pth').is_file()


def fake_train_3(calls):
    """fake_train extended to the normal task (lower angle is better)."""
    base = fake_train(calls)

    def train(cfg):
        out = base(cfg)
        tasks = list(cfg.model.tasks)
        if 'normal' in tasks:
            layout = Layout(cfg.model.layout)
            others = [t for t in tasks if t != 'normal']
            shared = layout.branch_point('normal', others[0]) if others else 0
            out.update({'normal/mean_angle': 30.0 - shared, 'normal/median_angle': 25.0,
                        'normal/within_11.25': 20.0, 'normal/within_22.5': 40.0 + shared,
                        'normal/within_30': 60.0})
        return out
    return train


def test_progress_lines_say_what_a_run_trains():
    assert SweepRun('single__a', ('a',), None, 3).describe() == 'single task a'
    assert SweepRun('pair__a__b__2', ('a', 'b'), 2, 3).describe() == \
        "tasks=['a', 'b'] shared blocks=2"
    blocks = (((('a', 'b'),), (('a',), ('b',))))
    assert SweepRun('layout_x', ('a', 'b'), None, 2, blocks=blocks).describe() == \
        'layout ' + Layout(blocks, tasks=('a', 'b')).short()


def test_seeds_give_every_candidate_a_score_se_and_ties(tmp_path):
    """sweep.seeds=2: the table's seed noise reaches top_layouts.json, recommendation.json and
    the report as score ± SE, P(best) and ties; one seed says there are no error bars."""
    base = fake_train([])

    def noisy(cfg):
        seed = cfg.randomness.seed
        return {k: v * (1.0 + 0.02 * (seed - 0.5)) for k, v in base(cfg).items()}

    cfg = tiny_config(TASKS, **{'sweep.seeds': 2})
    work = tmp_path / 'two'
    assert run_pipeline(cfg, str(work), train_fn=noisy).status == 'done'
    top = json.loads((work / 'top_layouts.json').read_text())
    for c in top:      # the independent layout shares no measured entry: it is exact
        assert (c['score_se'] > 0) == (len(c['layout'][0]) == 1) and 0 <= c['p_best'] <= 1
    assert sum(c['p_best'] for c in top) == pytest.approx(1.0)
    assert top[0]['tied_with_best'] is True
    summary = json.loads((work / 'recommendation.json').read_text())
    assert summary['uncertainty'].startswith('score ± SE from the seed noise of the table (2')
    report = (work / 'report.txt').read_text()
    assert '± SE' in report and 'P(best)' in report
    one = tmp_path / 'one'
    run_pipeline(tiny_config(TASKS), str(one), train_fn=fake_train([]))
    assert json.loads((one / 'top_layouts.json').read_text())[0]['score_se'] is None
    assert 'no error bars' in (one / 'report.txt').read_text()


def test_more_seeds_trains_the_named_runs_once_and_updates_the_table(tmp_path):
    calls = []
    base = fake_train(calls)

    def noisy(cfg):
        seed = cfg.randomness.seed
        return {k: v * (1.0 + 0.03 * ((seed * 7) % 3 - 1)) for k, v in base(cfg).items()}

    cfg = tiny_config(TASKS, **{'sweep.seeds': 2, 'sweep.more_seeds': 1})
    work = tmp_path / 'more'
    assert run_pipeline(cfg, str(work), train_fn=noisy).status == 'done'
    chosen = json.loads((work / 'sweep' / 'more_seeds.json').read_text())
    assert chosen['seed'] == 2 and len(chosen['runs']) == 1
    a, b, branch = chosen['runs'][0]
    assert [a, b] == sorted(TASKS) and 1 <= branch <= 2
    assert len(calls) == 2 * (2 + 2) + 3           # two seeds of the sweep, then 1 pair + 2
    info = json.loads((work / 'recommendation.json').read_text())['two_task_table']
    assert info['more_seeds'] == chosen
    assert len(list((work / 'sweep' / 'runs').glob('*__s2'))) == 3
    assert info['cost']['trainings'] == len(calls) == 11       # every training counted
    report = (work / 'report.txt').read_text()
    assert 'mean of 2 seeds (1 pair run(s): 3); 11 trainings' in ' '.join(report.split())
    calls.clear()
    run_pipeline(cfg, str(work), train_fn=noisy)      # resumed: nothing is trained again
    assert calls == []
    with pytest.raises(ConfigError, match='sweep.more_seeds=1 needs the noise of the table'):
        run_pipeline(tiny_config(TASKS, **{'sweep.more_seeds': 1}), str(tmp_path / 'one'),
                     train_fn=fake_train([]))


def test_an_exported_config_the_user_edited_is_kept(tmp_path):
    work = str(tmp_path / 'work')
    cfg = tiny_config(TASKS, **{'recommender.topk': 2})
    first = run_pipeline(cfg, work, train_fn=fake_train([])).exported
    untouched, edited = Path(first[0]), Path(first[1])
    edited.write_text(edited.read_text() + 'optim_wrapper = dict(optimizer=dict(lr=0.5))\n')
    mine = edited.read_text()
    with pytest.warns(UserWarning, match=f'kept {edited}: it was changed') as caught:
        again = run_pipeline(tiny_config(TASKS, **{'recommender.topk': 2}), work,
                             train_fn=fake_train([])).exported
    assert edited.read_text() == mine                                  # the user's, as left
    assert again == [str(untouched), str(edited.with_suffix('')) + '.new.py']
    assert Path(again[1]).read_text() + 'optim_wrapper = dict(optimizer=dict(lr=0.5))\n' == mine
    assert sum('kept' in str(w.message) for w in caught) == 1
    # a smaller topk clears an unedited candidate, never an edited one
    with pytest.warns(UserWarning, match='this recommendation did not produce it'):
        run_pipeline(tiny_config(TASKS, **{'recommender.topk': 1}), work,
                     train_fn=fake_train([]))
    assert edited.read_text() == mine and untouched.exists()
    assert not Path(again[1]).exists()                 # the .new file was ours: cleared
