"""The components a config names by ``type`` beyond the model and the data: its optimiser
wrapper, optimiser, parameter schedulers and evaluators' metrics. mmengine builds them only
when a run starts its loops, so a typo would surface after the sweep has started; they are
checked (and the metrics built, which checks their arguments) before anything trains.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

from ..errors import ConfigError, did_you_mean

__all__ = ['check_component_types']


def _component_specs(cfg: Mapping):
    """(config key, spec dict, registry) of the schedule's and evaluators' components."""
    from ..registry import METRICS, OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS
    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, Mapping):
        yield 'optim_wrapper', wrapper, OPTIM_WRAPPERS
        if isinstance(wrapper.get('optimizer'), Mapping):
            yield 'optim_wrapper.optimizer', wrapper['optimizer'], OPTIMIZERS
    schedulers = cfg.get('param_scheduler')
    for k, spec in enumerate(schedulers if isinstance(schedulers, (list, tuple))
                             else [schedulers] if schedulers else []):
        yield f'param_scheduler[{k}]', spec, PARAM_SCHEDULERS
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        for k, spec in enumerate(evaluator if isinstance(evaluator, (list, tuple))
                                 else [evaluator] if evaluator else []):
            yield key if not isinstance(evaluator, (list, tuple)) else f'{key}[{k}]', spec, \
                METRICS


def check_component_types(cfg: Mapping) -> None:
    """Every optimiser, optimiser wrapper, scheduler and metric ``type`` is registered: mmengine
    would only find out when a run builds its loops, after the sweep has started."""
    import mmengine.evaluator  # noqa: F401  (registers mmengine's own entries)
    import mmengine.optim  # noqa: F401

    import treemtl_plugin.evaluation  # noqa: F401

    from ..registry import METRICS
    for key, spec, registry in _component_specs(cfg):
        if not isinstance(spec, Mapping) or 'type' not in spec:
            raise ConfigError(f'{key} must be a dict with a `type`, got {spec!r}')
        name = spec['type']
        if isinstance(name, str) and registry.get(name) is None:
            known = list(registry.module_dict) + list(registry.parent.module_dict)
            raise ConfigError(f'{key}.type={name!r} is not a registered {registry.name}'
                              f'{did_you_mean(name, known)}')
        if registry is METRICS:        # cheap to build, and it checks its own arguments
            try:
                registry.build(copy.deepcopy(dict(spec)))
            except (ValueError, TypeError) as err:
                raise ConfigError(f'{key}: {err}') from None
