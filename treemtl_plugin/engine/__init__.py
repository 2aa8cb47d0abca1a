"""Runtime glue for mmengine: the sweep's lean runner and checkpoint loading under torch >= 2.6.

Import the submodules directly (``treemtl_plugin.engine.runner``,
``treemtl_plugin.engine.checkpoint``); importing this package has no side effects.
"""
