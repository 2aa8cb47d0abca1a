"""TreeMultiTaskModel: structure, shared computation, parameters vs the cost model, gradients."""
from __future__ import annotations

import pytest
import timm
import torch

from treemtl_plugin import CostModel, Layout
from treemtl_plugin.errors import CheckpointError
from treemtl_plugin.models import TimmBlockBackbone, TreeMultiTaskModel
from treemtl_plugin.registry import MODELS

SIZE = 32
TASKS = ['seg', 'depth', 'normal']


def _task_cfg():
    return dict(
        seg=dict(head=dict(type='LightConvHead', num_outputs=5, channels=8),
                 loss=dict(type='SegCrossEntropyLoss')),
        depth=dict(head=dict(type='LightConvHead', num_outputs=1, channels=8),
                   loss=dict(type='DepthL1Loss'), loss_weight=2.0),
        normal=dict(head=dict(type='LightConvHead', num_outputs=3, channels=8),
                    loss=dict(type='NormalCosineLoss')))


BACKBONE = dict(type='TimmBlockBackbone', model_name='resnet18', pretrained=False,
                input_size=(3, SIZE, SIZE), num_branch_points=4)
# seg+depth share blocks 1-2, normal leaves after block 1; seg and depth split at block 3
LAYOUT = [[['seg', 'depth', 'normal']], [['seg', 'depth'], ['normal']],
          [['seg', 'depth'], ['normal']], [['seg'], ['depth'], ['normal']]]


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return MODELS.build(BACKBONE)


def _model(backbone, layout):
    import copy
    return TreeMultiTaskModel(backbone=copy.deepcopy(backbone), tasks=_task_cfg(), layout=layout)


def _batch(n=2):
    g = torch.Generator().manual_seed(1)
    targets = dict(seg=torch.randint(0, 5, (n, SIZE, SIZE), generator=g),
                   depth=torch.rand(n, 1, SIZE, SIZE, generator=g) + 0.1,
                   normal=torch.nn.functional.normalize(torch.randn(n, 3, SIZE, SIZE,
                                                                    generator=g), dim=1))
    return torch.randn(n, 3, SIZE, SIZE, generator=g), targets


def test_all_shared_gives_every_task_the_backbone_features(backbone):
    model = _model(backbone, None).eval()
    backbone.eval()
    x, _ = _batch()
    with torch.no_grad():
        feats = model.extract_feats(x)
        reference = backbone(x)
    for task in TASKS:
        assert torch.equal(feats[task], reference)
    assert len(model.branches) == 4


def test_parameter_count_matches_cost_model(backbone):
    layout = Layout(LAYOUT)
    model = _model(backbone, layout)
    cost = CostModel(block_flops=backbone.block_flops, block_params=backbone.block_params)
    predicted = cost.layout_cost(layout)['params'] * 1e6
    branch_params = sum(p.numel() for p in model.branches.parameters())
    assert branch_params == pytest.approx(predicted, abs=1.0)
    head_params = sum(p.numel() for p in model.heads.parameters())
    assert sum(p.numel() for p in model.parameters()) == branch_params + head_params
    assert len(model.branches) == sum(layout.sets_per_block())  # one copy per task set


def test_copies_start_from_the_same_weights(backbone):
    model = _model(backbone, LAYOUT)
    first, second = model.branches['b1_s0'], model.branches['b1_s1']
    assert first is not second
    for (na, pa), (nb, pb) in zip(first.state_dict().items(), second.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    assert first.state_dict().keys() == backbone.blocks[1].state_dict().keys()


def test_shared_blocks_run_once_per_forward(backbone):
    model = _model(backbone, LAYOUT).eval()
    calls = {}
    for key, module in model.branches.items():
        module.register_forward_hook(lambda m, i, o, key=key: calls.__setitem__(
            key, calls.get(key, 0) + 1))
    x, _ = _batch()
    with torch.no_grad():
        out = model(x, mode='tensor')
    assert calls == {key: 1 for key in model.branches}
    assert out['seg'].shape == (2, 5, SIZE, SIZE)   # dense heads are upsampled to the input
    assert out['normal'].shape == (2, 3, SIZE, SIZE)


def test_gradients_reach_only_the_copies_a_task_uses(backbone):
    model = _model(backbone, LAYOUT)
    x, targets = _batch()
    losses = model(x, targets, mode='loss')
    assert set(losses) == {'loss_seg', 'loss_depth', 'loss_normal'}
    model.zero_grad()
    losses['loss_normal'].backward()
    used = {id(p) for p in model.branch_parameters('normal')}
    for key, module in model.branches.items():
        for p in module.parameters():
            touched = p.grad is not None and p.grad.abs().sum() > 0
            if id(p) not in used:
                assert not touched, f'{key} got a gradient from a task that does not use it'
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.branch_parameters('normal'))
    assert all(p.grad is None for p in model.heads['seg'].parameters())


def test_loss_weight_and_predict_mode(backbone):
    model = _model(backbone, LAYOUT).eval()
    x, targets = _batch()
    with torch.no_grad():
        losses = model(x, targets, mode='loss')
        raw = model.losses['depth'](model(x, mode='tensor')['depth'], targets['depth'])
        assert losses['loss_depth'] == pytest.approx(2.0 * raw.item(), rel=1e-5)
        # a list of per-sample dicts is collated like mmengine's pseudo_collate output
        samples = [{t: v[i] for t, v in targets.items()} for i in range(2)]
        results = model(list(x), samples, mode='predict')
    assert len(results) == 2 and set(results[0]['pred']) == set(TASKS)
    assert results[0]['gt']['seg'].shape == (SIZE, SIZE)
    with pytest.raises(ValueError, match="mode must be"):
        model(x, mode='bogus')


def test_build_from_registry_and_bad_configs(backbone):
    model = MODELS.build(dict(type='TreeMultiTaskModel', backbone=BACKBONE, tasks=_task_cfg(),
                              layout=LAYOUT))
    assert model.layout == Layout(LAYOUT)
    with pytest.raises(ValueError, match='do not match the model'):
        TreeMultiTaskModel(backbone=backbone, tasks=_task_cfg(),
                           layout=[[['seg', 'depth']]] * 4)
    with pytest.raises(ValueError, match='layout has 2 blocks but the backbone has 4'):
        TreeMultiTaskModel(backbone=backbone, tasks=_task_cfg(), layout=[[TASKS]] * 2)
    bad = _task_cfg()
    del bad['depth']['loss']
    with pytest.raises(ValueError, match="task 'depth' has no `loss`"):
        TreeMultiTaskModel(backbone=backbone, tasks=bad)
    with pytest.raises(ValueError, match='no targets for task'):
        x, targets = _batch()
        del targets['seg']
        TreeMultiTaskModel(backbone=backbone, tasks=_task_cfg())(x, targets, mode='loss')


def test_vit_backbone_tree(backbone):
    """Token features (NLC) work with dense heads, and layouts over a transformer backbone."""
    vit = TimmBlockBackbone('vit_tiny_patch16_224', input_size=(3, SIZE, SIZE),
                            num_branch_points=3, model_kwargs=dict(img_size=SIZE))
    model = TreeMultiTaskModel(backbone=vit, tasks=_task_cfg(),
                               layout=[[TASKS], [['seg', 'depth'], ['normal']],
                                       [['seg'], ['depth'], ['normal']]])
    x, targets = _batch()
    losses = model(x, targets, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


# ----------------------------------------------------------------------------- init_cfg
def test_backbone_init_cfg_checkpoint_reaches_every_branch_copy(tmp_path):
    torch.manual_seed(123)
    weights = timm.create_model('resnet18').state_dict()
    path = str(tmp_path / 'resnet18.pth')
    torch.save(weights, path)
    torch.manual_seed(0)                     # other weights than the checkpoint's
    model = TreeMultiTaskModel(
        backbone=dict(BACKBONE, init_cfg=dict(type='Pretrained', checkpoint=path)),
        tasks=_task_cfg(), layout=LAYOUT)
    assert len(model.branches) == 8         # 1 + 2 + 2 + 3 copies

    def check():
        covered = set()
        for key, branch in model.branches.items():
            for name, value in branch.state_dict().items():
                # '<fine block>.model.<timm name>' inside a branching point
                timm_name = name.split('.', 2)[2]
                assert torch.equal(value, weights[timm_name]), f'{key}: {timm_name}'
                covered.add(timm_name)
        # every backbone tensor of the checkpoint reached the model (the classifier is unused)
        assert covered == {k for k in weights if not k.startswith('fc.')}

    check()
    model.init_weights()                    # what an mmengine Runner calls before training
    check()


# ----------------------------------------------------------------------------- checkpoints
# same number of task sets per block as LAYOUT (same parameter names and shapes), other tree
OTHER_LAYOUT = [[['seg', 'depth', 'normal']], [['depth', 'normal'], ['seg']],
                [['depth', 'normal'], ['seg']], [['seg'], ['depth'], ['normal']]]


def test_checkpoint_of_another_layout_is_refused(backbone, tmp_path):
    from mmengine.runner import load_checkpoint
    model = _model(backbone, LAYOUT)
    other = _model(backbone, OTHER_LAYOUT)
    state = other.state_dict()
    weights = {k: v for k, v in state.items() if k != '_extra_state'}
    assert {k: v.shape for k, v in weights.items()} == \
        {k: v.shape for k, v in model.state_dict().items() if k != '_extra_state'}
    with pytest.raises(CheckpointError, match=r'saved from a TreeMultiTaskModel with layout '
                                              r'b1: .* but this model has layout b1: ') as info:
        model.load_state_dict(state)
    assert Layout(OTHER_LAYOUT).short() in str(info.value)
    assert Layout(LAYOUT).short() in str(info.value)
    # the same through mmengine's checkpoint loading (Runner.load_checkpoint / load_from)
    torch.save({'state_dict': state, 'meta': {}}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match='another|other|layout'):
        load_checkpoint(model, str(tmp_path / 'other.pth'), map_location='cpu')
    # its own layout loads, the layout record included (task order does not matter)
    assert model.state_dict()['_extra_state'] == {'layout': Layout(LAYOUT).to_list(),
                                                  'tasks': TASKS}
    _model(backbone, LAYOUT).load_state_dict(model.state_dict())
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'same.pth')
    load_checkpoint(_model(backbone, LAYOUT), str(tmp_path / 'same.pth'), map_location='cpu')
    # an old checkpoint without the record still loads (strict), with its weights
    fresh = _model(backbone, OTHER_LAYOUT)
    fresh.load_state_dict(weights)
    for key, value in weights.items():
        assert torch.equal(fresh.state_dict()[key], value)
    # the record travels through torch.save / torch.load(weights_only=True)
    torch.save(model.state_dict(), tmp_path / 'plain.pth')
    loaded = torch.load(tmp_path / 'plain.pth', weights_only=True)
    with pytest.raises(CheckpointError):
        _model(backbone, OTHER_LAYOUT).load_state_dict(loaded)


# ----------------------------------------------------------------------------- head init
def _head(num_outputs):
    return dict(head=dict(type='LightConvHead', num_outputs=num_outputs, channels=8),
                loss=dict(type='DepthL1Loss'))


def test_head_initialisation_does_not_depend_on_the_other_tasks():
    cfg = dict(BACKBONE, num_branch_points=2)
    torch.manual_seed(0)
    two = TreeMultiTaskModel(backbone=cfg, tasks=dict(segment_semantic=_head(5),
                                                      depth_zbuffer=_head(1)))
    after_two = torch.rand(3)
    torch.manual_seed(0)
    three = TreeMultiTaskModel(
        backbone=cfg, tasks=dict(normal=_head(3), depth_zbuffer=_head(1),
                                 segment_semantic=_head(5)),
        layout=[[['normal', 'depth_zbuffer', 'segment_semantic']],
                [['normal'], ['depth_zbuffer', 'segment_semantic']]])
    after_three = torch.rand(3)
    for task in ('depth_zbuffer', 'segment_semantic'):
        a, b = two.heads[task].state_dict(), three.heads[task].state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), task
    # the backbone too (every copy starts from the same weights)
    for b in range(2):
        a = two.branches[f'b{b}_s0'].state_dict()
        for key in (k for k in three.branches if k.startswith(f'b{b}_')):
            c = three.branches[key].state_dict()
            assert all(torch.equal(a[k], c[k]) for k in a)
    # building the heads leaves the global random stream where the backbone left it
    assert torch.equal(after_two, after_three)
    # different tasks, or another seed, give other weights
    w = two.heads['depth_zbuffer'].conv.weight
    assert not torch.equal(w, two.heads['segment_semantic'].conv.weight)
    torch.manual_seed(1)
    reseeded = TreeMultiTaskModel(backbone=cfg, tasks=dict(depth_zbuffer=_head(1)))
    assert not torch.equal(w, reseeded.heads['depth_zbuffer'].conv.weight)
