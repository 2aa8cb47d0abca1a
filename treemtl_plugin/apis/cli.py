"""The tools' one rule for ending: a missing config exits 2, a TreeMTLError (a mistake in the
user's input) prints one ``error:`` line and exits 1, anything else (a bug) keeps its
traceback."""
from __future__ import annotations

import os.path as osp
import sys
from collections.abc import Callable

from ..errors import TreeMTLError

__all__ = ['run_tool']


def run_tool(config: str, job: Callable[[], int | None]) -> int:
    """Run ``job()`` under the tools' exit rule; returns the exit status."""
    if not osp.isfile(config):
        print(f'error: config file not found: {config}', file=sys.stderr)
        return 2
    try:
        return job() or 0
    except TreeMTLError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
