# A 5-task mix (TeacherTaskDataset): two related pairs that part at different depths, and a
# loner. a1/a2 read teachers that share their first layer, b1/b2 teachers that share their
# first two layers; all four have noisy training labels (SD 1.4), which a shared trunk averages.
# c reads a teacher of its own, with clean labels. With a student whose late stages are narrow
# (models/tree_resnet10t_narrow_regression.py), each pair gains from the blocks whose features
# it has in common and loses from the narrow blocks it does not. Chosen by
# benchmarks/pilot_benchmark_designs.py on its own seeds and split.
_base_ = ['./teacher_tasks.py']
teacher = ([[['a1', 'a2'], ['b1', 'b2'], ['c']]]
           + [[['a1'], ['a2'], ['b1', 'b2'], ['c']]]
           + [[['a1'], ['a2'], ['b1'], ['b2'], ['c']]] * 2)
noise = dict(a1=1.4, a2=1.4, b1=1.4, b2=1.4)
train_dataloader = dict(dataset=dict(teacher=teacher, label_noise=noise))
val_dataloader = dict(dataset=dict(teacher=teacher))
test_dataloader = dict(dataset=dict(teacher=teacher))
val_evaluator = dict(tasks=dict(_delete_=True, a1='regression', a2='regression',
                                b1='regression', b2='regression', c='regression'))
test_evaluator = val_evaluator
