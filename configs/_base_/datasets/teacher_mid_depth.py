# Mid-depth split (TeacherTaskDataset): a1 and a2 read teachers that share their first layer
# and then part (each has its own layers 2-4); both have noisy training labels (SD 1.4), which
# sharing a trunk averages. c reads a teacher of its own, with clean labels. With a student
# whose late stages are narrow (models/tree_resnet10t_narrow_regression.py), sharing the wide
# early blocks pays for a1/a2 and sharing the narrow late ones costs: the best layout parts
# them mid-depth, which no grouping can do. Chosen by benchmarks/pilot_benchmark_designs.py on
# its own seeds and split. 512 training images; val (the sweep's table) and test (the
# validation study) 2048 each; pilot (design choice only) 1024.
_base_ = ['./teacher_tasks.py']
teacher = [[['a1', 'a2'], ['c']]] + [[['a1'], ['a2'], ['c']]] * 3
train_dataloader = dict(dataset=dict(teacher=teacher))
val_dataloader = dict(dataset=dict(teacher=teacher))
test_dataloader = dict(dataset=dict(teacher=teacher))
