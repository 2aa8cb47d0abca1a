"""Atomic file writes: a killed run never leaves a half-written file behind.

Every output is written to a temporary file in the same folder and renamed over the target
(``os.replace`` is atomic on POSIX and Windows). JSON is strict: ``NaN``/``Infinity`` are
refused, because other tools cannot read them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

__all__ = ['atomic_write', 'write_json', 'dumps_strict']


def atomic_write(path: str, write: Callable[[Any], None], mode: str = 'w') -> None:
    """Call ``write(handle)`` on a temporary file, then rename it to ``path``."""
    tmp = f'{path}.tmp{os.getpid()}'
    kwargs = {} if 'b' in mode else {'encoding': 'utf-8', 'newline': ''}
    try:
        with open(tmp, mode, **kwargs) as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def dumps_strict(data, indent: int | None = 2) -> str:
    """JSON text without NaN/Infinity (``ValueError`` names the first offending value)."""
    return json.dumps(data, indent=indent, allow_nan=False)


def write_json(path: str, data, indent: int | None = 2) -> None:
    """Strict JSON, written atomically."""
    text = dumps_strict(data, indent)
    atomic_write(path, lambda f: f.write(text + '\n'))
