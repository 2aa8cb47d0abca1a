# NYUv2, MobileNetV2 (timm mobilenetv2_100), 5 branching points of balanced FLOPs; the rest
# (data, ASPP heads, schedule, sweep) as the Deeplab-ResNet34 config.
#   python tools/recommend.py configs/nyuv2/tree_mobilenetv2_nyuv2.py [--shard i/n]
_base_ = ['./tree_deeplab_resnet34_nyuv2.py']
model = dict(backbone=dict(model_name='mobilenetv2_100', model_kwargs=dict(_delete_=True)))
