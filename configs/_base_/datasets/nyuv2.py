# NYUv2 (3 tasks) in the authors' (AdaShare) layout or MTAN's .npy layout: see
# docs/user_guides/datasets.md. 321x321 random-scale crops for training, as the paper's
# Deeplab setting.
data_root = 'data/nyuv2'
# the one resolution setting: the tools also set model.backbone.input_size from it
img_size = 321
dataset_type = 'NYUv2Dataset'
train_dataloader = dict(
    batch_size=16, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', image_size=img_size,
                 augment=True))
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', image_size=img_size))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiTaskMetric', num_classes=dict(segment_semantic=40))
test_evaluator = val_evaluator
