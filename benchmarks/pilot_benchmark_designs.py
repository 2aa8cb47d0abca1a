"""Pilot: do a benchmark's layouts differ beyond seed noise? A handful of layouts x N seeds.

Before a validation study can say anything about an estimate, the layouts it ranks must train
to measurably different accuracies. For each design (a config plus settings), this trains six
layouts -- all-shared, independent, the known right tree (tasks 1 and 2 together, task 3 alone),
a wrong tree (tasks 1 and 3 together), the right tree from block 2 on (all share block 1) and
the right tree for the first half of the blocks -- and the single-task baselines, each with N
seeds the sweep never uses, scored on the test split, through the product's own sweep
executor. It reports per design the two-way ANOVA F of layouts over seeds, the layout and seed
SDs, and the Spearman correlation of FLOPs with the trained score (a design that cost alone
ranks cannot show what an estimate knows).

    python benchmarks/pilot_benchmark_designs.py [--designs NAME ...] [--seeds 3]
        [--work-dir work_dirs/pilot] [--out benchmarks/results/pilot_designs]

Results: ``<out>.json`` (every layout x seed row, per task) and ``<out>.png``, beside the same
spread figures of the rendered-scenes benchmark's committed study (every layout, its
independent seeds).
"""
from __future__ import annotations

import argparse
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
from treemtl_plugin.apis.validation import (_fresh_seeds, _layout_id, _measured,  # noqa: E402
                                            plan_validation, study_config, sweep_seed_list)
from treemtl_plugin.core.layout import Layout  # noqa: E402
from treemtl_plugin.evaluation.agreement import anova, reliability  # noqa: E402
from treemtl_plugin.io.atomic import write_json  # noqa: E402
from treemtl_plugin.sweep.executor import SweepExecutor  # noqa: E402

TEACHER = osp.join(ROOT, 'configs', 'teacher', 'tree_resnet10t_teacher_3task.py')
#: name -> (config, cfg-options, what it tests)
DESIGNS = {
    'teacher_clean': (TEACHER, {'train_dataloader.dataset.label_noise': 0.0},
                      'teacher tasks, no label noise'),
    'teacher_noisy_all': (TEACHER, {'train_dataloader.dataset.label_noise': 1.4},
                          'teacher tasks, label noise on every task'),
    'teacher_256': (TEACHER, {'train_dataloader.dataset.num_samples': 256,
                              'train_dataloader.dataset.label_noise.a1': 1.0,
                              'train_dataloader.dataset.label_noise.a2': 1.0},
                    'teacher tasks, 256 training images, noise SD 1.0 on a1 and a2'),
    'teacher_default': (TEACHER, {}, 'the default: 512 training images, noise SD 1.4 on a1 '
                                     'and a2 only'),
}
#: the rendered-scenes benchmark (the former default): its committed study, every layout
SCENES_STUDY = osp.join(ROOT, 'benchmarks', 'results',
                        'validation_tree_resnet18_synthetic_3task.json')


def study_spread(path: str) -> dict:
    """F and the layout / seed SDs of a committed validation study (equal task weights)."""
    import json
    with open(path, encoding='utf-8') as f:
        study = json.load(f)
    seeds = [str(s) for s in study['seeds']]
    per_seed = np.array([[np.mean(list(item['measured'][s].values())) for s in seeds]
                         for item in study['layouts']])
    table, rel = anova(per_seed), reliability(per_seed)
    return dict(study=osp.relpath(path, ROOT), layouts=len(per_seed), seeds=study['seeds'],
                F=table['F'], p=table['p'], layout_sd=rel['layout_sd'], seed_sd=rel['seed_sd'])


def pilot_layouts(tasks, num_blocks: int) -> dict[str, Layout]:
    """The six layouts of the pilot, for tasks (t1, t2, t3): t1 and t2 are the related pair."""
    t1, t2, t3 = tasks
    shared, alone = [[t1, t2, t3]], [[t1], [t2], [t3]]
    right, wrong = [[t1, t2], [t3]], [[t1, t3], [t2]]
    half = num_blocks // 2
    return {name: Layout(blocks, tasks=tasks) for name, blocks in {
        'all_shared': [shared] * num_blocks,
        'independent': [alone] * num_blocks,
        'right_tree': [right] * num_blocks,
        'wrong_tree': [wrong] * num_blocks,
        'right_after_block_1': [shared] + [right] * (num_blocks - 1),
        'right_then_apart': [right] * half + [alone] * (num_blocks - half),
    }.items()}


def run_design(name: str, config: str, options: dict, seeds: int, work_dir: str) -> dict:
    cfg = load_config(config, options)
    tasks = list(cfg.model.tasks)
    cost, _ = measure_costs(cfg, tasks)
    layouts = pilot_layouts(tasks, cost.num_blocks)
    seed_list = _fresh_seeds(seeds, sweep_seed_list(cfg))
    items = [dict(name=n, layout=lay) for n, lay in layouts.items()]
    runs = plan_validation(tasks, cost.num_blocks, items, seed_list)
    train_cfg, scored_on = study_config(cfg)
    overrides = dict(train_cfg=dict(cfg.train_cfg))
    executor = SweepExecutor(train_cfg, runs, osp.join(work_dir, name), overrides=overrides,
                             log=lambda m: print(f'[{name}] {m}', flush=True))
    executor.execute()
    records = executor.results()
    rows = []
    names = tuple(sorted(tasks))
    for item in items:
        lid = _layout_id(item['layout'].with_tasks(names))
        ids = dict(layout={s: f'layout_{lid}__s{s}' for s in seed_list},
                   single={(t, s): f'single__{t}__s{s}' for t in tasks for s in seed_list})
        rows.append(dict(name=item['name'], layout=item['layout'].to_list(),
                         flops=float(cost.layout_cost(item['layout'])['flops']),
                         measured=_measured(records, ids, tasks, seed_list)))
    per_seed = np.array([[np.mean(list(r['measured'][str(s)].values())) for s in seed_list]
                         for r in rows])
    table, rel = anova(per_seed), reliability(per_seed)
    per_task = {t: reliability(np.array([[r['measured'][str(s)][t] for s in seed_list]
                                         for r in rows]))['seed_sd'] for t in tasks}
    flops = np.array([r['flops'] for r in rows])
    return dict(config=osp.relpath(config, ROOT), options=options, description=DESIGNS.get(
        name, ('', '', ''))[2], tasks=tasks, seeds=seed_list, scored_on=scored_on.split(' ')[0],
        flops_unit=cost.flops_unit, layouts=rows,
        summary=dict(F=table['F'], p=table['p'], layout_sd=rel['layout_sd'],
                     seed_sd=rel['seed_sd'], seed_sd_per_task=per_task,
                     spearman_flops=float(stats.spearmanr(flops, per_seed.mean(1))[0])))


def plot(results: dict, reference: dict | None, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.9 * (len(names) + 1), 4.3), dpi=110,
                             squeeze=False)
    ax = axes[0][0]
    labels = (['scenes\n(former default,\nall 35 layouts)'] if reference else []) + \
        [n.replace('teacher_', 'teacher\n') for n in names]
    fs = ([reference['F']] if reference else []) + [results[n]['summary']['F'] for n in names]
    bars = ax.bar(range(len(fs)), fs, color=['0.6'] * bool(reference) + ['tab:blue'] * len(names))
    ax.set_yscale('log')
    ax.axhline(20, color='tab:red', ls='--', lw=1, label='F = 20 (the acceptance bar)')
    ax.axhline(1, color='0.3', lw=0.8)
    for bar, f in zip(bars, fs):
        ax.text(bar.get_x() + bar.get_width() / 2, f * 1.1, f'{f:.1f}', ha='center', fontsize=7)
    ax.set_ylim(top=max(fs) * 12)          # room for the labels above the bars and the legend
    ax.set_xticks(range(len(fs)), labels, fontsize=6.5)
    ax.set_title('layouts\' F over seeds (two-way ANOVA)', fontsize=8)
    ax.legend(fontsize=7, loc='upper left')
    for ax, name in zip(axes[0][1:], names):
        res = results[name]
        rows = res['layouts']
        seeds = [str(s) for s in res['seeds']]
        scores = np.array([[np.mean(list(r['measured'][s].values())) for s in seeds]
                           for r in rows])
        se = res['summary']['seed_sd'] / np.sqrt(len(seeds))
        x = np.arange(len(rows))
        ax.bar(x, scores.mean(1), yerr=se, color='tab:blue', alpha=0.75, capsize=3)
        for k in range(len(seeds)):
            ax.plot(x, scores[:, k], '.', color='k', ms=4)
        ax.axhline(0, color='0.4', lw=0.8)
        ax.set_xticks(x, [r['name'].replace('_', '\n') for r in rows], fontsize=6.5)
        s = res['summary']
        ax.set_title(f'{name}\nF = {s["F"]:.1f}, layout SD {s["layout_sd"]:.2f} vs seed SD '
                     f'{s["seed_sd"]:.2f}\nSpearman(FLOPs, trained) {s["spearman_flops"]:+.2f}',
                     fontsize=8)
        ax.set_ylabel('trained relative performance, mean over tasks (%)', fontsize=7)
        ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--designs', nargs='+', default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'pilot'))
    parser.add_argument('--out', default=osp.join(ROOT, 'benchmarks', 'results', 'pilot_designs'))
    parser.add_argument('--replot', action='store_true',
                        help='only redraw OUT.png from the rows in OUT.json (no training)')
    args = parser.parse_args(argv)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    if args.replot:
        with open(args.out + '.json', encoding='utf-8') as f:
            saved = json.load(f)
        plot(saved['designs'], saved['scenes_study'], args.out + '.png')
        print(f'redrew {args.out}.png from {args.out}.json')
        return 0
    results = {}
    for name in args.designs:
        config, options, _ = DESIGNS[name]
        results[name] = run_design(name, config, options, args.seeds, args.work_dir)
        s = results[name]['summary']
        print(f'{name:>20}: F {s["F"]:7.1f} (p {s["p"]:.2g}), layout SD {s["layout_sd"]:.2f}, '
              f'seed SD {s["seed_sd"]:.2f}, Spearman(FLOPs, trained) {s["spearman_flops"]:+.2f}; '
              'seed SD per task ' + ', '.join(f'{t} {v:.2f}' for t, v in
                                              s['seed_sd_per_task'].items()), flush=True)
    reference = study_spread(SCENES_STUDY) if osp.isfile(SCENES_STUDY) else None
    if reference:
        print(f'{"scenes (study)":>20}: F {reference["F"]:7.1f} (p {reference["p"]:.2g}), layout SD '
              f'{reference["layout_sd"]:.2f}, seed SD {reference["seed_sd"]:.2f} '
              f'({reference["layouts"]} layouts, seeds {reference["seeds"]})')
    write_json(args.out + '.json', dict(designs=results, scenes_study=reference))
    plot(results, reference, args.out + '.png')
    print(f'wrote {args.out}.json and .png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
