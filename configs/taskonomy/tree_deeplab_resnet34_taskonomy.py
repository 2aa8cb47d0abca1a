# Taskonomy (5 tasks), Deeplab-ResNet34 (output stride 8, ASPP heads), 5 branching points.
#   python tools/recommend.py configs/taskonomy/tree_deeplab_resnet34_taskonomy.py [--shard i/n]
_base_ = [
    '../_base_/models/tree_deeplab_resnet34_aspp.py', '../_base_/datasets/taskonomy.py',
    '../_base_/schedules/adamw_iter.py', '../_base_/default_runtime.py',
    '../_base_/recommender/default.py',
]
model = dict(
    tasks=dict(
        segment_semantic=dict(head=dict(num_outputs=17)),
        keypoints2d=dict(head=dict(type='ASPPHead', num_outputs=1),
                         loss=dict(type='MaskedL1Loss')),
        edge_texture=dict(head=dict(type='ASPPHead', num_outputs=1),
                          loss=dict(type='MaskedL1Loss')),
    ))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_iters=40000, val_interval=2000)
sweep = dict(overrides=dict(train_cfg=dict(max_iters=20000, val_interval=10 ** 9)))
default_hooks = dict(checkpoint=dict(interval=2000))
