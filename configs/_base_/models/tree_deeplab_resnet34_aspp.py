# A complete tree multi-task model in the paper's Deeplab setting: timm ResNet-34 with output
# stride 8 (dilated), 5 branching points, DeepLab-v2 ASPP heads for NYUv2's three tasks
# (segmentation: 40 classes). ImageNet weights come from timm (`pretrained=True` needs them
# downloaded or cached). MODELS.build(cfg.model) works as it is. The tools set `input_size`
# from the top-level `img_size` (configs/_base_/datasets/*.py).
model = dict(
    type='TreeMultiTaskModel',
    backbone=dict(type='TimmBlockBackbone', model_name='resnet34', pretrained=True,
                  input_size=(3, 321, 321), num_branch_points=5,
                  model_kwargs=dict(output_stride=8)),
    tasks=dict(
        segment_semantic=dict(head=dict(type='ASPPHead', num_outputs=40),
                              loss=dict(type='SegCrossEntropyLoss', ignore_index=255)),
        normal=dict(head=dict(type='ASPPHead', num_outputs=3),
                    loss=dict(type='NormalCosineLoss')),
        depth_zbuffer=dict(head=dict(type='ASPPHead', num_outputs=1),
                           loss=dict(type='DepthL1Loss')),
    ),
    layout=None,
)
