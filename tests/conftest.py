"""Shared pytest fixtures; the plain constants and functions they wrap live in ``helpers``."""
from __future__ import annotations

import pytest

from helpers import load_tool


@pytest.fixture(scope='session')
def tool():
    """``tool('train')`` imports ``tools/train.py`` afresh (see ``helpers.load_tool``)."""
    return load_tool


#: the tests that launch real distributed jobs (a Slurm cluster, torchrun): their outcome is
#: listed at the end of every run, so a CI log shows them passed, not skipped
DISTRIBUTED = ('test_slurm.py', 'test_torchrun.py')


def pytest_terminal_summary(terminalreporter):
    reports = [r for key in ('passed', 'failed', 'skipped')
               for r in terminalreporter.stats.get(key, [])
               if getattr(r, 'when', 'call') in ('call', 'setup') and
               r.nodeid.split('::')[0].endswith(DISTRIBUTED)]
    outcomes = {}
    for report in reports:       # a skip or failure in setup counts for the test
        if report.when == 'call' or report.outcome != 'passed':
            outcomes[report.nodeid] = report.outcome
    if outcomes:
        terminalreporter.write_sep('-', 'distributed paths (Slurm, torchrun)')
        for nodeid, outcome in sorted(outcomes.items()):
            terminalreporter.write_line(f'{outcome.upper():8} {nodeid}')
