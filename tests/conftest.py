"""Shared pytest fixtures; the plain constants and functions they wrap live in ``helpers``."""
from __future__ import annotations

import pytest

from helpers import load_tool


@pytest.fixture(scope='session')
def tool():
    """``tool('train')`` imports ``tools/train.py`` afresh (see ``helpers.load_tool``)."""
    return load_tool
