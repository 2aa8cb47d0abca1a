# A complete tree multi-task model for the mid-depth teacher benchmarks: the CPU-sized timm
# resnet10t of tree_resnet10t_tiny_regression.py with narrow late stages (16, 16, 4, 4
# channels). Two tasks whose deep features differ cannot both fit in one 4-channel stage, so
# sharing the last two blocks costs them; the wide early stages hold both, so sharing those
# pays. One branching point per stage: stem + layer1 | layer2 | layer3 | layer4.
_base_ = ['./tree_resnet10t_tiny_regression.py']
model = dict(backbone=dict(model_kwargs=dict(channels=(16, 16, 4, 4))))
