# Feature reuse (TeacherTaskDataset): no label noise; a1 and a2 read one teacher (readouts
# correlated 0.9), c a teacher of its own. a1 is labelled on all 512 training images, a2 on
# only 32 of them (labelled=dict(a2=1/16): the others carry a2_mask = 0): a trunk trained on
# a1's labels gives a2 the teacher's features that its own 32 labels cannot teach it. c needs
# the student's capacity and loses from sharing it. Chosen by
# benchmarks/pilot_benchmark_designs.py on its own seeds and split.
_base_ = ['./teacher_tasks.py']
train_dataloader = dict(dataset=dict(label_noise=dict(_delete_=True),
                                     labelled=dict(a2=0.0625)))
