"""BackboneProfile cache: a backbone spec is detected and measured once, then only built."""
from __future__ import annotations

import collections
import json
import os

import pytest
import timm
import torch
from torch.fx.passes.shape_prop import ShapeProp

from treemtl_plugin.models import backbone_profile, branching_point_detector
from treemtl_plugin.models.backbone_profile import (
    PROFILE_FORMAT,
    BackboneProfile,
    clear_profile_cache,
    get_profile_cache_dir,
    profile_backbone,
    set_profile_cache_dir,
)
from treemtl_plugin.models.feature_format import feature_grid, infer_feature_format
from treemtl_plugin.models.flops import fvcore_flops
from treemtl_plugin.models.timm_block_backbone import TimmBlockBackbone

SIZE = 32


@pytest.fixture
def cache_dir(tmp_path):
    """A fresh disk cache directory and an empty memory cache; the old setting is restored."""
    previous = set_profile_cache_dir(tmp_path)
    clear_profile_cache()
    yield tmp_path
    set_profile_cache_dir(previous)
    clear_profile_cache()


@pytest.fixture
def calls(monkeypatch):
    """Counts calls of the expensive steps: detection, dominator search, shape probing, fvcore."""
    counter = collections.Counter()

    def spy(owner, name):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            counter[name] += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapper)

    spy(backbone_profile, 'detect_blocks')
    spy(backbone_profile, 'fvcore_flops')
    spy(branching_point_detector, 'single_tensor_cuts')
    spy(branching_point_detector.nx, 'immediate_dominators')
    spy(ShapeProp, 'propagate')
    return counter


def _files(folder) -> list[str]:
    sub = os.path.join(folder, 'backbone_profiles')
    return sorted(os.listdir(sub)) if os.path.isdir(sub) else []


def _build(name='resnet18', size=SIZE, **kwargs) -> TimmBlockBackbone:
    return TimmBlockBackbone(name, input_size=(3, size, size), **kwargs)


def test_second_build_in_process_does_not_detect_or_measure(cache_dir, calls):
    set_profile_cache_dir(None)              # memory cache only
    first = _build(num_branch_points=3)
    assert calls['fvcore_flops'] == len(first.detected)
    assert calls['single_tensor_cuts'] == 1 and calls['immediate_dominators'] == 1
    calls.clear()
    second = _build(num_branch_points=3)
    assert sum(calls.values()) == 0, calls
    assert second.profile is first.profile
    assert second.block_flops == first.block_flops and second.detected == first.detected
    assert _files(cache_dir) == []
    # the weights are the second model's own, not shared with the first build
    assert all(a is not b for a, b in zip(first.parameters(), second.parameters()))


def test_disk_cache_is_loaded_by_a_fresh_process(cache_dir, calls):
    first = _build()
    files = _files(cache_dir)
    assert len(files) == 1 and files[0].startswith('resnet18-') and files[0].endswith('.json')
    with open(os.path.join(cache_dir, 'backbone_profiles', files[0])) as f:
        assert BackboneProfile.from_dict(json.load(f)) == first.profile
    clear_profile_cache()                    # what a new process starts with
    calls.clear()
    second = _build()
    assert sum(calls.values()) == 0, calls
    assert second.profile == first.profile and second.profile is not first.profile
    assert second.cost_table() == first.cost_table()
    assert not [f for f in os.listdir(os.path.join(cache_dir, 'backbone_profiles'))
                if f.startswith('.tmp')]


def test_profile_json_round_trip(cache_dir):
    profile = profile_backbone('resnet18', (3, SIZE, SIZE), model_kwargs={'drop_rate': 0.1})
    again = BackboneProfile.from_json(profile.to_json())
    assert again == profile
    assert again.timm_version == timm.__version__ and again.torch_version == torch.__version__
    assert again.input_size == (3, SIZE, SIZE) and again.blocks[0].shape == (64, 8, 8)
    assert again.blocks[0].fmt == 'NCHW' and again.blocks[0].grid == (8, 8)
    assert again.blocks[0].channels == 64 and again.blocks[-1].channels == 512
    assert json.loads(profile.to_json())['format'] == PROFILE_FORMAT >= 2
    assert again.cuts == [b.cut for b in again.blocks[:-1]] and again.blocks[-1].cut is None
    assert again.blocks[0].gflops == again.blocks[0].flops / 1e9


@pytest.mark.parametrize('name, kwargs', [('resnet18', {}),
                                          ('vit_tiny_patch16_224', {'img_size': SIZE})])
def test_cached_blocks_reproduce_features_and_measured_flops(cache_dir, calls, name, kwargs):
    measured = profile_backbone(name, (3, SIZE, SIZE), model_kwargs=kwargs)
    clear_profile_cache()
    calls.clear()
    torch.manual_seed(0)
    backbone = _build(name, model_kwargs=kwargs).eval()
    assert calls['detect_blocks'] == 0 and calls['fvcore_flops'] == 0
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False, **kwargs).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(backbone(x), reference.forward_features(x))
    # the cached FLOPs are fvcore's count of the blocks built from the cache
    x = torch.randn(1, 3, SIZE, SIZE)
    for k, block in enumerate(backbone.blocks):
        assert fvcore_flops(block, x) == measured.blocks[k].flops
        assert backbone.block_flops[k] == measured.blocks[k].flops / 1e9
        with torch.no_grad():
            x = block(x)
        assert tuple(x.shape[1:]) == measured.blocks[k].shape


@pytest.mark.parametrize('corrupt', ['binary', 'truncated', 'not a profile', 'other spec',
                                     'stale cut'])
def test_corrupt_cache_file_is_ignored_and_rewritten(cache_dir, calls, corrupt):
    profile = profile_backbone('resnet18', (3, SIZE, SIZE))
    other = profile_backbone('resnet18', (3, 2 * SIZE, 2 * SIZE))
    path = next(os.path.join(cache_dir, 'backbone_profiles', f) for f in _files(cache_dir)
                if profile.key[:24] in f)
    text = profile.to_json()
    stale = profile.to_dict()
    stale['blocks'][2]['cut'] = 'no_such_node'
    data = {'binary': b'\x00\xff\xfe garbage',
            'truncated': text[:len(text) // 2].encode(),
            'not a profile': b'{"format": 1, "blocks": 3}',
            'other spec': other.to_json().encode(),
            'stale cut': json.dumps(stale).encode()}[corrupt]
    with open(path, 'wb') as f:
        f.write(data)
    clear_profile_cache()
    calls.clear()
    with pytest.warns(UserWarning, match='measuring it again|measuring again'):
        backbone = _build()
    assert calls['detect_blocks'] == 1            # measured again ...
    assert backbone.profile == profile
    with open(path) as f:                        # ... and the file rewritten
        assert BackboneProfile.from_json(f.read()) == profile


def test_failed_write_is_only_a_warning(cache_dir, monkeypatch):
    def refuse(src, dst):
        raise PermissionError('read-only cache')
    monkeypatch.setattr(backbone_profile.os, 'replace', refuse)
    with pytest.warns(UserWarning, match='could not write'):
        backbone = _build()
    assert backbone.num_blocks == 9
    assert os.listdir(os.path.join(cache_dir, 'backbone_profiles')) == []   # no temp file left


def test_different_specs_get_different_entries(cache_dir, calls):
    specs = [dict(),
             dict(input_size=(3, 2 * SIZE, 2 * SIZE)),
             dict(model_kwargs={'output_stride': 16}),
             dict(block_modules=['layer1']),
             dict(block_pattern=None),
             dict(include_head=True)]
    profiles = [profile_backbone('resnet18', **{'input_size': (3, SIZE, SIZE), **spec})
                for spec in specs]
    assert len({p.key for p in profiles}) == len(specs)
    assert len(_files(cache_dir)) == len(specs)
    assert calls['detect_blocks'] == len(specs)
    base, larger, os16, layer1, _, head = profiles
    assert base.blocks[-1].shape == (512, 1, 1) and larger.blocks[-1].shape == (512, 2, 2)
    assert os16.blocks[-1].shape == (512, 2, 2)
    assert len(layer1.blocks) == len(base.blocks) - 1 and layer1.blocks[1].name == 'layer1'
    assert head.blocks[-1].shape == (1000,)
    # the coarse grouping (num_branch_points / block_groups) is not part of the profile: every
    # grouping of a spec shares its entry
    calls.clear()
    grouped = [_build(num_branch_points=3), _build(block_groups=[[0, 1], list(range(2, 9))]),
               _build()]
    assert calls['detect_blocks'] == 0 and len(_files(cache_dir)) == len(specs)
    assert all(b.profile is base for b in grouped)
    assert [b.num_blocks for b in grouped] == [3, 2, 9]


def test_cache_dir_setting(monkeypatch, tmp_path):
    previous = set_profile_cache_dir(backbone_profile._UNSET)
    try:
        monkeypatch.delenv('TREEMTL_CACHE_DIR', raising=False)
        assert get_profile_cache_dir() is None
        monkeypatch.setenv('TREEMTL_CACHE_DIR', str(tmp_path))
        assert get_profile_cache_dir() == str(tmp_path)
        set_profile_cache_dir(None)
        assert get_profile_cache_dir() is None
        set_profile_cache_dir(tmp_path / 'other')
        assert get_profile_cache_dir() == str(tmp_path / 'other')
    finally:
        set_profile_cache_dir(previous)


def test_nhwc_profile_records_the_layout_of_every_block(cache_dir):
    profile = profile_backbone('swin_tiny_patch4_window7_224', (3, SIZE, SIZE))
    assert {b.fmt for b in profile.blocks} == {'NHWC'}
    assert profile.blocks[-1].shape == (1, 1, 768) and profile.blocks[-1].channels == 768
    assert profile.blocks[0].grid == (SIZE // 4, SIZE // 4) and profile.blocks[0].channels == 96
    clear_profile_cache()
    assert BackboneProfile.from_json(profile.to_json()) == profile


@pytest.mark.parametrize('shape, hw, kwargs, expected', [
    ((64, 16, 16), (64, 64), {}, 'NCHW'),
    ((16, 16, 96), (64, 64), {}, 'NHWC'),                     # Swin
    ((24, 32, 32), (64, 64), {'prior': 'NHWC'}, 'NCHW'),      # the shape beats the prior
    ((2, 2, 768), (64, 64), {}, 'NHWC'),
    ((768, 2, 2), (64, 64), {'declared': 'NHWC'}, 'NCHW'),    # ... and a declared format
    ((1, 1, 768), (32, 32), {}, 'NHWC'),
    ((768, 1, 1), (32, 32), {}, 'NCHW'),
    ((16, 35, 35), (299, 299), {}, 'NCHW'),                   # 'valid' convs: not exact /s
    # shapes both readings fit: timm's declared format, then known channels, then the prior
    ((8, 8, 8), (64, 64), {}, 'NCHW'),
    ((8, 8, 8), (64, 64), {'declared': 'NHWC'}, 'NHWC'),
    ((8, 8, 8), (64, 64), {'prior': 'NHWC'}, 'NHWC'),
    ((4, 8, 16), (64, 128), {'known_channels': [16]}, 'NHWC'),
    ((4, 8, 16), (64, 128), {'known_channels': [4]}, 'NCHW'),
    ((197, 192), (224, 224), {}, 'NLC'),
    ((1000,), (224, 224), {}, 'NC'),
    ((2, 3, 4, 5), (64, 64), {}, 'unknown'),
])
def test_infer_feature_format(shape, hw, kwargs, expected):
    assert infer_feature_format(shape, hw, **kwargs) == expected


def test_feature_grid():
    assert feature_grid((64, 8, 16), 'NCHW', (32, 64)) == (8, 16)
    assert feature_grid((8, 16, 64), 'NHWC', (32, 64)) == (8, 16)
    assert feature_grid((17, 192), 'NLC', (64, 64), num_prefix_tokens=1) == (4, 4)
    assert feature_grid((16, 192), 'NLC', (64, 64)) == (4, 4)          # before the cls token
    assert feature_grid((2 * 4 + 1, 192), 'NLC', (32, 64)) == (2, 4)
    assert feature_grid((1000,), 'NC', (64, 64)) is None
