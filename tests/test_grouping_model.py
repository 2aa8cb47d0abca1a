"""TaskGroupingModel: chosen-network inference, per-network losses and gradients, validation,
deployed parameters, and 2 iterations of training + validation through tools/train.py."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from mmengine.config import Config

from treemtl_plugin.models import TaskGroupingModel, TreeMultiTaskModel
from treemtl_plugin.registry import MODELS

from helpers import DEFAULT_TASKS, tiny_config

SIZE = 32
TASKS = ['seg', 'depth', 'normal']
BACKBONE = dict(type='TimmBlockBackbone', model_name='resnet18', pretrained=False,
                input_size=(3, SIZE, SIZE), num_branch_points=2)
# half the channels of resnet18 (out_channels 256 instead of 512)
HALF_BACKBONE = dict(BACKBONE, model_kwargs=dict(channels=(32, 64, 128, 256), stem_width=32))
# depth is trained in both networks but served by network 1
GROUPS = [['seg', 'depth'], ['depth', 'normal']]
CHOSEN = dict(seg=0, depth=1, normal=1)


def _task_cfg():
    return dict(
        seg=dict(head=dict(type='LightConvHead', num_outputs=5, channels=8),
                 loss=dict(type='SegCrossEntropyLoss')),
        depth=dict(head=dict(type='LightConvHead', num_outputs=1, channels=8),
                   loss=dict(type='DepthL1Loss'), loss_weight=2.0),
        normal=dict(head=dict(type='LightConvHead', num_outputs=3, channels=8),
                    loss=dict(type='NormalCosineLoss')))


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return MODELS.build(BACKBONE)


@pytest.fixture(scope='module')
def model(backbone):
    torch.manual_seed(0)
    return TaskGroupingModel(backbone=backbone, tasks=_task_cfg(), task_groups=GROUPS,
                             chosen=CHOSEN)


def _batch(n=2):
    g = torch.Generator().manual_seed(1)
    targets = dict(seg=torch.randint(0, 5, (n, SIZE, SIZE), generator=g),
                   depth=torch.rand(n, 1, SIZE, SIZE, generator=g) + 0.1,
                   normal=torch.nn.functional.normalize(torch.randn(n, 3, SIZE, SIZE,
                                                                    generator=g), dim=1))
    return torch.randn(n, 3, SIZE, SIZE, generator=g), targets


def _n(module):
    return sum(p.numel() for p in module.parameters())


def test_networks_are_all_shared_tree_models_over_their_groups(model, backbone):
    assert model.task_groups == GROUPS and model.chosen == CHOSEN
    assert model.half_width == [False, False]
    assert len(model.networks) == 2
    for network, group in zip(model.networks, GROUPS):
        assert isinstance(network, TreeMultiTaskModel)
        assert network.task_names == group
        assert all(len(row) == 1 for row in network._plan)      # one shared copy per block
        assert _n(network.branches) == _n(backbone)
    # each network owns its backbone (no parameter is shared between networks)
    ids = [{id(p) for p in net.parameters()} for net in model.networks]
    assert not ids[0] & ids[1]
    assert model.chosen_network('depth') is model.networks[1]
    # the depth loss weight reaches both networks that train depth
    assert all(net.loss_weights['depth'] == 2.0 for net in model.networks)


def test_tensor_mode_uses_the_chosen_networks(model):
    model = copy.deepcopy(model).eval()
    x, _ = _batch()
    with torch.no_grad():
        # heads of one task start identical in every network (seeded by the task name):
        # make network 0's depth head differ so that which one serves depth is visible
        next(model.networks[0].heads['depth'].parameters()).add_(1.0)
        out = model(x, mode='tensor')
        net0 = model.networks[0](x, mode='tensor')
        net1 = model.networks[1](x, mode='tensor')
    assert set(out) == set(TASKS)
    assert out['seg'].shape == (2, 5, SIZE, SIZE)
    assert out['depth'].shape == (2, 1, SIZE, SIZE)
    assert out['normal'].shape == (2, 3, SIZE, SIZE)
    assert torch.equal(out['seg'], net0['seg'])
    assert torch.equal(out['depth'], net1['depth'])          # chosen: network 1
    assert not torch.equal(out['depth'], net0['depth'])      # not network 0's head
    assert torch.equal(out['normal'], net1['normal'])


def test_networks_serving_no_task_are_skipped_at_inference(backbone):
    model = TaskGroupingModel(backbone=backbone, tasks=_task_cfg(),
                              task_groups=[['seg', 'depth', 'normal'], ['depth', 'normal']],
                              chosen=dict(seg=0, depth=0, normal=0)).eval()
    calls = []
    for block in model.networks[1].branches.values():
        block.register_forward_hook(lambda *a: calls.append(1))
    x, targets = _batch()
    with torch.no_grad():
        model(x, mode='tensor')
        model(x, targets, mode='predict')
        assert not calls
        assert len(model(x, targets, mode='loss')) == 5          # trained all the same
    assert calls
    assert model.deployed_networks == [0]


def test_loss_keys_cover_every_member_of_every_network(model):
    model.train()
    x, targets = _batch()
    losses = model(x, targets, mode='loss')
    assert set(losses) == {'loss_seg@net0', 'loss_depth@net0',
                           'loss_depth@net1', 'loss_normal@net1'}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        losses = model(x, targets, mode='loss')
        for k in (0, 1):
            raw = model.networks[k].losses['depth'](model.networks[k](x, mode='tensor')['depth'],
                                                    targets['depth'])
            assert losses[f'loss_depth@net{k}'] == pytest.approx(2.0 * raw.item(), rel=1e-5)
    # mmengine's parse_losses sums every network's losses into the training loss
    total, log_vars = model.parse_losses(losses)
    assert total.item() == pytest.approx(sum(v.item() for v in losses.values()), rel=1e-5)
    assert 'loss_depth@net1' in log_vars


@pytest.mark.parametrize('key, k', [('loss_depth@net0', 0), ('loss_depth@net1', 1),
                                    ('loss_seg@net0', 0), ('loss_normal@net1', 1)])
def test_gradients_of_a_task_in_network_k_reach_only_network_k(model, key, k):
    model.train()
    x, targets = _batch()
    model.zero_grad(set_to_none=True)
    model(x, targets, mode='loss')[key].backward()
    task = key[len('loss_'):key.index('@')]

    def touched(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    for j, network in enumerate(model.networks):
        assert touched(network.branches) == (j == k), f'network {j} backbone, {key}'
        for head_task, head in network.heads.items():
            assert touched(head) == (j == k and head_task == task), f'net{j}.{head_task}'
    model.zero_grad(set_to_none=True)


def test_predict_mode_returns_chosen_predictions_and_gt(model):
    model.eval()
    x, targets = _batch()
    samples = [{t: v[i] for t, v in targets.items()} for i in range(2)]
    with torch.no_grad():
        results = model(list(x), samples, mode='predict')
        tensor = model(x, mode='tensor')
    assert len(results) == 2
    for i, item in enumerate(results):
        assert set(item['pred']) == set(TASKS) and set(item['gt']) == set(TASKS)
        for t in TASKS:
            assert torch.equal(item['pred'][t], tensor[t][i])
    assert results[0]['gt']['seg'].shape == (SIZE, SIZE)
    with torch.no_grad():
        assert 'gt' not in model(x, mode='predict')[0]
    with pytest.raises(ValueError, match='mode must be'):
        model(x, mode='bogus')


def test_build_from_registry_with_a_half_width_network():
    model = MODELS.build(dict(type='TaskGroupingModel', backbone=BACKBONE, tasks=_task_cfg(),
                              task_groups=[['seg', 'depth'], ['normal']],
                              chosen=dict(seg=0, depth=0, normal=1),
                              half_width_backbone=HALF_BACKBONE, half_width=[False, True]))
    assert isinstance(model, TaskGroupingModel) and model.half_width == [False, True]
    full, half = model.networks
    assert half.heads['normal'].in_channels == 256 and full.heads['seg'].in_channels == 512
    assert 3 * _n(half.branches) < _n(full.branches)  # ~1/4 of the parameters at half width
    x, targets = _batch()
    model.eval()
    with torch.no_grad():
        out = model(x, mode='tensor')
        losses = model(x, targets, mode='loss')
    assert out['normal'].shape == (2, 3, SIZE, SIZE)
    assert set(losses) == {'loss_seg@net0', 'loss_depth@net0', 'loss_normal@net1'}


@pytest.mark.parametrize('change, message', [
    (dict(task_groups=[['seg', 'depth'], []]), r'group 1 is empty'),
    (dict(task_groups=[]), r'task_groups must be a non-empty list'),
    (dict(task_groups=[['seg', 'depth'], ['normal', 'edges']]),
     r"group 1 \['normal', 'edges'\] uses unknown task\(s\) \['edges'\]"),
    (dict(task_groups=[['seg', 'seg', 'depth'], ['normal']]), r"lists task\(s\) \['seg'\] more"),
    (dict(task_groups=[['seg', 'depth']], chosen=dict(seg=0, depth=0, normal=0)),
     r"task\(s\) \['normal'\] are in no group"),
    (dict(chosen=dict(seg=0, depth=1)), r"task 'normal' has no chosen network.*\[1\]"),
    (dict(chosen=dict(seg=0, depth=1, normal=1, edges=0)),
     r"chosen names unknown task\(s\) \['edges'\]"),
    (dict(chosen=dict(seg=0, depth=2, normal=1)),
     r"chosen\['depth'\] = 2 is not a group index \(0\.\.1\)"),
    (dict(chosen=dict(seg=1, depth=1, normal=1)),
     r"chosen\['seg'\] = 1 but group 1 \['depth', 'normal'\] does not contain 'seg'.*\[0\]"),
    (dict(chosen=dict(seg='0', depth=1, normal=1)), r"chosen\['seg'\] must be a group index"),
    (dict(half_width=[False, True]),
     r"group 1 \['depth', 'normal'\] is half-width but no `half_width_backbone`"),
    (dict(half_width=[True]), r'half_width has 1 flags but there are 2 groups'),
])
def test_invalid_groupings_raise_clear_errors(backbone, change, message):
    kwargs = dict(backbone=backbone, tasks=_task_cfg(), task_groups=GROUPS, chosen=CHOSEN)
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        TaskGroupingModel(**kwargs)


def test_bad_task_config_names_the_network(backbone):
    bad = _task_cfg()
    del bad['normal']['loss']
    with pytest.raises(ValueError, match=r"network 1 \(group \['depth', 'normal'\]\): task "
                                         r"'normal' has no `loss`"):
        TaskGroupingModel(backbone=backbone, tasks=bad, task_groups=GROUPS, chosen=CHOSEN)


def test_loss_needs_targets_of_every_task(model):
    x, targets = _batch()
    del targets['normal']
    with pytest.raises(ValueError, match='no targets for task'):
        model(x, targets, mode='loss')


def test_deployed_parameters_count_backbones_and_chosen_heads_only(model, backbone):
    heads = {(k, t): _n(net.heads[t]) for k, net in enumerate(model.networks) for t in net.heads}
    backbone_params = _n(backbone)
    expected = 2 * backbone_params + heads[0, 'seg'] + heads[1, 'depth'] + heads[1, 'normal']
    assert model.deployed_parameters() == expected
    # the training-only head (depth in network 0) is the only thing not deployed
    assert _n(model) - model.deployed_parameters() == heads[0, 'depth']
    # a network no task is served by is not deployed either
    unused = TaskGroupingModel(backbone=backbone, tasks=_task_cfg(),
                               task_groups=[['seg', 'depth', 'normal'], ['depth', 'normal']],
                               chosen=dict(seg=0, depth=0, normal=0))
    assert unused.deployed_parameters() == backbone_params + sum(
        _n(unused.networks[0].heads[t]) for t in TASKS)


def test_trains_and_validates_through_tools_train(tmp_path, tool):
    cfg = tiny_config(DEFAULT_TASKS, val_samples=8, img_size=SIZE)
    heads = cfg.model.tasks
    cfg.model = dict(
        type='TaskGroupingModel',
        backbone=dict(type='TimmBlockBackbone', model_name='resnet18', pretrained=False,
                      input_size=(3, SIZE, SIZE), num_branch_points=2),
        half_width_backbone=dict(type='TimmBlockBackbone', model_name='resnet18',
                                 pretrained=False, input_size=(3, SIZE, SIZE),
                                 num_branch_points=2,
                                 model_kwargs=dict(channels=(32, 64, 128, 256), stem_width=32)),
        tasks=heads,
        task_groups=[['segment_semantic', 'depth_zbuffer'], ['depth_zbuffer', 'normal'],
                     ['normal']],
        chosen=dict(segment_semantic=0, depth_zbuffer=1, normal=2),
        half_width=[False, False, True])
    cfg_path = tmp_path / 'grouping_cfg.py'
    cfg.dump(str(cfg_path))
    work = tmp_path / 'work'

    assert tool('train').main([str(cfg_path), '--work-dir', str(work)]) == 0

    assert (work / 'iter_2.pth').is_file()
    scalars = sorted(work.glob('*/vis_data/scalars.json'))
    assert scalars, 'no scalars.json was written'
    records = [json.loads(line) for line in scalars[-1].read_text().splitlines() if line]
    train_records = [r for r in records if 'loss' in r]
    assert len(train_records) == 2                                  # 2 iterations logged
    assert {'loss_segment_semantic@net0', 'loss_depth_zbuffer@net0', 'loss_depth_zbuffer@net1',
            'loss_normal@net1', 'loss_normal@net2'} <= set(train_records[-1])
    assert all(torch.isfinite(torch.tensor(r['loss'])) for r in train_records)
    val = [r for r in records if 'segment_semantic/mIoU' in r]
    assert len(val) == 1
    for key in ('segment_semantic/mIoU', 'segment_semantic/pixel_acc', 'depth_zbuffer/abs_err',
                'depth_zbuffer/rel_err'):
        assert key in val[0]
    assert any(k.startswith('normal/') for k in val[0])

    # the checkpoint holds every network and loads into a freshly built model
    state = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=False)['state_dict']
    trained = Config.fromfile(str(cfg_path))
    model = MODELS.build(copy.deepcopy(trained.model))
    model.load_state_dict(state)
    assert model.deployed_networks == [0, 1, 2]
