"""Task heads (shapes for NCHW / NHWC / NLC features, registry, gradients) and task losses
(hand-computed values, masking, empty valid sets, loss_weight, shape errors)."""
import math
import re

import pytest
import torch
import torch.nn.functional as F

from treemtl_plugin.models.heads import ASPPHead, ClsHead, LightConvHead, to_nchw
from treemtl_plugin.models.losses import (
    ClsCrossEntropyLoss,
    DepthL1Loss,
    MaskedL1Loss,
    NormalCosineLoss,
    SegCrossEntropyLoss,
)
from treemtl_plugin.registry import MODELS

C, N, H, W = 8, 2, 5, 5


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _layouts(c=C, h=H, w=W, n=N):
    """The same feature map as NCHW, NHWC, NLC and NLC with one class token."""
    nchw = torch.randn(n, c, h, w, generator=_gen())
    nhwc = nchw.permute(0, 2, 3, 1).contiguous()
    nlc = nchw.flatten(2).transpose(1, 2).contiguous()
    cls = torch.randn(n, 1, c, generator=_gen(1))
    return dict(nchw=nchw, nhwc=nhwc, nlc=nlc, nlc_cls=torch.cat([cls, nlc], dim=1))


# ----------------------------------------------------------------------------- to_nchw
@pytest.mark.parametrize('layout', ['nchw', 'nhwc', 'nlc', 'nlc_cls'])
def test_to_nchw_recovers_the_map(layout):
    feats = _layouts()
    out = to_nchw(feats[layout], C)
    assert out.shape == (N, C, H, W)
    assert torch.equal(out, feats['nchw'])


def test_to_nchw_drops_several_prefix_tokens_and_takes_explicit_grid():
    feats = _layouts()
    prefix = torch.zeros(N, 5, C)  # class + 4 register tokens
    assert torch.equal(to_nchw(torch.cat([prefix, feats['nlc']], 1), C), feats['nchw'])
    rect = torch.randn(N, C, 3, 4, generator=_gen())
    tokens = torch.cat([prefix, rect.flatten(2).transpose(1, 2)], 1)
    assert torch.equal(to_nchw(tokens, C, hw=(3, 4)), rect)


@pytest.mark.parametrize('shape', [(2, 3, 4, 5), (2, 9, 7), (2, 8), (1, 2, 3, 4, 5)])
def test_to_nchw_rejects_unknown_layouts(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        to_nchw(torch.zeros(shape), C)


# ----------------------------------------------------------------------------- heads
@pytest.mark.parametrize('layout', ['nchw', 'nhwc', 'nlc', 'nlc_cls'])
@pytest.mark.parametrize('head_cls,kwargs', [
    (ASPPHead, dict(channels=4, dilations=(1, 2))),
    (LightConvHead, dict(channels=4)),
])
def test_dense_heads_output_shape(layout, head_cls, kwargs):
    head = head_cls(in_channels=C, num_outputs=3, **kwargs).eval()
    assert head.dense is True
    out = head(_layouts()[layout])
    assert out.shape == (N, 3, H, W)


def test_dense_heads_agree_across_layouts():
    head = LightConvHead(C, 3, channels=4).eval()
    feats = _layouts()
    ref = head(feats['nchw'])
    for name in ('nhwc', 'nlc', 'nlc_cls'):
        torch.testing.assert_close(head(feats[name]), ref)


def test_aspp_default_dilations_preserve_size_and_are_summed_branches():
    head = ASPPHead(in_channels=C, num_outputs=13, channels=4).eval()
    assert head.dilations == (6, 12, 18, 24) and len(head.branches) == 4
    for branch, d in zip(head.branches, head.dilations):
        assert branch[0].dilation == (d, d) and branch[0].padding == (d, d)
        assert branch[0].kernel_size == (3, 3) and branch[-1].out_channels == 13
    x = torch.randn(1, C, 7, 9, generator=_gen())
    out = head(x)
    assert out.shape == (1, 13, 7, 9)
    torch.testing.assert_close(out, sum(b(x) for b in head.branches))


@pytest.mark.parametrize('layout', ['nchw', 'nhwc', 'nlc', 'nlc_cls'])
def test_cls_head_mean_pool_shapes_and_value(layout):
    head = ClsHead(in_channels=C, num_outputs=4).eval()
    assert head.dense is False
    feats = _layouts()
    out = head(feats[layout])
    assert out.shape == (N, 4)
    if layout != 'nlc_cls':  # mean over all tokens includes the class token there
        torch.testing.assert_close(out, head.fc(feats['nchw'].mean(dim=(2, 3))))


def test_cls_head_class_token_and_pooled_input():
    feats = _layouts()
    head = ClsHead(C, 4, use_cls_token=True).eval()
    torch.testing.assert_close(head(feats['nlc_cls']), head.fc(feats['nlc_cls'][:, 0]))
    with pytest.raises(ValueError, match='use_cls_token'):
        head(feats['nchw'])
    plain = ClsHead(C, 4, dropout=0.5).eval()
    pooled = torch.randn(N, C, generator=_gen())
    torch.testing.assert_close(plain(pooled), plain.fc(pooled))
    with pytest.raises(ValueError, match=re.escape('(2, 7)')):
        plain(torch.zeros(2, 7))


def test_heads_build_from_registry():
    aspp = MODELS.build(dict(type='ASPPHead', in_channels=32, num_outputs=13))
    assert isinstance(aspp, ASPPHead) and aspp.channels == 256 and aspp.dense
    assert aspp.branches[0][0].in_channels == 32
    light = MODELS.build(dict(type='LightConvHead', in_channels=16, num_outputs=1))
    assert isinstance(light, LightConvHead) and light.channels == 128
    cls = MODELS.build(dict(type='ClsHead', in_channels=16, num_outputs=10,
                            use_cls_token=True))
    assert isinstance(cls, ClsHead) and cls.use_cls_token and not cls.dense


@pytest.mark.parametrize('head', [
    ASPPHead(C, 3, channels=4, dilations=(1, 2), dropout=0.0),
    LightConvHead(C, 3, channels=4),
    ClsHead(C, 3, dropout=0.1),
])
def test_gradients_reach_head_and_input(head):
    head.train()
    x = _layouts()['nlc_cls'].clone().requires_grad_(True)
    head(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


# ----------------------------------------------------------------------------- in_format
def test_to_nchw_with_explicit_format_reads_ambiguous_shapes():
    # an NHWC map whose height equals its channel count looks NCHW to the shape rule alone
    nchw = torch.randn(N, C, C, 3, generator=_gen())
    nhwc = nchw.permute(0, 2, 3, 1).contiguous()            # (N, C, 3, C)
    nchw_sq = torch.randn(N, C, C, C, generator=_gen())
    nhwc_sq = nchw_sq.permute(0, 2, 3, 1).contiguous()      # (N, C, C, C): either reading fits
    assert torch.equal(to_nchw(nhwc, C, fmt='NHWC'), nchw)
    assert torch.equal(to_nchw(nhwc_sq, C, fmt='NHWC'), nchw_sq)
    assert torch.equal(to_nchw(nhwc_sq, C), nhwc_sq)        # no format: read as NCHW
    assert torch.equal(to_nchw(nchw_sq, C, fmt='nchw'), nchw_sq)
    feats = _layouts()
    assert torch.equal(to_nchw(feats['nlc_cls'], C, fmt='NLC'), feats['nchw'])
    for feat, fmt in [(feats['nchw'], 'NLC'), (feats['nlc'], 'NHWC'),
                      (torch.zeros(N, 3, H, C), 'NCHW'), (feats['nchw'], 'NHWC')]:
        with pytest.raises(ValueError, match=f'as {fmt} with {C} channels'):
            to_nchw(feat, C, fmt=fmt)


@pytest.mark.parametrize('head_cls, kwargs', [
    (ASPPHead, dict(channels=4, dilations=(1, 2))), (LightConvHead, dict(channels=4)),
    (ClsHead, {})])
def test_heads_with_in_format_read_ambiguous_nhwc_features(head_cls, kwargs):
    torch.manual_seed(0)
    head = head_cls(C, 3, in_format='NHWC', **kwargs).eval()
    torch.manual_seed(0)
    plain = head_cls(C, 3, **kwargs).eval()
    nchw = torch.randn(N, C, C, C, generator=_gen())
    nhwc = nchw.permute(0, 2, 3, 1).contiguous()
    torch.testing.assert_close(head(nhwc), plain(nchw))
    assert head.in_format == 'NHWC' and plain.in_format is None
    with pytest.raises(ValueError, match='as NHWC'):
        head(torch.zeros(N, C, 5, 3))
    with pytest.raises(ValueError, match='in_format'):
        head_cls(C, 3, in_format='NDHWC', **kwargs)


def test_cls_head_pooled_format():
    head = ClsHead(C, 4, in_format='NC').eval()
    pooled = torch.randn(N, C, generator=_gen())
    torch.testing.assert_close(head(pooled), head.fc(pooled))
    with pytest.raises(ValueError, match='as NC'):
        head(_layouts()['nchw'])
    with pytest.raises(ValueError, match='in_format'):
        LightConvHead(C, 3, in_format='NC')


# ----------------------------------------------------------------------------- losses
def test_seg_ce_matches_cross_entropy_on_non_ignored_pixels():
    pred = torch.randn(2, 4, 3, 3, generator=_gen(), requires_grad=True)
    target = torch.randint(0, 4, (2, 3, 3), generator=_gen(1))
    target[0, 0, :] = 255
    target[1, 2, 1] = 255
    keep = target != 255
    logits = pred.permute(0, 2, 3, 1)[keep]  # (M, K)
    expected = F.cross_entropy(logits, target[keep])
    loss = SegCrossEntropyLoss()(pred, target)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(SegCrossEntropyLoss()(pred, target[:, None]), expected)
    loss.backward()
    assert pred.grad[0, :, 0, :].abs().sum() == 0  # ignored pixels get no gradient


def test_seg_ce_hand_value_mask_and_weight():
    # uniform logits over K classes -> CE = log(K) on every pixel
    pred = torch.zeros(1, 5, 2, 2)
    target = torch.tensor([[[0, 1], [2, 255]]])
    assert SegCrossEntropyLoss()(pred, target).item() == pytest.approx(math.log(5))
    assert SegCrossEntropyLoss(loss_weight=3.0)(pred, target).item() == \
        pytest.approx(3 * math.log(5))
    # mask=False pixels are ignored too: keep only a pixel whose logit is the target
    pred = torch.zeros(1, 2, 1, 2)
    pred[0, 0, 0, 0] = 10.0  # pixel 0 confident and right; pixel 1 uniform
    target = torch.tensor([[[0, 1]]])
    mask = torch.tensor([[[True, False]]])
    expected = F.cross_entropy(torch.tensor([[10.0, 0.0]]), torch.tensor([0]))
    torch.testing.assert_close(SegCrossEntropyLoss()(pred, target, mask=mask), expected)
    torch.testing.assert_close(SegCrossEntropyLoss()(pred, target, mask=mask[:, None]),
                               expected)


def test_depth_l1_ignores_zero_depth_and_uses_mask():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    target = torch.tensor([[[[2.0, 0.0], [1.0, 0.0]]]])  # two valid pixels: |1-2|, |3-1|
    loss = DepthL1Loss()(pred, target)
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert pred.grad[0, 0, 0, 1] == 0 and pred.grad[0, 0, 1, 1] == 0
    # (N, H, W) on either side
    assert DepthL1Loss()(pred[:, 0], target).item() == pytest.approx(1.5)
    # an explicit mask replaces target > 0: only the top-left pixel, |1-2| = 1
    mask = torch.tensor([[[True, False], [False, False]]])
    assert DepthL1Loss(loss_weight=2.0)(pred, target, mask=mask).item() == pytest.approx(2.0)
    # NaN in an invalid pixel must not poison the loss or the gradient
    nan_target = target.clone()
    nan_target[0, 0, 0, 1] = float('nan')
    p2 = pred.detach().clone().requires_grad_(True)
    loss = DepthL1Loss()(p2, nan_target)
    loss.backward()
    assert loss.item() == pytest.approx(1.5) and torch.isfinite(p2.grad).all()


@pytest.mark.parametrize('loss_fn,pred_shape,target', [
    (DepthL1Loss(), (1, 1, 2, 2), torch.zeros(1, 1, 2, 2)),
    (MaskedL1Loss(), (1, 1, 2, 2), None),
    (NormalCosineLoss(), (1, 3, 2, 2), torch.zeros(1, 3, 2, 2)),
    (SegCrossEntropyLoss(), (1, 3, 2, 2), torch.full((1, 2, 2), 255)),
    (ClsCrossEntropyLoss(), (2, 3), None),
])
def test_empty_valid_set_gives_zero_with_grad(loss_fn, pred_shape, target):
    pred = torch.randn(pred_shape, generator=_gen(), requires_grad=True)
    mask = None
    if target is None:  # only an all-False mask makes these empty
        target = torch.zeros(2, dtype=torch.long) if pred.dim() == 2 else torch.zeros(pred_shape)
        mask = torch.zeros(target.shape, dtype=torch.bool)
    loss = loss_fn(pred, target, mask=mask)
    assert loss.dim() == 0 and loss.item() == 0.0 and not torch.isnan(loss)
    assert loss.requires_grad
    loss.backward()
    assert pred.grad is not None and torch.equal(pred.grad, torch.zeros_like(pred))


def test_normal_cosine_identical_opposite_orthogonal_and_unlabelled():
    target = torch.randn(2, 3, 4, 4, generator=_gen())
    target = target / target.norm(dim=1, keepdim=True)
    loss = NormalCosineLoss()
    # pred is normalised inside: any positive scale of the target gives 0
    assert loss(target * 3.0, target).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(-target, target).item() == pytest.approx(2.0, abs=1e-6)
    # hand example: pixel 0 orthogonal (1), pixel 1 identical (0), pixel 2 unlabelled
    pred = torch.tensor([[[[1.0, 0.0, 5.0]], [[0.0, 2.0, 5.0]], [[0.0, 0.0, 5.0]]]])
    tgt = torch.tensor([[[[0.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]]]])
    assert loss(pred, tgt).item() == pytest.approx(0.5)
    assert NormalCosineLoss(loss_weight=4.0)(pred, tgt).item() == pytest.approx(2.0)
    # mask keeps pixel 0 only
    mask = torch.tensor([[[True, False, True]]])
    assert loss(pred, tgt, mask=mask).item() == pytest.approx(1.0)
    assert loss(pred, tgt, mask=mask[:, None]).item() == pytest.approx(1.0)


def test_normal_cosine_gradient_is_finite_for_zero_prediction():
    pred = torch.zeros(1, 3, 2, 2, requires_grad=True)
    target = torch.ones(1, 3, 2, 2)
    loss = NormalCosineLoss()(pred, target)
    loss.backward()
    assert loss.item() == pytest.approx(1.0) and torch.isfinite(pred.grad).all()


def test_masked_l1_exact_values():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[0.0, 0.0], [5.0, 4.0]]]])  # errors 1, 2, 2, 0
    assert MaskedL1Loss()(pred, target).item() == pytest.approx(1.25)
    assert MaskedL1Loss(loss_weight=0.5)(pred, target).item() == pytest.approx(0.625)
    assert MaskedL1Loss()(pred, target[:, 0]).item() == pytest.approx(1.25)
    mask = torch.tensor([[[False, True], [True, False]]])  # errors 2, 2
    assert MaskedL1Loss()(pred, target, mask=mask).item() == pytest.approx(2.0)
    # a (N, 1, H, W) mask broadcasts over channels
    pred_c = torch.cat([pred, pred + 1], dim=1)  # channel 1 errors: 2, 3, 1, 1
    target_c = torch.cat([target, target], dim=1)
    assert MaskedL1Loss()(pred_c, target_c).item() == pytest.approx(12 / 8)
    assert MaskedL1Loss()(pred_c, target_c, mask=mask[:, None]).item() == \
        pytest.approx((2 + 2 + 3 + 1) / 4)


def test_cls_ce_values_mask_smoothing_and_registry():
    pred = torch.randn(4, 5, generator=_gen())
    target = torch.tensor([0, 3, 4, 1])
    torch.testing.assert_close(ClsCrossEntropyLoss()(pred, target),
                               F.cross_entropy(pred, target))
    torch.testing.assert_close(
        ClsCrossEntropyLoss(loss_weight=2.0, label_smoothing=0.1)(pred, target),
        2 * F.cross_entropy(pred, target, label_smoothing=0.1))
    mask = torch.tensor([True, False, True, False])
    torch.testing.assert_close(ClsCrossEntropyLoss()(pred, target, mask=mask),
                               F.cross_entropy(pred[mask], target[mask]))
    # uniform logits -> log(K)
    assert ClsCrossEntropyLoss()(torch.zeros(3, 7), torch.tensor([0, 1, 6])).item() == \
        pytest.approx(math.log(7))
    built = MODELS.build(dict(type='ClsCrossEntropyLoss', label_smoothing=0.2))
    assert isinstance(built, ClsCrossEntropyLoss) and built.label_smoothing == 0.2


@pytest.mark.parametrize('name,cls', [
    ('SegCrossEntropyLoss', SegCrossEntropyLoss), ('DepthL1Loss', DepthL1Loss),
    ('NormalCosineLoss', NormalCosineLoss), ('MaskedL1Loss', MaskedL1Loss),
    ('ClsCrossEntropyLoss', ClsCrossEntropyLoss),
])
def test_losses_build_from_registry_with_weight(name, cls):
    loss = MODELS.build(dict(type=name, loss_weight=0.25))
    assert isinstance(loss, cls) and loss.loss_weight == 0.25
    assert cls().loss_weight == 1.0


@pytest.mark.parametrize('loss_fn,pred,target', [
    (SegCrossEntropyLoss(), torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 4, dtype=torch.long)),
    (SegCrossEntropyLoss(), torch.zeros(2, 4, 8), torch.zeros(2, 8, dtype=torch.long)),
    (DepthL1Loss(), torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 4, 4)),
    (DepthL1Loss(), torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8)),
    (NormalCosineLoss(), torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 4, 4)),
    (MaskedL1Loss(), torch.zeros(2, 2, 8, 8), torch.zeros(2, 1, 8, 8)),
    (ClsCrossEntropyLoss(), torch.zeros(2, 5), torch.zeros(3, dtype=torch.long)),
    (ClsCrossEntropyLoss(), torch.zeros(2, 5, 4), torch.zeros(2, dtype=torch.long)),
])
def test_bad_shapes_raise_value_error_naming_both(loss_fn, pred, target):
    with pytest.raises(ValueError) as info:
        loss_fn(pred, target)
    msg = str(info.value)
    assert str(tuple(pred.shape)) in msg and str(tuple(target.shape)) in msg


def test_bad_mask_shape_raises_value_error():
    pred, target = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match=re.escape('(1, 3, 3)')):
        DepthL1Loss()(pred, target, mask=torch.ones(1, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match='mask'):
        ClsCrossEntropyLoss()(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long),
                              mask=torch.ones(3, dtype=torch.bool))
