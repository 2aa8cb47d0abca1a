"""Old import paths and names keep working, with a FutureWarning naming the new ones.

The package was re-laid out (``core/``, ``recommenders/``, ``io/``, ``visualization/``); code
written against the old flat modules still imports, and learns where things went.
"""
from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED_MODULES = {
    'treemtl_plugin.layout': 'treemtl_plugin.core.layout',
    'treemtl_plugin.design_space': 'treemtl_plugin.core.design_space',
    'treemtl_plugin.two_task_table': 'treemtl_plugin.core.table',
    'treemtl_plugin.estimator': 'treemtl_plugin.core.estimator',
    'treemtl_plugin.cost': 'treemtl_plugin.core.cost',
    'treemtl_plugin.block_groups': 'treemtl_plugin.core.block_groups',
    'treemtl_plugin.recommender': 'treemtl_plugin.recommenders.tree',
    'treemtl_plugin.exact_search': 'treemtl_plugin.core.search.branch_and_bound',
    'treemtl_plugin.task_grouping': 'treemtl_plugin.recommenders.task_grouping',
    'treemtl_plugin.report': 'treemtl_plugin.visualization.report',
    'treemtl_plugin.apis.recommend': 'treemtl_plugin.apis.recommendation',
    'treemtl_plugin.apis.grouping': 'treemtl_plugin.apis.compare',
}

#: old top-level name -> (module, new name)
RENAMED = {
    'recommend': ('treemtl_plugin.recommenders.tree', 'recommend_layouts'),
    'RankedLayout': ('treemtl_plugin.recommenders.tree', 'TreeCandidate'),
    'SpaceTooLargeError': ('treemtl_plugin.errors', 'SpaceTooLargeError'),
}


def warn_moved(old: str, new: str) -> None:
    warnings.warn(f'{old} moved to {new}; import it from there (the old name will be removed)',
                  FutureWarning, stacklevel=3)


def renamed_attribute(name: str):
    """Module ``__getattr__`` of the top-level package for renamed names."""
    if name not in RENAMED:
        raise AttributeError(f"module 'treemtl_plugin' has no attribute {name!r}")
    module, new = RENAMED[name]
    if new != name:
        warn_moved(f'treemtl_plugin.{name}', f'{module}.{new}')
    return getattr(importlib.import_module(module), new)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        warn_moved(spec.name, MOVED_MODULES[spec.name])
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module):
        """The new module is already executed; the import system files it under the old name."""


def install() -> None:
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())


def renamed_kwargs(**renames: str):
    """Decorator: accept old keyword names (``old='new'``) with a FutureWarning naming the new."""
    def wrap(func):
        @functools.wraps(func)
        def call(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        from .errors import ConfigError
                        raise ConfigError(f'give {new}= only (the old name {old}= is '
                                          'deprecated)')
                    warnings.warn(f'{func.__qualname__.split(".")[0]}: {old}= is renamed '
                                  f'{new}=', FutureWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return call
    return wrap
