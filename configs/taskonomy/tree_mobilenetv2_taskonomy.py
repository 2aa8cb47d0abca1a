# Taskonomy (5 tasks), MobileNetV2 (timm mobilenetv2_100), 5 branching points.
#   python tools/recommend.py configs/taskonomy/tree_mobilenetv2_taskonomy.py [--shard i/n]
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/adamw_iter.py',
    '../_base_/datasets/taskonomy.py', '../_base_/recommender/default.py',
]
tasks = ['segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d', 'edge_texture']
task_heads = dict(
    segment_semantic=dict(head=dict(type='ASPPHead', num_outputs=17),
                          loss=dict(type='SegCrossEntropyLoss', ignore_index=255)),
    normal=dict(head=dict(type='ASPPHead', num_outputs=3), loss=dict(type='NormalCosineLoss')),
    depth_zbuffer=dict(head=dict(type='ASPPHead', num_outputs=1), loss=dict(type='DepthL1Loss')),
    keypoints2d=dict(head=dict(type='ASPPHead', num_outputs=1), loss=dict(type='MaskedL1Loss')),
    edge_texture=dict(head=dict(type='ASPPHead', num_outputs=1), loss=dict(type='MaskedL1Loss')),
)
model = dict(
    type='TreeMultiTaskModel',
    backbone=dict(type='TimmBlockBackbone', model_name='mobilenetv2_100', pretrained=True,
                  input_size=(3, 224, 224), num_branch_points=5, model_kwargs=dict()),
    tasks=None, layout=None)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_iters=40000, val_interval=2000)
sweep = dict(overrides=dict(train_cfg=dict(max_iters=20000, val_interval=10 ** 9)))
default_hooks = dict(checkpoint=dict(interval=2000))
