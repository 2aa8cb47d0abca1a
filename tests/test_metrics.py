"""MultiTaskMetric (hand-computed values, accumulation, ignore/mask, errors, mmengine Evaluator)
and relative performance (Maninis et al. 2019; directions, errors)."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator

import treemtl_plugin.evaluation.relative_performance as rp_module
from treemtl_plugin.evaluation import MultiTaskMetric
from treemtl_plugin.evaluation.relative_performance import (
    METRIC_DIRECTIONS,
    default_task_metrics,
    metric_direction,
    relative_performance,
)
from treemtl_plugin.registry import METRICS

SEG, DEPTH, NORMAL, EDGE, KP = ('segment_semantic', 'depth_zbuffer', 'normal', 'edge_texture',
                                'keypoints2d')
ALL_TASKS = [SEG, DEPTH, NORMAL, EDGE, KP]


def _samples(task, preds, gts, masks=None):
    out = []
    for i, (p, g) in enumerate(zip(preds, gts)):
        gt = {task: g}
        if masks is not None:
            gt[f'{task}_mask'] = masks[i]
        out.append({'pred': {task: p}, 'gt': gt})
    return out


def _run(metric, *batches):
    for batch in batches:
        metric.process(None, batch)
    return metric.compute_metrics(metric.results)


def _onehot_logits(labels, k):
    """(H, W) labels -> (K, H, W) logits whose argmax is ``labels``."""
    return F.one_hot(torch.as_tensor(labels), k).permute(2, 0, 1).float()


# ----------------------------------------------------------------------------- segmentation
def test_segmentation_hand_example():
    # gt [[0,1],[1,1]], pred [[0,1],[0,1]]: confusion (rows gt) [[1,0],[1,2]]
    # IoU0 = 1/(1+2-1) = 1/2, IoU1 = 2/(3+2-2) = 2/3; pixel acc 3/4
    gt = torch.tensor([[0, 1], [1, 1]])
    pred = _onehot_logits([[0, 1], [0, 1]], 2)
    out = _run(MultiTaskMetric([SEG]), _samples(SEG, [pred], [gt]))
    assert out == pytest.approx({f'{SEG}/mIoU': 100 * (1 / 2 + 2 / 3) / 2,
                                 f'{SEG}/pixel_acc': 75.0})


def test_segmentation_absent_classes_are_excluded_and_false_positives_count():
    gt = torch.tensor([[0, 1], [1, 1]])
    # 4 classes; class 2 never occurs in gt nor pred (left out); class 3 is predicted once
    # but never in gt: IoU 0, counted.
    pred = _onehot_logits([[0, 1], [3, 1]], 4)
    out = _run(MultiTaskMetric([SEG], num_classes=4), _samples(SEG, [pred], [gt]))
    # IoU0 = 1/1, IoU1 = 2/3, IoU3 = 0/1
    assert out[f'{SEG}/mIoU'] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    assert out[f'{SEG}/pixel_acc'] == pytest.approx(75.0)


def test_segmentation_ignore_index_and_label_predictions():
    gt = torch.tensor([[0, 255], [1, 1]])
    pred = torch.tensor([[0, 0], [1, 0]])  # hard labels: the ignored pixel's miss is not seen
    out = _run(MultiTaskMetric([SEG], num_classes=2), _samples(SEG, [pred], [gt]))
    # valid: (0,0) (1,1) (1,0); confusion [[1,0],[1,1]]: IoU0 = 1/2, IoU1 = 1/2
    assert out == pytest.approx({f'{SEG}/mIoU': 50.0, f'{SEG}/pixel_acc': 100 * 2 / 3})
    custom = _run(MultiTaskMetric([SEG], num_classes=2, ignore_index=1),
                  _samples(SEG, [torch.tensor([[0, 1], [0, 0]])],
                           [torch.tensor([[0, 1], [1, 0]])]))
    assert custom == pytest.approx({f'{SEG}/mIoU': 100.0, f'{SEG}/pixel_acc': 100.0})


def test_miou_is_global_not_a_mean_over_batches():
    # batch 1: perfect on class 0 only; batch 2: class 1 half wrong.
    b1 = _samples(SEG, [_onehot_logits([[0, 0]], 2)], [torch.tensor([[0, 0]])])
    b2 = _samples(SEG, [_onehot_logits([[1, 0]], 2)], [torch.tensor([[1, 1]])])
    out = _run(MultiTaskMetric([SEG]), b1, b2)
    # global confusion [[2,0],[1,1]]: IoU0 = 2/3, IoU1 = 1/2  (batch means would give 75 / 41.7)
    assert out[f'{SEG}/mIoU'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert out[f'{SEG}/pixel_acc'] == pytest.approx(75.0)


# ----------------------------------------------------------------------------- depth
def test_depth_hand_example_with_missing_pixel():
    gt = torch.tensor([[[2.0, 0.0], [4.0, 1.0]]])   # 0 = missing
    pred = torch.tensor([[[1.0, 5.0], [5.0, 1.0]]])
    out = _run(MultiTaskMetric([DEPTH]), _samples(DEPTH, [pred], [gt]))
    assert out == pytest.approx({f'{DEPTH}/abs_err': (1 + 1 + 0) / 3,
                                 f'{DEPTH}/rel_err': (1 / 2 + 1 / 4 + 0) / 3})


def test_depth_is_the_mean_over_all_valid_pixels_of_the_dataset():
    # sample 1: one valid pixel (err 3), sample 2: three valid pixels (err 1 each)
    g1, p1 = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), torch.tensor([[[4.0, 9.0], [9.0, 9.0]]])
    g2, p2 = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]]), torch.tensor([[[2.0, 2.0], [2.0, 9.0]]])
    out = _run(MultiTaskMetric([DEPTH]), _samples(DEPTH, [p1], [g1]),
               _samples(DEPTH, [p2], [g2]))
    assert out[f'{DEPTH}/abs_err'] == pytest.approx(6 / 4)   # not (3 + 1) / 2
    assert out[f'{DEPTH}/rel_err'] == pytest.approx(6 / 4)


def test_optional_task_mask_restricts_pixels():
    gt = torch.tensor([[[2.0, 2.0], [4.0, 1.0]]])
    pred = torch.tensor([[[1.0, 5.0], [5.0, 1.0]]])
    mask = torch.tensor([[1, 0], [1, 1]])  # per-pixel (H, W) mask, drops the err-3 pixel
    out = _run(MultiTaskMetric([DEPTH]), _samples(DEPTH, [pred], [gt], masks=[mask]))
    assert out[f'{DEPTH}/abs_err'] == pytest.approx(2 / 3)


# ----------------------------------------------------------------------------- normals
def _normal_case():
    """gt (0,0,1) everywhere except one missing pixel; predictions (not unit length) at
    0°, 90° and 10° from it."""
    s, c = math.sin(math.radians(10)), math.cos(math.radians(10))
    gt = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=torch.float32)
    pred = torch.tensor([[0, 1, 3 * s, 5], [0, 0, 0, 5], [2, 0, 3 * c, 5]], dtype=torch.float32)
    return pred.reshape(3, 1, 4), gt.reshape(3, 1, 4)


def test_normals_hand_example():
    pred, gt = _normal_case()
    out = _run(MultiTaskMetric([NORMAL]), _samples(NORMAL, [pred], [gt]))
    assert out[f'{NORMAL}/mean_angle'] == pytest.approx(100 / 3, abs=1e-4)
    assert out[f'{NORMAL}/median_angle'] == pytest.approx(10.0, abs=0.01)
    for t in ('11.25', '22.5', '30'):
        assert out[f'{NORMAL}/within_{t}'] == pytest.approx(200 / 3)
    assert set(out) == {f'{NORMAL}/{k}' for k in ('mean_angle', 'median_angle', 'within_11.25',
                                                   'within_22.5', 'within_30')}


def test_normals_even_count_median_thresholds_and_zero_prediction():
    def vec(deg):
        return [math.sin(math.radians(deg)), 0.0, math.cos(math.radians(deg))]
    angles = [0.0, 20.0, 25.0, 170.0]
    pred = torch.tensor([vec(a) for a in angles] + [[0.0, 0.0, 0.0]]).T.reshape(3, 1, 5)
    gt = torch.tensor([[0.0, 0.0, 1.0]] * 5).T.reshape(3, 1, 5)
    out = _run(MultiTaskMetric([NORMAL]), _samples(NORMAL, [pred], [gt]))
    # angles 0, 20, 25, 170 and 90 (zero prediction): median 25, mean 61
    assert out[f'{NORMAL}/median_angle'] == pytest.approx(25.0, abs=0.01)
    assert out[f'{NORMAL}/mean_angle'] == pytest.approx(61.0, abs=1e-4)
    assert out[f'{NORMAL}/within_11.25'] == pytest.approx(20.0)
    assert out[f'{NORMAL}/within_22.5'] == pytest.approx(40.0)
    assert out[f'{NORMAL}/within_30'] == pytest.approx(60.0)
    # even count: angles 0, 20, 25, 170 -> median 22.5
    out = _run(MultiTaskMetric([NORMAL]), _samples(NORMAL, [pred[..., :4]], [gt[..., :4]]))
    assert out[f'{NORMAL}/median_angle'] == pytest.approx(22.5, abs=0.01)


# ----------------------------------------------------------------------------- L1, top-1
@pytest.mark.parametrize('task', [EDGE, KP])
def test_l1_hand_example(task):
    pred = torch.tensor([[[0.5, 1.0], [0.0, 0.0]]])
    gt = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    out = _run(MultiTaskMetric([task]), _samples(task, [pred], [gt]))
    assert out == pytest.approx({f'{task}/l1_err': 1.5 / 4})


def test_top1_with_ignore_and_inferred_kind():
    logits = [torch.tensor([2.0, 1.0, 0.0]), torch.tensor([0.0, 3.0, 1.0]),
              torch.tensor([0.0, 0.0, 1.0]), torch.tensor([5.0, 0.0, 0.0]),
              torch.tensor([0.0, 9.0, 0.0])]
    labels = [torch.tensor(0), torch.tensor(1), torch.tensor(0), torch.tensor(0),
              torch.tensor(255)]
    metric = MultiTaskMetric(['class_object'])  # unknown name, scalar long gt: classification
    out = _run(metric, _samples('class_object', logits, labels))
    assert out == pytest.approx({'class_object/top1': 75.0})
    assert metric.kinds['class_object'] == 'classification'


# ----------------------------------------------------------------------------- accumulation
def _random_outputs(n, seed, size=6, k=5):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        seg_gt = torch.randint(0, k, (size, size), generator=g)
        seg_gt[0, :2] = 255
        depth_gt = torch.rand(1, size, size, generator=g) * (torch.rand(1, size, size,
                                                                        generator=g) > 0.2)
        normal_gt = F.normalize(torch.randn(3, size, size, generator=g), dim=0)
        normal_gt[:, 0, 0] = 0
        out.append({
            'pred': {SEG: torch.randn(k, size, size, generator=g),
                     DEPTH: torch.rand(1, size, size, generator=g),
                     NORMAL: torch.randn(3, size, size, generator=g),
                     EDGE: torch.rand(1, size, size, generator=g),
                     KP: torch.rand(1, size, size, generator=g),
                     'cls': torch.randn(k, generator=g)},
            'gt': {SEG: seg_gt, DEPTH: depth_gt, NORMAL: normal_gt,
                   EDGE: torch.rand(1, size, size, generator=g),
                   KP: torch.rand(1, size, size, generator=g),
                   'cls': torch.randint(0, k, (), generator=g)}})
    return out


def test_two_process_calls_equal_one_call_on_the_concatenation():
    outputs = _random_outputs(7, seed=3)
    tasks = {**{t: None for t in ALL_TASKS}, 'cls': 'classification'}
    split = _run(MultiTaskMetric(tasks), outputs[:3], outputs[3:])
    whole = _run(MultiTaskMetric(tasks), outputs)
    assert split.keys() == whole.keys()
    assert split == pytest.approx(whole, rel=1e-12, abs=1e-12)
    assert len(split) == 2 + 2 + 5 + 1 + 1 + 1


def test_random_data_matches_a_numpy_reference():
    outputs = _random_outputs(4, seed=5)
    out = _run(MultiTaskMetric(ALL_TASKS), outputs[:2], outputs[2:])
    seg_p = np.stack([o['pred'][SEG].argmax(0).numpy() for o in outputs]).ravel()
    seg_g = np.stack([o['gt'][SEG].numpy() for o in outputs]).ravel()
    keep = seg_g != 255
    conf = np.zeros((5, 5))
    np.add.at(conf, (seg_g[keep], seg_p[keep]), 1)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    assert out[f'{SEG}/mIoU'] == pytest.approx(100 * np.mean(np.diag(conf)[union > 0]
                                                             / union[union > 0]))
    dp = np.stack([o['pred'][DEPTH].numpy() for o in outputs]).astype(np.float64)
    dg = np.stack([o['gt'][DEPTH].numpy() for o in outputs]).astype(np.float64)
    v = dg > 0
    assert out[f'{DEPTH}/abs_err'] == pytest.approx(np.abs(dp - dg)[v].mean())
    assert out[f'{DEPTH}/rel_err'] == pytest.approx((np.abs(dp - dg)[v] / dg[v]).mean())
    npred = np.concatenate([o['pred'][NORMAL].numpy().reshape(3, -1) for o in outputs], 1)
    ngt = np.concatenate([o['gt'][NORMAL].numpy().reshape(3, -1) for o in outputs], 1)
    v = np.linalg.norm(ngt, axis=0) > 0
    cos = (npred / np.linalg.norm(npred, axis=0) * ngt).sum(0)[v]
    ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert out[f'{NORMAL}/mean_angle'] == pytest.approx(ang.mean(), abs=1e-3)
    assert out[f'{NORMAL}/median_angle'] == pytest.approx(np.median(ang), abs=0.0051)
    assert out[f'{NORMAL}/within_22.5'] == pytest.approx(100 * np.mean(ang < 22.5))
    ep = np.stack([o['pred'][EDGE].numpy() for o in outputs]).astype(np.float64)
    eg = np.stack([o['gt'][EDGE].numpy() for o in outputs]).astype(np.float64)
    assert out[f'{EDGE}/l1_err'] == pytest.approx(np.abs(ep - eg).mean())


def test_tasks_none_evaluates_every_task_and_ignores_other_num_classes():
    outputs = _random_outputs(3, seed=4)
    all_tasks = _run(MultiTaskMetric(num_classes={SEG: 5, 'cls': 5, 'unused': 3}), outputs)
    listed = _run(MultiTaskMetric({**{t: None for t in ALL_TASKS}, 'cls': 'classification'}),
                  outputs)
    assert all_tasks == pytest.approx(listed)
    assert list(all_tasks)[:2] == [f'{SEG}/mIoU', f'{SEG}/pixel_acc']
    # a sweep restricts `tasks` but keeps the config's num_classes
    pair = _run(MultiTaskMetric([DEPTH, NORMAL], num_classes={SEG: 5}), outputs)
    assert {k.split('/')[0] for k in pair} == {DEPTH, NORMAL}


# ----------------------------------------------------------------------------- errors
def test_errors_are_explicit():
    with pytest.raises(ValueError, match='tasks='):   # float gt, unknown name
        _run(MultiTaskMetric(['albedo']),
             _samples('albedo', [torch.rand(3, 2, 2)], [torch.rand(3, 2, 2)]))
    with pytest.raises(ValueError, match='outside 0..1'):
        _run(MultiTaskMetric([SEG]), _samples(SEG, [torch.randn(2, 2, 2)],
                                              [torch.tensor([[0, 1], [2, 1]])]))
    with pytest.raises(ValueError, match='num_classes is 4'):
        _run(MultiTaskMetric([SEG], num_classes={SEG: 4}),
             _samples(SEG, [torch.randn(2, 2, 2)], [torch.zeros(2, 2, dtype=torch.long)]))
    with pytest.raises(ValueError, match="no 'gt'"):
        MultiTaskMetric([SEG]).process(None, [{'pred': {SEG: torch.randn(2, 2, 2)}}])
    with pytest.raises(ValueError, match='unknown kind'):
        MultiTaskMetric({SEG: 'segmentaton'})
    with pytest.raises(ValueError, match='does not match'):
        _run(MultiTaskMetric([DEPTH]), _samples(DEPTH, [torch.rand(1, 2, 2)],
                                                [torch.rand(1, 3, 2)]))


# ----------------------------------------------------------------------------- relative perf.
def test_relative_performance_hand_example():
    single = {'segment_semantic/mIoU': 40.0, 'segment_semantic/pixel_acc': 60.0,
              'depth_zbuffer/abs_err': 0.4, 'depth_zbuffer/rel_err': 0.25}
    multi = {'segment_semantic/mIoU': 44.0, 'segment_semantic/pixel_acc': 60.0,
             'depth_zbuffer/abs_err': 0.5, 'depth_zbuffer/rel_err': 0.2}
    assert relative_performance(multi, single, SEG) == pytest.approx(100 / 2 * (4 / 40 + 0))
    # lower is better: -(0.1/0.4) and -(-0.05/0.25)
    assert relative_performance(multi, single, DEPTH) == pytest.approx(100 / 2 * (-0.25 + 0.2))
    assert relative_performance(multi, single, DEPTH, keys=['depth_zbuffer/abs_err']) == \
        pytest.approx(-25.0)
    assert relative_performance(single, single, SEG) == 0.0
    # direction override (by key or by metric name)
    assert relative_performance(multi, single, DEPTH, directions={'abs_err': 1}) == \
        pytest.approx(100 / 2 * (0.25 + 0.2))


def test_relative_performance_errors():
    with pytest.raises(ValueError, match=r"'depth_zbuffer/abs_err' is 0"):
        relative_performance({'depth_zbuffer/abs_err': 1.0}, {'depth_zbuffer/abs_err': 0.0},
                             DEPTH)
    with pytest.raises(ValueError, match=r"metrics have keys \['seg/x'\].*baseline has keys "
                                         r"\['depth_zbuffer/abs_err'\]"):
        relative_performance({'seg/x': 1.0}, {'depth_zbuffer/abs_err': 1.0}, DEPTH)
    with pytest.raises(ValueError, match=r"'foo/score'.*directions="):
        relative_performance({'foo/score': 2.0}, {'foo/score': 1.0}, 'foo')
    assert relative_performance({'foo/score': 2.0}, {'foo/score': 1.0}, 'foo',
                                directions={'foo/score': -1}) == pytest.approx(-100.0)
    with pytest.raises(ValueError, match='lack'):
        relative_performance({}, {'depth_zbuffer/abs_err': 1.0}, DEPTH,
                             keys=['depth_zbuffer/abs_err'])


def test_default_task_metrics():
    assert default_task_metrics(SEG) == [f'{SEG}/mIoU', f'{SEG}/pixel_acc']
    assert default_task_metrics(DEPTH) == [f'{DEPTH}/abs_err', f'{DEPTH}/rel_err']
    assert default_task_metrics(NORMAL) == [f'{NORMAL}/{k}' for k in (
        'mean_angle', 'median_angle', 'within_11.25', 'within_22.5', 'within_30')]
    assert default_task_metrics(EDGE) == [f'{EDGE}/l1_err']
    assert default_task_metrics(KP) == [f'{KP}/l1_err']
    assert default_task_metrics('cls', kind='classification') == ['cls/top1']
    with pytest.raises(ValueError, match='kind='):
        default_task_metrics('cls')


def test_metric_directions_cover_every_emitted_key():
    single = {t: {k: 1.0 for k in default_task_metrics(t)} for t in ALL_TASKS}
    out = _run(MultiTaskMetric(ALL_TASKS, single_task_baselines=single), _random_outputs(2, 1))
    assert set(out) <= set(METRIC_DIRECTIONS)
    assert {f'{t}/delta' for t in ALL_TASKS} | {'mean_delta'} <= set(out)
    assert metric_direction('class_object/top1') == 1      # other task names: by metric name
    assert METRIC_DIRECTIONS[f'{SEG}/mIoU'] == 1 and METRIC_DIRECTIONS[f'{DEPTH}/abs_err'] == -1
    assert METRIC_DIRECTIONS[f'{NORMAL}/mean_angle'] == -1
    assert METRIC_DIRECTIONS[f'{NORMAL}/within_11.25'] == 1


def test_metric_reports_delta_and_mean_delta():
    gt = torch.tensor([[[2.0, 0.0], [4.0, 1.0]]])
    pred = torch.tensor([[[1.0, 5.0], [5.0, 1.0]]])   # abs 2/3, rel 1/4
    seg = _samples(SEG, [_onehot_logits([[0, 1], [0, 1]], 2)], [torch.tensor([[0, 1], [1, 1]])])
    batch = [{'pred': {**s['pred'], DEPTH: pred}, 'gt': {**s['gt'], DEPTH: gt}} for s in seg]
    baselines = {SEG: {'mIoU': 50.0},                      # short names are accepted
                 DEPTH: {f'{DEPTH}/abs_err': 1.0, f'{DEPTH}/rel_err': 0.5}}
    out = _run(MultiTaskMetric([SEG, DEPTH], single_task_baselines=baselines), batch)
    seg_delta = 100 * (out[f'{SEG}/mIoU'] - 50) / 50
    depth_delta = 100 / 2 * (-(2 / 3 - 1) / 1 - (1 / 4 - 0.5) / 0.5)
    assert out[f'{SEG}/delta'] == pytest.approx(seg_delta)
    assert out[f'{DEPTH}/delta'] == pytest.approx(depth_delta)
    assert out['mean_delta'] == pytest.approx((seg_delta + depth_delta) / 2)
    flat = {f'{SEG}/mIoU': 50.0, f'{DEPTH}/abs_err': 1.0, f'{DEPTH}/rel_err': 0.5,
            'other_task/l1_err': 3.0, 'mean_delta': 0.0}   # flat sweep dict; extras dropped
    assert _run(MultiTaskMetric([SEG, DEPTH], single_task_baselines=flat), batch) == \
        pytest.approx(out)
    with pytest.raises(ValueError, match='not in tasks'):
        MultiTaskMetric([SEG], single_task_baselines={DEPTH: {'abs_err': 1.0}})
    with pytest.raises(ValueError, match=r"\['segment_semantic/mIoU'\] are 0"):
        MultiTaskMetric([SEG], single_task_baselines={SEG: {'mIoU': 0.0}})
    with pytest.raises(ValueError, match='no key of the tasks'):
        MultiTaskMetric([SEG], single_task_baselines={'val/segment_semantic/mIoU': 1.0})
    with pytest.raises(ValueError, match='has none of the metrics'):
        MultiTaskMetric([SEG], single_task_baselines={SEG: {'miou': 1.0}})


def test_relative_performance_module_does_not_import_torch():
    code = ('import importlib.util, sys\n'
            f'spec = importlib.util.spec_from_file_location("rp", {rp_module.__file__!r})\n'
            'mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n'
            'assert "torch" not in sys.modules, "torch imported"\n'
            'print(mod.relative_performance({"a/mIoU": 2.0}, {"a/mIoU": 1.0}, "a"))\n')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert float(res.stdout) == pytest.approx(100.0)


# ----------------------------------------------------------------------------- mmengine
def test_mmengine_evaluator_round_trip():
    tasks = [SEG, DEPTH, NORMAL, EDGE, KP]
    ev = Evaluator(METRICS.build(dict(type='MultiTaskMetric', tasks=tasks, num_classes=5)))
    outputs = _random_outputs(5, seed=11)
    ev.process(data_samples=outputs[:2], data_batch=None)
    ev.process(data_samples=outputs[2:], data_batch=None)
    res = ev.evaluate(len(outputs))
    expected = _run(MultiTaskMetric(tasks), outputs)
    assert list(res) == list(expected) == [f'{t}/{k}' for t in tasks
                                           for k in {SEG: ['mIoU', 'pixel_acc'],
                                                     DEPTH: ['abs_err', 'rel_err'],
                                                     NORMAL: ['mean_angle', 'median_angle',
                                                              'within_11.25', 'within_22.5',
                                                              'within_30'],
                                                     EDGE: ['l1_err'], KP: ['l1_err']}[t]]
    assert res == pytest.approx(expected)
    assert all(isinstance(v, float) and math.isfinite(v) for v in res.values())
    assert 0 <= res[f'{SEG}/mIoU'] <= 100 and 0 <= res[f'{NORMAL}/median_angle'] <= 180
    # the state is reset by evaluate(): a second round gives the same numbers
    ev.process(data_samples=outputs, data_batch=None)
    assert ev.evaluate(len(outputs)) == pytest.approx(res)
    prefixed = Evaluator(METRICS.build(dict(type='MultiTaskMetric', tasks=[DEPTH],
                                            prefix='val')))
    prefixed.process(data_samples=outputs, data_batch=None)
    assert list(prefixed.evaluate(5)) == [f'val/{DEPTH}/abs_err', f'val/{DEPTH}/rel_err']


def test_tree_model_predict_outputs_feed_the_metric():
    models = pytest.importorskip('treemtl_plugin.models')
    size = 32
    tasks = {SEG: dict(head=dict(type='LightConvHead', num_outputs=4, channels=8),
                       loss=dict(type='SegCrossEntropyLoss')),
             DEPTH: dict(head=dict(type='LightConvHead', num_outputs=1, channels=8),
                         loss=dict(type='DepthL1Loss')),
             NORMAL: dict(head=dict(type='LightConvHead', num_outputs=3, channels=8),
                          loss=dict(type='NormalCosineLoss'))}
    torch.manual_seed(0)
    backbone = torch.nn.Module()  # a two-block stand-in (blocks + out_channels) for speed
    backbone.blocks = torch.nn.ModuleList([torch.nn.Conv2d(3, 8, 3, stride=2, padding=1),
                                           torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)])
    backbone.out_channels = 8
    model = models.TreeMultiTaskModel(backbone=backbone, tasks=tasks,
                                      layout=[[[SEG, DEPTH, NORMAL]],
                                              [[SEG], [DEPTH, NORMAL]]]).eval()
    g = torch.Generator().manual_seed(2)
    targets = {SEG: torch.randint(0, 4, (2, size, size), generator=g),
               DEPTH: torch.rand(2, 1, size, size, generator=g),
               NORMAL: F.normalize(torch.randn(2, 3, size, size, generator=g), dim=1)}
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, size, size, generator=g), targets, mode='predict')
    ev = Evaluator(METRICS.build(dict(type='MultiTaskMetric', tasks=list(tasks),
                                      num_classes={SEG: 4})))
    ev.process(data_samples=outputs, data_batch=None)
    res = ev.evaluate(2)
    assert set(res) == {k for t in tasks for k in default_task_metrics(t)}
    assert outputs[0]['pred'][SEG].shape == (4, size, size)  # upsampled to the input


def test_relative_performance_errors_are_one_line_tool_errors():
    """A single-task baseline of 0 or a missing metric is the user's data, not a bug: a
    TreeMTLError (one ``error:`` line in the tools), still a ValueError."""
    from treemtl_plugin.errors import TreeMTLError
    with pytest.raises(TreeMTLError, match="single-task baseline of 'a/mIoU' is 0"):
        rp_module.relative_performance({'a/mIoU': 2.0}, {'a/mIoU': 0.0}, 'a')
    with pytest.raises(ValueError):
        rp_module.relative_performance({'a/mIoU': 2.0}, {'a/mIoU': 0.0}, 'a')
