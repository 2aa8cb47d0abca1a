# All five tasks of the built-in benchmark on the default's ResNet-18 at 64 px, 4 branching
# points: 5 single-task + 10 x 4 two-task runs (45 trainings, one seed), 3,455 layouts.
# Used to compare the cheap ways of getting a two-task table (docs/advanced/cheap_tables.md)
# and, sampled, to check the estimate against trained layouts.
#   python tools/recommend.py configs/synthetic/tree_resnet18_synthetic_5task.py
_base_ = ['./tree_resnet18_synthetic_3task.py']
model = dict(tasks=dict(
    edge_texture=dict(head=dict(type='LightConvHead', num_outputs=1),
                      loss=dict(type='MaskedL1Loss')),
    keypoints2d=dict(head=dict(type='LightConvHead', num_outputs=1),
                     loss=dict(type='MaskedL1Loss'))))
sweep = dict(seeds=None)
validation = dict(layouts=20, seeds=2)
