# The built-in default, the benchmark "mid-depth split": a1/a2 read teachers that share their
# first layer and then part, with noisy labels; c reads its own teacher
# (configs/_base_/datasets/teacher_mid_depth.py). The student's late stages are narrow (16,
# 16, 4, 4 channels), so a1/a2 gain from sharing the early blocks and lose from sharing the
# late ones: the best layout parts them mid-depth -- a tree no task grouping can express.
#   python tools/recommend.py configs/teacher/tree_resnet10t_narrow_teacher_middepth_3task.py
# runs the sweep (3 single-task + 12 two-task trainings, 2 at a time), recommends layouts and
# exports a training config for each of the top-k;
#   python tools/train.py configs/teacher/tree_resnet10t_narrow_teacher_middepth_3task.py
# trains the all-shared model of this config as it is.
_base_ = [
    '../_base_/models/tree_resnet10t_narrow_regression.py',
    '../_base_/datasets/teacher_mid_depth.py',
    '../_base_/schedules/adamw_cosine_300.py', '../_base_/teacher_runtime.py',
]
# 4 study seeds: the narrow student's seed noise is larger than the default's (the pilot's F
# over layouts was 18 with 3 seeds, 28 with 4)
validation = dict(seeds=4)
