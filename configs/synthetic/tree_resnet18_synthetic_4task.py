# The default plus the benchmark's edge_texture task: 4 tasks, 4 branching points, 315 layouts;
# 4 single-task + 6 x 4 two-task runs (28 trainings). The validation study trains a
# stratified sample of 20 layouts with 2 seeds (docs/advanced/validation.md).
#   python tools/analysis/validate_recommender.py configs/synthetic/tree_resnet18_synthetic_4task.py
_base_ = ['./tree_resnet18_synthetic_3task.py']
model = dict(tasks=dict(
    edge_texture=dict(head=dict(type='LightConvHead', num_outputs=1),
                      loss=dict(type='MaskedL1Loss'))))
validation = dict(layouts=20, seeds=2)
