"""One way in: every flag lands in the config as run and saved; the runner applies img_size;
an exported config trains and resumes through the standard OpenMMLab entry."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from treemtl_plugin.apis.config import load_config
from treemtl_plugin.apis.export import export_configs
from treemtl_plugin.core.cost import CostModel
from treemtl_plugin.core.table import TwoTaskTable
from treemtl_plugin.engine.img_size import ImgSizeCheckHook
from treemtl_plugin.errors import ConfigError
from treemtl_plugin.recommenders import TreeRecommender

from helpers import PAPER_CFG, ROOT, TEACHER_CFG


def test_flags_are_written_into_the_saved_config_and_rerunning_it_agrees(tmp_path, tool):
    recommend = tool('recommend')
    first = tmp_path / 'flags'
    assert recommend.main([str(PAPER_CFG), '--strategy', 'task_grouping', '--max-models', '2',
                           '--topk', '3', '--work-dir', str(first)]) == 0
    saved = first / PAPER_CFG.name
    assert Config.fromfile(str(saved)).recommender.to_dict() == dict(
        type='TaskGroupingRecommender', topk=3, budget=dict(max_models=2.0))
    again = tmp_path / 'again'
    assert recommend.main([str(saved), '--work-dir', str(again)]) == 0
    top = [json.loads((d / 'top_layouts.json').read_text()) for d in (first, again)]
    assert top[0] == top[1] and len(top[0]) == 3


def test_flags_and_options_merge_in_one_order():
    cfg = load_config(str(PAPER_CFG), {'recommender.topk': 7},
                      {'recommender.type': 'tree', 'recommender.budget.max_models': 2.5,
                       'recommender.search': 'branch_and_bound', 'recommender.topk': None})
    assert cfg.recommender.topk == 7 and cfg.recommender.search == 'branch_and_bound'
    assert cfg.recommender.budget.max_models == 2.5
    with pytest.raises(ConfigError, match='--search .* has no such option'):
        load_config(str(PAPER_CFG), None, {'recommender.type': 'task_grouping',
                                           'recommender.search': 'enumerate'})
    with pytest.raises(ConfigError, match=r"unknown recommender option\(s\) 'serch' "
                                          r"\(did you mean 'search'\?\)"):
        load_config(str(PAPER_CFG), {'recommender.serch': 'auto'})
    with pytest.raises(ConfigError, match=r"unknown strategy 'trees' \(did you mean 'tree'"):
        load_config(str(PAPER_CFG), None, {'recommender.type': 'trees'})


def test_sweep_settings_are_checked_when_the_config_is_loaded():
    with pytest.raises(ConfigError, match='sweep.workers must be a positive integer'):
        load_config(str(TEACHER_CFG), {'sweep.workers': 0})
    with pytest.raises(ConfigError, match="sweep.method='pairwize' is not known"):
        load_config(str(TEACHER_CFG), {'sweep.method': 'pairwize'})
    with pytest.raises(ConfigError, match='sweep.more_seeds must be a non-negative integer'):
        load_config(str(TEACHER_CFG), None, {'sweep.more_seeds': -1})
    with pytest.raises(ConfigError, match='sweep.keep_checkpoints must be True or False'):
        load_config(str(TEACHER_CFG), {'sweep.keep_checkpoints': 'yes'})
    cfg = load_config(str(TEACHER_CFG), {'sweep.lookahead': dict(interval=5)})
    assert cfg.sweep.lookahead.interval == 5       # a table method's own options are known


def _small(cfg: Config, work_dir: Path, iters: int) -> Config:
    cfg.merge_from_dict({'work_dir': str(work_dir), 'train_cfg.max_iters': iters,
                         'train_cfg.val_interval': 10 ** 6,
                         'train_dataloader.dataset.num_samples': 8,
                         'train_dataloader.batch_size': 4, 'log_level': 'WARNING',
                         'default_hooks.checkpoint.interval': 1})
    return cfg


def test_a_runner_trains_at_the_configs_img_size_or_stops(tmp_path):
    # a child config that sets only img_size (as configs/synthetic/..._5task.py does)
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{TEACHER_CFG}']\nimg_size = 48\n")
    cfg = _small(Config.fromfile(str(child)), tmp_path / 'built', 1)
    assert cfg.train_dataloader.dataset.image_size == 32        # not applied by fromfile
    runner = RUNNERS.build(cfg)                                 # the config's runner_type
    batch = next(iter(runner.build_dataloader(runner._train_dataloader)))
    assert tuple(batch['inputs'].shape[-2:]) == (48, 48)
    assert runner.cfg.model.backbone.input_size == (3, 48, 48)
    plain = Runner.from_cfg(_small(Config.fromfile(str(child)), tmp_path / 'plain', 1))
    with pytest.raises(ConfigError, match=r'img_size=48 was not applied: '
                                          r'model.backbone.input_size=\(3, 32, 32\)'):
        plain.train()


def test_the_5task_convnext_config_trains_at_its_128_px_through_runners_build(tmp_path):
    cfg = Config.fromfile(str(ROOT / 'configs/synthetic/tree_convnext_nano_synthetic_5task.py'))
    cfg = _small(cfg, tmp_path, 1)
    cfg.merge_from_dict({'train_dataloader.dataset.prerender': False,
                         'train_dataloader.num_workers': 0,
                         'train_dataloader.persistent_workers': False})
    runner = RUNNERS.build(cfg)
    batch = next(iter(runner.build_dataloader(runner._train_dataloader)))
    assert tuple(batch['inputs'].shape[-2:]) == (128, 128)
    assert runner.cfg.model.backbone.input_size == (3, 128, 128)


def test_the_img_size_check_passes_an_applied_config():
    cfg = load_config(str(TEACHER_CFG), {'img_size': 40})
    ImgSizeCheckHook().before_run(type('R', (), {'cfg': cfg})())
    assert cfg.test_dataloader.dataset.image_size == 40


def test_an_exported_config_trains_and_resumes_through_the_standard_entry(tmp_path):
    cfg = _small(Config.fromfile(str(TEACHER_CFG)), tmp_path / 'unused', 2)
    saved = tmp_path / 'run' / TEACHER_CFG.name
    saved.parent.mkdir()
    cfg.dump(str(saved))
    tasks = list(cfg.model.tasks)
    values = np.random.default_rng(0).normal(size=(3, 3, 5))
    values[:, :, 0] = 0
    values[np.arange(3), np.arange(3)] = 0
    table = TwoTaskTable(tuple(tasks), 4, values)
    recommender = TreeRecommender(topk=1)
    rec = recommender.recommend(table, CostModel([1.0] * 4))
    exported = export_configs(rec, recommender, str(saved), cfg.model,
                              str(tmp_path / 'exported'), str(tmp_path / 'train'))[0]
    # as `mim train` or a downstream tools/train.py runs it: a fresh interpreter, no plugin
    # import of its own, RUNNERS.build where runner_type is set, else Runner.from_cfg
    script = textwrap.dedent(f'''
        from mmengine.config import Config
        from mmengine.registry import RUNNERS
        from mmengine.runner import Runner
        def build(iters, resume):
            cfg = Config.fromfile({exported!r})
            cfg.work_dir = {str(tmp_path / 'std')!r}
            cfg.train_cfg.max_iters = iters
            cfg.resume = resume
            return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
        build(2, False).train()
        runner = build(3, True)
        runner.train()
        print('iter', runner.iter)
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          cwd=str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ['iter', '3']
    assert 'Advance dataloader 2 steps' in proc.stdout + proc.stderr   # resumed at iter 2
    assert (tmp_path / 'std' / 'iter_3.pth').is_file()


def test_switching_strategy_says_which_options_it_leaves_out():
    with pytest.warns(UserWarning, match=r"--strategy task_grouping: the TreeRecommender "
                                         r"options \['csv_rows', 'estimator', 'max_layouts', "
                                         r"'prefer'"):
        cfg = load_config(str(PAPER_CFG), None, {'recommender.type': 'task_grouping'})
    assert set(cfg.recommender) == {'type', 'topk', 'budget'}
