# NYUv2, Deeplab-ResNet34 (dilated, output stride 8, ASPP heads), 5 branching points: the
# paper's setting.
#   python tools/recommend.py configs/nyuv2/tree_deeplab_resnet34_nyuv2.py [--shard i/n]
_base_ = [
    '../_base_/models/tree_deeplab_resnet34_aspp.py', '../_base_/datasets/nyuv2.py',
    '../_base_/schedules/adamw_iter.py', '../_base_/default_runtime.py',
    '../_base_/recommender/default.py',
]
optim_wrapper = dict(optimizer=dict(lr=1e-4))
train_cfg = dict(max_iters=20000, val_interval=2000)
sweep = dict(overrides=dict(train_cfg=dict(max_iters=10000, val_interval=10 ** 9)))
default_hooks = dict(checkpoint=dict(interval=2000))
