"""Cheap two-task tables: the affinity math on problems with known answers, the lookahead hook
on identical and opposite tasks, and each sweep method end to end on a tiny config."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from treemtl_plugin.affinity import (
    lookahead_affinity,
    lookahead_table,
    rdm,
    rsa_similarity,
    similarity_table,
)
from treemtl_plugin.core.table import TwoTaskTable

from helpers import tiny_config


def test_lookahead_affinity_and_table():
    base = np.array([2.0, 4.0])
    after = np.array([[[1.0, 2.0], [0.5, 1.0]],        # a step on task 0 helps both
                      [[3.0, 3.0], [4.0, 2.0]]])       # a step on task 1 hurts task 0
    z = lookahead_affinity(base, after)                 # (i, j, b)
    assert z[0, 1].tolist() == [0.5, 0.75] and z[1, 0].tolist() == [-0.5, -1.0]
    table = lookahead_table(z)
    assert table.shape == (2, 2, 3) and table[:, :, 0].tolist() == [[0, 0], [0, 0]]
    assert table[1, 0, 1] == pytest.approx(50.0)       # A[j=1, i=0, b=1] = 100 * Z[0, 1, 1]
    assert table[0, 1, 2] == pytest.approx(-100.0)
    TwoTaskTable(tasks=('a', 'b'), num_blocks=2, values=table)   # a valid table


def test_rsa_and_similarity_table():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(20, 8))
    assert rsa_similarity(rdm(feats), rdm(2 * feats + 1)) == pytest.approx(1.0)
    assert abs(rsa_similarity(rdm(feats), rdm(rng.normal(size=(20, 8))))) < 0.3
    # a pair alike in every block vs a pair alike only in the first block
    sim = np.zeros((3, 3, 4))
    sim[0, 1] = sim[1, 0] = [0.9, 0.9, 0.9, 0.9]
    sim[0, 2] = sim[2, 0] = [0.9, 0.2, 0.2, 0.2]
    sim[1, 2] = sim[2, 1] = [0.9, 0.2, 0.2, 0.2]
    values = similarity_table(sim)                      # 1 - RSA is the cost of sharing
    assert (values <= 0).all() and (values[:, :, 0] == 0).all()
    assert values[0, 1, 4] == pytest.approx(-100 * 0.4 / 4)
    assert values[0, 2, 1] == pytest.approx(-100 * 0.1 / 4)
    assert values[0, 2, 4] == pytest.approx(-100 * (0.1 + 3 * 0.8) / 4)
    assert (values[0, 1, 2:] > values[0, 2, 2:]).all()  # the alike pair costs less to share
    assert np.allclose(values, values.transpose(1, 0, 2))


# -- the lookahead hook on identical and opposite tasks --------------------------------------
def _two_task_model(opposite: bool):
    import treemtl_plugin.models  # noqa: F401
    from treemtl_plugin.registry import MODELS
    head = dict(head=dict(type='LightConvHead', num_outputs=1), loss=dict(type='MaskedL1Loss'))
    model = MODELS.build(dict(
        type='TreeMultiTaskModel',
        backbone=dict(type='TimmBlockBackbone', model_name='resnet18', pretrained=False,
                      input_size=(3, 32, 32), num_branch_points=2),
        tasks=dict(a=copy.deepcopy(head), b=copy.deepcopy(head))))
    model.heads['b'].load_state_dict(model.heads['a'].state_dict())   # the same head
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    target = torch.full((4, 1, 32, 32), 5.0)           # far from the (small) predictions
    batch = dict(inputs=x, data_samples=dict(a=target, b=-target if opposite else target))
    return model, batch


@pytest.mark.parametrize('opposite', [False, True])
def test_lookahead_hook_sees_identical_and_opposite_tasks(opposite):
    from treemtl_plugin.affinity.hooks import LookaheadAffinityHook
    model, batch = _two_task_model(opposite)
    before = {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}
    hook = LookaheadAffinityHook(interval=1, lr=1e-5)    # small: the linear regime

    class Runner:
        pass
    runner = Runner()
    runner.model, runner.iter = model, 0
    runner.optim_wrapper = type('W', (), {'optimizer': torch.optim.SGD(model.parameters(),
                                                                       lr=0.1)})()
    runner.message_hub = MessageHub.get_instance(f'lookahead_test_{opposite}')
    hook.before_train_iter(runner, 0, batch)      # before the real step, on its batch
    hook.after_train(runner)
    z = np.array(runner.message_hub.get_info('extras')['lookahead']['affinity'])
    assert z.shape == (2, 2, 2)
    if opposite:
        assert (z[0, 1] < 0).all() and (z[1, 0] < 0).all() and (z[0, 0] > 0).all()
    else:
        np.testing.assert_allclose(z[0, 1], z[0, 0], rtol=1e-5)
        assert (z[0, 1] > 0).all()
    after = model.state_dict()                         # training state untouched
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize('kind', ['AdamW', 'Adam', 'SGD'])
def test_the_lookahead_step_is_the_tasks_own_gradient(kind):
    """TAG's step is ``lr * g_i`` from task i's gradient alone: no first moment, no weight
    decay; with Adam(W) and ``precondition`` each coordinate is divided by Adam's current
    bias-corrected second-moment estimate (by hand from the optimiser's state)."""
    from treemtl_plugin.affinity.hooks import _lookahead_step
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.randn(5))
    options = dict(lr=0.01) if kind == 'SGD' else dict(lr=0.01, weight_decay=0.1,
                                                       betas=(0.9, 0.99), eps=1e-8)
    optimizer = getattr(torch.optim, kind)([param], **options)
    grad = torch.tensor([0.5, -1.0, 2.0, 0.0, 1e-3])
    if kind != 'SGD':            # before any step: Adam's scale is |g|, a signed step of lr
        torch.testing.assert_close(_lookahead_step(optimizer, param, grad, None),
                                   0.01 * grad / (grad.abs() + 1e-8))
    history = [torch.randn(5) for _ in range(3)]
    for g in history:
        param.grad = g
        optimizer.step()
    step = _lookahead_step(optimizer, param, grad, None)
    if kind == 'SGD':
        torch.testing.assert_close(step, 0.01 * grad)
    else:
        v = sum(0.01 * 0.99 ** (2 - k) * g * g for k, g in enumerate(history))
        if kind == 'Adam':       # Adam's L2 decay enters its gradients, so its moments
            v = optimizer.state[param]['exp_avg_sq']
        v_hat = v / (1 - 0.99 ** 3)
        torch.testing.assert_close(step, 0.01 * grad / (v_hat.sqrt() + 1e-8))
        assert step[3] == 0                    # no first moment: a zero gradient does not move
    plain = _lookahead_step(optimizer, param, grad, 0.5, precondition=False)
    torch.testing.assert_close(plain, 0.5 * grad)   # TAG's own form, any optimiser


# -- each method end to end ----------------------------------------------------------------
def method_cfg(method: str):
    """The tiny config at 3 branching points, 4 iterations, 8 validation scenes, a lookahead
    every 2 iterations; ``method`` builds the two-task table."""
    return tiny_config(blocks=3, iters=4, val_samples=8, **{
        'sweep.method': method, 'sweep.lookahead': dict(interval=2)})


@pytest.mark.parametrize('method, trainings', [('lookahead', 1), ('similarity', 2)])
def test_each_method_runs_end_to_end_and_reports_its_cost(method, trainings, tmp_path):
    import json

    from treemtl_plugin.apis import run_recommendation
    cfg = method_cfg(method)
    cfg.merge_from_dict({'recommender.topk': 2})
    run = run_recommendation(cfg, str(tmp_path), log=lambda m: None)
    info = run.recommendation.table_info
    assert info['method'] == method and info['cost']['trainings'] == trainings
    assert info['cost']['pairwise_trainings'] == 2 + 3
    assert 0 < info['cost']['fraction_of_pairwise'] < 1
    summary = json.loads((tmp_path / 'recommendation.json').read_text())
    assert summary['two_task_table']['method'] == method
    table = TwoTaskTable.from_csv(str(tmp_path / 'sweep' / 'two_task_table.csv'))
    assert table.num_blocks == 3 and np.isfinite(table.values).all()
    assert np.abs(table.values).sum() > 0
    assert f'Two-task table: {method}' in (tmp_path / 'report.txt').read_text()
    if method == 'similarity':          # the control: RSA with the untrained network
        assert len(info['rsa_with_untrained_per_block']) == 3


def test_methods_side_by_side(tmp_path):
    from treemtl_plugin.apis.table_methods import compare_table_methods
    cfg = method_cfg('pairwise')
    out = compare_table_methods(cfg, str(tmp_path), log=lambda m: None)
    methods = out['methods']
    assert set(methods) == {'pairwise', 'lookahead', 'similarity', 'adaptive'}
    assert methods['pairwise']['spearman_vs_pairwise'] == pytest.approx(1.0)
    assert methods['pairwise']['cost']['fraction_of_pairwise'] == pytest.approx(1.0)
    assert methods['similarity']['cost']['trainings'] == 2   # its own single-task runs
    assert methods['lookahead']['cost']['trainings'] == 1
    assert out['num_layouts'] == 4                      # 2 tasks, B=3: branch at 0..3
    assert (tmp_path / 'table_methods.json').is_file()


def test_methods_are_compared_with_the_truth_under_their_own_weights(tmp_path):
    """With a study in the work dir, each method's estimate is scored against the trained
    scores weighted by that method's own task weights (and equal weights on both sides): a
    truth equal to the pairwise estimate agrees perfectly under both weightings."""
    import json

    from treemtl_plugin import CostModel, recommend_layouts
    from treemtl_plugin.apis.table_methods import compare_table_methods
    from treemtl_plugin.core.design_space import iter_layouts
    from treemtl_plugin.core.encoding import matrix_to_row
    cfg = method_cfg('pairwise')
    compare_table_methods(cfg, str(tmp_path), methods=('pairwise',), log=lambda m: None)
    table = TwoTaskTable.from_csv(str(tmp_path / 'sweep' / 'two_task_table.csv'))
    rec = recommend_layouts(table, CostModel([1.0] * 3), topk=1)
    tasks = list(table.tasks)
    rows = []
    for lay in iter_layouts(tasks, 3):
        est = rec.estimator.estimates_matrix(matrix_to_row(lay.branch_points())[None])[0]
        rows.append(dict(layout=lay.to_list(), measured={'1000': dict(zip(tasks, est))}))
    study = dict(tasks=tasks, seeds=[1000], task_weights={t: 0.5 for t in tasks}, layouts=rows)
    (tmp_path / 'validation.json').write_text(json.dumps(study))
    out = compare_table_methods(cfg, str(tmp_path), methods=('pairwise',), log=lambda m: None)
    trained = out['methods']['pairwise']['vs_trained']
    assert trained['layouts'] == 4
    assert trained['spearman_weighted'] == pytest.approx(1.0)
    assert trained['spearman_unweighted'] == pytest.approx(1.0)


# -- the table methods are registered classes picked by sweep.method -------------------------
def test_table_methods_registry_holds_the_three_classes():
    from treemtl_plugin.affinity.methods import (
        AdaptiveTable,
        LookaheadTable,
        PairwiseTable,
        SimilarityTable,
        build_table_method,
        table_methods,
    )
    from treemtl_plugin.registry import TABLE_METHODS
    assert TABLE_METHODS.get('PairwiseTable') is PairwiseTable
    assert TABLE_METHODS.get('LookaheadTable') is LookaheadTable
    assert TABLE_METHODS.get('SimilarityTable') is SimilarityTable
    assert table_methods() == dict(pairwise=PairwiseTable, lookahead=LookaheadTable,
                                   adaptive=AdaptiveTable,
                                   similarity=SimilarityTable)
    assert isinstance(build_table_method(None), PairwiseTable)
    method = build_table_method(dict(method='lookahead', lookahead=dict(interval=3)))
    assert isinstance(method, LookaheadTable) and method.options() == dict(
        interval=3, lr=None, normalize=False, on='train', precondition=True)
    runs = method.plan(['b', 'a'], 2, [1, 2])
    assert [r.run_id for r in runs] == ['lookahead__s1', 'lookahead__s2']
    assert runs[0].hooks[0]['interval'] == 3 and runs[0].tasks == ('a', 'b')
    assert all(r.is_single for r in build_table_method(dict(method='similarity')).plan(
        ['a', 'b'], 2, None))


@pytest.mark.parametrize('sweep, message', [
    (dict(method='pairwize'), "did you mean 'pairwise'"),
    (dict(method='lookahead', lookahead=dict(intervall=5)), "did you mean 'interval'"),
    (dict(lookahead=dict(intervall=5)), "did you mean 'interval'"),  # checked even if unused
    (dict(method='lookahead', lookahead=5), 'must be a dict'),
])
def test_a_bad_table_method_or_option_is_a_config_error(sweep, message):
    from treemtl_plugin.affinity.methods import build_table_method
    from treemtl_plugin.errors import ConfigError
    with pytest.raises(ConfigError, match=message) as err:
        build_table_method(sweep)
    if sweep.get('method') == 'pairwize':
        assert "'pairwize'" in str(err.value) and 'similarity' in str(err.value)


def test_a_registered_table_method_is_picked_by_sweep_method(tmp_path):
    """A new method is a new class: registered, it is selected by its ``name``, its own
    options come from ``sweep.<name>``, and the sweep trains the runs its ``plan`` gives."""
    from treemtl_plugin.affinity.methods import TableMethod, build_table_method
    from treemtl_plugin.apis.sweep import sweep_table
    from treemtl_plugin.errors import ConfigError
    from treemtl_plugin.registry import TABLE_METHODS
    from treemtl_plugin.sweep.plan import plan_sweep

    class FirstSingleTable(TableMethod):
        name = 'first_single'

        def __init__(self, fill: float = 1.0):
            self.fill = fill

        def options(self):
            return dict(fill=self.fill)

        def plan(self, tasks, num_blocks, seeds):
            return [r for r in plan_sweep(tasks, num_blocks, seeds) if r.is_single][:1]

        def values(self, runs, records, tasks, num_blocks):
            values = np.full((len(tasks), len(tasks), num_blocks + 1), self.fill)
            values[:, :, 0] = 0
            values[np.arange(len(tasks)), np.arange(len(tasks))] = 0
            return values

    TABLE_METHODS.register_module(module=FirstSingleTable, force=True)
    try:
        assert isinstance(build_table_method(dict(method='first_single')), FirstSingleTable)
        with pytest.raises(ConfigError, match="did you mean 'first_single'"):
            build_table_method(dict(method='first_singel'))
        cfg = tiny_config(blocks=2, **{'sweep.method': 'first_single',
                                       'sweep.first_single': dict(fill=2.5)})
        trained = []

        def train(run_cfg):
            trained.append(tuple(run_cfg.model.tasks))
            return {f'{t}/loss': 1.0 for t in run_cfg.model.tasks}

        tasks = list(cfg.model.tasks)
        table, info = sweep_table(cfg, tasks, 2, str(tmp_path), log=lambda m: None,
                                  train_fn=train)
        assert trained == [r.tasks for r in FirstSingleTable().plan(tasks, 2, None)]
        assert info['method'] == 'first_single' and info['first_single'] == dict(fill=2.5)
        assert info['cost']['trainings'] == 1
        assert table.values[0, 1, 1] == 2.5 and 'first_single estimate' in table.source
    finally:
        TABLE_METHODS._module_dict.pop('FirstSingleTable', None)
    from treemtl_plugin.affinity.methods import table_methods
    assert list(table_methods()) == ['pairwise', 'lookahead', 'similarity', 'adaptive']


def _two_task_train(calls, gain_at):
    """A fake training of the tiny config's tasks whose metrics improve by ``gain_at(b)`` when
    the two tasks share ``b`` blocks."""
    def train(cfg):
        tasks = list(cfg.model.tasks)
        calls.append(tuple(tasks))
        from treemtl_plugin.core.layout import Layout
        layout = Layout(cfg.model.layout)
        shared = layout.branch_point(*tasks) if len(tasks) == 2 else 0
        base = {'segment_semantic': ('segment_semantic/mIoU', 40.0),
                'depth_zbuffer': ('depth_zbuffer/abs_err', 1.0)}
        out = {}
        for t in tasks:
            key, value = base[t]
            gain = gain_at(shared)
            out[key] = value * gain if 'mIoU' in key else value / gain
            if t == 'segment_semantic':
                out['segment_semantic/pixel_acc'] = 80.0
            else:
                out['depth_zbuffer/rel_err'] = 0.5 / gain
        return out
    return train


def test_adaptive_sees_a_mid_depth_peak_in_its_first_round(tmp_path):
    """A pair that gains most from sharing 2 of 4 blocks and loses from sharing all: the first
    round (every pair at half depth) sees the peak, the adaptive rounds check the depths that
    could beat it, and the top-1 is the pairwise sweep's; the rounds are recorded."""
    from treemtl_plugin.apis import run_recommendation
    curve = {0: 1.0, 1: 1.05, 2: 1.2, 3: 1.1, 4: 0.9}
    results = {}
    for method in ('pairwise', 'adaptive'):
        calls = []
        cfg = tiny_config(blocks=4, **{'sweep.method': method, 'recommender.topk': 1,
                                       'recommender.task_weights': 'uniform',
                                       'sweep.adaptive': dict(batch=1, max_fraction=1.0)})
        run = run_recommendation(cfg, str(tmp_path / method), log=lambda m: None,
                                 train_fn=_two_task_train(calls, curve.get))
        results[method] = (run.recommendation.top[0].layout, len(calls),
                           run.recommendation.table_info)
    layout, trained, info = results['adaptive']
    assert layout == results['pairwise'][0]
    assert layout.branch_point('depth_zbuffer', 'segment_semantic') == 2
    assert info['first_depth'] == 2 and info['first_round_runs'] == 3
    assert info['adaptive_runs'] == trained - 3 >= 1 and info['adaptive_rounds'] >= 1
    assert ['depth_zbuffer', 'segment_semantic', 2] in info['measured_pair_runs']
    from treemtl_plugin.affinity.methods import AdaptiveTable
    from treemtl_plugin.errors import ConfigError
    with pytest.raises(ConfigError, match='first_depth=5 is deeper'):
        AdaptiveTable(first_depth=5).plan(['a', 'b'], 4, None)


def test_adaptive_trains_only_the_pair_runs_that_can_change_the_top1(tmp_path):
    """A clear winner: every pair gains more with every shared block, so after the half-depth
    runs only the entries that could still overturn it are trained, the top-1 equals the
    pairwise sweep's, and a second run trains nothing."""
    import json

    from treemtl_plugin.apis import run_recommendation
    calls = []
    train = _two_task_train(calls, lambda shared: 1.0 + 0.05 * shared ** 2)

    results = {}
    for method in ('pairwise', 'adaptive'):
        cfg = tiny_config(blocks=4, **{'sweep.method': method, 'recommender.topk': 1,
                                       'recommender.task_weights': 'uniform',
                                       'sweep.adaptive': dict(batch=1, max_fraction=1.0)})
        calls.clear()
        run = run_recommendation(cfg, str(tmp_path / method), log=lambda m: None,
                                 train_fn=train)
        results[method] = (run.recommendation.top[0].layout, len(calls),
                           run.recommendation.table_info)
    layout, trained, info = results['adaptive']
    assert layout == results['pairwise'][0]
    assert trained < results['pairwise'][1] == 2 + 4
    assert info['settled'] is True and ['depth_zbuffer', 'segment_semantic', 4] in \
        info['measured_pair_runs']
    calls.clear()
    cfg = tiny_config(blocks=4, **{'sweep.method': 'adaptive', 'recommender.topk': 1,
                                   'recommender.task_weights': 'uniform',
                                   'sweep.adaptive': dict(batch=1, max_fraction=1.0)})
    run_recommendation(cfg, str(tmp_path / 'adaptive'), log=lambda m: None, train_fn=train)
    assert calls == []                                     # resumed: the same rounds
    table = json.loads((tmp_path / 'adaptive' / 'recommendation.json').read_text())
    assert table['two_task_table']['method'] == 'adaptive'


def test_similarity_says_when_the_validation_split_has_fewer_images_than_asked():
    from treemtl_plugin.affinity.methods import SimilarityTable
    from treemtl_plugin.sweep.plan import SweepRun
    rng = np.random.default_rng(0)
    method = SimilarityTable(num_images=500)
    runs = method.plan(['a', 'b'], 2, None)
    assert isinstance(runs[0], SweepRun)

    def rdms():
        return [rng.random(8 * 7 // 2).tolist() for _ in range(2)]   # 8 images
    records = {r.run_id: dict(extras=dict(rdm=dict(num_images=8, per_block=rdms(),
                                                   per_block_init=rdms())))
               for r in runs}
    with pytest.warns(UserWarning, match='num_images=500, but the validation split has only 8'):
        info = method.info(runs, records, ['a', 'b'], 2)
    assert info['num_images_used'] == 8
