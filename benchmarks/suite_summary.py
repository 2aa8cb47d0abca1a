"""The benchmark suite in one table and one figure, recomputed from the committed studies.

Reads ``benchmarks/results/validation_<config>.json`` of every suite member (each a study made
by ``tools/analysis/validate_recommender.py``), re-summarises it from its raw rows (so a
figure never comes from a stale summary) and writes:

* the tables between the ``<!-- suite:... -->`` markers of ``docs/advanced/benchmark_suite.md``
  and ``docs/advanced/validation.md`` (each file holds the blocks it shows);
* ``benchmarks/results/suite_tree_vs_grouping.png``: per member, the trained tree
  recommendation of each estimator and the trained task-grouping recommendation at the
  FLOPs-decile budgets.

    python benchmarks/suite_summary.py            # rewrite the docs' tables and the figure
    python benchmarks/suite_summary.py --check    # exit 1 when the docs differ (tests run it)
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import re
import sys

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from treemtl_plugin.apis.validation import rescore_study  # noqa: E402

RESULTS = osp.join(ROOT, 'benchmarks', 'results')
DOC = osp.join(ROOT, 'docs', 'advanced', 'benchmark_suite.md')
#: the files whose ``<!-- suite:NAME -->`` blocks this script writes (DOC must hold all)
DOCS = (DOC, osp.join(ROOT, 'docs', 'advanced', 'validation.md'))
#: member -> (config stem, why sharing helps there, does it ask for a branching depth)
MEMBERS = {
    'noise averaging': ('tree_resnet10t_teacher_3task', 'label noise on a related pair', False),
    'feature reuse': ('tree_resnet10t_teacher_feature_reuse_3task',
                      'scarce clean data, one teacher for a pair', False),
    'mid-depth split': ('tree_resnet10t_narrow_teacher_middepth_3task',
                        'a pair whose teachers part after layer 1; narrow late stages', True),
    '5-task mix': ('tree_resnet10t_narrow_teacher_mix_5task',
                   'two pairs parting at different depths, a loner', True),
}
ESTIMATOR_NAMES = ('paper', 'blockwise')


def load_members() -> dict[str, dict]:
    """Every member whose study is committed, re-scored from its rows."""
    out = {}
    for member, (stem, _, _) in MEMBERS.items():
        path = osp.join(RESULTS, f'validation_{stem}.json')
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                study = json.load(f)
            if study.get('table') is None or not study.get('budgets'):
                print(f'skipping {path}: made before studies recorded their table and '
                      'trained the grouping at each budget; run its study again')
                continue
            out[member] = rescore_study(study)
    return out


def _num(value, digits=2, sign=False) -> str:
    if value is None:
        return '–'
    return f'{value:+.{digits}f}' if sign else f'{value:.{digits}f}'


def _ci(agree) -> str:
    lo, hi = agree['spearman_ci']
    return f'{_num(agree["spearman"])} [{_num(lo)}, {_num(hi)}]'


def suite_table(studies: dict[str, dict]) -> str:
    """Members x statistics (weighted), every estimator on the same rows."""
    head = ['member', 'why sharing helps', 'layouts × seeds', 'F', 'FLOPs alone ρ']
    for name in ESTIMATOR_NAMES:
        head += [f'{name} ρ [95% CI]', f'{name} top-1 regret', f'{name} budgets within 1 SE']
    head += ['SE of a difference']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for member, study in studies.items():
        s = study['summary']
        weighted = s['weighted']
        cost = (weighted.get('cost_alone') or {}).get('spearman_flops')
        row = [member, MEMBERS[member][1], f'{len(study["layouts"])} × {len(study["seeds"])}',
               _num(weighted['anova']['F'], 1), _num(cost, 2, True)]
        for name in ESTIMATOR_NAMES:
            e = s['estimators'][name]['weighted']
            budgets = e.get('budgets') or {}
            row += [_ci(e['agreement']), _num(e['agreement']['top1_regret']),
                    f'{sum(b["within_se"] for b in budgets.get("budgets", []))} of '
                    f'{len(budgets.get("budgets", []))}']
        row += [_num(weighted['difference_se'])]
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def grouping_table(studies: dict[str, dict]) -> str:
    """Members x estimators: at how many of the 10 budgets the trained tree recommendation
    beats, ties or loses to the trained grouping recommendation (by more than one SE)."""
    head = ['member'] + [f'{name}: tree better / tie / grouping better'
                         for name in ESTIMATOR_NAMES] + ['largest tree − grouping (SE)']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for member, study in studies.items():
        result = study['summary']['tree_vs_grouping']['weighted']
        row = [member]
        for name in ESTIMATOR_NAMES:
            t = result['better'][name]
            row.append(f'{t["tree"]} / {t["tie"]} / {t["grouping"]}')
        diffs = [e['minus_grouping'] for b in result['budgets'] for e in b['tree'].values()
                 if e.get('minus_grouping') is not None]
        row.append(f'{_num(max(diffs), 2, True)} ({_num(result["se"])})' if diffs else '–')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def pilot_table(path: str = osp.join(RESULTS, 'pilot_designs.json')) -> str:
    """Every piloted design: spread, cost alone, the related pairs' curves, the best tree
    against the best grouping, and the verdict (from the pilot's rows)."""
    with open(path, encoding='utf-8') as f:
        designs = json.load(f)['designs']
    head = ['design', 'what it is', 'layouts × seeds', 'F', 'layout SD / seed SD',
            'FLOPs alone ρ', 'related pair, trained over 0..4 shared blocks (others apart)',
            'best tree − best grouping (SE)', 'verdict']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, d in designs.items():
        s = d['summary']
        curves = '; '.join(f'{pair}: ' + ' '.join(f'{c["mean"]:+.1f}' for c in curve)
                           for pair, curve in s['curves'].items())
        verdict = 'accepted' if d['accepted'] else 'rejected: ' + '; '.join(d['misses'])
        lines.append('| ' + ' | '.join([
            name, d['mechanism'], f'{len(d["layouts"])} × {len(d["seeds"])}', _num(s['F'], 1),
            f'{_num(s["layout_sd"])} / {_num(s["seed_sd"])}', _num(s['spearman_flops'], 2, True),
            curves, f'{_num(s["tree_over_grouping"], 2, True)} ({_num(s["difference_se"])})',
            verdict]) + ' |')
    return '\n'.join(lines)


def table_methods_table(path: str = osp.join(RESULTS, 'table_methods_suite.json')) -> str:
    """Members x ways of getting the table (``benchmarks/table_methods_on_suite.py``): cost,
    and against the member's study the paper estimate's Spearman (mean and range over the 3
    sweep seeds), top-1 regret and budgets within one SE."""
    head = ['member', 'table', 'trainings (share of pairwise)', 'iterations (share)',
            'ρ vs trained: mean [min, max] over seeds', 'top-1 regret, mean (SE)',
            'budgets within 1 SE, mean', 'adaptive rounds']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    if not osp.isfile(path):
        return '\n'.join(lines)
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    for member, result in data['members'].items():
        stem = MEMBERS[member][0]
        with open(osp.join(RESULTS, f'validation_{stem}.json'), encoding='utf-8') as f:
            se = json.load(f)['summary']['weighted']['difference_se']
        seeds = list(result['seeds'].values())
        for method in data['methods']:
            runs = [s[method] for s in seeds if method in s]
            if not runs:
                continue
            rho = [r['vs_trained']['spearman'] for r in runs]
            cost = runs[0]['cost']
            rounds = [r['info'].get('adaptive_rounds') for r in runs]
            lines.append('| ' + ' | '.join([
                member, method.replace('_60', ' (60%)'),
                f'{cost["trainings"]} '
                f'({100 * cost["trainings"] / cost["pairwise_trainings"]:.0f}%)',
                f'{100 * cost["fraction_of_pairwise"]:.1f}%',
                f'{np.mean(rho):+.2f} [{min(rho):+.2f}, {max(rho):+.2f}]',
                f'{np.mean([r["vs_trained"]["top1_regret"] for r in runs]):.2f} ({se:.2f})',
                f'{np.mean([r["vs_trained"]["budgets_within_se"] for r in runs]):.1f} of 10',
                '–' if None in rounds else ' / '.join(str(x) for x in rounds)]) + ' |')
        for name, label in (('raw', 'pairwise, 3-seed mean'),
                            ('shrunk', 'pairwise, 3-seed mean, shrunk')):
            r = result['three_seed_pairwise'][name]
            lines.append('| ' + ' | '.join([
                member, label, '3 × pairwise', '300%', f'{r["spearman"]:+.2f}',
                f'{r["top1_regret"]:.2f} ({se:.2f})', f'{r["budgets_within_se"]} of 10',
                '–']) + ' |')
        r = result['fewest_flops']
        lines.append('| ' + ' | '.join([
            member, 'fewest FLOPs (no table)', '0', '0%', f'{r["spearman"]:+.2f}',
            f'{r["top1_regret"]:.2f} ({se:.2f})', f'{r["budgets_within_se"]} of 10',
            '–']) + ' |')
    return '\n'.join(lines)


def render(studies: dict[str, dict]) -> dict[str, str]:
    return {'pilot': pilot_table(), 'suite': suite_table(studies),
            'tree-vs-grouping': grouping_table(studies),
            'table-methods': table_methods_table()}


def replace_blocks(text: str, blocks: dict[str, str], required: bool = True) -> str:
    """``text`` with the content between ``<!-- suite:NAME -->`` and ``<!-- /suite:NAME -->``
    replaced by ``blocks[NAME]``; a block ``text`` lacks is an error when ``required``."""
    for name, body in blocks.items():
        pattern = re.compile(rf'(<!-- suite:{name} -->\n)(?:.*?\n)?(<!-- /suite:{name} -->)',
                             re.S)
        if not pattern.search(text):
            if not required:
                continue
            raise SystemExit(f'no <!-- suite:{name} --> ... <!-- /suite:{name} --> block')
        text = pattern.sub(lambda m: m.group(1) + body + '\n' + m.group(2), text)
    return text


def plot(studies: dict[str, dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(studies), figsize=(3.6 * len(studies), 3.4), dpi=110,
                             squeeze=False)
    for ax, (member, study) in zip(axes[0], studies.items()):
        result = study['summary']['tree_vs_grouping']['weighted']
        rows = result['budgets']
        x = np.arange(1, len(rows) + 1)
        ax.plot(x, [r['best_trained'] for r in rows], color='0.6', ls=':',
                label='best trained layout')
        group = [np.nan if r['grouping'] is None else r['grouping']['mean'] for r in rows]
        ax.plot(x, group, 'o--', color='tab:red', label='task grouping')
        for name, marker in zip(ESTIMATOR_NAMES, ('s', '^')):
            ax.plot(x, [r['tree'][name]['mean'] for r in rows], marker=marker, ls='-',
                    label=f'tree ({name})')
        ax.fill_between(x, np.array(group) - result['se'], np.array(group) + result['se'],
                        color='tab:red', alpha=0.12, lw=0)
        ax.set_title(member, fontsize=9)
        ax.set_xlabel('budget: FLOPs decile of the design space', fontsize=7.5)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel('trained score, weighted (%)', fontsize=8)
    axes[0][-1].legend(fontsize=6.5, loc='lower right')
    fig.suptitle('recommended and trained at each budget (band: ±1 SE of a difference '
                 'around the grouping)', fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='only compare the docs with the committed rows (exit 1 if they '
                             'differ)')
    args = parser.parse_args(argv)
    studies = load_members()
    blocks = render(studies)
    stale = []
    for path in DOCS:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        new = replace_blocks(text, blocks, required=path == DOC)
        if new == text:
            continue
        stale.append(osp.relpath(path, ROOT))
        if not args.check:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(new)
    if args.check:
        if stale:
            print(f'{", ".join(stale)} differ from the committed studies: run '
                  'python benchmarks/suite_summary.py')
            return 1
        print(f'the docs match the committed studies ({len(studies)} members)')
        return 0
    if studies:
        plot(studies, osp.join(RESULTS, 'suite_tree_vs_grouping.png'))
    for block in blocks.values():
        print(block + '\n')
    print(f'rewrote {", ".join(stale) or "nothing (up to date)"}; drew '
          f'{osp.join(RESULTS, "suite_tree_vs_grouping.png")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
