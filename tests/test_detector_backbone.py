"""Branching-point detector and TimmBlockBackbone on real timm models (CPU, small inputs)."""
from __future__ import annotations

import argparse
import os
import time

import pytest
import timm
import torch
import torch.nn as nn
from huggingface_hub.errors import LocalEntryNotFoundError

from treemtl_plugin.core.block_groups import balanced_groups, check_block_groups
from treemtl_plugin.errors import CheckpointError, ConfigError, TreeMTLError
from treemtl_plugin.errors import DetectionError as PackageDetectionError
from treemtl_plugin.models.branching_point_detector import (
    DetectionError,
    detect_blocks,
    slice_blocks,
    trace,
)
from treemtl_plugin.models.flops import fvcore_flops
from treemtl_plugin.models.heads import to_nchw
from treemtl_plugin.models.timm_block_backbone import TimmBlockBackbone
from treemtl_plugin.models.timm_factory import build_timm_model, create_timm_model
from treemtl_plugin.models.tree_model import TreeMultiTaskModel
from treemtl_plugin.registry import MODELS

SIZE = 64
# (timm name, create_model kwargs) -- the coverage list, at a CPU-friendly size
MODELS_UNDER_TEST = [
    ('resnet18', {}), ('resnet34', {}), ('resnet50', {}), ('mobilenetv2_100', {}),
    ('mobilenetv3_large_100', {}), ('efficientnet_b0', {}), ('convnext_nano', {}),
    ('regnetx_002', {}), ('densenet121', {}), ('vit_tiny_patch16_224', {'img_size': SIZE}),
    # NHWC families (timm output_fmt='NHWC'): Swin and MambaOut
    ('swin_tiny_patch4_window7_224', {'img_size': SIZE}), ('mambaout_femto', {}),
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


# ----------------------------------------------------------------------------- feature layouts
# (name, layout of the output, out_channels, out_stride, channels of every stage, first block)
LAYOUTS_UNDER_TEST = [
    ('resnet18', 'NCHW', 512, 32, {64, 128, 256, 512}, ('NCHW', 64, 4)),
    ('swin_tiny_patch4_window7_224', 'NHWC', 768, 32, {96, 192, 384, 768}, ('NHWC', 96, 4)),
    # MambaOut: an NCHW conv stem, then NHWC stages
    ('mambaout_femto', 'NHWC', 288, 32, {24, 48, 96, 192, 288}, ('NCHW', 24, 2)),
    ('vit_tiny_patch16_224', 'NLC', 192, 16, {192}, ('NLC', 192, 16)),
]


@pytest.mark.parametrize('name, fmt, channels, stride, stage_channels, first', LAYOUTS_UNDER_TEST,
                         ids=[m[0] for m in LAYOUTS_UNDER_TEST])
def test_block_channels_follow_the_feature_layout(name, fmt, channels, stride, stage_channels,
                                                  first):
    """Channels come from the axis the layout names (NHWC: the last; the old code read dim 0,
    i.e. the height: swin_tiny gave out_channels 2 at 64 px, 7 at 224 px)."""
    # no model_kwargs: fixed-size models (Swin, ViT) get img_size from input_size
    backbone = TimmBlockBackbone(name, input_size=(3, SIZE, SIZE)).eval()
    assert backbone.out_format == fmt
    assert backbone.out_channels == channels and backbone.out_stride == stride
    assert set(backbone.block_channels) == stage_channels
    assert (backbone.block_formats[0], backbone.block_channels[0],
            backbone.block_strides[0]) == first
    # every block output really has that layout: its channel axis and grid
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        for block, c, f, s in zip(backbone.blocks, backbone.block_channels,
                                  backbone.block_formats, backbone.block_strides):
            x = block(x)
            fmap = to_nchw(x, c, fmt=f)
            assert fmap.shape[1] == c and fmap.shape[-2:] == (SIZE // s, SIZE // s)
    assert [row['format'] for row in backbone.cost_table()] == backbone.block_formats
    assert [d['format'] for d in backbone.detected][-1] == fmt


@pytest.mark.parametrize('name', ['swin_tiny_patch4_window7_224', 'mambaout_femto'])
def test_tree_model_over_an_nhwc_backbone_predicts_dense_maps(name):
    tasks = dict(
        seg=dict(head=dict(type='LightConvHead', num_outputs=5, channels=8),
                 loss=dict(type='SegCrossEntropyLoss')),
        depth=dict(head=dict(type='ASPPHead', num_outputs=1, channels=8, dilations=(1, 2)),
                   loss=dict(type='DepthL1Loss')),
        cls=dict(head=dict(type='ClsHead', num_outputs=4), loss=dict(type='ClsCrossEntropyLoss')))
    model = TreeMultiTaskModel(
        backbone=dict(type='TimmBlockBackbone', model_name=name, input_size=(3, SIZE, SIZE),
                      num_branch_points=3),
        tasks=tasks, layout=[[['seg', 'depth', 'cls']], [['seg', 'depth'], ['cls']],
                             [['seg'], ['depth'], ['cls']]])
    channels = {'swin_tiny_patch4_window7_224': 768, 'mambaout_femto': 288}[name]
    for head in model.heads.values():
        assert head.in_channels == channels and head.in_format == 'NHWC'
    x = torch.randn(2, 3, SIZE, SIZE)
    out = model(x, mode='tensor')
    assert out['seg'].shape == (2, 5, SIZE, SIZE) and out['depth'].shape == (2, 1, SIZE, SIZE)
    assert out['cls'].shape == (2, 4)
    # the heads see the backbone's feature map as NCHW with the right channels
    feat = model.extract_feats(x)['seg']
    assert feat.shape[-1] == channels
    assert torch.equal(to_nchw(feat, channels, fmt='NHWC'), feat.permute(0, 3, 1, 2))
    targets = dict(seg=torch.randint(0, 5, (2, SIZE, SIZE)), depth=torch.rand(2, 1, SIZE, SIZE),
                   cls=torch.randint(0, 4, (2,)))
    losses = model(x, targets, mode='loss')
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(p.grad is not None for p in model.heads['seg'].parameters())


# ----------------------------------------------------------------------------- img_size
def test_fixed_size_vit_gets_img_size_from_input_size():
    torch.manual_seed(0)
    backbone = TimmBlockBackbone('vit_tiny_patch16_224', input_size=(3, SIZE, SIZE)).eval()
    torch.manual_seed(0)
    reference = timm.create_model('vit_tiny_patch16_224', img_size=SIZE).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(backbone(x), reference.forward_features(x))
    assert backbone.out_channels == 192 and backbone.out_stride == 16
    assert backbone.detected[-1]['shape'] == ((SIZE // 16) ** 2 + 1, 192)   # + class token
    # non-square input sizes too
    wide = TimmBlockBackbone('vit_tiny_patch16_224', input_size=(3, 32, 64))
    assert wide.detected[-1]['shape'] == (2 * 4 + 1, 192) and wide.out_stride == 16
    # a model without an img_size argument is built as before
    assert build_timm_model('resnet18', input_size=(3, SIZE, SIZE)).treemtl_img_size is None
    assert build_timm_model('vit_tiny_patch16_224',
                            input_size=(3, SIZE, SIZE)).treemtl_img_size == SIZE


def test_model_that_cannot_take_the_input_size_is_a_config_error():
    # built with img_size=8, but its 16-pixel patches do not fit
    with pytest.raises(ConfigError, match=r"'vit_tiny_patch16_224' cannot run at input_size "
                                          r'\(3, 8, 8\).*img_size=8.*224x224.*\(3, 224, 224\)'):
        TimmBlockBackbone('vit_tiny_patch16_224', input_size=(3, 8, 8))
    # an explicit img_size is kept; it must match input_size
    with pytest.raises(ConfigError, match=r'model_kwargs sets img_size=224.*drop img_size'):
        TimmBlockBackbone('vit_tiny_patch16_224', input_size=(3, SIZE, SIZE),
                          model_kwargs=dict(img_size=224))
    # a model without img_size that is too deep for the size
    with pytest.raises(ConfigError, match=r"'inception_v3' cannot run at input_size .*takes no "
                                          r'img_size argument.*\(3, 299, 299\)'):
        TimmBlockBackbone('inception_v3', input_size=(3, SIZE, SIZE))


# ----------------------------------------------------------------------------- pretrained=True
@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Empty weight caches, huggingface_hub in offline mode, torch.hub downloads refused."""
    from huggingface_hub import constants
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)     # the hub reads it at import
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'hf'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))

    def refuse(url, *args, **kwargs):
        raise AssertionError(f'test tried to download {url}')
    monkeypatch.setattr(torch.hub, 'download_url_to_file', refuse)
    return tmp_path


def test_pretrained_offline_without_cached_weights_fails_fast(no_network):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"weights of timm model 'resnet18'.*not in the local "
                                          r'cache.*HF_HUB_OFFLINE=1') as info:
        TimmBlockBackbone('resnet18', pretrained=True, input_size=(3, SIZE, SIZE))
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert str(no_network / 'hf') in message
    assert "init_cfg=dict(type='Pretrained'" in message and 'pretrained=False' in message


@pytest.mark.parametrize('error', [
    LocalEntryNotFoundError('cannot find the requested files in the local cache'),
    ConnectionError('connection refused')], ids=['LocalEntryNotFoundError', 'ConnectionError'])
def test_failed_download_is_a_config_error(no_network, monkeypatch, error):
    from huggingface_hub import constants
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)

    def fail(*args, **kwargs):                    # what the hub raises without network
        raise error
    monkeypatch.setattr(timm.models._hub, 'hf_hub_download', fail)
    with pytest.raises(ConfigError, match=r"weights of timm model 'resnet18'.*not in the local "
                                          r'cache.*could not be downloaded \((LocalEntryNotFound|'
                                          r'Connection)Error: .*HF_HUB_OFFLINE=1') as info:
        create_timm_model('resnet18', pretrained=True)
    assert isinstance(info.value.__cause__, OSError) and 'pretrained=False' in str(info.value)


def test_offline_url_weights_come_from_the_torch_hub_cache(no_network):
    # gcvit weights are a GitHub release URL (torch.hub, which ignores HF_HUB_OFFLINE)
    with pytest.raises(ConfigError, match=r"weights of timm model 'gcvit_xxtiny' \(https://.*"
                                          r'not in the local cache \(.*checkpoints\).*'
                                          r'HF_HUB_OFFLINE=1'):
        create_timm_model('gcvit_xxtiny', pretrained=True)
    url = timm.models.get_pretrained_cfg('gcvit_xxtiny').url
    folder = no_network / 'torch' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True)
    torch.manual_seed(7)
    weights = timm.create_model('gcvit_xxtiny').state_dict()
    torch.save(weights, folder / os.path.basename(url))
    model = create_timm_model('gcvit_xxtiny', pretrained=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_pretrained_weights_in_the_local_cache_load_offline(no_network):
    from safetensors.torch import save_file
    torch.manual_seed(7)
    weights = timm.create_model('resnet18').state_dict()
    repo = no_network / 'hf' / 'models--timm--resnet18.a1_in1k'
    snapshot = repo / 'snapshots' / ('0' * 40)
    snapshot.mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text('0' * 40)
    save_file({k: v.contiguous() for k, v in weights.items()}, snapshot / 'model.safetensors')
    start = time.perf_counter()
    torch.manual_seed(0)
    model = create_timm_model('resnet18', pretrained=True)
    assert time.perf_counter() - start < 5
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key


# ----------------------------------------------------------------------------- init_cfg
def _saved_resnet18(tmp_path, wrap=None, prefix=''):
    torch.manual_seed(123)
    weights = timm.create_model('resnet18').state_dict()
    state = {prefix + k: v for k, v in weights.items()}
    path = os.path.join(tmp_path, 'resnet18.pth')
    torch.save({wrap: state, 'meta': {'epoch': 3}} if wrap else state, path)
    return path, weights


@pytest.mark.parametrize('wrap, prefix', [(None, ''), ('state_dict', ''), ('model', ''),
                                          ('state_dict', 'backbone.')])
def test_init_cfg_checkpoint_loads_timm_weights_into_the_blocks(tmp_path, wrap, prefix):
    path, weights = _saved_resnet18(tmp_path, wrap, prefix)
    init_cfg = dict(type='Pretrained', checkpoint=path)
    if prefix:
        init_cfg['prefix'] = prefix
    torch.manual_seed(0)
    backbone = TimmBlockBackbone('resnet18', input_size=(3, SIZE, SIZE), num_branch_points=3,
                                 init_cfg=init_cfg)
    reference = timm.create_model('resnet18')
    reference.load_state_dict(weights)
    reference.eval()
    backbone.eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(backbone(x), reference.forward_features(x))
    assert backbone.init_checkpoint == path and backbone.init_cfg is None
    backbone.init_weights()                  # as a Runner calls it: nothing is reloaded
    with torch.no_grad():
        assert torch.equal(backbone.eval()(x), reference.forward_features(x))


def test_init_cfg_checkpoint_errors(tmp_path):
    path, weights = _saved_resnet18(tmp_path)

    def build(checkpoint, **extra):
        return TimmBlockBackbone('resnet18', input_size=(3, SIZE, SIZE),
                                 init_cfg=dict(type='Pretrained', checkpoint=checkpoint, **extra))

    with pytest.raises(CheckpointError, match='nope.pth not found'):
        build(str(tmp_path / 'nope.pth'))
    text = tmp_path / 'notes.txt'
    text.write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='notes.txt is not a readable checkpoint: not a '
                                              'torch file'):
        build(str(text))
    torch.save({'a': [1, 2]}, tmp_path / 'no_tensors.pth')
    with pytest.raises(CheckpointError, match='no_tensors.pth.* holds no state dict'):
        build(str(tmp_path / 'no_tensors.pth'))
    # read as weights only: a training checkpoint with pickled objects is refused, with the fix
    torch.save({'state_dict': weights, 'meta': argparse.Namespace(epoch=3)},
               tmp_path / 'training.pth')
    with pytest.raises(CheckpointError, match=r"holds more than weights.*\['state_dict'\]"):
        build(str(tmp_path / 'training.pth'))
    # missing and unexpected keys, with counts and examples
    broken = dict(weights)
    del broken['layer1.0.conv1.weight'], broken['layer1.0.bn1.bias']
    broken['extra.weight'] = torch.zeros(3)
    torch.save(broken, tmp_path / 'broken.pth')
    with pytest.raises(CheckpointError, match=r"2 missing key\(s\) \(e\.g\. 'layer1\.0\.conv1"
                                              r".*1 unexpected key\(s\) \(e\.g\. 'extra"):
        build(str(tmp_path / 'broken.pth'))
    # a shape mismatch (another model's weights under the same names)
    torch.save(timm.create_model('resnet50').state_dict(), tmp_path / 'resnet50.pth')
    with pytest.raises(CheckpointError, match=r'shape mismatch.*checkpoint \(64, 64, 1, 1\) vs '
                                              r'model \(64, 64, 3, 3\)'):
        build(str(tmp_path / 'resnet50.pth'))
    # keys nested under a prefix: the error says which prefix to set
    torch.save({'backbone.' + k: v for k, v in weights.items()}, tmp_path / 'nested.pth')
    with pytest.raises(CheckpointError, match=r"set prefix='backbone\.'"):
        build(str(tmp_path / 'nested.pth'))
    with pytest.raises(CheckpointError, match="no keys under prefix 'neck.'"):
        build(str(tmp_path / 'nested.pth'), prefix='neck')
    # the classifier may differ: the backbone does not use it
    other_head = {k: v for k, v in timm.create_model('resnet18', num_classes=10)
                  .state_dict().items()}
    torch.save(other_head, tmp_path / 'ten_classes.pth')
    build(str(tmp_path / 'ten_classes.pth'))
    with pytest.raises(ConfigError, match='needs a checkpoint path'):
        TimmBlockBackbone('resnet18', input_size=(3, SIZE, SIZE),
                          init_cfg=dict(type='Pretrained', checkpoint=path, strict=True))
