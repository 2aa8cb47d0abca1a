# The built-in procedural multi-task benchmark (no files needed): rendered scenes with
# segment_semantic, depth_zbuffer, normal, edge_texture and keypoints2d ground truth.
dataset_type = 'SyntheticSceneDataset'
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, num_samples=2000, image_size=64, split='train', seed=0))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, num_samples=200, image_size=64, split='val', seed=0))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiTaskMetric', num_classes=dict(segment_semantic=6))
test_evaluator = val_evaluator
