# Taskonomy (5 tasks), MobileNetV2 backbone, B=5 branching points.
# Two-task table published by the authors of "A Tree-Structured Multi-Task Model Recommender"
# (Zhang, Liu & Guan, AutoML-Conf 2022), converted to this project's CSV form (values exact).
# No training needed: python tools/recommend.py configs/paper/taskonomy_mobilenetv2.py
_base_ = ['../_base_/recommender/default.py']

tasks = ['segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d', 'edge_texture']
two_task_table = '{{ fileDirname }}/data/taskonomy_mobilenetv2.csv'
# MobileNetV2 in the authors' 5 coarse blocks (stem+blocks[0:2], blocks[2:4], blocks[4],
# blocks[5:7], final 1x1 conv) at 224x224, measured on timm mobilenetv2_100 with the authors'
# counting (fvcore counts 0.082940928, 0.079804928, 0.059420928, 0.070487872, 0.02019584).
block_flops = [0.086152192, 0.081611264, 0.06002304, 0.070911232, 0.02025856]
flops_unit = 'GMac'
flops_convention = ("the authors' count (ptflops GMac: multiply-adds incl. BatchNorm, ReLU and "
                    'max-pool), one image; see tools/analysis/measure_paper_block_costs.py')
# timm mobilenetv2_100 parameters per block, millions
block_params = [0.015792, 0.223568, 0.303168, 1.269184, 0.41216]
