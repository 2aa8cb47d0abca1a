"""Every error the plugin raises on purpose, under one base class.

``TreeMTLError`` marks a mistake in the user's input (a config, a table, a layout, a budget, a
dataset on disk...) whose message names the bad value and the fix. The command-line tools catch
it and print one ``error:`` line; anything else is a bug and keeps its traceback. Each class
also derives from the builtin exception it used to be, so ``except ValueError`` keeps working.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    'TreeMTLError', 'ConfigError', 'LayoutError', 'TwoTaskTableError', 'BudgetError',
    'SpaceTooLargeError', 'SweepError', 'DetectionError', 'DatasetFormatError',
    'CheckpointError', 'ReportedWarning', 'closest', 'did_you_mean',
]


class TreeMTLError(Exception):
    """Base class: a user-facing error whose message says what is wrong and how to fix it."""


class ConfigError(TreeMTLError, ValueError):
    """A config value (or a keyword argument) that cannot be used: names the key and the fix."""


class LayoutError(TreeMTLError, ValueError):
    """A layout that is not a valid tree (names the bad block or task set)."""


class TwoTaskTableError(TreeMTLError, ValueError):
    """A bad two-task table: names the file, the row and the value."""


class BudgetError(TreeMTLError, ValueError):
    """No layout or grouping fits the budget (gives the cheapest one's cost)."""


class SpaceTooLargeError(TreeMTLError, ValueError):
    """The design space is too large to enumerate within the configured limit."""


class SweepError(TreeMTLError, RuntimeError):
    """A sweep that cannot run or cannot be merged (says which runs and why)."""


class DetectionError(TreeMTLError, RuntimeError):
    """A backbone the branching-point detector cannot split (names the cause and the fix)."""


class DatasetFormatError(TreeMTLError, FileNotFoundError):
    """Data on disk that does not match a supported dataset format (says what is missing)."""


class ReportedWarning(UserWarning):
    """A warning whose fact the job's report also prints (e.g. the task weights' note): the
    command-line tools drop it, so the user reads it once; the Python API still warns."""


class CheckpointError(TreeMTLError, RuntimeError):
    """A checkpoint that cannot be loaded or belongs to another model (says which and why)."""


def closest(name: str, choices: Iterable[str], cutoff: float = 0.6,
            containment: bool = True) -> str | None:
    """The choice ``name`` most likely misspells: the same name in another case, else the most
    similar (difflib ratio >= ``cutoff``), else (with ``containment``) one containing it or
    contained in it; None when nothing is close."""
    choices = [str(c) for c in choices]
    name = str(name)
    close = [c for c in choices if c.lower() == name.lower()][:1]     # only the case
    close = close or difflib.get_close_matches(name, choices, n=1, cutoff=cutoff)
    if not close and containment:
        low = name.lower()
        close = [c for c in choices if low and (low in c.lower() or c.lower() in low)][:1]
    return close[0] if close else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the :func:`closest` choice, else ''."""
    match = closest(name, choices)
    return f' (did you mean {match!r}?)' if match is not None else ''
