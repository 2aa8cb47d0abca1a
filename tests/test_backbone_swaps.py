"""The backbone-swap table of docs/user_guides/backbones.md is what the plugin does: every row
builds and runs on the README's default config, in one flag."""
from __future__ import annotations

import re
import shlex

import pytest
import torch
from mmengine.registry import init_default_scope

from treemtl_plugin.apis.config import load_config
from treemtl_plugin.registry import MODELS

from helpers import ROOT

#: the README's default config, whose backbone carries resnet10t-only settings
README_CFG = ROOT / 'configs' / 'teacher' / 'tree_resnet10t_narrow_teacher_middepth_3task.py'


def readme_rows() -> list[tuple[str, dict]]:
    """(family, cfg-options) of every row between the backbone-swaps markers of the guide."""
    text = (ROOT / 'docs' / 'user_guides' / 'backbones.md').read_text(encoding='utf-8')
    table = text.split('<!-- backbone-swaps -->')[1].split('<!-- /backbone-swaps -->')[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) < 2 or not cells[1].startswith('`') or cells[0] == 'family':
            continue
        options = dict(item.split('=', 1) for item in shlex.split(cells[1].strip('`')))
        rows.append((cells[0], options))
    return rows


ROWS = readme_rows()


def test_the_table_covers_cnns_vits_and_swin():
    families = {family for family, _ in ROWS}
    assert {'ResNet (CNN)', 'ViT', 'Swin'} <= families and len(ROWS) >= 5
    assert all(list(options) == ['model.backbone.model_name'] for _, options in ROWS)


@pytest.mark.parametrize('family, options', ROWS, ids=[family for family, _ in ROWS])
def test_backbone_swap_builds_and_runs(family, options):
    typed = {k: int(v) if re.fullmatch(r'\d+', v) else v for k, v in options.items()}
    with pytest.warns(UserWarning, match='dropped the settings of resnet10t'):
        cfg = load_config(str(README_CFG), typed)
    size = cfg.model.backbone.input_size[1]
    assert 'model_kwargs' not in cfg.model.backbone and 'block_groups' not in cfg.model.backbone
    assert cfg.model.backbone.num_branch_points == 4
    init_default_scope('treemtl_plugin')
    model = MODELS.build(cfg.model).eval()
    assert len(model.backbone_info['block_flops']) == cfg.model.backbone.num_branch_points
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size), mode='tensor')
    channels = {t: spec['head']['num_outputs'] for t, spec in cfg.model.tasks.items()}
    assert {t: tuple(v.shape) for t, v in out.items()} == \
        {t: (1, c, size, size) for t, c in channels.items()}
    assert all(torch.isfinite(v).all() for v in out.values())


def test_a_swap_names_what_it_drops_and_keeps_what_the_options_set_again():
    with pytest.warns(UserWarning) as caught:
        cfg = load_config(str(README_CFG), {'model.backbone.model_name': 'resnet18',
                                            'model.backbone.model_kwargs.output_stride': 16})
    text = str(caught[0].message)
    assert "block_groups=[[0, 1, 2, 3], [4], [5], [6]]" in text and 'model_kwargs' not in text
    assert 'add --cfg-options model.backbone.block_groups=...' in text
    # the options set model_kwargs again: the merge keeps the old keys beside the new one
    assert cfg.model.backbone.model_kwargs.output_stride == 16
    assert cfg.model.backbone.num_branch_points == 4 and 'block_groups' not in cfg.model.backbone


def test_no_swap_drops_nothing(recwarn):
    cfg = load_config(str(README_CFG), {'model.backbone.model_name': 'resnet10t'})
    assert cfg.model.backbone.block_groups == [[0, 1, 2, 3], [4], [5], [6]]
    assert cfg.model.backbone.model_kwargs.channels == (16, 16, 4, 4)
    assert not [w for w in recwarn if 'dropped' in str(w.message)]


def test_a_swapped_config_saves_and_loads_again(tmp_path):
    with pytest.warns(UserWarning):
        cfg = load_config(str(README_CFG), {'model.backbone.model_name': 'resnet18'})
    saved = tmp_path / 'swapped.py'
    cfg.dump(str(saved))
    again = load_config(str(saved))
    assert again.model.backbone.model_name == 'resnet18'
    assert 'block_groups' not in again.model.backbone and 'model_kwargs' not in again.model.backbone
