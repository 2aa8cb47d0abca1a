"""The teacher-task benchmark: deterministic, related tasks correlate, noise only in training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from treemtl_plugin.datasets.teacher_tasks import TeacherTaskDataset
from treemtl_plugin.errors import ConfigError

TREE = [[['a1', 'a2'], ['c']]] * 4


def corr(a, b) -> float:
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


def test_items_follow_the_data_contract_and_are_deterministic():
    ds = TeacherTaskDataset(TREE, num_samples=8, split='val')
    item = ds[3]
    assert item['inputs'].shape == (3, 32, 32) and item['inputs'].dtype == torch.float32
    assert list(item['data_samples']) == ['a1', 'a2', 'c']
    assert all(v.shape == (1, 32, 32) for v in item['data_samples'].values())
    again = TeacherTaskDataset(TREE, num_samples=20, split='val', tasks=['c'])
    assert torch.equal(again[3]['inputs'], item['inputs'])        # independent of num_samples
    assert torch.equal(again[3]['data_samples']['c'], item['data_samples']['c'])
    other = TeacherTaskDataset(TREE, num_samples=8, split='test')
    assert not torch.allclose(other[3]['inputs'], item['inputs'])   # splits are independent
    pilot = TeacherTaskDataset(TREE, num_samples=8, split='pilot')   # a pilot's own images
    assert not torch.allclose(pilot[3]['inputs'], item['inputs'])
    assert not torch.allclose(pilot[3]['inputs'], other[3]['inputs'])
    assert ds[-1]['inputs'].shape == (3, 32, 32)
    with pytest.raises(IndexError):
        ds[8]


def test_relatedness_comes_from_the_teacher_tree():
    ds = TeacherTaskDataset(TREE, num_samples=256, split='val')
    t = ds.targets
    assert abs(float(t['a1'].mean())) < 0.1 and 0.4 < float(t['a1'].var()) < 1.0
    assert corr(t['a1'], t['a2']) > 0.4                  # one teacher, correlated readouts
    assert abs(corr(t['a1'], t['c'])) < 0.2               # independent teachers
    same = TeacherTaskDataset(TREE, num_samples=256, split='val', readout_correlation=1.0)
    assert corr(same.targets['a1'], same.targets['a2']) > 0.999
    split_late = TeacherTaskDataset([[['a1', 'a2', 'c']]] * 3 + [[['a1', 'a2'], ['c']]],
                                    num_samples=256, split='val', readout_correlation=0.0)
    assert abs(corr(split_late.targets['a1'], split_late.targets['c'])) < 0.3


def test_label_noise_is_added_to_the_training_split_only():
    clean = TeacherTaskDataset(TREE, num_samples=64, split='train')
    noisy = TeacherTaskDataset(TREE, num_samples=64, split='train', label_noise=dict(a1=1.0))
    diff = noisy.targets['a1'] - clean.targets['a1']
    assert 0.3 < float(diff.var()) < 1.0          # unit noise, smoothed by the upsampling
    assert torch.equal(noisy.targets['c'], clean.targets['c'])
    val = TeacherTaskDataset(TREE, num_samples=64, split='val', label_noise=1.0)
    assert torch.equal(val.targets['a1'], TeacherTaskDataset(TREE, 64, split='val').targets['a1'])


def test_scarce_labels_mask_a_task_on_all_but_the_first_training_images():
    from treemtl_plugin.models.losses import MaskedMSELoss
    ds = TeacherTaskDataset(TREE, num_samples=64, split='train', labelled=dict(a2=0.1))
    assert ds.labelled == {'a2': 7}                       # ceil(0.1 * 64)
    masks = torch.stack([ds[i]['data_samples']['a2_mask'] for i in range(64)])
    assert masks.shape == (64, 1, 32, 32) and masks.dtype == torch.bool
    assert masks[:7].all() and not masks[7:].any()
    assert 'a1_mask' not in ds[0]['data_samples']          # a1 keeps every label
    # the loss reads only the labelled images of a batch
    pred = torch.zeros(64, 1, 32, 32)
    target = torch.stack([ds[i]['data_samples']['a2'] for i in range(64)])
    expected = float(target[:7].square().mean())
    assert float(MaskedMSELoss()(pred, target, mask=masks)) == pytest.approx(expected)
    # evaluation splits keep every label; a subset of tasks keeps only its own masks
    assert 'a2_mask' not in TeacherTaskDataset(TREE, 8, split='val', labelled=dict(a2=0.1))[0][
        'data_samples']
    assert 'a2_mask' not in TeacherTaskDataset(TREE, 8, split='train', tasks=['c'],
                                               labelled=dict(a2=0.1))[0]['data_samples']


@pytest.mark.parametrize('kwargs, match', [
    (dict(teacher=TREE, labelled=dict(b=0.5)), r"labelled names task\(s\) \['b'\]"),
    (dict(teacher=TREE, labelled=dict(a2=0)), r"labelled fraction of 'a2' must be in \(0, 1\]"),
    (dict(teacher=TREE, labelled=0.5), 'labelled must be a {task: fraction} dict'),
    (dict(teacher=[[['a1'], ['a1', 'c']]]), 'teacher must be a tree'),
    (dict(teacher=TREE, image_size=36), 'multiple of the teacher'),
    (dict(teacher=TREE, strides=(2, 2)), 'one stride'),
    (dict(teacher=TREE, label_noise=dict(b=1.0)), r"label_noise names task\(s\) \['b'\]"),
    (dict(teacher=TREE, label_noise=-1), 'label_noise of .* >= 0'),
    (dict(teacher=TREE, num_samples=0), 'num_samples must be a positive int'),
    (dict(teacher=TREE, tasks=['a3']), "unknown task name"),
    (dict(teacher=TREE, split='dev'), 'split must be one of'),
])
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TeacherTaskDataset(**kwargs)


def test_regression_metric_and_loss():
    from treemtl_plugin.evaluation.metrics import MultiTaskMetric
    from treemtl_plugin.models.losses import MaskedMSELoss
    pred = torch.zeros(2, 1, 4, 4)
    gt = torch.full((2, 1, 4, 4), 2.0)
    assert float(MaskedMSELoss()(pred, gt)) == pytest.approx(4.0)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0] = True
    assert float(MaskedMSELoss()(pred, gt * torch.arange(2.0).view(2, 1, 1, 1) + 1, mask)) == \
        pytest.approx(1.0)
    metric = MultiTaskMetric(tasks=dict(a='regression'),
                             single_task_baselines={'a/mse': 5.0})
    metric.process(None, [dict(pred={'a': pred[0]}, gt={'a': gt[0]}),
                          dict(pred={'a': pred[1] + 1}, gt={'a': gt[1]})])
    out = metric.compute_metrics(metric.results)
    assert out['a/mse'] == pytest.approx(2.5)
    assert out['a/delta'] == pytest.approx(50.0)          # lower MSE is better


def test_the_sweep_keeps_the_metric_kinds_of_its_tasks():
    from mmengine.config import Config

    from treemtl_plugin.sweep.run_config import restrict_tasks
    cfg = Config(dict(model=dict(tasks=dict(a=dict(head=1), b=dict(head=2), c=dict(head=3))),
                      val_evaluator=dict(type='MultiTaskMetric',
                                         tasks=dict(a='regression', b='regression',
                                                    c='regression'))))
    restrict_tasks(cfg, ['c', 'a'])
    assert cfg.val_evaluator.tasks == dict(c='regression', a='regression')


def test_a_real_teacher_sweep_runs_end_to_end(tmp_path):
    """Two teacher tasks, 4 branching points, 12 iterations per run: real mmengine trainings,
    costs in MFLOPs, a table of 4 branching points."""
    from treemtl_plugin.apis.config import load_config
    from treemtl_plugin.apis.recommendation import run_recommendation

    from helpers import TEACHER_CFG
    cfg = load_config(str(TEACHER_CFG))
    cfg.model.tasks = {t: cfg.model.tasks[t] for t in ('a1', 'c')}
    cfg.merge_from_dict({
        'train_cfg.max_iters': 12, 'train_cfg.val_interval': 12, 'sweep.workers': 1,
        'train_dataloader.dataset.num_samples': 64, 'val_dataloader.dataset.num_samples': 64,
        'test_dataloader.dataset.num_samples': 64, 'log_level': 'WARNING',
        'default_hooks.logger.interval': 4})
    run = run_recommendation(cfg, str(tmp_path), log=lambda m: None)
    assert run.status == 'done'
    rec = run.recommendation
    assert rec.num_blocks == 4 and rec.cost_model.flops_unit == 'MFLOPs'
    assert 0.5 < rec.cost_model.backbone_flops < 2.0       # about 1 MFLOP at 32 px
    table = (tmp_path / 'sweep' / 'two_task_table.csv').read_text().splitlines()
    assert len(table) == 1 + 5 and table[0] == 'task_a,task_b,branch,perf_a,perf_b'


def test_the_suite_members_build_the_teachers_their_docs_describe():
    """Each member's teacher tree and noise, as docs/advanced/benchmark_suite.md describes them."""
    from mmengine.config import Config

    from treemtl_plugin.core.layout import Layout
    from treemtl_plugin.registry import DATASETS

    from helpers import ROOT
    teacher = ROOT / 'configs' / 'teacher'

    def train_set(name):
        cfg = Config.fromfile(str(teacher / name))
        return cfg, cfg.train_dataloader.dataset
    cfg, mid = train_set('tree_resnet10t_narrow_teacher_middepth_3task.py')
    tree = Layout(mid['teacher'])
    assert tree.branch_point('a1', 'a2') == 1 and tree.branch_point('a1', 'c') == 0
    assert cfg.model.backbone.model_kwargs.channels == (16, 16, 4, 4)
    assert mid['label_noise'] == dict(a1=1.4, a2=1.4) and cfg.validation.seeds == 4
    cfg, mix = train_set('tree_resnet10t_narrow_teacher_mix_5task.py')
    tree = Layout(mix['teacher'])
    assert tree.branch_point('a1', 'a2') == 1 and tree.branch_point('b1', 'b2') == 2
    assert all(tree.branch_point('c', t) == 0 for t in ('a1', 'a2', 'b1', 'b2'))
    assert list(cfg.model.tasks) == ['a1', 'a2', 'b1', 'b2', 'c']
    cfg, reuse = train_set('tree_resnet10t_teacher_feature_reuse_3task.py')
    assert reuse['labelled'] == dict(a2=0.0625)
    assert not any((reuse.get('label_noise') or {}).values())
    for name in ('tree_resnet10t_teacher_3task.py',
                 'tree_resnet10t_narrow_teacher_middepth_3task.py',
                 'tree_resnet10t_narrow_teacher_mix_5task.py',
                 'tree_resnet10t_teacher_feature_reuse_3task.py'):
        cfg = Config.fromfile(str(teacher / name))
        for split in ('train', 'val', 'test'):       # every split reads the same teacher
            same = cfg.train_dataloader.dataset.teacher
            assert cfg[f'{split}_dataloader'].dataset.teacher == same
        built = DATASETS.build(dict(cfg.val_dataloader.dataset, num_samples=2))
        assert set(built.tasks) == set(cfg.model.tasks)
