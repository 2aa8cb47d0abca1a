"""Human-readable report of a recommendation (rich table with tree drawings)."""
from __future__ import annotations

from .recommender import RankedLayout, Recommendation


def _fmt(value: float | None, digits: int = 3) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def build_report(rec: Recommendation):
    """A list of rich renderables: run summary, top-k table, Pareto summary."""
    from rich.table import Table
    from rich.text import Text

    cost = rec.cost_model
    weights = ', '.join(f'{t}={w:.3f}' for t, w in zip(rec.tasks, rec.weights))
    head = Text()
    if rec.num_within_budget is None:
        head.append(f'{len(rec.tasks)} tasks over {rec.num_blocks} branching points: '
                    f'{rec.num_layouts:,} layouts, top-{len(rec.top)} and Pareto front found by '
                    f'{rec.method} in {rec.seconds:.2f} s ({rec.search_nodes:,} partial '
                    f'layouts generated); budget: {rec.budget.describe(cost)}.\n')
    else:
        head.append(f'{len(rec.tasks)} tasks over {rec.num_blocks} branching points: '
                    f'{rec.num_layouts:,} layouts evaluated by {rec.method} in '
                    f'{rec.seconds:.2f} s; {rec.num_within_budget:,} within budget '
                    f'({rec.budget.describe(cost)}).\n')
    head.append(f'Task weights ({rec.weights_note}): {weights}\n')
    head.append(f'One backbone = {cost.backbone_flops:.4g} {cost.flops_unit}'
                + (f', {cost.backbone_params:.4g} {cost.params_unit} params'
                   if cost.has_params else '')
                + f'. FLOPs: {cost.flops_convention}; '
                  'heads are excluded from the FLOPs column'
                + (f' (all heads: {rec.top[0].head_flops:.4g} {cost.flops_unit})'
                   if rec.top and rec.top[0].head_flops else '') + '.')
    table = layouts_table(rec.top, rec, title=f'Top-{len(rec.top)} recommended layouts')
    pareto = Table(title='Pareto front (best estimated score at each cost, whole space)',
                   show_lines=False)
    pareto.add_column(f'FLOPs ({cost.flops_unit})', justify='right')
    pareto.add_column('vs indep.', justify='right')
    pareto.add_column('score', justify='right')
    pareto.add_column('budget', justify='center')
    pareto.add_column('layout (task sets per block)')
    for p in rec.pareto:
        pareto.add_row(_fmt(p.flops), f'{100 * p.flops_ratio:.1f}%', _fmt(p.score),
                       'ok' if p.within_budget else 'over', p.layout.short())
    return [head, table, pareto]


def layouts_table(items: list[RankedLayout], rec: Recommendation, title: str):
    from rich.table import Table

    cost = rec.cost_model
    table = Table(title=title, show_lines=True)
    table.add_column('rank', justify='right')
    table.add_column('score', justify='right')
    for task in rec.tasks:
        table.add_column(f'{task} (%)', justify='right', overflow='fold')
    table.add_column(f'FLOPs ({cost.flops_unit})', justify='right')
    table.add_column('vs indep.', justify='right')
    if cost.has_params:
        table.add_column(f'params ({cost.params_unit})', justify='right')
    table.add_column('tree', no_wrap=True)
    for item in items:
        row = [str(item.rank), _fmt(item.score)]
        row += [_fmt(item.estimates[t], 2) for t in rec.tasks]
        row += [_fmt(item.flops), f'{100 * item.flops_ratio:.2f}%\n({-item.flops_saving:+.2f}%)']
        if cost.has_params:
            row.append(_fmt(item.params))
        row.append(item.layout.draw())
        table.add_row(*row)
    return table


def print_report(rec: Recommendation, save_path: str | None = None) -> None:
    """Print the report; optionally also save it as plain text."""
    from rich.console import Console

    console = Console(width=None if _is_tty() else 200, record=True)
    for renderable in build_report(rec):
        console.print(renderable)
    if save_path:
        console.save_text(save_path)


def _is_tty() -> bool:
    import sys
    return sys.stdout.isatty()
