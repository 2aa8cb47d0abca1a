"""The printed report of a recommendation (any strategy), readable at any terminal width.

Numbers come first, in tables whose columns never shrink below their values: when the per-task
columns do not fit the width, they continue in a second table. Each candidate's drawing (the
tree, or the networks of a grouping) follows in its own section, so wide drawings never squeeze
the numbers. ``report.txt`` is rendered at a fixed width of 100 columns.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from ..recommenders.base import Candidate, Recommendation

__all__ = ['render_report', 'print_report', 'print_comparison', 'REPORT_WIDTH', 'make_console',
           'validation_summary_lines', 'estimator_lines', 'tree_vs_grouping_lines']

REPORT_WIDTH = 100   # columns of report.txt


def make_console(width: int | None = None, file=None):
    """A rich console: the terminal's width (or $COLUMNS, else 80 when piped) unless given."""
    from rich.console import Console
    return Console(width=width, file=file, highlight=False, soft_wrap=False)


def _fmt(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None:
        return '-'
    return f'{value:+.{digits}f}' if sign else f'{value:.{digits}f}'


def seeds_text(info: dict) -> str:
    """How many seeds the table's entries average, e.g. ``mean of 2 seeds (3 entries: 3)``."""
    text = f'mean of {len(info["seeds"])} seeds'
    more = info.get('more_seeds')
    if more:
        text += f' ({len(more["runs"])} pair run(s): {len(info["seeds"]) + 1})'
    return text


def _cost(value: float | None) -> str:
    """A FLOPs or params figure: 4 significant digits, whatever its unit's scale."""
    return '-' if value is None else f'{value:.4g}'


def _chunks(columns: list, fixed: int, width: int) -> list[list]:
    """Split columns into groups whose table fits ``width`` (each column needs its widest
    cell + 3; ``fixed`` is what the leading column takes)."""
    groups, current, used = [], [], fixed
    for name, values in columns:
        need = max(len(v) for v in values + [name]) + 3
        if current and used + need > width:
            groups.append(current)
            current, used = [], fixed
        current.append((name, values))
        used += need
    return groups + ([current] if current else [])


def _numbers_tables(items: Sequence[Candidate], rec: Recommendation, title: str, width: int):
    """The candidates' costs (one row per candidate), then their per-task estimates (one row
    per task, one column per candidate), in tables that fit ``width`` columns."""
    from rich import box
    from rich.table import Table

    cost = rec.cost_model
    with_se = any(c.score_se is not None for c in items)
    # three more columns: tighter padding keeps the headers whole at 80 columns
    costs = Table(title=title, box=box.SIMPLE_HEAVY, title_justify='left', pad_edge=not with_se,
                  collapse_padding=with_se)
    columns = [('rank', [str(c.rank) for c in items])]
    if with_se:
        columns += [('score ± SE', [f'{_fmt(c.score)} ± {_fmt(c.score_se)}' for c in items]),
                    ('P(best)', [f'{c.p_best:.2f}' for c in items]),
                    ('tied', ['best' if c.score == max(i.score for i in items)
                              else 'yes' if c.tied_with_best else '' for c in items])]
    else:
        columns.append(('score', [_fmt(c.score) for c in items]))
    columns += [(f'FLOPs ({cost.flops_unit})', [_cost(c.flops) for c in items]),
                ('vs indep.', [f'{100 * c.flops_ratio:.1f}%' for c in items])]
    if cost.has_params:
        columns.append((f'params ({cost.params_unit})', [_fmt(c.params) for c in items]))
    for name, values in columns:
        costs.add_column(name, justify='right', no_wrap=True)
    for k in range(len(items)):
        costs.add_row(*[values[k] for _, values in columns])
    tables = [costs]
    label_width = max(len(t) for t in rec.tasks) + 3
    per_rank = [(f'#{c.rank}', [_fmt(c.estimates[t], 2, sign=True) for t in rec.tasks])
                for c in items]
    for n, group in enumerate(_chunks(per_rank, label_width + 1, width)):
        table = Table(title='Estimated relative performance (%) per task'
                      + (' (continued)' if n else ''),
                      box=box.SIMPLE_HEAVY, title_justify='left')
        table.add_column('task', no_wrap=True)
        for name, _ in group:
            table.add_column(name, justify='right', no_wrap=True)
        for i, task in enumerate(rec.tasks):
            table.add_row(task, *[values[i] for _, values in group])
        tables.append(table)
    return tables


def render_report(rec: Recommendation, width: int) -> list:
    """Rich renderables of the report: summary, numbers, drawings, Pareto front."""
    from rich.text import Text

    cost = rec.cost_model
    head = Text(rec.summary_line + '\n', overflow='fold')
    head.append('Task weights (' + rec.weights_note + '): '
                + ', '.join(f'{t}={w:.3f}' for t, w in zip(rec.tasks, rec.weights)) + '\n')
    heads = f' (all heads: {rec.top[0].head_flops:.4g} {cost.flops_unit})' \
        if rec.top and rec.top[0].head_flops else ''
    head.append(f'One backbone = {cost.backbone_flops:.4g} {cost.flops_unit}'
                + (f', {cost.backbone_params:.4g} {cost.params_unit} params'
                   if cost.has_params else '')
                + f'. FLOPs: {cost.flops_convention}; heads are excluded from the FLOPs '
                  f'column{heads}. Estimates are relative performance vs single-task models.')
    info = rec.table_info or {}
    if info.get('cost'):
        cost_info = info['cost']
        head.append(f'\nTwo-task table: {info["method"]}'
                    + (f', {seeds_text(info)}' if info.get('seeds') else '')
                    + f'; {cost_info["trainings"]} trainings, {cost_info["iterations"]:,.0f} '
                      f'iterations ({100 * cost_info["fraction_of_pairwise"]:.0f}% of the '
                      f'pairwise sweep), {cost_info["seconds"]:.0f} s of training summed '
                      'over runs'
                    + (f'; mean |entry| {info["mean_abs_entry"]:.2f} %, seed SD of an entry '
                       f'{info["mean_seed_sd_of_entry"]:.2f} %'
                       if 'mean_seed_sd_of_entry' in info else '') + '.')
    if rec.uncertainty_note:
        head.append(f'\nUncertainty: {rec.uncertainty_note}.')
    out: list = [head]
    out += _numbers_tables(rec.top, rec, f'Top-{len(rec.top)} {rec.candidates_name}', width)
    drawings = Text(overflow='fold')
    for c in rec.top:
        drawings.append(f'#{c.rank}  score {c.score:.3f}, {c.models:.2f} backbones, '
                        f'{100 * c.flops_ratio:.1f}% of independent models'
                        + ('' if c.within_budget else ' (over budget)') + '\n', style='bold')
        drawings.append(c.draw() + '\n\n')
    out.append(drawings)
    if rec.pareto:
        out.append(_pareto_table(rec))
    return out


def _pareto_table(rec: Recommendation):
    from rich import box
    from rich.table import Table

    table = Table(title='Pareto front (best estimated score at each cost, whole space)',
                  box=box.SIMPLE_HEAVY, title_justify='left')
    for name in (f'FLOPs ({rec.cost_model.flops_unit})', 'vs indep.', 'score', 'budget'):
        table.add_column(name, justify='right', no_wrap=True)
    table.add_column('layout (task sets where they change)', overflow='fold', ratio=1)
    for p in rec.pareto:
        table.add_row(_cost(p.flops), f'{100 * p.flops_ratio:.1f}%', _fmt(p.score),
                      'ok' if p.within_budget else 'over', p.short())
    return table


def _emit(renderables, console, save_path: str | None) -> None:
    for item in renderables(console.width):
        console.print(item)
    if save_path:
        from ..io.atomic import atomic_write

        def write(f):
            file_console = make_console(REPORT_WIDTH, file=f)
            for item in renderables(REPORT_WIDTH):
                file_console.print(item)
        atomic_write(save_path, write)


def print_report(rec: Recommendation, save_path: str | None = None, console=None) -> None:
    """Print the report at the console's width; save it as plain text at 100 columns."""
    _emit(lambda width: render_report(rec, width), console or make_console(), save_path)


def print_comparison(rows: list[dict], flops_unit: str, save_path: str | None = None,
                     console=None) -> None:
    """Best tree layout vs best task grouping per budget: numbers first, then the structures."""
    def render(width: int) -> list:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(title='Best tree layout vs best task grouping per budget (estimated; '
                      'compared on the tree estimator\'s scale)', box=box.SIMPLE_HEAVY,
                      title_justify='left')
        for name in ('budget', 'tree score', f'tree FLOPs ({flops_unit})',
                     'grouping score', 'grouping score (Standley scale)',
                     f'grouping FLOPs ({flops_unit})', 'winner'):
            table.add_column(name, justify='right', overflow='fold', min_width=6)
        for r in rows:
            table.add_row(f'{r["max_models"]:g}', _fmt(r['tree_score']), _cost(r['tree_flops']),
                          _fmt(r['grouping_score_tree_estimator']), _fmt(r['grouping_score']),
                          _cost(r['grouping_flops']), str(r['winner'] or '-'))
        details = Text(overflow='fold')
        for r in rows:
            details.append(f'budget {r["max_models"]:g}\n', style='bold')
            details.append(f'  tree:     {r["tree_layout"] or "-"}\n')
            details.append(f'  grouping: {r["grouping"] or "-"}\n')
        return [table, details]
    _emit(render, console or make_console(), save_path)


def validation_summary_lines(s: dict) -> list[str]:
    """A validation study's summary (one weighting) as short lines: spread, agreement, cost
    alone, regret and budgets, each statistic with its uncertainty or chance level."""
    def num(value, digits=2, sign=False):
        return '-' if value is None else _fmt(float(value), digits, sign)

    lines = []
    f, r = s.get('anova') or {}, s.get('reliability') or {}
    if f:
        lines.append(f'layouts differ: F = {num(f["F"], 1)} (p {num(f["p"], 3)}); layout SD '
                     f'{num(r.get("layout_sd"))} vs seed SD {num(r.get("seed_sd"))}; '
                     f'ceiling of any rho {num(r.get("ceiling"))} '
                     f'[{num((r.get("ceiling_ci") or [None])[0])}, '
                     f'{num((r.get("ceiling_ci") or [None, None])[1])}]')
    a = s['agreement']
    lo, hi = a.get('spearman_ci') or [None, None]
    lines.append(f'estimate vs trained: Spearman {num(a["spearman"], 3)} '
                 f'[{num(lo)}, {num(hi)}] (p {num(a["spearman_p"], 3)}), Kendall '
                 f'{num(a["kendall"], 3)}; P@{a["k"]} {num(a["precision_at_k"])} '
                 f'(chance {num(a["precision_chance"])})')
    cost = s.get('cost_alone')
    if cost:
        lines.append(f'FLOPs alone vs trained: Spearman {num(cost["spearman_flops"], 3, True)}; '
                     f'estimate beats it by {num(s.get("margin_over_cost"), 3, True)}')
    if not math.isfinite(s.get('difference_se') or math.nan):   # one seed: no SE
        lines.append(f'top-1 regret {num(a["top1_regret"], 3)}; no SE of a difference (one '
                     'seed per layout: validation.seeds=2 or more measures it)')
    else:
        lines.append(f'top-1 regret {num(a["top1_regret"], 3)} vs SE of a difference '
                     f'{num(s.get("difference_se"), 3)}: '
                     + ('within' if s.get('top1_within_se') else 'not within') + ' one SE')
    budgets = s.get('budgets')
    if budgets and budgets.get('within_se_share') is not None:
        lines.append(f'budgets at the FLOPs deciles: estimated best within one SE of the '
                     f'trained best at {100 * budgets["within_se_share"]:.0f}% of them')
    right = s.get('right_tree')
    if right:
        lines.append(f'known right tree: estimated rank {right["estimated_rank"]}, trained rank '
                     f'{right["trained_rank"]} of {right["layouts"]}')
    return lines


def estimator_lines(summary: dict, weighting: str = 'weighted') -> list[str]:
    """One line per estimator of a study (``summary['estimators']``): Spearman with its CI,
    top-1 regret against the SE of a difference, and the budgets within one SE."""
    lines = []
    for name, by_weighting in (summary.get('estimators') or {}).items():
        s = by_weighting[weighting]
        a = s['agreement']
        lo, hi = a.get('spearman_ci') or [None, None]
        budgets = s.get('budgets') or {}
        share = budgets.get('within_se_share')
        lines.append(f'{name:>9}: Spearman {_fmt(a["spearman"], 2)} [{_fmt(lo, 2)}, '
                     f'{_fmt(hi, 2)}], top-1 regret {_fmt(a["top1_regret"], 2)} (SE '
                     f'{_fmt(s.get("difference_se"), 2)}), budgets within one SE '
                     + ('-' if share is None else f'{100 * share:.0f}%'))
    return lines


def tree_vs_grouping_lines(summary: dict, weighting: str = 'weighted') -> list[str]:
    """The trained tree recommendation against the trained task grouping at each budget:
    one line per budget, then the tally per estimator (tree better / tie / grouping better,
    by more than one SE of a difference)."""
    result = (summary.get('tree_vs_grouping') or {}).get(weighting)
    if not result:
        return []
    names = list(result['budgets'][0]['tree']) if result['budgets'] else []
    lines = ['budget  grouping  ' + '  '.join(f'{n:>9} (diff)' for n in names)
             + f'   best trained   [SE of a difference {_fmt(result["se"], 2)}]']
    for row in result['budgets']:
        group = row['grouping']
        cells = [f'{row["max_flops"]:6.4g}', f'{_fmt(group and group["mean"], 2, True):>8}']
        for name in names:
            tree = row['tree'][name]
            cells.append(f'{_fmt(tree["mean"], 2, True):>9} '
                         f'({_fmt(tree.get("minus_grouping"), 2, True)})')
        cells.append(f'{_fmt(row["best_trained"], 2, True):>13}')
        lines.append('  '.join(cells))
    for name, tally in result['better'].items():
        lines.append(f'{name}: tree better at {tally["tree"]}, tied at {tally["tie"]}, grouping '
                     f'better at {tally["grouping"]} of {sum(tally.values())} budgets')
    return lines
