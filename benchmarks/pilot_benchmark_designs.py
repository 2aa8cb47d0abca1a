"""Pilot: which benchmark designs can test a tree recommender? Layouts x seeds, on data of its own.

A validation study can only show what an estimate knows where the layouts it ranks train to
different accuracies (the layouts' F over seed noise), where cost alone does not rank them, and
-- to test the *tree*, not just task grouping -- where the best layout parts a related pair of
tasks at an interior depth and beats every grouping (every pair sharing all blocks or none) by
more than one SE of a difference. This trains, for each candidate design (a config plus
cfg-options), every layout of a 3-task space (for more tasks: the related pairs' depths
crossed, the rest apart from the input, plus a sample spread over FLOPs) and the single-task
baselines, with N seeds of its own, and scores them with equal task weights on the dataset's
``pilot`` split, through the product's own sweep executor.

Never the study's data: the pilot's seeds (from 2000) are disjoint from the sweep's and the
study's (refused otherwise), and its images are the ``pilot`` split, not ``test``. It never
looks at an estimator: a design is chosen by what the trained layouts show.

    python benchmarks/pilot_benchmark_designs.py [--designs NAME ...] [--seeds 3]
        [--work-dir work_dirs/pilot] [--out benchmarks/results/pilot_designs] [--replot]

Results: ``<out>.json`` (every design, every layout x seed row, per task, and its verdict)
and ``<out>.png``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from treemtl_plugin.apis.config import load_config  # noqa: E402
from treemtl_plugin.apis.sweep import measure_costs  # noqa: E402
from treemtl_plugin.apis.validation import (  # noqa: E402
    _layout_id,
    _measured,
    plan_validation,
    sweep_seed_list,
    validation_settings,
)
from treemtl_plugin.core.design_space import enumerate_layouts  # noqa: E402
from treemtl_plugin.core.layout import Layout  # noqa: E402
from treemtl_plugin.evaluation.agreement import anova, difference_se, reliability  # noqa: E402
from treemtl_plugin.io.atomic import write_json  # noqa: E402
from treemtl_plugin.sweep.executor import SweepExecutor  # noqa: E402

TEACHER = osp.join(ROOT, 'configs', 'teacher')
#: the pilot's seeds start here: far from the sweep's (0..) and the study's (1000..)
PILOT_FIRST_SEED = 2000
#: layouts sampled over FLOPs beside the related pairs' depths (more than 3 tasks)
SAMPLED_LAYOUTS = 24


def _design(config, options, mechanism, related=(), depth=False, seeds=3):
    return dict(config=osp.join(TEACHER, config), options=options, mechanism=mechanism,
                related=[list(p) for p in related], depth=depth, seeds=seeds)


NOISE_AVERAGING = 'tree_resnet10t_teacher_3task.py'
MID_DEPTH = 'tree_resnet10t_narrow_teacher_middepth_3task.py'
#: name -> design: its config and cfg-options, its mechanism, its related pairs, and whether
#: it is meant to test the branching depth (the tree), not just the grouping
DESIGNS = {
    'noise_averaging': _design(NOISE_AVERAGING, {}, 'noise averaging: 512 images, noise SD 1.4 '
                               'on a1, a2 (one teacher); c clean', [('a1', 'a2')]),
    'feature_reuse_64': _design('tree_resnet10t_teacher_feature_reuse_3task.py',
                                {'train_dataloader.dataset.num_samples': 64,
                                 'train_dataloader.dataset.labelled': None},
                                'feature reuse: no noise, 64 images, a1/a2 one teacher',
                                [('a1', 'a2')]),
    'feature_reuse_r0_64': _design(
        'tree_resnet10t_teacher_feature_reuse_3task.py',
        {**{f'{split}_dataloader.dataset.readout_correlation': 0.0
            for split in ('train', 'val', 'test')},
         'train_dataloader.dataset.num_samples': 64, 'train_dataloader.dataset.labelled': None},
        'feature reuse with independent readouts of one teacher, 64 images', [('a1', 'a2')]),
    'feature_reuse_unweighted': _design(
        'tree_resnet10t_teacher_feature_reuse_3task.py', {'model.tasks.a2.loss_weight': 1.0},
        'feature reuse: no noise, 512 images, a2 labelled on 32 of them', [('a1', 'a2')]),
    # with its first 3 seeds F was 13.7; 6 seeds, as its study has
    'feature_reuse': _design(
        'tree_resnet10t_teacher_feature_reuse_3task.py', {},
        'feature reuse: a2 labelled on 32 of 512 images, its loss weighted by that share '
        '(1/16)', [('a1', 'a2')], seeds=6),
    'feature_reuse_weighted_16': _design(
        'tree_resnet10t_teacher_feature_reuse_3task.py',
        {'train_dataloader.dataset.labelled.a2': 1 / 32, 'model.tasks.a2.loss_weight': 1 / 32},
        'feature reuse, a2 labelled on 16 of 512 images, its loss weighted 1/32',
        [('a1', 'a2')]),
    'mid_depth_wide': _design(MID_DEPTH, {'model.backbone.model_kwargs.channels': [16] * 4},
                              'a1/a2 teachers part after layer 1, noise 1.4; a student of '
                              'equal width (16 channels per stage)', [('a1', 'a2')], True),
    # with its first 3 seeds F was 18.1 (c's seed noise); a 4th seed (as its study has)
    'mid_depth': _design(MID_DEPTH, {}, 'a1/a2 teachers part after layer 1, noise 1.4; '
                         'narrow late stages (16, 16, 4, 4)', [('a1', 'a2')], True, seeds=4),
    'mid_depth_c_shares_layer1': _design(
        MID_DEPTH, {f'{split}_dataloader.dataset.teacher':
                    [[['a1', 'a2', 'c']]] + [[['a1'], ['a2'], ['c']]] * 3
                    for split in ('train', 'val', 'test')},
        'mid-depth, c\'s teacher also shares layer 1 with a1/a2', [('a1', 'a2')], True),
    'mid_depth_c_noise_0.7': _design(
        MID_DEPTH, {'train_dataloader.dataset.label_noise.c': 0.7},
        'mid-depth, c with label noise SD 0.7', [('a1', 'a2')], True),
    'mid_depth_1024_noise_2': _design(
        MID_DEPTH, {'train_dataloader.dataset.num_samples': 1024,
                    'train_dataloader.dataset.label_noise': dict(a1=2.0, a2=2.0)},
        'mid-depth with 1024 training images and noise SD 2.0', [('a1', 'a2')], True),
    'mid_depth_2048_noise_2.8': _design(
        MID_DEPTH, {'train_dataloader.dataset.num_samples': 2048,
                    'train_dataloader.dataset.label_noise': dict(a1=2.8, a2=2.8)},
        'mid-depth with 2048 training images and noise SD 2.8', [('a1', 'a2')], True),
    'mix_5task': _design('tree_resnet10t_narrow_teacher_mix_5task.py', {},
                         'a1/a2 teachers part after layer 1, b1/b2 after layer 2, noise 1.4; '
                         'c clean; narrow late stages', [('a1', 'a2'), ('b1', 'b2')], True,
                         seeds=4),
}


def pilot_seeds(cfg, count: int) -> list[int]:
    """``count`` seeds from 2000 on, none the sweep's or the study's (checked)."""
    used = set(sweep_seed_list(cfg)) | set(validation_settings(cfg)['seeds'])
    seeds = [s for s in range(PILOT_FIRST_SEED, PILOT_FIRST_SEED + count + len(used))
             if s not in used][:count]
    assert not set(seeds) & used, 'pilot seeds overlap the sweep or the study'
    return seeds


def pilot_config(cfg):
    """The config scored on the dataset's ``pilot`` split (a copy of the test loader)."""
    out = copy.deepcopy(cfg)
    loader = copy.deepcopy(cfg.test_dataloader)
    loader['dataset']['split'] = 'pilot'
    loader['dataset']['num_samples'] = 1024
    out.val_dataloader = loader
    out.val_evaluator = copy.deepcopy(cfg.test_evaluator)
    return out


def is_grouping(layout: Layout) -> bool:
    """Every pair shares all blocks or none (a partition of the tasks into groups)."""
    bp = layout.branch_points()
    return bool(np.isin(bp, (0, layout.num_blocks)).all())


def pilot_layouts(tasks, num_blocks: int, related, seed: int = 0) -> list[Layout]:
    """Every layout for 3 tasks; else the related pairs' depths crossed (every other pair apart
    from the input) plus ``SAMPLED_LAYOUTS`` spread evenly over the space's block count."""
    if len(tasks) <= 3:
        return enumerate_layouts(list(tasks), num_blocks)
    import itertools
    chosen = {}
    for depths in itertools.product(range(num_blocks + 1), repeat=len(related)):
        bp = np.zeros((len(tasks), len(tasks)), dtype=np.int64)
        np.fill_diagonal(bp, num_blocks)
        for (a, b), d in zip(related, depths):
            i, j = tasks.index(a), tasks.index(b)
            bp[i, j] = bp[j, i] = d
        layout = Layout.from_branch_points(list(tasks), bp, num_blocks)
        chosen[layout] = None
    space = enumerate_layouts(list(tasks), num_blocks)
    copies = np.array([lay.sets_per_block().sum() for lay in space])
    order = np.lexsort((np.random.default_rng(seed).random(len(space)), copies))
    for k in np.linspace(0, len(space) - 1, SAMPLED_LAYOUTS).round().astype(int):
        chosen[space[order[k]]] = None
    return list(chosen)


def depth_curve(rows: list[dict], pair, tasks, num_blocks: int) -> list[dict]:
    """The related pair's trained score at each shared depth, every other pair apart."""
    out = []
    for d in range(num_blocks + 1):
        for row in rows:
            bp = Layout(row['layout']).with_tasks(tasks).branch_points()
            i, j = tasks.index(pair[0]), tasks.index(pair[1])
            others = [(p, q) for p in range(len(tasks)) for q in range(p + 1, len(tasks))
                      if (p, q) != tuple(sorted((i, j)))]
            if bp[i, j] == d and all(bp[p, q] == 0 for p, q in others):
                out.append(dict(depth=d, mean=row['mean']))
    return out


def verdict(summary: dict, depth: bool) -> tuple[bool, list[str]]:
    """Accept: F >= 20, |Spearman(FLOPs, trained)| <= 0.8 and, for a depth design, the best
    layout parts a related pair at an interior depth and beats the best grouping by > 1 SE."""
    misses = []
    if not summary['F'] >= 20:
        misses.append(f'F {summary["F"]:.1f} < 20')
    if not abs(summary['spearman_flops']) <= 0.8:
        misses.append(f'cost alone ranks the layouts (Spearman {summary["spearman_flops"]:+.2f})')
    if depth:
        if not summary['best_parts_related_mid_depth']:
            misses.append('the best layout parts no related pair at an interior depth')
        if not summary['tree_over_grouping'] > summary['difference_se']:
            misses.append(f'the best tree beats the best grouping by '
                          f'{summary["tree_over_grouping"]:+.2f}, not more than one SE '
                          f'({summary["difference_se"]:.2f})')
    return not misses, misses


def run_design(name: str, design: dict, seeds: int, work_dir: str) -> dict:
    cfg = load_config(design['config'], design['options'])
    tasks = list(cfg.model.tasks)
    cost, _ = measure_costs(cfg, tasks)
    B = cost.num_blocks
    layouts = pilot_layouts(tasks, B, design['related'])
    seed_list = pilot_seeds(cfg, seeds)
    items = [dict(layout=lay) for lay in layouts]
    runs = plan_validation(tasks, B, items, seed_list)
    executor = SweepExecutor(pilot_config(cfg), runs, osp.join(work_dir, name),
                             overrides=dict(train_cfg=dict(cfg.train_cfg)),
                             log=lambda m: print(f'[{name}] {m}', flush=True)
                             if 'finished' not in m else None)
    executor.execute()
    records = executor.results()
    names = tuple(sorted(tasks))
    rows = []
    for lay in layouts:
        lid = _layout_id(lay.with_tasks(names))
        ids = dict(layout={s: f'layout_{lid}__s{s}' for s in seed_list},
                   single={(t, s): f'single__{t}__s{s}' for t in tasks for s in seed_list})
        measured = _measured(records, ids, tasks, seed_list)
        rows.append(dict(layout=lay.to_list(), flops=float(cost.layout_cost(lay)['flops']),
                         grouping=is_grouping(lay), measured=measured,
                         mean=float(np.mean([np.mean(list(measured[str(s)].values()))
                                             for s in seed_list]))))
    return dict(config=osp.relpath(design['config'], ROOT), options=design['options'],
                mechanism=design['mechanism'], related=design['related'],
                depth_design=design['depth'], tasks=tasks, num_blocks=B, seeds=seed_list,
                scored_on='pilot split (1024 images)', flops_unit=cost.flops_unit,
                layouts=rows, summary=summarise(rows, tasks, B, design, seed_list))


def summarise(rows: list[dict], tasks, num_blocks: int, design: dict, seeds) -> dict:
    """Spread, cost alone, the related pairs' curves and the best tree against the best
    grouping -- all on equal task weights, from the rows alone."""
    per_seed = np.array([[np.mean(list(r['measured'][str(s)].values())) for s in seeds]
                         for r in rows])
    table, rel = anova(per_seed), reliability(per_seed)
    mean = per_seed.mean(axis=1)
    flops = np.array([r['flops'] for r in rows])
    best = int(np.argmax(mean))
    groupings = [k for k, r in enumerate(rows) if r['grouping']]
    best_grouping = max(groupings, key=lambda k: mean[k])
    best_bp = Layout(rows[best]['layout']).with_tasks(tasks).branch_points()
    mid = any(0 < best_bp[tasks.index(a), tasks.index(b)] < num_blocks
              for a, b in design['related'])
    return dict(F=table['F'], p=table['p'], layout_sd=rel['layout_sd'], seed_sd=rel['seed_sd'],
                difference_se=difference_se(per_seed),
                spearman_flops=float(stats.spearmanr(flops, mean)[0]),
                best_layout=rows[best]['layout'], best_mean=float(mean[best]),
                best_grouping=rows[best_grouping]['layout'],
                best_grouping_mean=float(mean[best_grouping]),
                tree_over_grouping=float(mean[best] - mean[best_grouping]),
                best_parts_related_mid_depth=bool(mid),
                curves={f'{a}/{b}': depth_curve(rows, (a, b), tasks, num_blocks)
                        for a, b in design['related']})


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.5 * rows), dpi=110,
                             squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis('off')
    for ax, name in zip(axes.flat, names):
        s = results[name]['summary']
        for pair, curve in s['curves'].items():
            x = [c['depth'] for c in curve]
            ax.errorbar(x, [c['mean'] for c in curve], yerr=s['difference_se'] / np.sqrt(2),
                        marker='o', capsize=3, label=f'{pair} (others apart)')
        ax.axhline(s['best_mean'], color='tab:green', ls=':', lw=1.2, label='best layout')
        ax.axhline(s['best_grouping_mean'], color='tab:red', ls='--', lw=1,
                   label='best grouping')
        ax.axhline(0, color='0.4', lw=0.8)
        ax.set_xlabel('blocks the pair shares')
        ax.set_title(f'{name}\nF {s["F"]:.0f}, FLOPs rho {s["spearman_flops"]:+.2f}, tree - '
                     f'grouping\n{s["tree_over_grouping"]:+.2f} (SE {s["difference_se"]:.2f})'
                     f' -> {"accepted" if results[name]["accepted"] else "rejected"}',
                     fontsize=7.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc='best')
        ax.set_ylabel('trained score, mean over tasks (%)', fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--designs', nargs='+', default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument('--seeds', type=int, help="seeds per layout (default: the design's)")
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'pilot'))
    parser.add_argument('--out', default=osp.join(ROOT, 'benchmarks', 'results', 'pilot_designs'))
    parser.add_argument('--replot', action='store_true',
                        help='only redraw OUT.png from the rows in OUT.json (no training)')
    args = parser.parse_args(argv)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    saved = {}
    if osp.isfile(args.out + '.json'):
        with open(args.out + '.json', encoding='utf-8') as f:
            saved = json.load(f).get('designs', {})
    if args.replot:
        plot(saved, args.out + '.png')
        print(f'redrew {args.out}.png from {args.out}.json')
        return 0
    for name in args.designs:
        result = run_design(name, DESIGNS[name], args.seeds or DESIGNS[name]['seeds'],
                            args.work_dir)
        accepted, misses = verdict(result['summary'], result['depth_design'])
        result.update(accepted=accepted, misses=misses)
        saved[name] = result
        s = result['summary']
        curves = '; '.join(f'{pair} ' + ' '.join(f'{c["mean"]:+.1f}' for c in curve)
                           for pair, curve in s['curves'].items())
        print(f'{name}: F {s["F"]:.1f}, layout SD {s["layout_sd"]:.2f}, seed SD '
              f'{s["seed_sd"]:.2f}, Spearman(FLOPs, trained) {s["spearman_flops"]:+.2f}; '
              f'{curves}; best tree - best grouping {s["tree_over_grouping"]:+.2f} (SE '
              f'{s["difference_se"]:.2f}) -> {"accepted" if accepted else "rejected: "}'
              + '; '.join(misses), flush=True)
        write_json(args.out + '.json', dict(designs=saved))     # nothing lost if interrupted
    plot(saved, args.out + '.png')
    print(f'wrote {args.out}.json and .png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
