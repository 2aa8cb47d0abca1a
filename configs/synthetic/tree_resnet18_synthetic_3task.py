# The built-in default: 3 tasks of the procedural benchmark, a ResNet-18 split into 4
# branching points, a CPU-sized sweep (3 single-task + 12 two-task trainings).
#   python tools/recommend.py configs/synthetic/tree_resnet18_synthetic_3task.py
# runs the sweep, recommends layouts and exports a training config for each of the top-k;
#   python tools/train.py configs/synthetic/tree_resnet18_synthetic_3task.py
# trains the all-shared model of this config as it is.
_base_ = [
    '../_base_/models/tree_resnet18_light_heads.py', '../_base_/datasets/synthetic_scenes.py',
    '../_base_/schedules/adamw_iter.py', '../_base_/default_runtime.py',
    '../_base_/recommender/default.py',
]
# training of the final (exported) model
train_cfg = dict(max_iters=600, val_interval=300)
# each sweep run: a shorter schedule (merged into the config), no checkpoints
sweep = dict(overrides=dict(train_cfg=dict(max_iters=120, val_interval=100000)))
default_hooks = dict(logger=dict(interval=40), checkpoint=dict(interval=300))
