"""Branching-point detector and TimmBlockBackbone on real timm models (CPU, small inputs)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from treemtl_plugin.core.block_groups import balanced_groups, check_block_groups
from treemtl_plugin.errors import ConfigError, TreeMTLError
from treemtl_plugin.errors import DetectionError as PackageDetectionError
from treemtl_plugin.models.branching_point_detector import (DetectionError, detect_blocks,
                                                            slice_blocks, trace)
from treemtl_plugin.models.timm_block_backbone import (TimmBlockBackbone, create_timm_model,
                                                       fvcore_flops)
from treemtl_plugin.registry import MODELS

SIZE = 64
# (timm name, create_model kwargs) -- the coverage list, at a CPU-friendly size
MODELS_UNDER_TEST = [
    ('resnet18', {}), ('resnet34', {}), ('resnet50', {}), ('mobilenetv2_100', {}),
    ('mobilenetv3_large_100', {}), ('efficientnet_b0', {}), ('convnext_nano', {}),
    ('regnetx_002', {}), ('densenet121', {}), ('vit_tiny_patch16_224', {'img_size': SIZE}),
]


def _model(name, kwargs, seed=0):
    torch.manual_seed(seed)
    return create_timm_model(name, pretrained=False, **kwargs).eval()


@pytest.mark.parametrize('name, kwargs', MODELS_UNDER_TEST, ids=[m[0] for m in MODELS_UNDER_TEST])
def test_block_chain_reproduces_features_and_flops(name, kwargs):
    model = _model(name, kwargs)
    detection = detect_blocks(model)
    assert len(detection.blocks) >= 3
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = model.forward_features(x)
        y = x
        for block in detection.blocks:
            y = block.module(y)
    assert y.shape == expected.shape
    assert (y - expected).abs().max().item() <= 1e-5
    # per-block fvcore FLOPs add up to fvcore on the whole truncated backbone (within 1 %)
    backbone = TimmBlockBackbone(name, input_size=(3, SIZE, SIZE), model_kwargs=kwargs)
    whole = fvcore_flops(trace(model), torch.randn(1, 3, SIZE, SIZE)) / 1e9
    assert sum(backbone.block_flops) == pytest.approx(whole, rel=0.01)
    # parameters: exactly those of the modules forward_features uses (the traced graph's)
    traced_params = sum(p.numel() for p in trace(model).parameters())
    assert sum(backbone.block_params) * 1e6 == pytest.approx(traced_params, abs=0.5)


def test_resnet34_is_stem_plus_16_residual_blocks():
    detection = detect_blocks(_model('resnet34', {}))
    names = [b.name for b in detection.blocks]
    expected = ['conv1+bn1+act1+maxpool'] + [f'layer{s}.{i}' for s, n in
                                              zip((1, 2, 3, 4), (3, 4, 6, 3)) for i in range(n)]
    assert names == expected


def test_mobilenetv2_is_stem_17_inverted_residuals_and_final_conv():
    detection = detect_blocks(_model('mobilenetv2_100', {}))
    names = [b.name for b in detection.blocks]
    assert len(names) == 19
    assert names[0] == 'conv_stem+bn1' and names[-1] == 'conv_head+bn2'
    assert names[1] == 'blocks.0' and names[-2] == 'blocks.6'
    assert all(n.startswith('blocks.') for n in names[1:-1])


def test_include_head_keeps_classifier():
    model = _model('resnet18', {})
    detection = detect_blocks(model, include_head=True)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        y = x
        for block in detection.blocks:
            y = block.module(y)
        assert torch.allclose(y, model(x), atol=1e-5)
    assert y.shape == (1, 1000)


def test_backbone_forward_equals_timm_features_and_exposes_costs():
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='TimmBlockBackbone', model_name='resnet34',
                                 pretrained=False, input_size=(3, SIZE, SIZE),
                                 num_branch_points=5))
    reference = _model('resnet34', {})
    backbone.eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(backbone(x), reference.forward_features(x), atol=1e-5)
    assert backbone.num_blocks == 5 and len(backbone.block_flops) == 5
    assert [len(g) for g in backbone.block_groups] == [
        len(g) for g in balanced_groups([d['gflops'] for d in backbone.detected], 5)]
    assert backbone.out_channels == 512 and backbone.out_stride == 32
    assert backbone.block_channels[0] == 64
    assert sum(len(g) for g in backbone.block_groups) == 17
    table = backbone.cost_table()
    assert table[0]['name'].startswith('conv1+bn1+act1+maxpool')
    assert [row['fine_blocks'] for row in table] == backbone.block_groups
    with pytest.warns(FutureWarning, match='block_groups'):
        assert backbone.groups == backbone.block_groups


def test_block_groups_and_errors():
    backbone = TimmBlockBackbone('resnet18', input_size=(3, SIZE, SIZE),
                                 block_groups=[[0], [1, 2], [3, 4, 5, 6, 7, 8]])
    assert backbone.num_blocks == 3 and backbone.block_names[0] == 'conv1+bn1+act1+maxpool'
    assert backbone.block_names[1] == 'layer1.0 .. layer1.1'
    with pytest.raises(ConfigError, match='once each, in order'):
        TimmBlockBackbone('resnet18', input_size=(3, SIZE, SIZE), block_groups=[[0], [2, 1]])
    with pytest.raises(ConfigError, match='not both'):
        TimmBlockBackbone('resnet18', num_branch_points=2, block_groups=[[0]])
    with pytest.raises(ConfigError, match='more than the 9 detected blocks'):
        TimmBlockBackbone('resnet18', input_size=(3, SIZE, SIZE), num_branch_points=12)
    for bad in [(SIZE, SIZE), (3, SIZE, 0), (3, SIZE, 31.5), 'abc']:
        with pytest.raises(ConfigError, match=r'input_size must be \(C, H, W\)'):
            TimmBlockBackbone('resnet18', input_size=bad)


def test_unknown_model_name_and_kwargs_are_config_errors():
    with pytest.raises(ConfigError, match="unknown timm model 'resnet343'.*resnet34"):
        create_timm_model('resnet343')
    with pytest.raises(ValueError):          # ConfigError is still a ValueError
        create_timm_model('resnet343')
    with pytest.raises(ConfigError, match='model_kwargs'):
        create_timm_model('resnet18', not_an_argument=1)


def test_detection_error_is_the_package_error():
    assert DetectionError is PackageDetectionError
    assert issubclass(DetectionError, TreeMTLError) and issubclass(DetectionError, RuntimeError)


class _DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward_features(self, x):
        if x.sum() > 0:          # data-dependent control flow cannot be traced by torch.fx
            return self.conv(x)
        return x


def test_untraceable_backbone_error_points_to_fixes():
    with pytest.raises(DetectionError, match='block_groups') as info:
        detect_blocks(_DataDependent())
    assert 'cannot be traced' in str(info.value)


def test_balanced_groups_are_optimal_and_contiguous():
    flops = [1, 1, 1, 10, 1, 1, 5, 5]
    groups = balanced_groups(flops, 3)
    assert sum(groups, []) == list(range(8))
    # brute force over all 2-cut positions: the optimum largest group is 11 ([1,1,1],[10,1],[1,5,5])
    best = min(max(sum(flops[:a]), sum(flops[a:b]), sum(flops[b:]))
               for a in range(1, 7) for b in range(a + 1, 8))
    assert best == 11
    assert max(sum(flops[i] for i in g) for g in groups) == best
    assert balanced_groups([3, 3, 3], 3) == [[0], [1], [2]]
    with pytest.raises(ValueError, match='positive integer'):
        balanced_groups(flops, 0)
    assert check_block_groups([[0, 1], [2]], 3) == [[0, 1], [2]]
    with pytest.raises(ConfigError, match='empty group'):
        check_block_groups([[0, 1], [], [2]], 3)


def test_slice_blocks_at_recorded_cuts_reproduces_detection():
    model = _model('resnet18', {})
    detection = detect_blocks(model)
    cuts = [b.cut for b in detection.blocks]
    assert cuts[-1] is None and all(isinstance(c, str) for c in cuts[:-1])
    blocks = slice_blocks(trace(model), cuts[:-1])
    assert [b.name for b in blocks] == [b.name for b in detection.blocks]
    assert [str(b.module.graph) for b in blocks] == [str(b.module.graph)
                                                    for b in detection.blocks]
    with pytest.raises(DetectionError, match='not in the traced graph'):
        slice_blocks(trace(model), ['no_such_node'])
    with pytest.raises(DetectionError, match='not in graph order'):
        slice_blocks(trace(model), cuts[1::-1])
    # a node inside a residual block is not a cut: its block would read the previous block
    graph_module = trace(model)
    assert 'model_layer1_0_conv1' in {n.name for n in graph_module.graph.nodes}
    with pytest.raises(DetectionError, match='do not split the graph'):
        slice_blocks(graph_module, ['model_layer1_0_conv1'])


def test_tracing_twice_leaves_no_proxy_in_timm_caches():
    # LeViT (like EfficientFormer) caches attention biases in a dict in eval mode: the first
    # trace must not leave a Proxy there for the second one (the backbone traces twice when it
    # measures a new profile)
    model = create_timm_model('levit_128s', img_size=SIZE).eval()
    trace(model)
    blocks = slice_blocks(trace(model), [b.cut for b in detect_blocks(model).blocks[:-1]])
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        y = x
        for block in blocks:
            y = block.module(y)
        assert torch.allclose(y, model.forward_features(x), atol=1e-5)
