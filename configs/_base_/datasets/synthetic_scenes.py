# The built-in procedural multi-task benchmark (no files needed): rendered scenes with
# segment_semantic, depth_zbuffer, normal, edge_texture and keypoints2d ground truth.
dataset_type = 'SyntheticSceneDataset'
# the one resolution setting: the tools also set model.backbone.input_size from it, so a child
# config (or --cfg-options img_size=128) changes the whole resolution with this key alone
img_size = 64
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, num_samples=2000, image_size=img_size, split='train', seed=0))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, num_samples=200, image_size=img_size, split='val', seed=0))
# held-out scenes for tools/test.py and the validation study (the sweep ranks on `val`)
test_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, num_samples=200, image_size=img_size, split='test', seed=0))
val_evaluator = dict(type='MultiTaskMetric', num_classes=dict(segment_semantic=6))
test_evaluator = val_evaluator
