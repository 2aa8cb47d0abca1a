# mmengine runtime shared by every training config.
default_scope = 'treemtl_plugin'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
# the plugin's Runner (trusted, checked checkpoint loading under torch >= 2.6); importing its
# module registers it, so any OpenMMLab-style tools/train.py (RUNNERS.build) finds it
# (the second module registers MultiTaskVisualizer and MultiTaskVisualizationHook, used below)
custom_imports = dict(imports=['treemtl_plugin.engine.runner',
                               'treemtl_plugin.visualization.predictions'],
                      allow_failed_imports=False)
runner_type = 'treemtl_plugin.TreeMTLRunner'
# stops a runner built without the config's img_size applied (a plain Runner.from_cfg)
custom_hooks = [dict(type='ImgSizeCheckHook')]
# Training scalars and `tools/test.py --show-dir` prediction grids go through the vis backends.
# No `name`: the Runner names it after the run, so that several runs in one process (the
# sweep) each write to their own <work_dir>/<timestamp>/vis_data.
visualizer = dict(type='MultiTaskVisualizer', vis_backends=[dict(type='LocalVisBackend')])
# TensorBoard (pip install tensorboard) or Weights & Biases (pip install wandb) instead/as well:
# visualizer = dict(type='MultiTaskVisualizer', vis_backends=[
#     dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
# visualizer = dict(type='MultiTaskVisualizer', vis_backends=[
#     dict(type='LocalVisBackend'),
#     dict(type='WandbVisBackend', init_kwargs=dict(project='treemtl'))])
