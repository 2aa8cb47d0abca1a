"""tools/test.py (metrics of a trained tree / task-grouping model, checkpoint errors,
--show-dir prediction grids) and MultiTaskVisualizer / MultiTaskVisualizationHook."""
from __future__ import annotations

import contextlib
import copy
import io
import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch.utils.data import default_collate

from treemtl_plugin.datasets.transforms_common import image_to_inputs
from treemtl_plugin.errors import ConfigError
from treemtl_plugin.registry import DATASETS, METRICS, MODELS, VISUALIZERS
from treemtl_plugin.visualization.predictions import (
    DEFAULT_PALETTE,
    MultiTaskVisualizationHook,
    MultiTaskVisualizer,
    colorize_labels,
)

from helpers import DEFAULT_TASKS, ROOT, load_tool, tiny_config

SIZE = 32
NUM_TEST = 4
SHOWN = 3
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _grouping_cfg(cfg: Config) -> Config:
    cfg = copy.deepcopy(cfg)
    cfg.model = dict(type='TaskGroupingModel', backbone=cfg.model.backbone,
                     tasks=cfg.model.tasks,
                     task_groups=[['segment_semantic', 'depth_zbuffer'], ['normal']],
                     chosen=dict(segment_semantic=0, depth_zbuffer=0, normal=1))
    return cfg


def _evaluate(cfg: Config, model: torch.nn.Module) -> dict:
    """What the config's test evaluator computes for this model, without any tool."""
    model.eval()
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    metric = METRICS.build(copy.deepcopy(cfg.test_evaluator))
    batch_size = cfg.test_dataloader.batch_size
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = default_collate([dataset[i] for i in range(start, min(start + batch_size,
                                                                          len(dataset)))])
            metric.process(batch, model.test_step(batch))
    return metric.evaluate(len(dataset))


def _run_test_tool(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = load_tool('test').main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """The tiny models train and test several times faster on one thread when the 2-core
    machine is shared (and the tool and the reference evaluation then run alike)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The tiny config with all three tasks, trained 2 iterations with tools/train.py."""
    base = tmp_path_factory.mktemp('tool_test')
    cfg_path = base / 'tiny_tree.py'
    tiny_config(DEFAULT_TASKS, val_samples=NUM_TEST, img_size=SIZE).dump(str(cfg_path))
    work = base / 'train'
    assert load_tool('train').main([str(cfg_path), '--work-dir', str(work)]) == 0
    assert (work / 'iter_2.pth').is_file()
    return SimpleNamespace(base=base, cfg_path=cfg_path, checkpoint=work / 'iter_2.pth')


@pytest.fixture(scope='module')
def tested(trained):
    """tools/test.py run once on the trained checkpoint, with --show-dir (capsys is
    function-scoped: output captured by hand)."""
    work, show = trained.base / 'test', trained.base / 'show'
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = load_tool('test').main([str(trained.cfg_path), str(trained.checkpoint),
                                     '--work-dir', str(work), '--show-dir', str(show),
                                     '--max-samples', str(SHOWN)])
    return SimpleNamespace(rc=rc, out=out.getvalue(), err=err.getvalue(), work=work, show=show)


# -- tools/test.py ----------------------------------------------------------------------------
def test_prints_and_writes_the_metrics_of_the_configs_evaluator(trained, tested):
    assert tested.rc == 0, tested.err
    record = json.loads((tested.work / 'test_metrics.json').read_text())
    assert record['checkpoint'] == str(trained.checkpoint)
    metrics = record['metrics']
    for key in ('segment_semantic/mIoU', 'segment_semantic/pixel_acc', 'depth_zbuffer/abs_err',
                'depth_zbuffer/rel_err', 'normal/mean_angle', 'normal/within_30'):
        assert key in metrics
        assert key in tested.out
    cfg = Config.fromfile(str(trained.cfg_path))
    state = torch.load(trained.checkpoint, map_location='cpu', weights_only=False)['state_dict']
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.load_state_dict(state)
    expected = _evaluate(cfg, model)
    assert set(metrics) == set(expected)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert f"{metrics['segment_semantic/mIoU']:.4f}" in tested.out
    assert 'test_metrics.json' in tested.out


def test_show_dir_writes_one_grid_per_sample(trained, tested):
    pngs = sorted(tested.show.rglob('*.png'))
    assert [p.name for p in pngs] == [f'test_sample_{i}.png' for i in range(SHOWN)]
    assert all(p.parent == tested.show / 'vis_data' / 'vis_image' for p in pngs)
    cfg = Config.fromfile(str(trained.cfg_path))
    tasks = list(cfg.model.tasks)
    geometry = MultiTaskVisualizer(name='test_tool_geometry').panel_geometry(SIZE, SIZE)
    (cell_h, cell_w), (ph, pw) = geometry['cell'], geometry['panel']
    th, m, scale = geometry['title_height'], geometry['margin'], geometry['scale']
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    for i, png in enumerate(pngs):
        assert png.read_bytes()[:8] == PNG_MAGIC
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.dtype == np.uint8 and image.shape[2] == 3
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        # input | pred, gt per task; a legend row of the segmentation classes below
        assert image.shape[1] == (1 + 2 * len(tasks)) * cell_w
        assert image.shape[0] > cell_h

        def panel(k):
            return image[th:th + ph, k * cell_w + m:k * cell_w + m + pw]

        gt = dataset[i]['data_samples']['segment_semantic']
        k = 2 + 2 * tasks.index('segment_semantic')
        expected = np.repeat(np.repeat(colorize_labels(gt), scale, 0), scale, 1)
        assert np.array_equal(panel(k), expected)
        # the input panel is the de-normalised image: not flat, not the normalised values
        assert panel(0).std() > 5


@pytest.mark.parametrize('case', ['missing', 'truncated', 'garbage', 'foreign'])
def test_bad_checkpoint_gives_one_error_line(trained, tmp_path, capsys, case):
    if case == 'missing':
        checkpoint, message = tmp_path / 'nope.pth', 'not found'
    elif case == 'truncated':
        checkpoint, message = tmp_path / 'truncated.pth', 'not a readable checkpoint'
        checkpoint.write_bytes(trained.checkpoint.read_bytes()[:1000])
    elif case == 'garbage':
        checkpoint, message = tmp_path / 'garbage.pth', 'not a readable checkpoint'
        checkpoint.write_bytes(b'hello world\n')
    else:
        cfg = _grouping_cfg(Config.fromfile(str(trained.cfg_path)))
        checkpoint, message = tmp_path / 'grouping.pth', 'belongs to another model'
        torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, checkpoint)
    rc, out, err = _run_test_tool(capsys, trained.cfg_path, checkpoint,
                                  '--work-dir', tmp_path / 'work')
    assert rc == 1
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and message in errors[0], err
    assert 'Traceback' not in err
    assert not (tmp_path / 'work' / 'test_metrics.json').exists()


def test_evaluates_a_task_grouping_model(trained, tmp_path, capsys):
    cfg = _grouping_cfg(Config.fromfile(str(trained.cfg_path)))
    cfg_path = tmp_path / 'tiny_grouping.py'
    cfg.dump(str(cfg_path))
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    checkpoint = tmp_path / 'grouping.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    rc, out, err = _run_test_tool(capsys, cfg_path, checkpoint, '--work-dir', tmp_path / 'work')
    assert rc == 0, err
    metrics = json.loads((tmp_path / 'work' / 'test_metrics.json').read_text())['metrics']
    expected = _evaluate(cfg, model)
    assert set(metrics) == set(expected) and 'normal/mean_angle' in metrics
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_missing_config_exits_2(tmp_path, capsys):
    rc, out, err = _run_test_tool(capsys, tmp_path / 'none.py', tmp_path / 'none.pth')
    assert rc == 2 and err.startswith('error: config file not found')


# -- the visualizer ---------------------------------------------------------------------------
def _vis(name: str, **kwargs) -> MultiTaskVisualizer:
    return MultiTaskVisualizer(name=f'test_tool_{name}', **kwargs)


def _sample(h=16, w=24, k=4):
    g = torch.Generator().manual_seed(0)
    seg = torch.randint(0, k, (h, w), generator=g)
    seg[0, :5] = 255
    depth = torch.rand(1, h, w, generator=g) * 5 + 1
    depth[0, -1, :] = 0                                     # missing depth
    normal = torch.nn.functional.normalize(torch.randn(3, h, w, generator=g), dim=0)
    gt = dict(segment_semantic=seg, depth_zbuffer=depth, normal=normal)
    logits = torch.nn.functional.one_hot(seg.clamp(max=k - 1), k).permute(2, 0, 1).float()
    pred = dict(segment_semantic=logits, depth_zbuffer=depth.clone(), normal=normal * 3)
    image = torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8).numpy()
    return image_to_inputs(image), image, dict(pred=pred, gt=gt)


def test_grid_layout_and_identical_panels_for_a_perfect_prediction():
    vis = _vis('layout')
    inputs, image, sample = _sample()
    panels = vis.compose_panels(inputs, sample)
    assert [t for t, _ in panels][:3] == [['input'], ['segment_semantic', 'prediction'],
                                           ['segment_semantic', 'ground truth']]
    assert len(panels) == 1 + 2 * 3 and all(p.shape == (16, 24, 3) for _, p in panels)
    assert np.abs(panels[0][1].astype(int) - image).max() <= 1   # de-normalised input
    seg_pred, seg_gt = panels[1][1], panels[2][1]
    ignored = (sample['gt']['segment_semantic'] == 255).numpy()
    assert (seg_gt[ignored] == 0).all()                          # ignore = black
    assert np.array_equal(seg_pred[~ignored], seg_gt[~ignored])
    # integer labels equal to the gt (ignore label included) give the identical panel
    labels = dict(sample, pred=dict(sample['pred'],
                                    segment_semantic=sample['gt']['segment_semantic']))
    assert np.array_equal(vis.compose_panels(inputs, labels)[1][1], seg_gt)
    assert tuple(seg_gt[~ignored][0]) in DEFAULT_PALETTE
    # depth: the same colour range for both; missing gt black, the prediction drawn there
    (dt_p, d_pred), (dt_g, d_gt) = panels[3], panels[4]
    assert dt_p[1].endswith(dt_g[1].split(', ')[1]) and '1.' in dt_g[1]
    assert np.array_equal(d_pred[:-1], d_gt[:-1])
    assert (d_gt[-1] == 0).all() and (d_pred[-1] != 0).any()
    # normals: RGB (n + 1) / 2 of the unit vectors, whatever the predicted length
    assert np.array_equal(panels[5][1], panels[6][1])
    z = vis.compose_panels(inputs, dict(pred=dict(normal=torch.tensor([0., 0, 1])
                                                  .view(3, 1, 1).expand(3, 16, 24))))
    assert tuple(z[1][1][0, 0]) == (128, 128, 255)
    assert z[2][0] == ['normal', 'no ground truth']

    grid = vis.compose(inputs, sample)
    geometry = vis.panel_geometry(16, 24)
    assert grid.shape == (geometry['cell'][0], 7 * geometry['cell'][1], 3)
    assert grid.dtype == np.uint8
    assert geometry['panel'] == (16 * geometry['scale'], 24 * geometry['scale'])
    assert geometry['panel'][1] >= vis.min_panel_width


def test_legend_and_palette_come_from_the_dataset():
    vis = _vis('legend')
    inputs, _, sample = _sample()
    plain = vis.compose(inputs, sample)
    vis.dataset_meta = dict(classes=('floor', 'wall', 'ball', 'box'),
                            palette=[(10, 20, 30), (40, 50, 60), (70, 80, 90), (1, 2, 3)])
    grid = vis.compose(inputs, sample)
    assert grid.shape[1] == plain.shape[1] and grid.shape[0] > plain.shape[0]   # legend row
    seg_gt = vis.compose_panels(inputs, sample)[2][1]
    assert {tuple(c) for c in seg_gt.reshape(-1, 3)} <= {
        (10, 20, 30), (40, 50, 60), (70, 80, 90), (1, 2, 3), (0, 0, 0)}


def test_add_datasample_saves_through_the_local_backend(tmp_path):
    cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / 'default_runtime.py'))
    assert cfg.visualizer.type == 'MultiTaskVisualizer'
    vis = VISUALIZERS.build(dict(copy.deepcopy(cfg.visualizer), name='test_tool_backend',
                                 save_dir=str(tmp_path), _scope_='treemtl_plugin'))
    assert isinstance(vis, MultiTaskVisualizer)
    inputs, _, sample = _sample()
    grid = vis.add_datasample('sample', inputs, sample, step=3)
    saved = tmp_path / 'vis_data' / 'vis_image' / 'sample_3.png'
    assert saved.read_bytes()[:8] == PNG_MAGIC
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(saved)), cv2.COLOR_BGR2RGB), grid)


def test_hook_draws_the_first_samples_at_the_interval():
    drawn = []
    fake = SimpleNamespace(add_datasample=lambda name, image, sample, **kw: drawn.append(
        (name, kw['step'], float(image.sum()))))
    runner = SimpleNamespace(visualizer=fake)
    hook = MultiTaskVisualizationHook(max_samples=3, interval=2)
    hook.before_test(runner)
    for batch in range(4):
        inputs = torch.full((2, 3, 4, 4), float(batch))
        hook.after_test_iter(runner, batch, dict(inputs=inputs), [dict(pred={})] * 2)
    assert [(n, s) for n, s, _ in drawn] == [('test_sample', 0), ('test_sample', 2),
                                             ('test_sample', 4)]
    assert [v for *_, v in drawn] == [0.0, 48.0, 96.0]
    hook.before_test(runner)                                 # a second test run starts over
    hook.after_test_iter(runner, 0, dict(inputs=torch.zeros(1, 3, 4, 4)), [dict(pred={})])
    assert drawn[-1][1] == 0
    with pytest.raises(ConfigError, match='MultiTaskVisualizer'):
        MultiTaskVisualizationHook().after_test_iter(
            SimpleNamespace(visualizer=object()), 0, dict(inputs=torch.zeros(1, 3, 4, 4)),
            [dict(pred={})])
    with pytest.raises(ConfigError, match='interval'):
        MultiTaskVisualizationHook(interval=0)
