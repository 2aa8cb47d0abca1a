# The 4-task variant of the teacher benchmark: a1 and a2 read one teacher with noisy training
# labels (as in the 3-task default); c1 and c2 read another teacher (readouts correlated 0.9)
# with clean labels. The known right tree keeps the two pairs apart from the input on.
#   python tools/recommend.py configs/teacher/tree_resnet10t_teacher_4task.py
# (4 single-task + 24 two-task trainings).
_base_ = ['./tree_resnet10t_teacher_3task.py']
model = dict(tasks=dict(
    _delete_=True,
    a1=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
            loss=dict(type='MaskedMSELoss')),
    a2=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
            loss=dict(type='MaskedMSELoss')),
    c1=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
            loss=dict(type='MaskedMSELoss')),
    c2=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
            loss=dict(type='MaskedMSELoss'))))
train_dataloader = dict(dataset=dict(teacher=[[['a1', 'a2'], ['c1', 'c2']]] * 4))
val_dataloader = dict(dataset=dict(teacher=[[['a1', 'a2'], ['c1', 'c2']]] * 4))
test_dataloader = dict(dataset=dict(teacher=[[['a1', 'a2'], ['c1', 'c2']]] * 4))
val_evaluator = dict(tasks=dict(_delete_=True, a1='regression', a2='regression',
                                c1='regression', c2='regression'))
test_evaluator = val_evaluator
# the study: 60 of the 315 layouts (the estimated top-5, the bottom, the all-shared, the
# independent and the right tree, the rest evenly spaced over the estimated ranking)
validation = dict(layouts=60, right_tree=[[['a1', 'a2'], ['c1', 'c2']]] * 4)
