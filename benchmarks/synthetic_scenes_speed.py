"""Rendering throughput of the built-in benchmark (``SyntheticSceneDataset``): samples/s,
uncached, single process, per image size.

    python benchmarks/synthetic_scenes_speed.py [--sizes 64 128 256] [--num 200]
"""
from __future__ import annotations

import argparse
import time

from treemtl_plugin.datasets import SyntheticSceneDataset


def render_rates(sizes=(64, 128, 256), num: int = 200) -> dict[int, float]:
    """Samples/s of ``num`` uncached renders at each size (the first, warm-up, not timed)."""
    rates = {}
    for size in sizes:
        dataset = SyntheticSceneDataset(num_samples=num, image_size=size, cache=False)
        dataset[0]
        start = time.perf_counter()
        for i in range(num):
            dataset[i]
        rates[size] = num / (time.perf_counter() - start)
        print(f'{size}x{size}: {rates[size]:.0f} samples/s')
    return rates


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[64, 128, 256])
    parser.add_argument('--num', type=int, default=200)
    args = parser.parse_args()
    render_rates(args.sizes, args.num)
