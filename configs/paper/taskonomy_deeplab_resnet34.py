# Taskonomy (5 tasks), Deeplab-ResNet34 backbone, B=5 branching points.
# Two-task table published by the authors of "A Tree-Structured Multi-Task Model Recommender"
# (Zhang, Liu & Guan, AutoML-Conf 2022), converted to this project's CSV form (values exact).
# No training needed: python tools/recommend.py configs/paper/taskonomy_deeplab_resnet34.py
_base_ = ['../_base_/recommender/default.py']

tasks = ['segment_semantic', 'normal', 'depth_zbuffer', 'keypoints2d', 'edge_texture']
two_task_table = '{{ fileDirname }}/data/taskonomy_deeplab_resnet34.csv'
# Deeplab-ResNet34 (output stride 8) in 5 blocks: stem, layer1..layer4, at 224x224.
block_flops = [0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704]
flops_unit = 'GMac'
flops_convention = ("the authors' count (ptflops GMac: multiply-adds incl. BatchNorm, ReLU and "
                    'max-pool), one image; see tools/analysis/measure_paper_block_costs.py')
# timm resnet34 parameters per block (stem, layer1..layer4), millions
block_params = [0.009536, 0.221952, 1.116416, 6.8224, 13.114368]
