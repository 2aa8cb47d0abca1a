"""The backbone-swap table of docs/user_guides/backbones.md is what the plugin does: every row
builds and runs."""
from __future__ import annotations

import re
import shlex

import pytest
import torch
from mmengine.registry import init_default_scope

from treemtl_plugin.apis.config import load_config
from treemtl_plugin.registry import MODELS

from helpers import DEFAULT_CFG, ROOT


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


@pytest.mark.parametrize('family, options', ROWS, ids=[family for family, _ in ROWS])
def test_backbone_swap_builds_and_runs(family, options):
    typed = {k: int(v) if re.fullmatch(r'\d+', v) else v for k, v in options.items()}
    cfg = load_config(str(DEFAULT_CFG), typed)
    size = cfg.img_size
    assert cfg.model.backbone.input_size == (3, size, size)
    assert cfg.train_dataloader.dataset.image_size == size
    init_default_scope('treemtl_plugin')
    model = MODELS.build(cfg.model).eval()
    assert len(model.backbone_info['block_flops']) == cfg.model.backbone.num_branch_points
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size), mode='tensor')
    channels = {t: spec['head']['num_outputs'] for t, spec in cfg.model.tasks.items()}
    assert {t: tuple(v.shape) for t, v in out.items()} == \
        {t: (1, c, size, size) for t, c in channels.items()}
    assert all(torch.isfinite(v).all() for v in out.values())
