# Heads and losses of the dense tasks (Taskonomy names). `in_channels` is filled from the
# backbone; the sweep and the exported configs pick the tasks they need from this dict.
task_heads = dict(
    segment_semantic=dict(head=dict(type='LightConvHead', num_outputs=6),
                          loss=dict(type='SegCrossEntropyLoss', ignore_index=255)),
    depth_zbuffer=dict(head=dict(type='LightConvHead', num_outputs=1),
                       loss=dict(type='DepthL1Loss')),
    normal=dict(head=dict(type='LightConvHead', num_outputs=3),
                loss=dict(type='NormalCosineLoss')),
    edge_texture=dict(head=dict(type='LightConvHead', num_outputs=1),
                      loss=dict(type='MaskedL1Loss')),
    keypoints2d=dict(head=dict(type='LightConvHead', num_outputs=1),
                     loss=dict(type='MaskedL1Loss')),
)
