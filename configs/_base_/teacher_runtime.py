# The runtime and recommender of every teacher benchmark (configs/teacher/), besides its model,
# data and schedule: the sweep trains 2 runs at once with one thread each on a 2-core machine;
# every training (sweep, study, exported model) runs the config's own schedule, so no sweep
# overrides; the ground-truth study (tools/analysis/validate_recommender.py) trains 3 seeds
# the sweep never used, on every layout, scored on the test split.
_base_ = ['./default_runtime.py', './recommender/default.py']
sweep = dict(workers=2, threads=1)
validation = dict(seeds=3, layouts='all')
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=300))
# the inputs are unit-variance fields, not ImageNet-normalised images
visualizer = dict(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
# a tiny model: costs in MFLOPs and thousands of parameters
flops_unit = 'MFLOPs'
params_unit = 'K'
