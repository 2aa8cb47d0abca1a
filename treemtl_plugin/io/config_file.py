"""Config files written in order: ``key = value`` lines whose dicts keep their key order.

mmengine's ``Config.dump`` sorts every dict's keys; for ``model.tasks`` that changes the task
order, and with it the order in which heads are built and initialised. These files keep the
order of the config as run, load with ``Config.fromfile`` and need no yapf.
"""
from __future__ import annotations

import pprint
from collections.abc import Mapping

from .atomic import atomic_write

__all__ = ['config_text', 'dump_config']


def config_text(cfg: Mapping, width: int = 96) -> str:
    """The config as Python assignments, one per top-level key, dict order preserved."""
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    return ''.join(f'{key} = {pprint.pformat(value, width=width, sort_dicts=False)}\n'
                   for key, value in data.items())


def dump_config(cfg: Mapping, path: str) -> None:
    """Write ``cfg`` to ``path`` (atomically) as an ordered, loadable ``.py`` config."""
    text = config_text(cfg)
    atomic_write(path, lambda f: f.write(text))
