# The built-in benchmark "5-task mix": a1/a2 (teachers part after layer 1) and b1/b2 (after
# layer 2), all with noisy labels, and a clean loner c (configs/_base_/datasets/
# teacher_mix_5task.py), on the student with narrow late stages: the two pairs should part at
# different depths, c stay alone.
#   python tools/recommend.py configs/teacher/tree_resnet10t_narrow_teacher_mix_5task.py
# (5 single-task + 40 two-task trainings).
_base_ = [
    '../_base_/models/tree_resnet10t_narrow_regression.py',
    '../_base_/datasets/teacher_mix_5task.py',
    '../_base_/schedules/adamw_cosine_300.py', '../_base_/teacher_runtime.py',
]
model = dict(tasks=dict(
    _delete_=True,
    **{task: dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
                  loss=dict(type='MaskedMSELoss')) for task in ('a1', 'a2', 'b1', 'b2', 'c')}))
# the study: 60 of the layouts (the estimated top-5, the bottom, the all-shared and the
# independent layout, every estimator's recommendation at each FLOPs-decile budget, the rest
# spread over the estimated ranking), 4 seeds (the narrow student is noisier)
validation = dict(layouts=60, seeds=4)
