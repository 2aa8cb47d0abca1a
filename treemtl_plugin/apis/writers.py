"""Write a recommendation (any strategy) and a strategy comparison to a work dir."""
from __future__ import annotations

import csv
import os
import os.path as osp

from ..io.atomic import atomic_write, write_json
from ..recommenders.base import Recommendation

__all__ = ['write_recommendation', 'write_comparison']


def write_recommendation(rec: Recommendation, work_dir: str) -> dict[str, str]:
    """top_layouts.json, recommendation.json, the CSV of evaluated candidates, the plot."""
    os.makedirs(work_dir, exist_ok=True)
    paths = {name: osp.join(work_dir, name) for name in
             ('top_layouts.json', 'recommendation.json', rec.csv_name, 'pareto.png')}
    write_json(paths['top_layouts.json'], [c.to_dict() for c in rec.top])
    write_json(paths['recommendation.json'], rec.summary())
    atomic_write(paths[rec.csv_name], lambda f: csv.writer(f).writerows(rec.csv_rows()))
    from ..visualization.plots import plot_pareto  # matplotlib only when writing outputs
    plot_pareto(rec, paths['pareto.png'])
    return paths


def write_comparison(rows: list[dict], work_dir: str, flops_unit: str) -> dict[str, str]:
    """compare.json, compare.csv and compare.png (best score vs budget for both strategies)."""
    os.makedirs(work_dir, exist_ok=True)
    paths = {n: osp.join(work_dir, n) for n in ('compare.json', 'compare.csv', 'compare.png')}
    write_json(paths['compare.json'], rows)

    def write_csv(f):
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write(paths['compare.csv'], write_csv)
    from ..visualization.plots import plot_comparison
    plot_comparison(rows, paths['compare.png'], flops_unit)
    return paths
