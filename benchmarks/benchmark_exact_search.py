"""Exact top-k search beyond enumeration: time for T = 8, 10, 12 tasks (B = 5).

    python benchmarks/benchmark_exact_search.py                 # targets of the issue
    python benchmarks/benchmark_exact_search.py --tasks 10 --budget 6 --seeds 0 1 2

Random two-task tables (normal, sd 5 %); two cost profiles: the paper's Deeplab-ResNet34
blocks (late blocks dominate) and uniform block costs (many more layouts fit a budget, the
harder case). Prints the top-k time, the Pareto-front time and the partial layouts generated.
Targets on the 2-core machine: T=10 top-5 under 4 models < 10 s; T=12 < 60 s.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from treemtl_plugin import Budget, CostModel, TwoTaskTable, count_layouts
from treemtl_plugin.core.estimator import TaskAccuracyEstimator, resolve_task_weights
from treemtl_plugin.core.search.branch_and_bound import search_pareto_front, search_top_layouts

PROFILES = {
    'resnet34': [0.121225216, 0.722369664, 0.93976704, 5.740221952, 11.03176704],
    'uniform': [1.0, 1.0, 1.0, 1.0, 1.0],
}
TARGETS_S = {10: 10.0, 12: 60.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, nargs='+', default=[8, 10, 12])
    parser.add_argument('--budget', type=float, default=4.0, help='max backbone-equivalents')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--pareto', action='store_true', help='also time the Pareto front')
    args = parser.parse_args()
    print(f'{"T":>3} {"layouts":>22} {"costs":>9} {"seed":>4} {"top-k s":>9} '
          f'{"nodes":>13} {"pareto s":>9} {"target":>8}')
    for num_tasks in args.tasks:
        for profile, flops in PROFILES.items():
            cost = CostModel(block_flops=flops)
            for seed in args.seeds:
                rng = np.random.default_rng(seed)
                values = rng.normal(0, 5, size=(num_tasks, num_tasks, 6))
                values[:, :, 0] = 0
                values[np.arange(num_tasks), np.arange(num_tasks)] = 0
                table = TwoTaskTable(tasks=tuple(f't{k}' for k in range(num_tasks)),
                                     num_blocks=5, values=values)
                weights, _ = resolve_task_weights(table.values, table.tasks, 'svde')
                est = TaskAccuracyEstimator(table.values, weights)
                start = time.perf_counter()
                limits = Budget(max_models=args.budget).limits(cost, table.tasks)
                top = search_top_layouts(est, cost, limits, args.topk)
                t_top = time.perf_counter() - start
                t_front = '-'
                if args.pareto:
                    start = time.perf_counter()
                    search_pareto_front(est, cost)
                    t_front = f'{time.perf_counter() - start:.2f}'
                target = TARGETS_S.get(num_tasks)
                verdict = '-' if target is None else \
                    f'{target:g}s {"ok" if t_top < target else "MISSED"}'
                print(f'{num_tasks:>3} {count_layouts(num_tasks, 5):>22,} {profile:>9} '
                      f'{seed:>4} {t_top:>9.2f} {top.nodes:>13,} {t_front:>9} {verdict:>8}',
                      flush=True)


if __name__ == '__main__':
    main()
