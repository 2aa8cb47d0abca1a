# The built-in benchmark "noise averaging": 3 teacher tasks of known relatedness
# (configs/_base_/datasets/teacher_tasks.py) on a CPU-sized timm resnet10t with one branching
# point per stage. a1/a2 gain from every block they share (it averages their label noise), c
# loses from sharing: the best layout is a grouping ({a1, a2} {c}).
#   python tools/recommend.py configs/teacher/tree_resnet10t_teacher_3task.py
# runs the sweep (3 single-task + 12 two-task trainings, 2 at a time), recommends layouts and
# exports a training config for each of the top-k;
#   python tools/train.py configs/teacher/tree_resnet10t_teacher_3task.py
# trains the all-shared model of this config as it is.
_base_ = [
    '../_base_/models/tree_resnet10t_tiny_regression.py', '../_base_/datasets/teacher_tasks.py',
    '../_base_/schedules/adamw_cosine_300.py', '../_base_/teacher_runtime.py',
]
# the teacher's own tree is the known right tree of the study
validation = dict(right_tree=[[['a1', 'a2'], ['c']]] * 4)
