# The built-in default: 3 tasks of the procedural benchmark, a ResNet-18 split into 4
# branching points, a CPU-sized sweep (3 single-task + 12 two-task trainings, ~4 min).
#   python tools/recommend.py configs/synthetic/tree_resnet18_synthetic_3task.py
# runs the sweep, recommends layouts and exports a training config for each of the top-k.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/schedules/adamw_iter.py',
    '../_base_/datasets/synthetic_scenes.py', '../_base_/models/dense_task_heads.py',
    '../_base_/recommender/default.py',
]
tasks = ['segment_semantic', 'depth_zbuffer', 'normal']
model = dict(
    type='TreeMultiTaskModel',
    backbone=dict(type='TimmBlockBackbone', model_name='resnet18', pretrained=False,
                  input_size=(3, 64, 64), num_branch_points=4),
    tasks=None,    # filled from task_heads for `tasks` (by the sweep / the exported config)
    layout=None,   # None = all shared; exported configs set the recommended tree
)
# training of the final (exported) model
train_cfg = dict(max_iters=600, val_interval=300)
# each sweep run: a shorter schedule (merged into the config), no checkpoints
sweep = dict(overrides=dict(train_cfg=dict(max_iters=120, val_interval=100000)))
default_hooks = dict(logger=dict(interval=40), checkpoint=dict(interval=300))
