# Per-pixel regression tasks of known relatedness (TeacherTaskDataset): targets read out of a
# frozen random teacher network shaped as a tree. a1 and a2 read one teacher (readouts
# correlated 0.9) and have noisy training labels (noise SD 1.4 against unit-variance targets):
# each gains from a trunk shared with the other, which averages their independent noise. c reads
# a teacher of its own, with clean labels: it needs the student's capacity and loses from sharing
# it. 512 training images, 2048 validation (the sweep's table) and 2048 test images (the
# validation study), all generated from the seed: no files, no downloads. The design was chosen
# by measurement (benchmarks/pilot_benchmark_designs.py, docs/advanced/benchmark_suite.md).
dataset_type = 'TeacherTaskDataset'
img_size = 32
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, teacher=[[['a1', 'a2'], ['c']]] * 4, num_samples=512,
                 image_size=img_size, split='train', seed=0,
                 label_noise=dict(a1=1.4, a2=1.4)))
val_dataloader = dict(
    batch_size=128, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, teacher=[[['a1', 'a2'], ['c']]] * 4, num_samples=2048,
                 image_size=img_size, split='val', seed=0))
test_dataloader = dict(
    batch_size=128, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, teacher=[[['a1', 'a2'], ['c']]] * 4, num_samples=2048,
                 image_size=img_size, split='test', seed=0))
val_evaluator = dict(type='MultiTaskMetric',
                     tasks=dict(a1='regression', a2='regression', c='regression'))
test_evaluator = val_evaluator
