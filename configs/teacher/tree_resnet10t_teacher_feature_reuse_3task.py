# The built-in benchmark "feature reuse": no label noise; a1/a2 read one teacher, c its own;
# a2 is labelled on 32 of the 512 training images (configs/_base_/datasets/
# teacher_feature_reuse.py). A trunk shared with a1 gives a2 features its few labels cannot.
#   python tools/recommend.py configs/teacher/tree_resnet10t_teacher_feature_reuse_3task.py
_base_ = [
    '../_base_/models/tree_resnet10t_tiny_regression.py',
    '../_base_/datasets/teacher_feature_reuse.py',
    '../_base_/schedules/adamw_cosine_300.py', '../_base_/teacher_runtime.py',
]
validation = dict(right_tree=[[['a1', 'a2'], ['c']]] * 4)
# a2's loss weighted by its share of labels (1/16), as a loss summed over the labelled pixels
# and divided by all of them would be: its 2 labelled images per batch must not steer the
# shared trunk as much as a1's 32 (at weight 1 they cost a1 22% when shared)
model = dict(tasks=dict(a2=dict(loss_weight=0.0625)))
# 6 study seeds: the layouts differ less here (the pilot's F over layouts was 14 with 3 seeds)
validation = dict(seeds=6)
