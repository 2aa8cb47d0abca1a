"""The benchmark suite's scripts: the docs' tables are the committed rows, and the pilot's
rules (which layouts, what is a grouping, when a design is accepted) do what they say."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from treemtl_plugin.core.layout import Layout

from helpers import ROOT


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f'bench_{name}',
                                                  ROOT / 'benchmarks' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_suite_docs_are_recomputed_from_the_committed_rows(capsys):
    """docs/advanced/benchmark_suite.md's tables equal what the committed studies and pilots
    give."""
    suite = _script('suite_summary')
    assert suite.main(['--check']) == 0, capsys.readouterr().out
    studies = suite.load_members()
    assert set(studies) == set(suite.MEMBERS)       # every member's study is committed
    for study in studies.values():
        assert set(study['summary']['estimators']) == {'paper', 'blockwise'}
        assert len(study['summary']['tree_vs_grouping']['weighted']['budgets']) == 10
        assert not set(study['seeds']) & set(study['sweep_seeds'])   # never the sweep's seeds
        assert study['scored_on'] == 'test_dataloader'


def test_a_doc_block_that_drifted_is_found():
    suite = _script('suite_summary')
    text = 'intro\n<!-- suite:suite -->\nold\n<!-- /suite:suite -->\nend\n'
    assert suite.replace_blocks(text, {'suite': 'new'}) == \
        'intro\n<!-- suite:suite -->\nnew\n<!-- /suite:suite -->\nend\n'
    with pytest.raises(SystemExit, match='no <!-- suite:other -->'):
        suite.replace_blocks(text, {'other': 'x'})
    # a page may hold some of the blocks only
    assert suite.replace_blocks(text, {'other': 'x'}, required=False) == text


def test_pilot_layouts_cross_the_related_depths_and_spread_over_the_space():
    pilot = _script('pilot_benchmark_designs')
    tasks = ['a1', 'a2', 'b1', 'b2', 'c']
    layouts = pilot.pilot_layouts(tasks, 4, [('a1', 'a2'), ('b1', 'b2')])
    assert len(layouts) == len(set(layouts)) >= 25
    depths = {(lay.branch_point('a1', 'a2'), lay.branch_point('b1', 'b2')) for lay in layouts}
    assert depths >= {(a, b) for a in range(5) for b in range(5)}
    assert len(pilot.pilot_layouts(['a1', 'a2', 'c'], 4, [('a1', 'a2')])) == 35   # all of them
    assert pilot.is_grouping(Layout([[['a1', 'a2'], ['c']]] * 4))
    assert not pilot.is_grouping(Layout([[['a1', 'a2'], ['c']]] * 2
                                        + [[['a1'], ['a2'], ['c']]] * 2))


def test_a_depth_design_needs_an_interior_best_that_beats_every_grouping_by_one_se():
    pilot = _script('pilot_benchmark_designs')
    good = dict(F=30.0, spearman_flops=0.5, best_parts_related_mid_depth=True,
                tree_over_grouping=2.7, difference_se=2.1)
    assert pilot.verdict(good, depth=True) == (True, [])
    ok, misses = pilot.verdict(dict(good, tree_over_grouping=1.0), depth=True)
    assert not ok and 'not more than one SE' in misses[0]
    ok, misses = pilot.verdict(dict(good, F=18.1, spearman_flops=-0.9), depth=False)
    assert not ok and misses == ['F 18.1 < 20', 'cost alone ranks the layouts (Spearman -0.90)']
    seeds = pilot.pilot_seeds(pilot.load_config(str(ROOT / 'configs' / 'teacher' /
                                                    'tree_resnet10t_teacher_3task.py')), 3)
    assert seeds == [2000, 2001, 2002]


def test_every_pilot_design_is_scored_on_its_own_split_and_seeds():
    import json
    with open(ROOT / 'benchmarks' / 'results' / 'pilot_designs.json', encoding='utf-8') as f:
        designs = json.load(f)['designs']
    assert designs
    for name, design in designs.items():
        assert design['scored_on'].startswith('pilot split'), name
        assert min(design['seeds']) >= 2000, name
        per_layout = [np.mean([np.mean(list(row['measured'][str(s)].values()))
                               for s in design['seeds']]) for row in design['layouts']]
        assert np.allclose(per_layout, [row['mean'] for row in design['layouts']])


def test_every_table_method_ran_on_every_member_with_three_seeds():
    """The committed comparison covers members x methods x seeds, with the method as defined:
    lookahead within about a tenth of the pairwise iterations, the adaptive sweep starting at
    half depth and recording its rounds, every table scored against its member's study."""
    import json
    suite = _script('suite_summary')
    data = json.loads((ROOT / 'benchmarks' / 'results' / 'table_methods_suite.json').read_text())
    assert set(data['members']) == set(suite.MEMBERS)
    for member, result in data['members'].items():
        assert set(result['seeds']) == {'0', '1', '2'}
        for seed, methods in result['seeds'].items():
            assert set(methods) == set(data['methods'])
            assert methods['lookahead']['cost']['fraction_of_pairwise'] < 0.12
            for name in ('adaptive', 'adaptive_60'):
                info = methods[name]['info']
                assert info['first_depth'] == 2 and info['first_round_runs'] >= 6
                share = methods[name]['cost']['trainings'] / methods[name]['cost'][
                    'pairwise_trainings']
                assert share <= (0.4 if name == 'adaptive' else 0.6) + 1e-9
            for entry in methods.values():
                assert -1 <= entry['vs_trained']['spearman'] <= 1
        assert result['three_seed_pairwise']['raw']['budgets'] == 10
