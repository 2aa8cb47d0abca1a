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


@pytest.mark.parametrize('kwargs, match', [
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
