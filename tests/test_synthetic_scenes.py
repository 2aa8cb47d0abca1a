"""SyntheticSceneDataset: the data contract (keys, dtypes, shapes, ranges), determinism and split
separation, cross-task consistency of the rendered targets, argument checks, registry and
DataLoader/default_collate."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from torch.utils.data import DataLoader

from treemtl_plugin.datasets.synthetic_scenes import SyntheticSceneDataset
from treemtl_plugin.datasets.transforms_common import IMAGENET_MEAN, IMAGENET_STD, TASK_NAMES
from treemtl_plugin.registry import DATASETS

H, W = 48, 64


def _equal(a: dict, b: dict) -> bool:
    return (torch.equal(a['inputs'], b['inputs'])
            and a['data_samples'].keys() == b['data_samples'].keys()
            and all(torch.equal(a['data_samples'][k], b['data_samples'][k])
                    for k in a['data_samples']))


@pytest.fixture(scope='module')
def ds():
    return SyntheticSceneDataset(num_samples=16, image_size=(H, W), seed=3)


@pytest.fixture(scope='module')
def items(ds):
    return [ds[i] for i in range(len(ds))]


def test_item_follows_the_data_contract(ds, items):
    assert len(ds) == 16 and ds.tasks == TASK_NAMES
    expected = dict(segment_semantic=(torch.int64, (H, W)),
                    depth_zbuffer=(torch.float32, (1, H, W)),
                    normal=(torch.float32, (3, H, W)),
                    edge_texture=(torch.float32, (1, H, W)),
                    keypoints2d=(torch.float32, (1, H, W)))
    for item in items:
        assert set(item) == {'inputs', 'data_samples'}
        assert item['inputs'].dtype == torch.float32 and item['inputs'].shape == (3, H, W)
        assert list(item['data_samples']) == list(TASK_NAMES)
        for task, (dtype, shape) in expected.items():
            t = item['data_samples'][task]
            assert t.dtype == dtype and tuple(t.shape) == shape, task


def test_metainfo_and_classes():
    ds = SyntheticSceneDataset(num_samples=2, num_object_classes=6)
    assert ds.num_classes == 8 == len(ds.class_names)
    assert ds.class_names[:2] == ('floor', 'wall') and ds.class_names[-1] == 'ellipsoid'
    assert ds.metainfo['classes'] == ds.class_names and ds.metainfo['tasks'] == TASK_NAMES
    assert ds.metainfo['ignore_index'] == 255
    assert SyntheticSceneDataset(num_samples=1).num_classes == 6


def test_deterministic_across_calls_instances_order_and_cache(ds, items):
    assert _equal(ds[5], items[5])
    other = SyntheticSceneDataset(num_samples=16, image_size=(H, W), seed=3, cache=False)
    for i in (7, 2, 11, 0):   # another access order, no cache
        assert _equal(other[i], items[i])
    assert _equal(ds[-1], items[15])


def test_splits_and_seeds_give_different_scenes(items):
    val = SyntheticSceneDataset(num_samples=4, image_size=(H, W), seed=3, split='val')
    test = SyntheticSceneDataset(num_samples=4, image_size=(H, W), seed=3, split='test')
    seed4 = SyntheticSceneDataset(num_samples=4, image_size=(H, W), seed=4)
    for i in range(4):
        imgs = [items[i]['inputs'], val[i]['inputs'], test[i]['inputs'], seed4[i]['inputs']]
        for a in range(4):
            for b in range(a + 1, 4):
                assert not torch.equal(imgs[a], imgs[b])


def test_image_size_only_changes_resolution():
    small = SyntheticSceneDataset(num_samples=3, image_size=32).get_scene(2)['scene']
    large = SyntheticSceneDataset(num_samples=3, image_size=96).get_scene(2)['scene']
    assert [(o.kind, o.cx, o.cz, o.yaw) for o in small['objects']] == \
        [(o.kind, o.cx, o.cz, o.yaw) for o in large['objects']]


def test_value_ranges(ds, items):
    for i, item in enumerate(items):
        t = item['data_samples']
        seg, depth, normal = t['segment_semantic'], t['depth_zbuffer'][0], t['normal']
        valid = seg != 255
        assert ((seg >= 0) & (seg < ds.num_classes) | ~valid).all()
        assert (depth[valid] > 0).all() and (depth[~valid] == 0).all()
        norm = normal.norm(dim=0)
        assert torch.allclose(norm[valid], torch.ones(()), atol=1e-4)
        assert (norm[~valid] == 0).all()
        # visible surfaces face their viewing ray (x_n, y_n, -1) (z towards the camera)
        f = ds.get_scene(i)['render']['focal']
        xn = (torch.arange(W) + 0.5 - W / 2) / f
        yn = -(torch.arange(H) + 0.5 - H / 2)[:, None] / f
        facing = normal[0] * xn + normal[1] * yn - normal[2]
        assert (facing[valid] < 1e-3).all()
        for task in ('edge_texture', 'keypoints2d'):
            assert t[task].min() >= 0 and t[task].max() <= 1
        assert t['edge_texture'].max() == 1 and t['keypoints2d'].max() > 0.5


def test_normalize_is_imagenet_mean_std(ds, items):
    raw = SyntheticSceneDataset(num_samples=16, image_size=(H, W), seed=3, normalize=False)
    x = raw[4]['inputs']
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.02
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose((x - mean) / std, items[4]['inputs'], atol=1e-5)


def test_all_object_classes_render_consistently():
    ds = SyntheticSceneDataset(num_samples=12, image_size=48, num_object_classes=6,
                               num_objects=(4, 6), seed=1)
    seen = set()
    for i in range(len(ds)):
        t = ds[i]['data_samples']
        seg = t['segment_semantic']
        seen |= set(seg.unique().tolist())
        valid = seg != 255
        assert torch.allclose(t['normal'].norm(dim=0)[valid], torch.ones(()), atol=1e-4)
    assert seen == set(range(8))


def test_floor_points_up_and_back_wall_faces_the_camera(ds, items):
    for i in range(8):
        normal = items[i]['data_samples']['normal']
        surface = torch.from_numpy(ds.get_scene(i)['render']['surface_id'])
        floor, back = surface == 0, surface == 1
        assert floor.any() and back.any()
        assert (normal[1][floor] > 0.85).all()   # camera pitch <= 25 deg, roll <= 3 deg
        assert (normal[2][back] > 0.7).all()


def test_normals_agree_with_finite_differences_of_depth(ds, items):
    errors = []
    for i in range(8):
        r = ds.get_scene(i)['render']
        f = r['focal']
        t = items[i]['data_samples']
        z = t['depth_zbuffer'][0].double().numpy()
        jj, ii = np.meshgrid(np.arange(W) + 0.5 - W / 2, -(np.arange(H) + 0.5 - H / 2))
        pts = np.stack([jj * z / f, ii * z / f, z], axis=-1)   # x right, y up, z forward
        du = pts[:-1, 1:] - pts[:-1, :-1]
        dv = pts[1:, :-1] - pts[:-1, :-1]
        n = np.cross(du, dv)
        n *= -np.sign((n * pts[:-1, :-1]).sum(-1, keepdims=True))   # face the camera
        n[..., 2] *= -1                                            # z towards the camera
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        sid = r['surface_id']
        edge = t['edge_texture'][0].numpy()
        smooth = ((sid[:-1, :-1] == sid[:-1, 1:]) & (sid[:-1, :-1] == sid[1:, :-1])
                  & (sid[:-1, :-1] >= 0) & (edge[:-1, :-1] == 0) & (edge[1:, 1:] == 0))
        gt = t['normal'].numpy().transpose(1, 2, 0)[:-1, :-1]
        cos = np.clip((n * gt).sum(-1)[smooth], -1, 1)
        errors.append(np.degrees(np.arccos(cos)))
    errors = np.concatenate(errors)
    assert errors.size > 5000
    assert np.median(errors) < 2 and np.percentile(errors, 95) < 8


def test_edges_on_boundaries_and_creases_only(ds, items):
    for i in range(8):
        sid = ds.get_scene(i)['render']['surface_id']
        edge = items[i]['data_samples']['edge_texture'][0].numpy()
        boundary = np.zeros_like(sid, dtype=bool)
        boundary[:, 1:] |= sid[:, 1:] != sid[:, :-1]
        boundary[:, :-1] |= sid[:, 1:] != sid[:, :-1]
        boundary[1:] |= sid[1:] != sid[:-1]
        boundary[:-1] |= sid[1:] != sid[:-1]
        assert boundary.any() and (edge[boundary] == 1).all()
        # pixels of the flat room surfaces away from any boundary carry no edge
        pad = np.pad(boundary, 2)
        near = np.zeros_like(boundary)
        for di in range(5):
            for dj in range(5):
                near |= pad[di:di + H, dj:dj + W]
        room = (sid >= 0) & (sid <= 2) & ~near
        assert room.sum() > 500 and (edge[room] == 0).all()


def test_keypoints_mark_visible_corners(ds, items):
    sphere = ds.class_names.index('sphere')
    n_corner = 0
    for i in range(8):
        r = ds.get_scene(i)['render']
        t = items[i]['data_samples']
        heat, edge = t['keypoints2d'][0].numpy(), t['edge_texture'][0].numpy()
        seg = t['segment_semantic'].numpy()
        xy = r['keypoint_xy']
        assert len(xy) > 0
        for x, y in xy:
            i0, j0 = int(y), int(x)
            assert heat[i0, j0] > 0.75   # sigma 1.5 px * 48/64, peak at the point
            win = (slice(max(i0 - 1, 0), i0 + 2), slice(max(j0 - 1, 0), j0 + 2))
            if seg[i0, j0] != sphere:       # corners/apexes/rim ends lie on edges
                assert edge[win].max() >= 0.5
                n_corner += 1
        # every strong local maximum of the heatmap is one of the keypoints
        peaks = np.argwhere((heat > 0.6) & (heat == _max3(heat)))
        d = np.hypot(peaks[:, None, 1] + 0.5 - xy[None, :, 0],
                     peaks[:, None, 0] + 0.5 - xy[None, :, 1])
        assert (d.min(axis=1) < 1.0).all()
    assert n_corner > 20


def _max3(a: np.ndarray) -> np.ndarray:
    p = np.pad(a, 1, constant_values=-1)
    return np.max([p[di:di + a.shape[0], dj:dj + a.shape[1]]
                   for di in range(3) for dj in range(3)], axis=0)


def test_image_carries_class_colour(ds, items):
    """Spheres are reddish, cuboids bluish and cylinders greenish on average."""
    raw = SyntheticSceneDataset(num_samples=16, image_size=(H, W), seed=3, normalize=False)
    sums = {c: torch.zeros(3) for c in ('sphere', 'cuboid', 'cylinder')}
    for i in range(len(raw)):
        item = raw[i]
        for c in sums:
            mask = item['data_samples']['segment_semantic'] == raw.class_names.index(c)
            sums[c] += item['inputs'][:, mask].sum(dim=1)
    r, g, b = 0, 1, 2
    assert sums['sphere'][r] > sums['sphere'][b] and sums['sphere'][r] > sums['sphere'][g]
    assert sums['cuboid'][b] > sums['cuboid'][r]
    assert sums['cylinder'][g] > sums['cylinder'][r]


def test_task_subset():
    ds = SyntheticSceneDataset(num_samples=3, image_size=32, tasks=['normal', 'segment_semantic'])
    assert ds.tasks == ('normal', 'segment_semantic') and ds.metainfo['tasks'] == ds.tasks
    assert list(ds[1]['data_samples']) == ['normal', 'segment_semantic']
    full = SyntheticSceneDataset(num_samples=3, image_size=32)
    assert torch.equal(ds[1]['data_samples']['normal'], full[1]['data_samples']['normal'])
    assert list(SyntheticSceneDataset(num_samples=1, tasks='keypoints2d')[0]['data_samples']) \
        == ['keypoints2d']


@pytest.mark.parametrize('kwargs, match', [
    (dict(tasks=['depth', 'normal']), r"unknown task.*'depth'.*segment_semantic.*depth_zbuffer"),
    (dict(tasks=[]), 'empty'),
    (dict(image_size=8), 'image_size'),
    (dict(image_size=(64, 8)), 'image_size'),
    (dict(image_size=0), 'image_size'),
    (dict(image_size='64'), 'image_size'),
    (dict(num_samples=0), 'num_samples'),
    (dict(num_samples=-3), 'num_samples'),
    (dict(split='training'), 'split'),
    (dict(num_object_classes=0), 'num_object_classes'),
    (dict(num_object_classes=7), 'num_object_classes'),
    (dict(num_objects=(3, 2)), 'num_objects'),
    (dict(seed=-1), 'seed'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticSceneDataset(**kwargs)


def test_index_out_of_range():
    ds = SyntheticSceneDataset(num_samples=2, image_size=16)
    with pytest.raises(IndexError):
        ds[2]
    with pytest.raises(IndexError):
        ds[-3]


def test_cache_is_compact_and_prerender_fills_it():
    ds = SyntheticSceneDataset(num_samples=3, image_size=16, prerender=True)
    assert ds._cache == {}
    ds.full_init()
    assert sorted(ds._cache) == [0, 1, 2]
    c = ds._cache[0]
    assert c['image'].dtype == np.uint8 and c['segment_semantic'].dtype == np.uint8
    assert c['depth_zbuffer'].dtype == np.float16 and c['normal'].dtype == np.float16
    assert SyntheticSceneDataset(num_samples=3, image_size=16, cache=False)._cache == {}


def test_registry_build():
    ds = DATASETS.build(dict(type='SyntheticSceneDataset', num_samples=4, image_size=32))
    assert isinstance(ds, SyntheticSceneDataset) and len(ds) == 4
    assert ds[3]['inputs'].shape == (3, 32, 32)


def test_dataloader_with_default_collate_and_workers():
    ds = SyntheticSceneDataset(num_samples=6, image_size=24, cache=False)
    loader = DataLoader(ds, batch_size=3, collate_fn=default_collate, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2
    b = batches[1]
    assert b['inputs'].shape == (3, 3, 24, 24) and b['inputs'].dtype == torch.float32
    shapes = {k: tuple(v.shape) for k, v in b['data_samples'].items()}
    assert shapes == dict(segment_semantic=(3, 24, 24), depth_zbuffer=(3, 1, 24, 24),
                          normal=(3, 3, 24, 24), edge_texture=(3, 1, 24, 24),
                          keypoints2d=(3, 1, 24, 24))
    assert b['data_samples']['segment_semantic'].dtype == torch.int64
    # worker processes produce exactly what the main process does
    assert torch.equal(b['inputs'][2], ds[5]['inputs'])
    assert torch.equal(b['data_samples']['normal'][0], ds[3]['data_samples']['normal'])
