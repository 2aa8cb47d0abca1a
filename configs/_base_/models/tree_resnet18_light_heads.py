# A complete tree multi-task model: timm ResNet-18 at 64 px, split by the branching-point
# detector and merged into 4 branching points of balanced FLOPs, with a light conv head per
# task for the three dense tasks of the built-in benchmark (segmentation: 6 classes).
# `layout=None` trains the all-shared tree; exported configs set the recommended layout.
# MODELS.build(cfg.model) works as it is. The tools set `input_size` from the top-level
# `img_size` (configs/_base_/datasets/*.py), which also sets the datasets' image size.
model = dict(
    type='TreeMultiTaskModel',
    backbone=dict(type='TimmBlockBackbone', model_name='resnet18', pretrained=False,
                  input_size=(3, 64, 64), num_branch_points=4),
    tasks=dict(
        segment_semantic=dict(head=dict(type='LightConvHead', num_outputs=6),
                              loss=dict(type='SegCrossEntropyLoss', ignore_index=255)),
        depth_zbuffer=dict(head=dict(type='LightConvHead', num_outputs=1),
                           loss=dict(type='DepthL1Loss')),
        normal=dict(head=dict(type='LightConvHead', num_outputs=3),
                    loss=dict(type='NormalCosineLoss')),
    ),
    layout=None,
)
