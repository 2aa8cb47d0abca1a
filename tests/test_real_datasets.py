"""Real-dataset loaders (NYUv2, Taskonomy) on tiny fixtures written in the documented formats.

The fixtures are encoded like the real files: PNG uint8 RGB images, uint8 label PNGs, uint8 RGB
normal PNGs, float32 depth ``.npy`` files (NYUv2, AdaShare), MTAN ``.npy`` arrays, and 16-bit PNGs
for Taskonomy depth, keypoints and edges. The tests check the contract's dtypes and shapes, the
decoding rules, task subsets, resizing and augmentation, determinism, batching with
``default_collate``, building through the registry, every missing-data error, the checks of
and the constructor arguments.
"""
import csv
import json
import math
import os
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from treemtl_plugin.datasets.nyuv2 import NYUv2Dataset
from treemtl_plugin.datasets.taskonomy import TaskonomyDataset
from treemtl_plugin.errors import ConfigError, DatasetFormatError, TreeMTLError
from treemtl_plugin.registry import DATASETS

H, W = 12, 16
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


# ============================================================ fixture builders
def _png(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path)


def _npy(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, arr)


def _rgb(rng):
    return rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def _normal_png(rng):
    """uint8 normal image with a known +x pixel at (0, 0), a missing (0, 0, 0) pixel at (0, 1)
    and random unit vectors elsewhere."""
    v = rng.normal(size=(H, W, 3))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    raw = np.clip(np.rint((v + 1) / 2 * 255), 0, 255).astype(np.uint8)
    raw[0, 0] = (255, 128, 128)
    raw[0, 1] = (0, 0, 0)
    return raw


def build_nyu_adashare(root, n_train=3, n_test=2, seed=0):
    """AdaShare/TreeMTL format: nyu_v2_3task.json + img/ seg/ normal_mask/ depth/."""
    rng = np.random.default_rng(seed)
    info = {}
    for split, ids in (('train', range(n_train)), ('test', range(100, 100 + n_test))):
        entries = []
        for i in ids:
            sid = f'{i:04d}'
            _png(os.path.join(root, 'img', sid + '.png'), _rgb(rng))
            seg = rng.integers(0, 40, size=(H, W)).astype(np.uint8)
            seg[0, 0], seg[0, 1], seg[0, 2] = 255, 39, 45  # ignore, last class, >= 40
            _png(os.path.join(root, 'seg', sid + '.png'), seg)
            _png(os.path.join(root, 'normal_mask', sid + '.png'), _normal_png(rng))
            depth = rng.uniform(0.5, 9.5, size=(H, W)).astype(np.float32)
            depth[1, 0], depth[1, 1] = 0.0, np.nan  # missing, NaN
            _npy(os.path.join(root, 'depth', sid + '.npy'), depth)
            entries.append(
                [f'img/{sid}.png', f'seg/{sid}.png', f'normal_mask/{sid}.png', f'depth/{sid}.npy'])
        info[split] = entries
    with open(os.path.join(root, 'nyu_v2_3task.json'), 'w') as f:
        json.dump(info, f)
    return root


def build_nyu_mtan(root, n_train=3, n_val=2, seed=1):
    """MTAN format: {train,val}/{image,label,depth,normal}/<i>.npy."""
    rng = np.random.default_rng(seed)
    for split, n in (('train', n_train), ('val', n_val)):
        for i in range(n):
            base = os.path.join(root, split)
            _npy(os.path.join(base, 'image', f'{i}.npy'),
                 rng.uniform(0, 1, (H, W, 3)).astype(np.float32))
            label = rng.integers(0, 13, size=(H, W)).astype(np.float32)
            label[0, 0] = -1.0
            _npy(os.path.join(base, 'label', f'{i}.npy'), label)
            depth = rng.uniform(0.5, 9.5, size=(H, W, 1)).astype(np.float32)
            depth[1, 0, 0] = 0.0
            _npy(os.path.join(base, 'depth', f'{i}.npy'), depth)
            n_ = rng.normal(size=(H, W, 3)).astype(np.float32)
            n_ /= np.linalg.norm(n_, axis=-1, keepdims=True)
            n_[0, 1] = 0.0
            _npy(os.path.join(base, 'normal', f'{i}.npy'), n_)
    return root


T_SUFFIX = {
    'rgb': 'rgb',
    'segment_semantic': 'segmentsemantic',
    'normal': 'normal',
    'depth_zbuffer': 'depth_zbuffer',
    'keypoints2d': 'keypoints2d',
    'edge_texture': 'edge_texture'
}


def _taskonomy_files(rng):
    """One Taskonomy sample: {folder: array} encoded like the release."""
    seg = rng.integers(1, 18, size=(H, W)).astype(np.uint8)
    seg[0, 0], seg[0, 1], seg[0, 2] = 0, 17, 20  # unlabelled, last, out of range
    depth = rng.integers(300, 20000, size=(H, W)).astype(np.uint16)
    depth[1, 0], depth[1, 1] = 65535, 512  # sky (missing), exactly 1 m
    kp = rng.integers(0, 400, size=(H, W)).astype(np.uint16)
    kp[2, 0], kp[2, 1] = 164, 65535  # ~0.5 after scaling, clipped
    edge = rng.integers(0, 6000, size=(H, W)).astype(np.uint16)
    edge[2, 0] = 2621  # ~0.5 after scaling
    return {
        'rgb': _rgb(rng),
        'segment_semantic': seg,
        'normal': _normal_png(rng),
        'depth_zbuffer': depth,
        'keypoints2d': kp,
        'edge_texture': edge
    }


def _write_taskonomy_sample(folder_of, stem, files):
    for task, arr in files.items():
        _png(os.path.join(folder_of(task), f'{stem}_domain_{T_SUFFIX[task]}.png'), arr)


STEMS = ('point_0_view_0', 'point_0_view_1')


def build_taskonomy_buildings(base, buildings, seed=2):
    """Official per-building format: <base>/<building>/<task_folder>/point_P_view_V_domain_D.png."""
    rng = np.random.default_rng(seed)
    for b in buildings:
        for stem in STEMS:
            _write_taskonomy_sample(lambda t: os.path.join(base, b, t), stem, _taskonomy_files(rng))
    return base


def build_taskonomy_json(root, seed=3):
    """The authors' format: taskonomy.json + train/<building>/... + test/<building>/..."""
    build_taskonomy_buildings(os.path.join(root, 'train'), ['allensville', 'beechwood'], seed)
    build_taskonomy_buildings(os.path.join(root, 'test'), ['collierville'], seed + 1)

    def entries(buildings):
        return [[
            f'{b}/{t}/{stem}_domain_{T_SUFFIX[t]}.png'
            for t in ('rgb', 'segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d',
                      'edge_texture')
        ] for b in buildings for stem in STEMS]

    info = {
        'train': entries(['allensville', 'beechwood']),
        'test': entries(['collierville']),
        'test_small': entries(['collierville'])[:1]
    }
    with open(os.path.join(root, 'taskonomy.json'), 'w') as f:
        json.dump(info, f)
    np.save(os.path.join(root, 'semseg_prior_factor.npy'),
            np.linspace(0.5, 2.0, 17).astype(np.float32))
    return root


def build_taskonomy_omnidata(root, buildings, seed=4):
    """omnidata downloader format: <root>/<task_folder>/taskonomy/<building>/..."""
    rng = np.random.default_rng(seed)
    for b in buildings:
        for stem in STEMS:
            _write_taskonomy_sample(lambda t: os.path.join(root, t, 'taskonomy', b), stem,
                                    _taskonomy_files(rng))
    return root


@pytest.fixture
def nyu_root(tmp_path):
    return build_nyu_adashare(str(tmp_path / 'nyu_v2'))


@pytest.fixture
def mtan_root(tmp_path):
    return build_nyu_mtan(str(tmp_path / 'nyuv2_mtan'))


@pytest.fixture
def tasko_root(tmp_path):
    return build_taskonomy_json(str(tmp_path / 'taskonomy'))


def _raw_png(path):
    return np.array(Image.open(path))


def _check_contract(item, tasks, size):
    assert set(item) == {'inputs', 'data_samples'}
    x = item['inputs']
    assert x.dtype == torch.float32 and x.shape == (3, *size)
    ds = item['data_samples']
    assert list(ds) == list(tasks)
    for t, v in ds.items():
        if t == 'segment_semantic':
            assert v.dtype == torch.int64 and v.shape == size
        elif t == 'normal':
            assert v.dtype == torch.float32 and v.shape == (3, *size)
            norm = v.norm(dim=0)
            assert torch.all((norm - 1).abs().lt(1e-4) | norm.eq(0))
        else:
            assert v.dtype == torch.float32 and v.shape == (1, *size)
            assert torch.isfinite(v).all()
        if t in ('edge_texture', 'keypoints2d'):
            assert v.min() >= 0 and v.max() <= 1


# ============================================================ NYUv2: AdaShare format
def test_nyu_adashare_contract_and_decoding(nyu_root):
    ds = NYUv2Dataset(nyu_root, split='train')
    assert ds.data_format == 'adashare' and ds.metainfo['data_format'] == 'adashare'
    assert len(ds) == 3 and ds.sample_ids == ['0000', '0001', '0002']
    assert ds.num_classes == 40 and ds.metainfo['num_classes'] == {'segment_semantic': 40}
    item = ds[1]
    _check_contract(item, ('segment_semantic', 'depth_zbuffer', 'normal'), (H, W))
    # inputs: ImageNet-normalised RGB of the PNG
    rgb = _raw_png(os.path.join(nyu_root, 'img', '0001.png'))
    back = (item['inputs'] * STD + MEAN) * 255
    assert torch.allclose(back, torch.from_numpy(rgb).permute(2, 0, 1).float(), atol=1e-3)
    # segmentation: ids kept, 255 stays ignore, ids >= 40 -> ignore
    seg_raw = _raw_png(os.path.join(nyu_root, 'seg', '0001.png')).astype(np.int64)
    seg = item['data_samples']['segment_semantic']
    assert seg[0, 0] == 255 and seg[0, 1] == 39 and seg[0, 2] == 255
    assert torch.equal(seg[1:], torch.from_numpy(seg_raw[1:]))
    # depth: metres, 0 and NaN -> 0 (missing)
    depth = item['data_samples']['depth_zbuffer'][0]
    d_raw = np.load(os.path.join(nyu_root, 'depth', '0001.npy'))
    assert depth[1, 0] == 0 and depth[1, 1] == 0
    assert torch.allclose(depth[2:], torch.from_numpy(d_raw[2:]))
    # normals: (255, 128, 128) -> ~(1, 0, 0); (0, 0, 0) -> missing (zero vector)
    n = item['data_samples']['normal']
    v = np.array([1.0, 128 / 255 * 2 - 1, 128 / 255 * 2 - 1])
    assert torch.allclose(n[:, 0, 0],
                          torch.tensor(v / np.linalg.norm(v), dtype=torch.float32),
                          atol=1e-6)
    assert torch.allclose(n[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-2)
    assert torch.equal(n[:, 0, 1], torch.zeros(3))


def test_nyu_adashare_val_uses_test_split_and_subset(nyu_root):
    ds = NYUv2Dataset(nyu_root, split='val', tasks=['seg', 'depth'])
    assert ds.resolved_split == 'test' and ds.sample_ids == ['0100', '0101']
    assert ds.tasks == ('segment_semantic', 'depth_zbuffer')
    item = ds[0]
    assert list(item['data_samples']) == ['segment_semantic', 'depth_zbuffer']
    ds = NYUv2Dataset(nyu_root, split='test', tasks='normal')
    assert list(ds[0]['data_samples']) == ['normal']


# ============================================================ NYUv2: MTAN format
def test_nyu_mtan_autodetect_and_decoding(mtan_root):
    ds = NYUv2Dataset(mtan_root, split='train')
    assert ds.data_format == 'mtan' and ds.num_classes == 13 and len(ds) == 3
    item = ds[2]
    _check_contract(item, ('segment_semantic', 'depth_zbuffer', 'normal'), (H, W))
    img = np.load(os.path.join(mtan_root, 'train', 'image', '2.npy'))
    assert torch.allclose(item['inputs'] * STD + MEAN,
                          torch.from_numpy(img).permute(2, 0, 1),
                          atol=1e-5)
    label = np.load(os.path.join(mtan_root, 'train', 'label', '2.npy'))
    seg = item['data_samples']['segment_semantic']
    assert seg[0, 0] == 255  # -1 -> ignore
    assert torch.equal(seg[1:], torch.from_numpy(label[1:].astype(np.int64)))
    assert item['data_samples']['depth_zbuffer'][0, 1, 0] == 0
    assert torch.equal(item['data_samples']['normal'][:, 0, 1], torch.zeros(3))
    # MTAN has no 'test' folder: its 'val' folder is the NYUv2 test set
    ds = NYUv2Dataset(mtan_root, split='test')
    assert ds.resolved_split == 'val' and len(ds) == 2


# ============================================================ transforms
def test_nyu_resize_and_int_size(nyu_root):
    ds = NYUv2Dataset(nyu_root, image_size=(6, 8))
    item = ds[0]
    _check_contract(item, ds.tasks, (6, 8))
    seg_raw = set(np.unique(_raw_png(os.path.join(nyu_root, 'seg', '0000.png'))).tolist()) | {255}
    assert set(item['data_samples']['segment_semantic'].unique().tolist()) <= seg_raw  # nearest
    _check_contract(NYUv2Dataset(nyu_root, image_size=10)[0], ds.tasks, (10, 10))


def test_nyu_augment_shapes_and_seeded_determinism(nyu_root):
    ds = NYUv2Dataset(nyu_root, image_size=(8, 8), augment=True)
    torch.manual_seed(0)
    a = [ds[i] for i in range(3)]
    torch.manual_seed(0)
    b = [ds[i] for i in range(3)]
    for x, y in zip(a, b):
        _check_contract(x, ds.tasks, (8, 8))
        assert torch.equal(x['inputs'], y['inputs'])
        for t in ds.tasks:
            assert torch.equal(x['data_samples'][t], y['data_samples'][t])
    # padding (scale 0.5 of 12x16 < 8x8 crop on one side) keeps ignore/missing values
    ds = NYUv2Dataset(nyu_root,
                      image_size=(12, 16),
                      augment=True,
                      scale_range=(0.5, 0.5),
                      flip_prob=0)
    item = ds[0]
    assert (item['data_samples']['segment_semantic'] == 255).sum() >= 12 * 16 - 6 * 8
    assert (item['data_samples']['depth_zbuffer'] == 0).sum() >= 12 * 16 - 6 * 8


def test_nyu_flip_negates_normal_x(nyu_root):
    plain = NYUv2Dataset(nyu_root)[0]
    flipped = NYUv2Dataset(nyu_root, augment=True, scale_range=(1, 1), flip_prob=1.0)[0]
    assert torch.allclose(flipped['inputs'], plain['inputs'].flip(-1))
    ps, fs = plain['data_samples'], flipped['data_samples']
    assert torch.equal(fs['segment_semantic'], ps['segment_semantic'].flip(-1))
    assert torch.equal(fs['depth_zbuffer'], ps['depth_zbuffer'].flip(-1))
    expect = ps['normal'].flip(-1).clone()
    expect[0] = -expect[0]
    assert torch.equal(fs['normal'], expect)


def test_determinism_without_augment(nyu_root, tasko_root):
    for make in (lambda: NYUv2Dataset(nyu_root, image_size=(9, 11)),
                 lambda: TaskonomyDataset(tasko_root, image_size=(20, 20))):
        a, b = make(), make()
        assert a.sample_ids == b.sample_ids
        for i in range(len(a)):
            x, y, z = a[i], b[i], a[i]
            assert torch.equal(x['inputs'], y['inputs']) and torch.equal(x['inputs'], z['inputs'])
            for t in a.tasks:
                assert torch.equal(x['data_samples'][t], y['data_samples'][t])


# ============================================================ batching / registry
def test_default_collate_batches(nyu_root, tasko_root):
    from mmengine.dataset import default_collate
    from torch.utils.data import DataLoader
    ds = NYUv2Dataset(nyu_root, image_size=(8, 8))
    batch = next(iter(DataLoader(ds, batch_size=3, collate_fn=default_collate)))
    assert batch['inputs'].shape == (3, 3, 8, 8)
    ds_ = batch['data_samples']
    assert ds_['segment_semantic'].shape == (3, 8,
                                             8) and ds_['segment_semantic'].dtype == torch.int64
    assert ds_['depth_zbuffer'].shape == (3, 1, 8, 8) and ds_['normal'].shape == (3, 3, 8, 8)
    tds = TaskonomyDataset(tasko_root, image_size=(16, 16))
    batch = default_collate([tds[0], tds[1]])
    assert batch['inputs'].shape == (2, 3, 16, 16)
    assert {
        k: tuple(v.shape)
        for k, v in batch['data_samples'].items()
    } == {
        'segment_semantic': (2, 16, 16),
        'normal': (2, 3, 16, 16),
        'depth_zbuffer': (2, 1, 16, 16),
        'keypoints2d': (2, 1, 16, 16),
        'edge_texture': (2, 1, 16, 16)
    }


def test_registry_build(nyu_root, tasko_root):
    ds = DATASETS.build(
        dict(type='NYUv2Dataset',
             data_root=nyu_root,
             split='test',
             tasks=['segment_semantic', 'normal'],
             image_size=8))
    assert isinstance(ds, NYUv2Dataset) and len(ds) == 2
    assert ds[0]['inputs'].shape == (3, 8, 8)
    ds = DATASETS.build(
        dict(type='TaskonomyDataset', data_root=tasko_root, split='test_small',
             image_size=(32, 32)))
    assert isinstance(ds, TaskonomyDataset) and len(ds) == 1


# ============================================================ task names
def test_unknown_and_unavailable_tasks(nyu_root, tasko_root):
    with pytest.raises(ValueError, match=r"unknown task 'foo'.*segment_semantic"):
        NYUv2Dataset(nyu_root, tasks=['segment_semantic', 'foo'])
    with pytest.raises(ValueError, match=r"'edge_texture' is not offered.*depth_zbuffer"):
        NYUv2Dataset(nyu_root, tasks=['edge_texture'])
    with pytest.raises(ValueError, match='tasks is empty'):
        NYUv2Dataset(nyu_root, tasks=[])
    with pytest.raises(ValueError, match=r"unknown task 'depth_euclidean'"):
        TaskonomyDataset(tasko_root, tasks=['depth_euclidean'])


# ============================================================ argument checks
@pytest.mark.parametrize('kwargs, match', [
    (dict(data_format='adashre'),
     r"data_format='adashre' is not supported \(did you mean 'adashare'\?\); use one of 'auto', "
     r"'adashare', 'mtan'"),
    (dict(split=None), r"split=None must be a non-empty string"),
    (dict(split=''), r"split='' must be a non-empty string"),
    (dict(tasks=['segmentation_', 'depth']), r"unknown task 'segmentation_' \(did you mean"),
    (dict(image_size=0), r'image_size=0 is not a size; pass a positive int'),
    (dict(image_size=(8, )), r'image_size=\(8,\) is not a size'),
    (dict(image_size='321'), r"image_size='321' is not a size"),
    (dict(image_size=(8.5, 8)), r'image_size=\(8.5, 8\) is not a size'),
    (dict(image_size=True), r'image_size=True is not a size'),
    (dict(scale_range=(1.5, 0.5)), r'scale_range=\(1.5, 0.5\) must be \(lo, hi\) with 0 < lo'),
    (dict(flip_prob=1.5), r'flip_prob must be a finite number >= 0 and <= 1, got 1.5'),
    (dict(mean=(0.5, 0.5)), r'mean=\(0.5, 0.5\) must be 3 numbers'),
    (dict(std=(0.2, 0.0, 0.2)), r'std=.* must be 3 numbers .*all > 0'),
    (dict(num_classes=0), r'num_classes=0 must be a positive int'),
])
def test_nyu_bad_arguments_raise_config_error(nyu_root, kwargs, match):
    with pytest.raises(ConfigError, match='NYUv2: ' + match) as info:
        NYUv2Dataset(nyu_root, **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TreeMTLError)


@pytest.mark.parametrize('kwargs, match', [
    (dict(data_format='jsn'),
     r"data_format='jsn' is not supported \(did you mean 'json'\?\); use one of 'auto', 'json', "
     r"'buildings', 'omnidata'"),
    (dict(depth_encoding='meters'),
     r"depth_encoding='meters' is not supported \(did you mean 'metres'\?\)"),
    (dict(base_size=-1), r'base_size=-1 is not a size'),
    (dict(buildings=[]), r'buildings=\[\] must be a non-empty list of building names'),
    (dict(buildings=['allensville', 3]), r"buildings=\['allensville', 3\] must be"),
    (dict(split_file=3), r'split_file=3 must be a file path or None'),
    (dict(data_format='json', buildings=['collierville']),
     r"buildings=/split_file= select buildings for the scanned formats; data_format='json'"),
])
def test_taskonomy_bad_arguments_raise_config_error(tasko_root, kwargs, match):
    with pytest.raises(ConfigError, match='Taskonomy: ' + match):
        TaskonomyDataset(tasko_root, **kwargs)


def test_bad_arguments_are_reported_before_the_data_on_disk(tmp_path):
    absent = str(tmp_path / 'absent')
    with pytest.raises(ConfigError, match='data_format'):
        NYUv2Dataset(absent, data_format='npy')
    with pytest.raises(ConfigError, match='image_size'):
        TaskonomyDataset(absent, image_size=(0, 4))
    with pytest.raises(ConfigError, match='data_root is empty'):
        NYUv2Dataset('')


# ============================================================ format naming
def test_dataset_format_error_is_a_treemtl_error():
    assert issubclass(DatasetFormatError, TreeMTLError)
    assert issubclass(DatasetFormatError, FileNotFoundError)


def test_missing_data_is_caught_as_treemtl_error(tmp_path):
    try:
        TaskonomyDataset(str(tmp_path / 'absent'))
    except TreeMTLError as e:
        assert isinstance(e, DatasetFormatError) and 'does not exist' in str(e)
    else:
        pytest.fail('no error for a missing data_root')


def test_data_format_keyword_picks_the_format(nyu_root, tasko_root):
    assert NYUv2Dataset(nyu_root, data_format='adashare').data_format == 'adashare'
    assert TaskonomyDataset(tasko_root, data_format='auto').data_format == 'json'
    assert 'data_format=' in repr(NYUv2Dataset(nyu_root)) and 'layout' not in repr(
        NYUv2Dataset(nyu_root))


# ============================================================ NYUv2 errors
def test_nyu_error_missing_root(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(DatasetFormatError, match=re.escape(missing) + '.*does not exist'):
        NYUv2Dataset(missing)
    assert issubclass(DatasetFormatError, FileNotFoundError)


def test_nyu_error_no_format(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'readme.txt').write_text('x')
    with pytest.raises(DatasetFormatError,
                       match=r'no known format.*nyu_v2_3task\.json.*MTAN format.*readme\.txt'):
        NYUv2Dataset(str(tmp_path / 'empty'))


def test_nyu_error_split_missing(nyu_root, mtan_root):
    with pytest.raises(DatasetFormatError, match=r"split 'extra' missing.*\['test', 'train'\]"):
        NYUv2Dataset(nyu_root, split='extra')
    shutil.rmtree(os.path.join(mtan_root, 'train'))
    with pytest.raises(DatasetFormatError,
                       match=re.escape(os.path.join(mtan_root, 'train')) + r"'? is missing.*val"):
        NYUv2Dataset(mtan_root, split='train')


def test_nyu_error_task_folder_missing(nyu_root, mtan_root):
    shutil.rmtree(os.path.join(nyu_root, 'normal_mask'))
    with pytest.raises(
            DatasetFormatError,
            match=r"task 'normal' is missing: .*normal_mask.*present: depth \(depth_zbuffer\), "
            r'img \(image\), seg \(segment_semantic\)'):
        NYUv2Dataset(nyu_root)
    # a partial copy still loads the tasks it has
    assert len(NYUv2Dataset(nyu_root, tasks=['segment_semantic', 'depth_zbuffer'])) == 3
    shutil.rmtree(os.path.join(mtan_root, 'train', 'depth'))
    with pytest.raises(DatasetFormatError,
                       match=r"depth'? for task 'depth_zbuffer' is missing.*image \(image\), "
                       r'label \(segment_semantic\), normal \(normal\)'):
        NYUv2Dataset(mtan_root)


def test_nyu_error_sample_files_missing(nyu_root, mtan_root):
    os.remove(os.path.join(nyu_root, 'depth', '0001.npy'))
    with pytest.raises(
            DatasetFormatError,
            match=r"1 of 3 samples have no file for task 'depth_zbuffer'.*0001 \(.*0001\.npy\)"):
        NYUv2Dataset(nyu_root)
    os.remove(os.path.join(mtan_root, 'train', 'normal', '0.npy'))
    os.remove(os.path.join(mtan_root, 'train', 'normal', '2.npy'))
    with pytest.raises(DatasetFormatError,
                       match=r"2 of 3 samples have no file for task 'normal'.*0 \(.*; 2 \("):
        NYUv2Dataset(mtan_root)


def test_nyu_error_zero_samples(nyu_root, mtan_root):
    with open(os.path.join(nyu_root, 'nyu_v2_3task.json'), 'w') as f:
        json.dump({'train': [], 'test': []}, f)
    with pytest.raises(DatasetFormatError, match=r"split 'train': zero samples"):
        NYUv2Dataset(nyu_root)
    for name in os.listdir(os.path.join(mtan_root, 'val', 'image')):
        os.remove(os.path.join(mtan_root, 'val', 'image', name))
    with pytest.raises(DatasetFormatError, match=r"split 'val': zero samples"):
        NYUv2Dataset(mtan_root, split='val')


# ============================================================ Taskonomy: json format
def test_taskonomy_json_contract_and_decoding(tasko_root):
    ds = TaskonomyDataset(tasko_root, split='train', image_size=None, base_size=None)
    assert ds.data_format == 'json' and len(ds) == 4
    assert ds.sample_ids[:2] == ['allensville/point_0_view_0', 'allensville/point_0_view_1']
    assert ds.buildings == ['allensville', 'beechwood']
    assert ds.class_weights is not None and ds.class_weights.shape == (17, )
    tasks = ('segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d', 'edge_texture')
    item = ds[0]
    _check_contract(item, tasks, (H, W))
    folder = os.path.join(tasko_root, 'train', 'allensville')
    stem = 'point_0_view_0'
    rgb = _raw_png(os.path.join(folder, 'rgb', f'{stem}_domain_rgb.png'))
    assert torch.allclose((item['inputs'] * STD + MEAN) * 255,
                          torch.from_numpy(rgb).permute(2, 0, 1).float(),
                          atol=1e-3)
    d = item['data_samples']
    # segmentation: raw 0 -> ignore, raw k -> k - 1, raw > 17 -> ignore
    seg_raw = _raw_png(
        os.path.join(folder, 'segment_semantic', f'{stem}_domain_segmentsemantic.png'))
    assert d['segment_semantic'][0, 0] == 255 and d['segment_semantic'][0, 1] == 16
    assert d['segment_semantic'][0, 2] == 255
    assert torch.equal(d['segment_semantic'][1:],
                       torch.from_numpy(seg_raw[1:].astype(np.int64) - 1))
    # depth: 16-bit, 65535 -> 0 (missing), else log(1 + raw) / log(2**16)
    depth_raw = _raw_png(os.path.join(folder, 'depth_zbuffer', f'{stem}_domain_depth_zbuffer.png'))
    assert depth_raw.dtype in (np.uint16, np.int32) and depth_raw[1, 0] == 65535  # 16-bit on disk
    assert d['depth_zbuffer'][0, 1, 0] == 0
    assert math.isclose(float(d['depth_zbuffer'][0, 1, 1]),
                        math.log(513) / math.log(65536),
                        rel_tol=1e-6)
    # normals: decoded, unit length, zero where the depth is invalid (authors' normal mask)
    assert torch.allclose(d['normal'][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-2)
    assert torch.equal(d['normal'][:, 1, 0], torch.zeros(3))
    assert (d['normal'][:, 2:].norm(dim=0) - 1).abs().max() < 1e-5
    # keypoints / edges: raw / 2**16 clipped to 0.005 / 0.08, scaled to [0, 1]
    assert math.isclose(float(d['keypoints2d'][0, 2, 0]), 164 / 65536 / 0.005, rel_tol=1e-6)
    assert float(d['keypoints2d'][0, 2, 1]) == 1.0
    assert math.isclose(float(d['edge_texture'][0, 2, 0]), 2621 / 65536 / 0.08, rel_tol=1e-6)


def test_taskonomy_depth_encodings_and_normal_mask_switch(tasko_root):
    ds = TaskonomyDataset(tasko_root,
                          image_size=None,
                          base_size=None,
                          depth_encoding='metres',
                          tasks=['depth_zbuffer'])
    d = ds[0]['data_samples']['depth_zbuffer']
    assert float(d[0, 1, 1]) == 1.0 and float(d[0, 1, 0]) == 0.0
    ds = TaskonomyDataset(tasko_root,
                          image_size=None,
                          base_size=None,
                          tasks=['normal'],
                          normal_mask_from_depth=False)
    assert ds[0]['data_samples']['normal'][:, 1, 0].norm() > 0.99
    ds = TaskonomyDataset(tasko_root, image_size=None, base_size=None, tasks=['normal'])
    assert torch.equal(ds[0]['data_samples']['normal'][:, 1, 0], torch.zeros(3))


def test_taskonomy_default_sizes_splits_and_subset(tasko_root):
    ds = TaskonomyDataset(tasko_root, split='test_small')
    assert len(ds) == 1
    _check_contract(ds[0], ds.tasks, (256, 256))  # the authors' 256 default
    val = TaskonomyDataset(tasko_root, split='val', tasks=['edge', 'keypoint'], image_size=224)
    assert val.resolved_split == 'test_small'
    assert val.tasks == ('edge_texture', 'keypoints2d')
    _check_contract(val[0], ('edge_texture', 'keypoints2d'), (224, 224))
    test = TaskonomyDataset(tasko_root, split='test', image_size=(16, 16))
    assert test.sample_ids == ['collierville/point_0_view_0', 'collierville/point_0_view_1']


def test_taskonomy_augment(tasko_root):
    ds = TaskonomyDataset(tasko_root, image_size=(24, 24), base_size=(32, 32), augment=True)
    torch.manual_seed(3)
    a = ds[0]
    torch.manual_seed(3)
    b = ds[0]
    _check_contract(a, ds.tasks, (24, 24))
    for t in ds.tasks:
        assert torch.equal(a['data_samples'][t], b['data_samples'][t])
    plain = TaskonomyDataset(tasko_root, image_size=None, base_size=None)[0]
    flip = TaskonomyDataset(tasko_root,
                            image_size=None,
                            base_size=None,
                            augment=True,
                            scale_range=(1, 1),
                            flip_prob=1.0)[0]
    expect = plain['data_samples']['normal'].flip(-1).clone()
    expect[0] = -expect[0]
    assert torch.equal(flip['data_samples']['normal'], expect)
    assert torch.equal(flip['data_samples']['edge_texture'],
                       plain['data_samples']['edge_texture'].flip(-1))


# ============================================================ Taskonomy: scanned formats
def test_taskonomy_buildings_format_per_split_folders(tmp_path):
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(os.path.join(root, 'train'), ['allensville', 'beechwood'])
    build_taskonomy_buildings(os.path.join(root, 'val'), ['cosmos'])
    ds = TaskonomyDataset(root, split='train', image_size=None, base_size=None)
    assert ds.data_format == 'buildings' and len(ds) == 4
    assert ds.buildings == ['allensville', 'beechwood']
    _check_contract(ds[3], ds.tasks, (H, W))
    val = TaskonomyDataset(root, split='val', image_size=(8, 8), tasks=['segment_semantic'])
    assert val.sample_ids == ['cosmos/point_0_view_0', 'cosmos/point_0_view_1']


def test_taskonomy_buildings_format_with_split_file(tmp_path):
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(root, ['allensville', 'beechwood', 'cosmos'])
    with open(os.path.join(root, 'train_val_test_tiny.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['id', 'train', 'val', 'test'])
        w.writerows([['allensville', 1, 0, 0], ['beechwood', 0, 1, 0], ['cosmos', 1, 0, 0]])
    ds = TaskonomyDataset(root,
                          split='train',
                          split_file='train_val_test_tiny.csv',
                          image_size=(8, 8))
    assert ds.buildings == ['allensville', 'cosmos'] and len(ds) == 4
    val = TaskonomyDataset(root,
                           split='val',
                           split_file=os.path.join(root, 'train_val_test_tiny.csv'))
    assert val.buildings == ['beechwood']
    txt = tmp_path / 'test_buildings.txt'
    txt.write_text('cosmos\n')
    assert TaskonomyDataset(root, split='test', split_file=str(txt)).buildings == ['cosmos']
    js = tmp_path / 'splits.json'
    js.write_text(json.dumps({'train': ['beechwood']}))
    assert TaskonomyDataset(root, split='train', split_file=str(js)).buildings == ['beechwood']
    by_arg = TaskonomyDataset(root, buildings=['beechwood', 'allensville'], tasks=['normal'])
    assert by_arg.sample_ids[0] == 'beechwood/point_0_view_0' and len(by_arg) == 4


def test_taskonomy_omnidata_format(tmp_path):
    root = str(tmp_path / 'omni')
    build_taskonomy_omnidata(root, ['allensville', 'beechwood'])
    ds = TaskonomyDataset(root, buildings=['beechwood'], image_size=None, base_size=None)
    assert ds.data_format == 'omnidata' and len(ds) == 2
    _check_contract(ds[0], ds.tasks, (H, W))
    assert ds[0]['data_samples']['segment_semantic'][0, 0] == 255


# ============================================================ Taskonomy errors
def test_taskonomy_error_missing_root_and_no_format(tmp_path):
    with pytest.raises(DatasetFormatError, match='does not exist'):
        TaskonomyDataset(str(tmp_path / 'absent'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DatasetFormatError, match=r'no known format.*taskonomy\.json'):
        TaskonomyDataset(str(tmp_path / 'empty'))


def test_taskonomy_error_split_missing(tasko_root, tmp_path):
    with pytest.raises(DatasetFormatError,
                       match=r"split 'train2' missing.*'test', 'test_small', 'train'"):
        TaskonomyDataset(tasko_root, split='train2')
    shutil.rmtree(os.path.join(tasko_root, 'train'))
    with pytest.raises(DatasetFormatError,
                       match=re.escape(os.path.join(tasko_root, 'train')) +
                       r"'? for split 'train' is missing"):
        TaskonomyDataset(tasko_root, split='train')
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(os.path.join(root, 'train'), ['allensville'])
    with pytest.raises(
            DatasetFormatError,
            match=r"split folder .*val'? is missing, and no buildings= or split_file=.*train"):
        TaskonomyDataset(root, split='val')


def test_taskonomy_error_building_missing(tmp_path):
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(root, ['allensville'])
    with pytest.raises(DatasetFormatError,
                       match=r"building 'beechwood'.*has no folder.*present.*allensville"):
        TaskonomyDataset(root, buildings=['allensville', 'beechwood'])


def test_taskonomy_error_task_folder_missing(tasko_root, tmp_path):
    shutil.rmtree(os.path.join(tasko_root, 'train', 'beechwood', 'edge_texture'))
    with pytest.raises(DatasetFormatError,
                       match=r"task 'edge_texture' is missing: .*beechwood.*edge_texture.*present.*"
                       r'depth_zbuffer \(depth_zbuffer\).*rgb \(image\)'):
        TaskonomyDataset(tasko_root)
    assert len(TaskonomyDataset(tasko_root, tasks=['normal', 'depth_zbuffer'])) == 4
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(root, ['allensville'])
    shutil.rmtree(os.path.join(root, 'allensville', 'keypoints2d'))
    with pytest.raises(DatasetFormatError,
                       match=r"buildings format\): folder for task 'keypoints2d' is missing.*"
                       r"present in .*allensville.*edge_texture \(edge_texture\)"):
        TaskonomyDataset(root, buildings=['allensville'])
    omni = str(tmp_path / 'omni')
    build_taskonomy_omnidata(omni, ['allensville'])
    shutil.rmtree(os.path.join(omni, 'normal'))
    with pytest.raises(DatasetFormatError,
                       match=r"task 'normal' is missing: folder .*normal.*taskonomy.*present.*"
                       r'rgb \(image\)'):
        TaskonomyDataset(omni, buildings=['allensville'])


def test_taskonomy_error_sample_files_missing(tasko_root, tmp_path):
    os.remove(
        os.path.join(tasko_root, 'train', 'beechwood', 'normal',
                     'point_0_view_1_domain_normal.png'))
    with pytest.raises(DatasetFormatError,
                       match=r"1 of 4 samples have no file for task 'normal'.*"
                       r'beechwood/point_0_view_1 \(.*point_0_view_1_domain_normal\.png\)'):
        TaskonomyDataset(tasko_root)
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(root, ['allensville'])
    os.remove(
        os.path.join(root, 'allensville', 'depth_zbuffer',
                     'point_0_view_0_domain_depth_zbuffer.png'))
    with pytest.raises(DatasetFormatError,
                       match=r"no file for task 'depth_zbuffer'.*allensville/point_0_view_0"):
        TaskonomyDataset(root, buildings=['allensville'])


def test_taskonomy_error_zero_samples(tmp_path):
    root = str(tmp_path / 'tiny')
    build_taskonomy_buildings(root, ['allensville'])
    for name in os.listdir(os.path.join(root, 'allensville', 'rgb')):
        os.remove(os.path.join(root, 'allensville', 'rgb', name))
    with pytest.raises(DatasetFormatError, match=r"split 'train': zero samples"):
        TaskonomyDataset(root, buildings=['allensville'])
