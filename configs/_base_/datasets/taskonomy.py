# Taskonomy tiny split (5 tasks) in the authors' json layout, the official per-building
# layout or omnidata's: see docs/user_guides/datasets.md. 224x224 as in the paper.
data_root = 'data/taskonomy'
# the one resolution setting: the tools also set model.backbone.input_size from it
img_size = 224
dataset_type = 'TaskonomyDataset'
train_dataloader = dict(
    batch_size=32, num_workers=8, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', image_size=img_size,
                 augment=True))
val_dataloader = dict(
    batch_size=32, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', image_size=img_size))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiTaskMetric', num_classes=dict(segment_semantic=17))
test_evaluator = val_evaluator
