"""The package's seams: no import cycles, a torch-free core, no side effects on import."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

from helpers import ROOT

PACKAGE = ROOT / 'treemtl_plugin'


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split('.'))
    return (ROOT / rel).with_suffix('.py').is_file() or (ROOT / rel / '__init__.py').is_file()


def import_graph() -> nx.DiGraph:
    """Module -> package module it imports (any depth, also inside functions)."""
    graph = nx.DiGraph()
    for path in PACKAGE.rglob('*.py'):
        name = _module_name(path)
        package = name if path.name == '__init__.py' else name.rpartition('.')[0]
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split('.')
                    base = base[:len(base) - node.level + 1]
                    source = '.'.join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ''
                targets = [f'{source}.{a.name}' if _is_module(f'{source}.{a.name}') else source
                           for a in node.names]
            for target in targets:
                if target.startswith('treemtl_plugin') and target != name:
                    graph.add_edge(name, target)
    return graph


def test_import_graph_is_found():
    graph = import_graph()
    assert 'treemtl_plugin.recommenders.tree' in graph
    assert graph.has_edge('treemtl_plugin.recommenders.tree',
                          'treemtl_plugin.core.search.branch_and_bound')
    assert graph.number_of_edges() > 50


def test_no_import_cycles():
    """A cycle would mean two modules that cannot be understood (or imported) one at a time."""
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == [], f'import cycles: {cycles}'


def package_graph() -> nx.DiGraph:
    """Subpackage (or top-level module) -> the ones it imports; the package's ``__init__``
    (the public facade, which imports from everywhere) is left out."""
    graph = nx.DiGraph()
    for source, target in import_graph().edges:
        if 'treemtl_plugin' in (source, target):
            continue
        a, b = ('.'.join(n.split('.')[:2]) for n in (source, target))
        graph.add_nodes_from((a, b))
        if a != b:
            graph.add_edge(a, b)
    return graph


def test_no_package_level_import_cycles():
    """Subpackages form layers (e.g. io below visualization below apis): no two of them import
    each other, directly or through others."""
    graph = package_graph()
    assert graph.has_edge('treemtl_plugin.apis', 'treemtl_plugin.recommenders')
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], f'package-level import cycles: {cycles}'


def test_core_depends_on_nothing_but_itself_errors_and_checks():
    graph = import_graph()
    allowed = ('treemtl_plugin.errors', 'treemtl_plugin.checks')
    for module in graph:
        if module.startswith('treemtl_plugin.core'):
            outside = [t for t in graph.successors(module)
                       if not t.startswith('treemtl_plugin.core') and t not in allowed]
            assert outside == [], f'{module} imports {outside}'


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=120)


def test_numpy_core_and_recommenders_import_without_torch():
    proc = _python(
        "import sys; sys.modules['torch'] = None\n"
        'import treemtl_plugin, treemtl_plugin.core, treemtl_plugin.recommenders\n'
        'import treemtl_plugin.core.search.enumerate, treemtl_plugin.core.search.task_grouping\n'
        'from treemtl_plugin import TwoTaskTable, CostModel, recommend_layouts, '
        'recommend_task_groups\n'
        "t = TwoTaskTable.from_csv('configs/paper/data/nyuv2_deeplab_resnet34.csv')\n"
        'cost = CostModel([0.25, 1.46, 1.88, 11.47, 22.05])\n'
        "print(recommend_layouts(t, cost, dict(max_models=2)).top[0].rank, "
        "recommend_task_groups(t, cost, dict(max_models=2)).top[0].rank)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['1', '1']


def test_importing_the_registry_has_no_side_effects():
    proc = _python('import sys, treemtl_plugin.registry, treemtl_plugin.engine\n'
                   "print('torch' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['False']
    proc = _python('from mmengine.runner import CheckpointLoader\n'
                   'before = dict(CheckpointLoader._schemes)\n'
                   'import treemtl_plugin.registry, treemtl_plugin.engine\n'
                   'print(before == CheckpointLoader._schemes)\n')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['True']


