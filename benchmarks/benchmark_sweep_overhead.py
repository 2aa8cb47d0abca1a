"""Fixed cost of one sweep run: everything except the training and validation iterations.

Runs one two-task run of the default config several times in one process (as the sweep does)
and splits each run's wall time with hook timestamps into: training iterations (data loading
included), the validation epoch, and the rest -- building the runner, model, optimiser and
dataloaders, logging, writing files -- which is the fixed cost per run. The first run of the
process is a warm-up (imports, the scene cache, the backbone profile) and is reported apart.

    python benchmarks/benchmark_sweep_overhead.py [--runs 3] [--iters 20] [--plain]

``--plain`` also times the same runs through a plain mmengine ``Runner`` followed by an
explicit ``runner.val()`` (how sweep runs were trained before ``SweepRunner``).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

from mmengine.config import Config
from mmengine.hooks import Hook

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from treemtl_plugin.engine.runner import SweepRunner  # noqa: E402
from treemtl_plugin.sweep.plan import plan_sweep  # noqa: E402
from treemtl_plugin.sweep.run_config import run_config  # noqa: E402

CONFIG = osp.join(ROOT, 'configs', 'synthetic', 'tree_resnet18_synthetic_3task.py')


class Clock(Hook):
    """Timestamps of the loop events (training iterations include their data loading)."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.train = []
        self.val = 0.0
        self._mark = None
        self._val_start = None

    def before_train_epoch(self, runner):
        self._mark = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        now = time.perf_counter()
        self.train.append(now - self._mark)
        self._mark = now

    def before_val_epoch(self, runner):
        self._val_start = time.perf_counter()

    def after_val_epoch(self, runner, metrics=None):
        self.val += time.perf_counter() - self._val_start


def one_run(cfg: Config, plain: bool) -> dict:
    from mmengine.runner import Runner
    clock = Clock()
    start = time.perf_counter()
    if plain:
        runner = Runner.from_cfg(cfg)
        runner.register_hook(clock)
        runner.train()
        runner.val()
    else:
        runner = SweepRunner.from_cfg(cfg)
        runner.register_hook(clock)
        runner.train()
        runner.close_log()
    total = time.perf_counter() - start
    iters = clock.train
    steady = statistics.median(iters[1:]) if len(iters) > 1 else iters[0]
    return dict(total=total, train=sum(iters), val=clock.val,
                fixed=total - sum(iters) - clock.val, first_iter_excess=iters[0] - steady,
                iter=steady, iter_times=iters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=3, help='measured runs after the warm-up')
    parser.add_argument('--iters', type=int, default=20, help='training iterations per run')
    parser.add_argument('--plain', action='store_true',
                        help='also time a plain mmengine Runner + runner.val()')
    args = parser.parse_args()
    base = Config.fromfile(CONFIG)
    run = plan_sweep(list(base.model.tasks), 4)[4]      # a two-task run: shares 1 block
    work = tempfile.mkdtemp(prefix='sweep_overhead_')
    modes = ['SweepRunner'] + (['plain Runner + val()'] if args.plain else [])
    print(f'{run.run_id}: {args.iters} training iterations + 1 validation per run, '
          f'torch threads={os.environ.get("OMP_NUM_THREADS", "default")}')
    print(f'{"mode":<22} {"run":>4} {"total s":>8} {"train s":>8} {"val s":>6} '
          f'{"fixed s":>8} {"1st-iter excess s":>18} {"s/iter":>7}')
    for mode in modes:
        fixed = []
        for k in range(args.runs + 1):
            cfg = run_config(base, run.tasks, run.layout(), osp.join(work, f'{mode[:5]}{k}'),
                             run.run_id)
            cfg.merge_from_dict({'train_cfg.max_iters': args.iters, 'log_level': 'WARNING'})
            r = one_run(cfg, plain=mode != 'SweepRunner')
            label = 'warm' if k == 0 else str(k)
            print(f'{mode:<22} {label:>4} {r["total"]:>8.2f} {r["train"]:>8.2f} '
                  f'{r["val"]:>6.2f} {r["fixed"]:>8.2f} {r["first_iter_excess"]:>18.2f} '
                  f'{r["iter"]:>7.3f}', flush=True)
            if k:
                fixed.append(r['fixed'])
        print(f'{mode:<22} fixed cost per run (median of {args.runs}): '
              f'{statistics.median(fixed):.2f} s')


if __name__ == '__main__':
    main()
