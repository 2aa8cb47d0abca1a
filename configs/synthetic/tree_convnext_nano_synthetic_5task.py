# Backbone swap: the same recommender on a ConvNeXt-nano, all five tasks of the built-in
# benchmark at 128 px (a GPU-sized job; ~10x the default's sweep: 5 + 10 x 4 = 45 runs).
#   python tools/recommend.py configs/synthetic/tree_convnext_nano_synthetic_5task.py
_base_ = ['./tree_resnet18_synthetic_3task.py']
img_size = 128   # the backbone's input_size and both datasets' image_size follow it
model = dict(
    backbone=dict(model_name='convnext_nano', num_branch_points=4),
    tasks=dict(
        edge_texture=dict(head=dict(type='LightConvHead', num_outputs=1),
                          loss=dict(type='MaskedL1Loss')),
        keypoints2d=dict(head=dict(type='LightConvHead', num_outputs=1),
                         loss=dict(type='MaskedL1Loss')),
    ))
train_dataloader = dict(batch_size=64, num_workers=4, persistent_workers=True,
                        dataset=dict(num_samples=20000, prerender=True))
val_dataloader = dict(batch_size=64, num_workers=4, persistent_workers=True,
                      dataset=dict(num_samples=1000, prerender=True))
train_cfg = dict(max_iters=3000, val_interval=1000)
sweep = dict(overrides=dict(train_cfg=dict(max_iters=1500, val_interval=10 ** 9)))
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1000))
