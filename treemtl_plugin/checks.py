"""Checks of single settings, one rule each, used by every module that reads user input.

A bool is never a number, numpy scalars are numbers, and strings are not coerced. Each check
returns the value as a plain Python value or raises ``error`` (``ConfigError`` unless the caller
names another kind) with the setting, the bad value and what is expected.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from .errors import ConfigError, did_you_mean

__all__ = ['is_int', 'is_number', 'check_int', 'check_number', 'check_bool', 'check_choice',
           'check_int_list', 'check_options']


def is_int(value) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) \
        and type(value).__name__ != 'bool_'


def is_number(value) -> bool:
    """A real number (Python or numpy), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and type(value).__name__ != 'bool_'


def _range_text(low, high) -> str:
    if low is not None and high is not None:
        return f' in [{low}, {high}]'
    if low is not None:
        return f' >= {low}'
    return f' <= {high}' if high is not None else ''


def check_int(name: str, value, *, low: int | None = None, high: int | None = None,
              error: type[Exception] = ConfigError) -> int:
    """``value`` as an int within ``[low, high]`` (either bound optional)."""
    if not is_int(value) or (low is not None and value < low) \
            or (high is not None and value > high):
        kind = {1: 'a positive integer', 0: 'a non-negative integer'}.get(low) \
            if high is None else None
        raise error(f'{name} must be {kind or "an integer" + _range_text(low, high)}, '
                    f'got {value!r}')
    return int(value)


def check_number(name: str, value, *, low: float | None = None, high: float | None = None,
                 above: float | None = None, error: type[Exception] = ConfigError) -> float:
    """``value`` as a finite float within ``[low, high]`` and ``> above`` (bounds optional)."""
    ok = is_number(value) and math.isfinite(value) \
        and (low is None or value >= low) and (high is None or value <= high) \
        and (above is None or value > above)
    if not ok:
        bounds = [f'>= {low}' if low is not None else '', f'<= {high}' if high is not None
                  else '', f'> {above}' if above is not None else '']
        expected = ' and '.join(b for b in bounds if b)
        raise error(f'{name} must be a finite number{" " + expected if expected else ""}, '
                    f'got {value!r}')
    return float(value)


def check_bool(name: str, value, *, error: type[Exception] = ConfigError) -> bool:
    """``value`` if it is True or False (not 0/1 or 'yes')."""
    if not isinstance(value, bool):
        raise error(f'{name} must be True or False, got {value!r}')
    return value


def check_choice(name: str, value, choices: Sequence, *,
                 error: type[Exception] = ConfigError):
    """``value`` if it is one of ``choices``; otherwise the choices, with a did-you-mean."""
    if isinstance(value, (str, int, float, type(None))) and value in choices:
        return value
    hint = did_you_mean(value, map(str, choices)) if isinstance(value, str) else ''
    raise error(f'{name}={value!r} is not supported{hint}; use one of '
                + ', '.join(repr(c) for c in choices))


def check_int_list(name: str, value, *, low: int | None = None, high: int | None = None,
                   unique: bool = False, error: type[Exception] = ConfigError) -> list[int]:
    """A non-empty list (or tuple) of integers, each in ``[low, high]``, distinct when
    ``unique``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value \
            or not all(is_int(v) and (low is None or v >= low) and (high is None or v <= high)
                       for v in value) \
            or (unique and len(set(value)) != len(value)):
        what = 'distinct ' if unique else ''
        raise error(f'{name} must be a non-empty list of {what}integers'
                    f'{_range_text(low, high)}, got {value!r}')
    return [int(v) for v in value]


def check_options(where: str, given: Iterable, known: Sequence[str], *, fix: str = '',
                  error: type[Exception] = ConfigError) -> None:
    """Every key of ``given`` is one of ``known``; else one error naming each unknown option
    with a did-you-mean, the known ones and ``fix`` (how to do what the user meant)."""
    unknown = [k for k in given if k not in known]
    if unknown:
        names = ', '.join(f'{k!r}{did_you_mean(str(k), known)}' for k in unknown)
        raise error(f'unknown {where} option(s) {names}; known: {list(known)}{fix}')
