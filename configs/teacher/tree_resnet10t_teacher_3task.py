# The built-in default: 3 teacher tasks of known relatedness (configs/_base_/datasets/
# teacher_tasks.py) on a CPU-sized timm resnet10t with one branching point per stage.
#   python tools/recommend.py configs/teacher/tree_resnet10t_teacher_3task.py
# runs the sweep (3 single-task + 12 two-task trainings, 2 at a time), recommends layouts and
# exports a training config for each of the top-k;
#   python tools/train.py configs/teacher/tree_resnet10t_teacher_3task.py
# trains the all-shared model of this config as it is.
_base_ = [
    '../_base_/models/tree_resnet10t_tiny_regression.py', '../_base_/datasets/teacher_tasks.py',
    '../_base_/schedules/adamw_cosine_300.py', '../_base_/default_runtime.py',
    '../_base_/recommender/default.py',
]
# every training (sweep, study, exported model) runs the same 300-iteration schedule, so no
# sweep overrides; 2 runs at once with one thread each on a 2-core machine
sweep = dict(workers=2, threads=1)
# the ground-truth study (tools/analysis/validate_recommender.py): every layout, 3 seeds the
# sweep never used, scored on the test split; the teacher's own tree is the known right tree
validation = dict(seeds=3, layouts='all', right_tree=[[['a1', 'a2'], ['c']]] * 4)
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=300))
# the inputs are unit-variance fields, not ImageNet-normalised images
visualizer = dict(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
# a tiny model: costs in MFLOPs and thousands of parameters
flops_unit = 'MFLOPs'
params_unit = 'K'
