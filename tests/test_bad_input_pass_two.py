"""The second hostile pass (issue 31): each case is one clear line, exit != 0, before any
training; nothing the user wrote is lost; a checked statement never claims what it cannot."""
from __future__ import annotations

import pytest
from test_user_errors import error_of, no_training, tiny_config_file  # noqa: F401

from treemtl_plugin.apis.cli import run_tool

from helpers import PAPER_CFG, load_tool, tiny_config

RECOMMEND, VALIDATE = load_tool('recommend'), load_tool('analysis/validate_recommender')
COMPARE = load_tool('analysis/compare_table_methods')


@pytest.mark.parametrize('item, message', [
    ('=5', "'' is not a config key"),
    ('a..b=3', "'a..b' is not a config key"),
    ('recommender.task_weights=[1,2', 'the value cannot be parsed (Imbalanced brackets'),
])
def test_cfg_options_that_are_not_key_value_are_usage_errors(item, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        RECOMMEND.main([str(PAPER_CFG), '--work-dir', str(tmp_path), '--cfg-options', item])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def config_with(tmp_path, text: str):
    """A tiny full-mode config with ``text`` appended."""
    path = tiny_config_file(tmp_path)
    path.write_text(path.read_text() + text + '\n')
    return path


@pytest.mark.parametrize('text, message', [
    ('validation = 5', '`validation` must be a dict such as dict(seeds=3'),
    ("validation = 'all'", '`validation` must be a dict'),
    ('validation = dict(overrides=dict(trian_cfg=dict(max_iters=3)))',
     "unknown key(s) in validation.overrides: 'trian_cfg' (did you mean 'train_cfg'?)"),
    ('validation = dict(seeds=[2 ** 40])', 'validation.seeds (a count or a list of seeds) must'),
    ('train_cfg = 5', '`train_cfg` in the config must be a dict, got 5'),
    ("train_dataloader = 'x'", "`train_dataloader` in the config must be a dict, got 'x'"),
    ('optimizer = dict(lr=0.1)', '`optimizer` in the config is an mmcv 1.x key that mmengine '
                                 'ignores; use optim_wrapper = dict(optimizer=dict(...))'),
])
@pytest.mark.parametrize('tool', ['recommend', 'validate'])
def test_config_values_of_the_wrong_kind_are_one_line(text, message, tool, tmp_path, capsys,
                                                      no_training):  # noqa: F811
    path = config_with(tmp_path, text)
    line = error_of(RECOMMEND if tool == 'recommend' else VALIDATE,
                    [path, '--work-dir', tmp_path / 'w'], capsys)
    assert message in line


@pytest.mark.parametrize('options, message', [
    (['sweep.workers=1'], '`sweep` must be a dict, got 5; --cfg-options sets sweep.workers'),
])
def test_a_dotted_option_into_a_non_dict_is_one_line(options, message, tmp_path, capsys):
    path = config_with(tmp_path, 'sweep = 5')
    line = error_of(RECOMMEND, [path, '--work-dir', tmp_path / 'w', '--cfg-options', *options],
                    capsys)
    assert message in line


@pytest.mark.parametrize('options, message', [
    (['sweep.seeds=[1099511627776]'], 'sweep.seeds (a count or a list of seeds) must be a '
                                      'non-empty list of distinct integers in [0, 4294967295]'),
    (['sweep.overrides.train_dataloader.batch_size=0'],
     'sweep.overrides.train_dataloader.batch_size must be'),
    (['recommender.task_weights=[1,2,3]'], 'task_weights must be 2 finite'),
    (['recommender.task_weights=[1e308,1e308]'], 'with a positive, finite sum'),
    (['sweep.more_seeds=1'], 'sweep.more_seeds=1 needs the noise of the table'),
    (['sweep.method=lookahead', 'sweep.lookahead.interval=50'],
     'sweep.lookahead.interval=50 is longer than a sweep run (2 iterations)'),
    (['sweep.overrides.model.backbone.num_branch_points=3'],
     'sweep.overrides.model: the layout has 2 blocks but the backbone has 3 branching points'),
])
def test_checked_before_the_first_training(options, message, tmp_path, capsys,
                                           no_training):  # noqa: F811
    path = tiny_config_file(tmp_path)
    line = error_of(RECOMMEND, [path, '--work-dir', tmp_path / 'w', '--cfg-options', *options],
                    capsys)
    assert message in line
    assert not (tmp_path / 'w' / 'sweep' / 'runs').exists()


def test_options_of_another_table_method_are_a_warning_line(tmp_path, capsys, no_training):  # noqa: F811,E501
    path = config_with(tmp_path, "sweep = dict(method='pairwise', lookahead=dict(interval=5), "
                                 "overrides=dict(train_dataloader=dict(batch_size=0)))")
    error_of(RECOMMEND, [path, '--work-dir', tmp_path / 'w'], capsys)   # stops at batch_size
    path = config_with(tmp_path, "sweep = dict(method='pairwise', lookahead=dict(interval=5))")
    from treemtl_plugin.apis.config import load_config
    with pytest.warns(UserWarning, match="sweep.lookahead options are not used: sweep.method "
                                         "is 'pairwise'"):
        load_config(str(path))


def test_workers_on_a_table_mode_config_is_refused(tmp_path, capsys):
    line = error_of(RECOMMEND, [PAPER_CFG, '--work-dir', tmp_path / 'w', '--workers', '2'],
                    capsys)
    assert '--workers (sweep.workers) need(s) a config with a `model`' in line


def test_compare_table_methods_on_a_table_mode_config(tmp_path, capsys):
    line = error_of(COMPARE, [PAPER_CFG, '--work-dir', tmp_path / 'w'], capsys)
    assert 'compare_table_methods.py needs a config with a `model`' in line


def test_base_files_in_a_cycle_are_named(tmp_path, capsys):
    (tmp_path / 'a.py').write_text("_base_ = ['./b.py']\n")
    (tmp_path / 'b.py').write_text("_base_ = './a.py'\n")
    line = error_of(RECOMMEND, [tmp_path / 'a.py', '--work-dir', tmp_path / 'w'], capsys)
    assert 'inherit from each other in a cycle (a.py -> b.py -> a.py)' in line


@pytest.mark.parametrize('error', [IsADirectoryError(21, 'Is a directory', 'w/x.json.tmp1',
                                                     None, 'w/x.json'),
                                   FileExistsError(17, 'File exists', 'w/sweep/runs')])
def test_a_file_in_the_way_is_one_line(error, capsys):
    def job():
        raise error
    assert run_tool(str(PAPER_CFG), job) == 1
    err = capsys.readouterr().err
    expected = 'w/x.json: Is a directory' if error.filename2 else 'w/sweep/runs: File exists'
    assert err.startswith(f'error: {expected}; something else is in the way') and \
        'Traceback' not in err


def test_ctrl_c_says_what_was_saved_and_how_to_go_on(capsys):
    def job():
        raise KeyboardInterrupt
    assert run_tool(str(PAPER_CFG), job) == 130
    err = capsys.readouterr().err
    assert 'interrupted: every finished run is saved in the work dir; run the same command ' \
        'again' in err and 'Traceback' not in err
    assert run_tool(str(PAPER_CFG), job, resume_hint='add --resume') == 130
    assert 'interrupted: add --resume' in capsys.readouterr().err


def test_tiny_config_has_two_tasks_and_blocks():
    """The cases above assume the tiny config's 2 tasks, 2 blocks and 2 iterations."""
    cfg = tiny_config()
    assert len(cfg.model.tasks) == 2 and cfg.model.backbone.num_branch_points == 2
    assert cfg.sweep.overrides.train_cfg.max_iters == 2
