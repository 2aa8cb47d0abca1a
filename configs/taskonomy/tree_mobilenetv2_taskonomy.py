# Taskonomy (5 tasks), MobileNetV2 (timm mobilenetv2_100), 5 branching points of balanced
# FLOPs; the rest as the Deeplab-ResNet34 config.
#   python tools/recommend.py configs/taskonomy/tree_mobilenetv2_taskonomy.py [--shard i/n]
_base_ = ['./tree_deeplab_resnet34_taskonomy.py']
model = dict(backbone=dict(model_name='mobilenetv2_100', model_kwargs=dict(_delete_=True)))
