"""Mistakes a careful user makes get one clear `error:` line (exit 1), before any training;
internal bugs still show their traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import PAPER_CFG, ROOT, load_tool, tiny_config

RECOMMEND, TRAIN = load_tool('recommend'), load_tool('train')


def tiny_config_file(tmp_path, **changes) -> Path:
    """``tiny_config(**changes)`` written to ``tmp_path / 'micro.py'``."""
    path = tmp_path / 'micro.py'
    from treemtl_plugin.io.config_file import dump_config
    dump_config(tiny_config(**changes), str(path))
    return path


def error_of(tool, args, capsys) -> str:
    code = tool.main([str(a) for a in args])
    captured = capsys.readouterr()
    assert code == 1, captured.out[-2000:] + captured.err[-2000:]
    lines = [line for line in captured.err.splitlines() if line.startswith('error:')]
    assert len(lines) == 1 and 'Traceback' not in captured.err, captured.err
    return lines[0]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if anything starts training."""
    from treemtl_plugin.engine import runner

    def forbidden(*args, **kwargs):
        raise AssertionError('training started although the input was invalid')
    monkeypatch.setattr(runner.SweepRunner, 'train', forbidden)
    monkeypatch.setattr(runner.TreeMTLRunner, 'train', forbidden)


# -- config files --------------------------------------------------------------------------
@pytest.mark.parametrize('tool_name', ['recommend', 'train'])
def test_syntax_error_names_file_and_line(tool_name, tmp_path, capsys):
    bad = tmp_path / 'bad.py'
    bad.write_text("_base_ = ['x.py']\nmodel = dict(a=1\ntasks = []\n")
    line = error_of(RECOMMEND if tool_name == 'recommend' else TRAIN, [bad], capsys)
    assert 'bad.py' in line and 'line 2' in line and 'syntax error' in line


def test_a_lazy_import_config_on_a_base_list_config_is_one_line(tmp_path, capsys):
    lazy = tmp_path / 'lazy.py'
    (tmp_path / 'plain_base.py').write_text(f"_base_ = ['{PAPER_CFG}']\n")
    lazy.write_text('from mmengine.config import read_base\nwith read_base():\n'
                    '    from .plain_base import *\n')
    line = error_of(RECOMMEND, [lazy, '--work-dir', tmp_path / 'w'], capsys)
    assert line.startswith(f'error: config {lazy} cannot be loaded') and 'lazy_import' in line


def test_missing_base_file(tmp_path, capsys):
    bad = tmp_path / 'bad.py'
    bad.write_text("_base_ = ['no_such_base.py']\n")
    assert 'no_such_base.py' in error_of(RECOMMEND, [bad], capsys)


def test_top_level_typo_in_config_is_an_error(tmp_path, capsys, no_training):
    path = tmp_path / 'typo.py'
    path.write_text(f"_base_ = ['{PAPER_CFG}']\nrecomender = dict(topk=3)\n")
    line = error_of(RECOMMEND, [path, '--work-dir', tmp_path / 'w'], capsys)
    assert "'recomender' (did you mean 'recommender'?)" in line


@pytest.mark.parametrize('option, expected', [
    ('recomender.topk=3', "'recomender' (did you mean 'recommender'?)"),
    ('recommender.topk=True', 'topk must be a positive integer, got True'),
    ('recommender.topkk=3', "'topkk' (did you mean 'topk'?)"),
    ('block_flops=1,2,3,4,5x', 'block_flops must be a list with one number per block'),
    ('recommender.budget.max_models=True', 'max_models must be a positive number, got True'),
    ('recommender.search_threshold=1.5', 'search_threshold must be a positive integer'),
    ('recommender.task_weights=[1,2]', 'task_weights must be 3 finite non-negative numbers'),
    ('block_flops=[0,0,0,0,0]', 'add up to 0'),
    ('recommender.budget.max_flops.x=1', "max_flops must be a positive number, got {'x': 1}"),
    ('recommender.topk.x=1', '`recommender.topk` must be a dict, got 5; --cfg-options sets'),
    ('block_flops=[1,2] block_params=None', 'block_flops has 2 value(s), one per branching '
                                            'point, but the two_task_table'),
    ('flops_unit=5', "flops_unit must be a string (a label for reports), got 5"),
    ('two_task_table=/', "two_task_table='/' is a folder"),
    ('sweep.more_seeds=2', '--more-seeds (sweep.more_seeds) need(s) a config with a `model`'),
])
def test_bad_cfg_options(option, expected, tmp_path, capsys):
    line = error_of(RECOMMEND, [PAPER_CFG, '--work-dir', tmp_path / 'w', '--cfg-options',
                                *option.split()], capsys)
    assert expected in line


def test_task_weights_dict_works_with_the_default_recommender_base(tmp_path, capsys):
    path = tmp_path / 'weights.py'
    path.write_text(f"_base_ = ['{PAPER_CFG}']\nrecommender = dict(task_weights=dict("
                    "segment_semantic=1, normal=1, depth_zbuffer=2))\n")
    assert RECOMMEND.main([str(path), '--work-dir', str(tmp_path / 'w')]) == 0
    summary = json.loads((tmp_path / 'w' / 'recommendation.json').read_text())
    assert summary['task_weights'] == dict(segment_semantic=0.25, normal=0.25,
                                           depth_zbuffer=0.5)


@pytest.mark.parametrize('tool_name', ['recommend', 'train'])
def test_work_dir_that_is_a_file(tool_name, tmp_path, capsys, no_training):
    afile = tmp_path / 'file'
    afile.write_text('x')
    cfg = PAPER_CFG if tool_name == 'recommend' else tiny_config_file(tmp_path)
    line = error_of(RECOMMEND if tool_name == 'recommend' else TRAIN,
                    [cfg, '--work-dir', afile], capsys)
    assert 'is a file, not a folder' in line


# -- full mode: everything checkable is checked before training ----------------------------
@pytest.mark.parametrize('changes, expected', [
    ({'model.tasks.depth_zbuffer.head.type': 'LightConvHeda'},
     "'LightConvHeda' is not registered (did you mean 'LightConvHead'?)"),
    ({'model.tasks.depth_zbuffer.loss.type': 'DepthL2Loss'}, "'DepthL2Loss' is not registered"),
    ({'img_size': None, 'train_dataloader.dataset.image_size': 48},
     'image_size=48 but model.backbone.input_size'),
    ({'train_dataloader.dataset.num_sampels': 8}, "unexpected keyword argument 'num_sampels'"),
    ({'sweep.overides': {}}, "'overides' (did you mean 'overrides'?)"),
    ({'model.layout': [[['segment_semantic']], [['depth_zbuffer']]]}, 'invalid model.layout'),
    ({'two_task_table': 'no_such_table.csv'}, 'two_task_table file not found'),
    ({'two_task_table': str(ROOT / 'configs' / 'paper' / 'data' / 'nyuv2_mobilenetv2.csv')},
     'the backbone has 2 branching point(s), but the two_task_table '),
    ({'model.tasks.depth_zbuffer.loss': None}, "model.tasks['depth_zbuffer'] needs a `head` "
                                               "and a `loss`"),
    ({'model.backbone.model_name': 5}, 'model_name must be a timm model name (a string), got 5'),
    ({'model.backbone.num_branch_points': None, 'model.backbone.block_groups': 'x'},
     'block_groups must be a list of lists'),
    ({'optim_wrapper.optimizer.type': 'Adamw'}, "optim_wrapper.optimizer.type='Adamw' is not "
                                                "a registered optimizer (did you mean 'AdamW'?)"),
    ({'param_scheduler': [dict(type='CosineLR')]}, "param_scheduler[0].type='CosineLR' is not "
                                                   'a registered parameter scheduler'),
    ({'val_evaluator.type': 'MultiTaskMetrik'}, "(did you mean 'MultiTaskMetric'?)"),
    ({'val_evaluator.tasks': {'depth_zbuffer': 'nope'}}, "unknown kind 'nope'"),
    ({'randomness.seed': -1}, 'randomness.seed must be an integer in [0, 4294967295], got -1'),
    ({'optim_wrapper.optimizer.lr': 'x'}, "optim_wrapper.optimizer.lr must be a finite number "
                                          ">= 0, got 'x'"),
    ({'optim_wrapper.optimizer.nope': 1}, "unexpected keyword argument 'nope'"),
    ({'optim_wrapper.clip_grad': 5}, 'optim_wrapper: AssertionError: If `clip_grad` is not'),
    ({'sweep.method': 'lookahead', 'sweep.lookahead.interval': 0},
     'sweep.lookahead.interval must be a positive integer, got 0'),
])
def test_full_mode_mistakes_fail_before_training(changes, expected, tmp_path, capsys,
                                                 no_training):
    line = error_of(RECOMMEND, [tiny_config_file(tmp_path, **changes), '--work-dir',
                                tmp_path / 'w'], capsys)
    assert expected in line


def test_flags_onto_a_key_that_is_not_a_dict(tmp_path, capsys, no_training):
    line = error_of(RECOMMEND, [tiny_config_file(tmp_path), '--work-dir', tmp_path / 'w',
                                '--workers', '1', '--cfg-options', 'sweep=5'], capsys)
    assert line == 'error: `sweep` must be a dict, got 5; the command line sets sweep.workers in it'


def test_train_checks_heads_and_components_too(tmp_path, capsys, no_training):
    cfg = tiny_config_file(tmp_path, **{'optim_wrapper.optimizer.type': 'NopeOpt'})
    line = error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w'], capsys)
    assert "optim_wrapper.optimizer.type='NopeOpt' is not a registered optimizer" in line
    cfg = tiny_config_file(tmp_path, **{'optim_wrapper.optimizer.betas': 'x'})
    line = error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w'], capsys)
    assert line.startswith('error: optim_wrapper: TypeError')
    cfg = tiny_config_file(tmp_path, **{'model.tasks.depth_zbuffer.head': None})
    assert 'needs a `head` and a `loss`' in error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w'],
                                                     capsys)


def test_folders_given_for_files(tmp_path, capsys):
    code = RECOMMEND.main([str(tmp_path)])
    assert code == 2 and f'error: {tmp_path} is a folder; give a config file' in \
        capsys.readouterr().err
    test = load_tool('test')
    line = error_of(test, [tiny_config_file(tmp_path), tmp_path, '--work-dir', tmp_path / 'w'],
                    capsys)
    assert f'checkpoint {tmp_path} is a folder' in line


def test_a_failed_sweep_run_is_one_sentence(tmp_path, capsys, monkeypatch):
    from treemtl_plugin.engine import runner

    def fails(self):
        raise RuntimeError('out of memory')
    monkeypatch.setattr(runner.SweepRunner, 'train', fails)     # one worker: this process
    line = error_of(RECOMMEND, [tiny_config_file(tmp_path), '--work-dir', tmp_path / 'w',
                                '--workers', '1'], capsys)
    assert line.count('Finished runs are kept') == 1 and '..' not in line
    assert 'RuntimeError: out of memory' in line


def test_dataset_without_a_task_fails_before_training(tmp_path, capsys, no_training):
    cfg = tiny_config_file(tmp_path)
    text = cfg.read_text().replace("'depth_zbuffer'", "'curvature'")
    cfg.write_text(text)
    line = error_of(RECOMMEND, [cfg, '--work-dir', tmp_path / 'w'], capsys)
    assert "curvature" in line


def test_infeasible_budget_fails_before_training_also_in_a_shard(tmp_path, capsys,
                                                                  no_training):
    line = error_of(RECOMMEND, [tiny_config_file(tmp_path), '--work-dir', tmp_path / 'w',
                                '--shard', '1/2', '--max-models', '0.5'], capsys)
    assert 'no layout fits the budget' in line
    line = error_of(RECOMMEND, [tiny_config_file(tmp_path), '--work-dir', tmp_path / 'w',
                                '--strategy', 'task_grouping', '--max-models', '0.5'], capsys)
    assert 'no task grouping fits the budget' in line


def test_train_top_out_of_range(tmp_path, capsys, no_training):
    line = error_of(RECOMMEND, [tiny_config_file(tmp_path), '--work-dir', tmp_path / 'w',
                                '--topk', '2', '--train-top', '3'], capsys)
    assert '--train-top 3 must be between 0 and the number of recommended models (2)' in line


# -- tools/train.py ----------------------------------------------------------------------------
def test_train_head_typo_and_invalid_layout(tmp_path, capsys):
    cfg = tiny_config_file(tmp_path, **{'model.tasks.depth_zbuffer.head.type': 'LightConvHeda'})
    assert "did you mean 'LightConvHead'" in error_of(TRAIN, [cfg, '--work-dir',
                                                              tmp_path / 'w'], capsys)
    cfg = tiny_config_file(tmp_path, **{'model.layout': [[['segment_semantic', 'x']]] * 2})
    assert "do not match the model's tasks" in error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w'],
                                              capsys)


def test_resume_from_a_corrupt_or_foreign_checkpoint(tmp_path, capsys):
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'PK\x03\x04 not really a checkpoint')
    cfg = tiny_config_file(tmp_path)
    line = error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w', '--resume', corrupt], capsys)
    assert 'corrupt.pth is not a readable checkpoint' in line
    foreign = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {'fc.weight': torch.zeros(2, 2)}, 'meta': {}}, foreign)
    line = error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w', '--resume', foreign], capsys)
    assert 'belongs to another model' in line
    missing = tmp_path / 'missing.pth'
    line = error_of(TRAIN, [cfg, '--work-dir', tmp_path / 'w', '--resume', missing], capsys)
    assert 'not found' in line


def test_internal_bugs_keep_their_traceback(tmp_path, monkeypatch):
    from treemtl_plugin.apis import recommendation

    def bug(*args, **kwargs):
        raise ZeroDivisionError('a bug')
    monkeypatch.setattr(recommendation, 'write_recommendation', bug)
    with pytest.raises(ZeroDivisionError):
        RECOMMEND.main([str(PAPER_CFG), '--work-dir', str(tmp_path / 'w')])


def test_importing_the_plugin_leaves_mmengine_checkpoint_loading_alone():
    import subprocess
    import sys
    code = ('from mmengine.runner import CheckpointLoader\n'
            "before = CheckpointLoader._schemes['']\n"
            'import treemtl_plugin, treemtl_plugin.registry, treemtl_plugin.engine.runner\n'
            'import treemtl_plugin.models, treemtl_plugin.datasets\n'
            "print(CheckpointLoader._schemes[''] is before)\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=str(ROOT))
    assert out.stdout.strip() == 'True', out.stderr


def test_absurd_numbers_are_rejected_with_the_row_named(tmp_path, capsys):
    table = tmp_path / 'table.csv'
    table.write_text('task_a,task_b,branch,perf_a,perf_b\na,b,1,1e300,1\n')
    cfg = tmp_path / 'absurd.py'
    cfg.write_text(f"tasks = ['a', 'b']\ntwo_task_table = '{table}'\nblock_flops = [1.0]\n")
    assert RECOMMEND.main([str(cfg), '--work-dir', str(tmp_path / 'w')]) == 1
    err = capsys.readouterr().err
    assert "line 2: perf_a '1e300' is not a plausible relative performance" in err
    assert 'Traceback' not in err
    table.write_text('task_a,task_b,branch,perf_a,perf_b\na,b,1,1,1\n')
    cfg.write_text(f"tasks = ['a', 'b']\ntwo_task_table = '{table}'\nblock_flops = [1e300]\n")
    assert 'not a plausible cost' in error_of(RECOMMEND, [cfg, '--work-dir', tmp_path / 'w'],
                                              capsys)
    assert RECOMMEND.main([str(cfg), '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                           'block_flops=[1e9]']) == 0
    for name in ('top_layouts.json', 'recommendation.json'):     # strict JSON
        json.loads((tmp_path / 'w' / name).read_text(),
                   parse_constant=lambda c: pytest.fail(f'{name} holds {c}'))


@pytest.mark.parametrize('tool_name', ['recommend', 'train'])
def test_a_work_dir_holding_the_config_is_refused_and_the_config_kept(tmp_path, tool_name,
                                                                        capsys):
    """--work-dir = the config's own folder would overwrite the user's config with the saved
    copy: refused, naming both, and the file is untouched."""
    from helpers import TEACHER_CFG
    config = tmp_path / 'mine.py'
    config.write_text(f"_base_ = ['{TEACHER_CFG}']\n# my notes\n")
    before = config.read_text()
    assert load_tool(tool_name).main([str(config), '--work-dir', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'is the folder of the config' in err and 'choose another --work-dir' in err
    assert config.read_text() == before


@pytest.mark.parametrize('tool_name', ['train', 'test', 'analysis/validate_recommender'])
def test_tools_that_train_say_a_table_mode_config_has_no_model(tmp_path, tool_name, capsys):
    args = [str(PAPER_CFG), '--work-dir', str(tmp_path / 'w')]
    if tool_name == 'test':
        args.insert(1, str(tmp_path / 'none.pth'))
    assert load_tool(tool_name).main(args) == 1
    assert 'needs a config with a `model`' in capsys.readouterr().err


@pytest.mark.parametrize('option, message', [
    ('sweep.overrides.train_cfg.max_iters=0', 'sweep.overrides.train_cfg.max_iters must be a '
                                              'positive integer, got 0'),
    ('train_cfg.max_iters=-1', 'train_cfg.max_iters must be a positive integer, got -1'),
    ('train_dataloader.batch_size=0', 'train_dataloader.batch_size must be a positive integer'),
    ('validation.train_cfg.max_iters=0', 'validation.train_cfg.max_iters must be a positive'),
])
def test_schedules_that_would_train_nothing_are_config_errors(option, message, capsys):
    from helpers import TEACHER_CFG
    assert load_tool('recommend').main([str(TEACHER_CFG), '--cfg-options', option]) == 1
    assert message in capsys.readouterr().err


def test_a_smaller_topk_removes_the_earlier_runs_extra_exported_configs(tmp_path):
    import numpy as np

    from treemtl_plugin.apis.export import export_configs
    from treemtl_plugin.core.cost import CostModel
    from treemtl_plugin.core.table import TwoTaskTable
    from treemtl_plugin.recommenders import TreeRecommender
    values = np.random.default_rng(0).normal(size=(3, 3, 5))
    values[:, :, 0] = 0
    values[np.arange(3), np.arange(3)] = 0
    table = TwoTaskTable(('a', 'b', 'c'), 4, values)
    base = tmp_path / 'run.py'
    base.write_text('model = dict()\n')
    mine = tmp_path / 'exported' / 'notes_run.py'          # not ours: kept
    mine.parent.mkdir()
    mine.write_text('# mine\n')
    for topk, expected in ((3, 3), (1, 1)):
        rec_ = TreeRecommender(topk=topk)
        rec = rec_.recommend(table, CostModel([1.0] * 4))
        export_configs(rec, rec_, str(base), {}, str(tmp_path / 'exported'), str(tmp_path / 't'))
        left = sorted(p.name for p in (tmp_path / 'exported').glob('rank*_run.py'))
        assert left == [f'rank{k}_run.py' for k in range(1, expected + 1)]
    assert mine.is_file()


@pytest.mark.parametrize('args, message', [
    (['--cfg-options', 'topk'], "--cfg-options 'topk' is not key=value"),
    (['--launcher', 'pytorch'], '--launcher pytorch expects the processes its launcher starts'),
])
def test_command_line_mistakes_are_usage_errors(args, message, capsys, monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    with pytest.raises(SystemExit) as exit_:
        load_tool('recommend').main([str(PAPER_CFG)] + args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def _latin1_table(folder):
    (folder / 'table.csv').write_bytes(b'task_a,task_b,branch,perf_a,perf_b\n\xff,b,1,2,3\n')
    return ['two_task_table=' + str(folder / 'table.csv')]


@pytest.mark.parametrize('make, message', [
    (_latin1_table, 'not UTF-8 text (byte 0xff'),
    (lambda d: ['two_task_table=5'], 'two_task_table=5: give the path of a two-task CSV'),
])
def test_bad_table_inputs_are_one_line(tmp_path, make, message, capsys):
    options = make(tmp_path)
    assert load_tool('recommend').main([str(PAPER_CFG), '--work-dir', str(tmp_path / 'w'),
                                        '--cfg-options'] + options) == 1
    assert message in capsys.readouterr().err


def test_an_unwritable_work_dir_and_bad_compare_budgets_are_refused_first(tmp_path, capsys):
    blocked = tmp_path / 'file'
    blocked.write_text('x')
    assert load_tool('recommend').main([str(PAPER_CFG), '--work-dir',
                                        str(blocked / 'under')]) == 1
    assert 'cannot be written' in capsys.readouterr().err
    assert load_tool('recommend').main([str(PAPER_CFG), '--work-dir', str(tmp_path / 'w'),
                                        '--compare-budgets', '-1']) == 1
    assert '--compare-budgets -1: the budgets are backbone-equivalents' in \
        capsys.readouterr().err


def test_a_second_process_is_told_who_holds_the_remaining_runs(tmp_path, monkeypatch):
    import time

    from treemtl_plugin.engine import runner
    monkeypatch.setattr(runner, 'train_and_evaluate', lambda cfg: {
        f'{t}/{m}': 1.0 for t in cfg.model.tasks
        for m in (('mIoU', 'pixel_acc') if t == 'segment_semantic' else ('abs_err', 'rel_err'))})
    held = tmp_path / 'w' / 'sweep' / 'runs' / 'pair__depth_zbuffer__segment_semantic__b1'
    held.mkdir(parents=True)        # another machine's process is training this run now
    (held / 'claim.json').write_text(json.dumps(dict(host='node7', pid=4242, token='t',
                                                     started=time.time(),
                                                     heartbeat=time.time())))
    assert RECOMMEND.main([str(tiny_config_file(tmp_path)), '--work-dir', str(tmp_path / 'w'),
                           '--workers', '1']) == 0
    log = (tmp_path / 'w' / 'recommend.log').read_text()    # whole lines (the console wraps)
    assert '1 run(s) are being trained by other processes (node7:4242)' in log
    assert 'not recommending yet: the remaining runs are held by the processes named above' \
        in log and 'shard' not in log
    assert not (tmp_path / 'w' / 'top_layouts.json').exists()


@pytest.mark.parametrize('config_text, options, message', [
    ('x = 1 / 0\n', [], 'cannot be loaded: ZeroDivisionError'),
    (None, ['recommender=[1,2]'], "recommender=[1, 2]: give a dict"),
    (None, ['recommender.type=TaskGroupingRecommender', 'recommender.search=auto'],
     "unknown recommender option(s) 'search'"),
])
def test_broken_configs_and_recommender_values_are_one_line(tmp_path, config_text, options,
                                                            message, capsys):
    config = PAPER_CFG
    if config_text is not None:
        config = tmp_path / 'broken.py'
        config.write_text(config_text)
    args = [str(config), '--work-dir', str(tmp_path / 'w')]
    if options:
        args += ['--cfg-options'] + options
    assert load_tool('recommend').main(args) == 1
    assert message in capsys.readouterr().err


def test_a_txt_config_and_bad_half_width_are_one_line(tmp_path, capsys):
    text = tmp_path / 'cfg.txt'
    text.write_text('x = 1\n')
    assert load_tool('recommend').main([str(text), '--work-dir', str(tmp_path / 'w')]) == 1
    assert 'cannot be loaded' in capsys.readouterr().err
    assert load_tool('recommend').main([str(PAPER_CFG), '--work-dir', str(tmp_path / 'w'),
                                        '--strategy', 'task_grouping', '--cfg-options',
                                        'recommender.half_width=x']) == 1
    assert "recommender.half_width='x'" in capsys.readouterr().err
