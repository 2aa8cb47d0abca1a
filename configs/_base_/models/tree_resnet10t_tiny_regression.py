# A complete tree multi-task model for the teacher tasks: timm's resnet10t made CPU-sized
# (16 channels per stage, an 8-channel stem, output stride 8 with dilated later stages) at
# 32 px, with one branching point per stage: stem + layer1 | layer2 | layer3 | layer4
# (`block_groups` index the detector's 7 fine blocks: 3 stem parts, then layer1..layer4).
# A 16-channel light conv head per task predicts its map; MSE loss.
# `layout=None` trains the all-shared tree; exported configs set the recommended layout.
model = dict(
    type='TreeMultiTaskModel',
    backbone=dict(type='TimmBlockBackbone', model_name='resnet10t', pretrained=False,
                  input_size=(3, 32, 32), block_groups=[[0, 1, 2, 3], [4], [5], [6]],
                  model_kwargs=dict(channels=(16, 16, 16, 16), stem_width=8, output_stride=8)),
    tasks=dict(
        a1=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
                 loss=dict(type='MaskedMSELoss')),
        a2=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
                 loss=dict(type='MaskedMSELoss')),
        c=dict(head=dict(type='LightConvHead', num_outputs=1, channels=16),
               loss=dict(type='MaskedMSELoss')),
    ),
    layout=None,
)
