# NYUv2, MobileNetV2 backbone, B=5 branching points.
# Two-task table published by the authors of "A Tree-Structured Multi-Task Model Recommender"
# (Zhang, Liu & Guan, AutoML-Conf 2022), converted to this project's CSV form (values exact).
# No training needed: python tools/recommend.py configs/paper/nyuv2_mobilenetv2.py
_base_ = ['../_base_/recommender/default.py']

tasks = ['segment_semantic', 'normal', 'depth_zbuffer']
two_task_table = '{{ fileDirname }}/data/nyuv2_mobilenetv2.csv'
# MobileNetV2 in the authors' 5 coarse blocks (stem+blocks[0:2], blocks[2:4], blocks[4],
# blocks[5:7], final 1x1 conv) at 321x321, measured on timm mobilenetv2_100 with the authors'
# counting (fvcore counts 0.172378032, 0.174181968, 0.133697088, 0.171634624, 0.04987136).
block_flops = [0.179044816, 0.178083312, 0.13505184, 0.172655296, 0.05002624]
flops_unit = 'GMac'
flops_convention = ("the authors' count (ptflops GMac: multiply-adds incl. BatchNorm, ReLU and "
                    'max-pool), one image; see tools/analysis/measure_paper_block_costs.py')
# timm mobilenetv2_100 parameters per block, millions
block_params = [0.015792, 0.223568, 0.303168, 1.269184, 0.41216]
