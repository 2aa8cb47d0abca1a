"""Speed and memory of design-space enumeration + scoring (the recommender's hot path).

    python benchmarks/benchmark_recommender.py            # T = 5, 6, 7 with B = 5
    python benchmarks/benchmark_recommender.py --tasks 5 6 --repeat 5

For each T it times (best of --repeat) (a) streaming the whole space as compact chunks,
(b) ``recommend()``: scoring every layout, the budget filter, top-5, the Pareto front and the
CSV buffer, and (c) for spaces up to 10^6 layouts, ``enumerate_layouts()``, which builds one
Python ``Layout`` per layout (µs per layout); then measures the peak of Python/numpy
allocations (tracemalloc) in one more run of (b).
Targets on a 2-core machine: T=5 < 0.2 s, T=6 < 2 s, T=7 < 30 s.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from treemtl_plugin import (
    Budget,
    CostModel,
    TwoTaskTable,
    count_layouts,
    enumerate_layouts,
    iter_layout_chunks,
    recommend_layouts,
)

TARGETS_S = {5: 0.2, 6: 2.0, 7: 30.0}


def random_table(num_tasks: int, num_blocks: int, seed: int = 0) -> TwoTaskTable:
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 5.0, size=(num_tasks, num_tasks, num_blocks + 1))
    values[:, :, 0] = 0.0
    values[np.arange(num_tasks), np.arange(num_tasks)] = 0.0
    return TwoTaskTable(tasks=tuple(f'task{k}' for k in range(num_tasks)),
                        num_blocks=num_blocks, values=values, source='<random>')


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', type=int, nargs='+', default=[5, 6, 7])
    parser.add_argument('--blocks', type=int, default=5)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    cost = CostModel(block_flops=[0.12, 0.72, 0.94, 5.74, 11.03])  \
        if args.blocks == 5 else CostModel(block_flops=[1.0] * args.blocks)
    print(f'{"T":>3} {"layouts":>12} {"enumerate s":>12} {"recommend s":>12} '
          f'{"layouts/s":>12} {"peak MiB":>9} {"target s":>9} {"Layout objs":>12}')
    for num_tasks in args.tasks:
        table = random_table(num_tasks, args.blocks)
        total = count_layouts(num_tasks, args.blocks)
        repeat = args.repeat if total < 1_000_000 else 1

        def enumerate_only():
            return sum(len(c) for c in iter_layout_chunks(num_tasks, args.blocks))

        def run():
            return recommend_layouts(table, cost, Budget(max_models=2), topk=5)

        t_enum = best_time(enumerate_only, repeat)
        t_rec = best_time(run, repeat)
        objects = '-'
        if total <= 1_000_000:
            t_obj = best_time(lambda: enumerate_layouts(num_tasks, args.blocks), 1)
            objects = f'{t_obj:.2f} s ({t_obj / total * 1e6:.0f} µs)'
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        target = TARGETS_S.get(num_tasks)
        verdict = '' if target is None else (f'{target:>7g} ' + ('ok' if t_rec < target
                                                                  else 'MISSED'))
        print(f'{num_tasks:>3} {total:>12,} {t_enum:>12.3f} {t_rec:>12.3f} '
              f'{total / t_rec:>12,.0f} {peak:>9.1f} {verdict:>9} {objects:>12}')


if __name__ == '__main__':
    main()
