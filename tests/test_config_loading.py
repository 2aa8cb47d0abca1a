"""Reading a config the way the tools do: ``img_size`` drives the resolution, and a config
path is also looked up among the shipped configs."""
from __future__ import annotations

import os

import pytest

from treemtl_plugin.apis import cli
from treemtl_plugin.apis.config import load_config
from treemtl_plugin.errors import ConfigError

from helpers import DEFAULT_CFG, ROOT

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
CONVNEXT = ROOT / 'configs' / 'synthetic' / 'tree_convnext_nano_synthetic_5task.py'


def sizes(cfg):
    return (tuple(cfg.model.backbone.input_size),
            [cfg[k].dataset.image_size for k in LOADERS])


def test_img_size_of_the_shipped_configs_drives_every_size():
    assert sizes(load_config(str(DEFAULT_CFG))) == ((3, 64, 64), [64, 64, 64])
    # the child config changes only img_size; the base model still says 64
    assert sizes(load_config(str(CONVNEXT))) == ((3, 128, 128), [128, 128, 128])
    taskonomy = load_config(str(ROOT / 'configs/taskonomy/tree_deeplab_resnet34_taskonomy.py'))
    assert sizes(taskonomy) == ((3, 224, 224), [224, 224, 224])


def test_img_size_on_the_command_line_changes_the_whole_resolution():
    assert sizes(load_config(str(DEFAULT_CFG), {'img_size': 96})) == ((3, 96, 96), [96] * 3)
    assert sizes(load_config(str(DEFAULT_CFG), {'img_size': [48, 80]})) == \
        ((3, 48, 80), [[48, 80]] * 3)


def test_a_size_that_img_size_would_overwrite_is_an_error_naming_img_size():
    with pytest.raises(ConfigError, match=r'train_dataloader.dataset.image_size=48.*'
                                          r'img_size=64.*--cfg-options img_size=<size>'):
        load_config(str(DEFAULT_CFG), {'train_dataloader.dataset.image_size': 48})
    with pytest.raises(ConfigError, match='model.backbone.input_size'):
        load_config(str(DEFAULT_CFG), {'model.backbone.input_size': (3, 32, 32)})


def test_without_img_size_the_sizes_stay_as_written():
    cfg = load_config(str(DEFAULT_CFG), {'img_size': None,
                                         'train_dataloader.dataset.image_size': 48})
    assert sizes(cfg) == ((3, 64, 64), [48, 64, 64])


@pytest.mark.parametrize('bad', [0, -8, 'big', True, 64.0, [64], [64, 0], [64, True]])
def test_bad_img_size_names_the_value_and_the_fix(bad):
    with pytest.raises(ConfigError, match=r'img_size=.*positive int.*\(height, width\)'):
        load_config(str(DEFAULT_CFG), {'img_size': bad})


def test_a_missing_config_path_is_found_among_the_shipped_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)              # no configs/ folder here
    rel = os.path.join('configs', 'synthetic', 'tree_resnet18_synthetic_3task.py')
    assert os.path.samefile(cli.find_config(rel), DEFAULT_CFG)
    assert os.path.samefile(cli.find_config('synthetic/tree_resnet18_synthetic_3task.py'),
                            DEFAULT_CFG)
    assert cli.find_config('configs/nope.py') == 'configs/nope.py'
    (tmp_path / 'configs' / 'synthetic').mkdir(parents=True)
    own = tmp_path / rel
    own.write_text("_base_ = []\n")
    assert cli.find_config(rel) == rel       # a file where the command runs comes first


def test_missing_config_error_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.run_tool('configs/nope.py', lambda: 0) == 2
    err = capsys.readouterr().err
    assert 'config file not found: configs/nope.py' in err and 'shipped configs' in err
