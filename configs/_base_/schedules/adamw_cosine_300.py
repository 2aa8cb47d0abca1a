# 300 iterations of AdamW (lr 3e-3) with cosine decay to zero: short trainings that converge,
# so that a training's result depends little on where it stopped. Every training of the
# teacher benchmark (the sweep, the study, the exported model) uses this schedule.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=3e-3, weight_decay=1e-4, foreach=True))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=300, T_max=300,
                        eta_min=0.0)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
