# NYUv2, MobileNetV2 (timm mobilenetv2_100), 5 branching points of balanced FLOPs.
#   python tools/recommend.py configs/nyuv2/tree_mobilenetv2_nyuv2.py [--shard i/n]
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/adamw_iter.py',
    '../_base_/datasets/nyuv2.py', '../_base_/recommender/default.py',
]
tasks = ['segment_semantic', 'normal', 'depth_zbuffer']
task_heads = dict(
    segment_semantic=dict(head=dict(type='ASPPHead', num_outputs=40),
                          loss=dict(type='SegCrossEntropyLoss', ignore_index=255)),
    normal=dict(head=dict(type='ASPPHead', num_outputs=3), loss=dict(type='NormalCosineLoss')),
    depth_zbuffer=dict(head=dict(type='ASPPHead', num_outputs=1), loss=dict(type='DepthL1Loss')),
)
model = dict(
    type='TreeMultiTaskModel',
    backbone=dict(type='TimmBlockBackbone', model_name='mobilenetv2_100', pretrained=True,
                  input_size=(3, 321, 321), num_branch_points=5, model_kwargs=dict()),
    tasks=None, layout=None)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_iters=20000, val_interval=2000)
sweep = dict(overrides=dict(train_cfg=dict(max_iters=10000, val_interval=10 ** 9)))
default_hooks = dict(checkpoint=dict(interval=2000))
