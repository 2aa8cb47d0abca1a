"""Every check that can be made before the first training, made first.

A sweep runs for minutes to days; a typo found at run 37 wastes all of it. Before training,
full mode builds the model once (heads, losses, layout, backbone), builds the datasets and reads
one validation sample (the data root, the dataset's support for every task), compares the
backbone's input size with the data's image size, and checks the table path, ``--train-top``
and, once the costs are known, that the budget admits at least one model.
"""
from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Mapping, Sequence

from mmengine.config import Config

from ..checks import check_number, is_int
from ..errors import ConfigError, did_you_mean
from .components import check_component_types
from .config import check_data_root, resolve_path

__all__ = ['check_before_training', 'check_optimizer', 'registry_error', 'signature_error']


def registry_error(err: KeyError, what: str) -> ConfigError | None:
    """A ConfigError for mmengine's "X is not in the ... registry" KeyError, else None."""
    text = str(err.args[0]) if err.args else ''
    if 'is not in the' not in text or 'registry' not in text:
        return None
    name = text.split(' is not in the')[0].strip('\'"` ')
    from ..registry import DATASETS, METRICS, MODELS
    known = [n for reg in (MODELS, DATASETS, METRICS) for n in reg.module_dict]
    return ConfigError(f'{what}: type {name!r} is not registered{did_you_mean(name, known)}; '
                       "registered types are listed by treemtl_plugin.registry (e.g. MODELS)")


def signature_error(err: TypeError, what: str) -> ConfigError | None:
    """A ConfigError for a wrong or missing keyword argument in a config dict, else None."""
    text = str(err)
    if 'keyword argument' not in text and 'required positional argument' not in text:
        return None
    return ConfigError(f'{what}: {text}; check the spelling of its keys')


def _converted(err: Exception, what: str):
    if isinstance(err, KeyError):
        return registry_error(err, what)
    if isinstance(err, TypeError):
        return signature_error(err, what)
    return None


def _build_model(cfg: Config):
    from mmengine.registry import init_default_scope

    import treemtl_plugin.models  # noqa: F401  (registers the entries)

    from ..registry import MODELS
    init_default_scope(cfg.get('default_scope', 'treemtl_plugin'))
    try:
        return MODELS.build(copy.deepcopy(cfg.model))
    except (KeyError, TypeError) as err:
        converted = _converted(err, 'model')
        if converted is None:
            raise
        raise converted from None


def check_optimizer(cfg: Config, model) -> None:
    """Build the optimiser once on the model: a learning rate or weight decay torch refuses
    (a string, a negative number) fails here, not at the first step of the first run."""
    if not isinstance(cfg.get('optim_wrapper'), Mapping):
        return
    optimizer = cfg.optim_wrapper.get('optimizer')
    for key in ('lr', 'weight_decay', 'momentum', 'eps'):
        if isinstance(optimizer, Mapping) and key in optimizer:
            check_number(f'optim_wrapper.optimizer.{key}', optimizer[key], low=0)
    from mmengine.optim import build_optim_wrapper
    try:
        build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    except (ValueError, TypeError, KeyError, AssertionError) as err:   # mmengine asserts too
        converted = _converted(err, 'optim_wrapper')
        raise (converted or ConfigError(f'optim_wrapper: {type(err).__name__}: {err}')) \
            from None


def _image_size(dataset: Mapping):
    size = dataset.get('image_size')
    if size is None:
        return None
    return (size, size) if isinstance(size, int) else tuple(size)


def _check_data(cfg: Config, tasks: Sequence[str]) -> None:
    from ..registry import DATASETS
    from ..sweep.run_config import restrict_tasks
    restricted = Config(copy.deepcopy(cfg.to_dict()))
    restrict_tasks(restricted, tasks)
    input_hw = tuple(cfg.model.backbone.get('input_size', (3, 224, 224)))[1:]
    for key in ('train_dataloader', 'val_dataloader'):
        loader = restricted.get(key)
        if not loader or not loader.get('dataset'):
            raise ConfigError(f'the config has no {key}.dataset: full mode trains models, so '
                              'it needs train and val data (see configs/_base_/datasets/)')
        spec = loader['dataset']
        size = _image_size(spec)
        if size is not None and size != input_hw:
            raise ConfigError(
                f'{key}.dataset.image_size={spec["image_size"]!r} but '
                f'model.backbone.input_size={tuple(cfg.model.backbone.input_size)!r}: block '
                'costs are measured at input_size, so set both to the same image size')
        try:
            dataset = DATASETS.build(copy.deepcopy(spec))
        except (KeyError, TypeError) as err:
            converted = _converted(err, f'{key}.dataset')
            if converted is None:
                raise
            raise converted from None
        if key == 'val_dataloader':
            if len(dataset) == 0:
                raise ConfigError(f'{key}.dataset is empty: validation needs samples')
            sample = dataset[0]
            targets = sample.get('data_samples', sample) if isinstance(sample, Mapping) \
                else {}
            missing = [t for t in tasks if not isinstance(targets, Mapping) or t not in targets]
            if missing:
                raise ConfigError(f'{type(dataset).__name__} gives no target for task(s) '
                                  f'{missing} (a sample holds {sorted(targets)}); use tasks '
                                  'this dataset provides, or another dataset')


def check_before_training(cfg: Config, tasks: Sequence[str], recommender, train_top: int = 0,
                          sweep: bool = True) -> None:
    """Fail now, naming the key and the fix, on anything that would fail later."""
    topk = recommender.topk
    if not (is_int(train_top) and 0 <= train_top <= topk):
        raise ConfigError(f'--train-top {train_top!r} must be between 0 and the number of '
                          f'recommended models ({topk}); raise --topk to train more')
    check_data_root(cfg)
    table = cfg.get('two_task_table')
    if table:
        cfg_dir = osp.dirname(osp.abspath(cfg.filename)) if cfg.filename else None
        if not osp.isfile(resolve_path(str(table), cfg_dir)):
            raise ConfigError(f'two_task_table file not found: {table!r} (relative paths are '
                              "looked up from the working directory, then from the config "
                              "file's folder)")
    check_component_types(cfg)
    model = _build_model(cfg)
    check_optimizer(cfg, model)
    _check_task_weights(recommender, tasks)
    if sweep:
        _check_sweep_plan(cfg, tasks, len(model.backbone_info['block_flops']))
    if sweep or train_top:
        _check_data(cfg, tasks)


def _check_task_weights(recommender, tasks: Sequence[str]) -> None:
    """Given task weights (a list or a dict) fit the tasks: checked now, not after the sweep."""
    import numpy as np

    from ..core.estimator import resolve_task_weights
    weights = getattr(recommender, 'task_weights', None)
    if weights is not None and not isinstance(weights, str):
        resolve_task_weights(np.zeros((len(tasks), len(tasks), 2)), list(tasks), weights)


def _check_sweep_plan(cfg: Config, tasks: Sequence[str], num_blocks: int) -> None:
    """What the sweep's settings need of each other, and a pair run's model, before any run:
    ``more_seeds`` needs a pairwise sweep with seeds, a lookahead interval must fit in the
    run's training, and ``sweep.overrides.model`` must build with as many branching points."""
    from ..core.layout import Layout
    from ..sweep.run_config import run_config
    from .sweep import check_more_seeds
    settings = cfg.get('sweep') or {}
    method = settings.get('method', 'pairwise')
    check_more_seeds(settings)
    pair = list(tasks)[:2]
    run_cfg = run_config(cfg, pair, Layout.all_shared(pair, num_blocks), '', 'preflight')
    interval = (settings.get('lookahead') or {}).get('interval', 10)
    max_iters = run_cfg.train_cfg.get('max_iters')
    if method == 'lookahead' and is_int(max_iters) and interval > max_iters:
        raise ConfigError(f'sweep.lookahead.interval={interval} is longer than a sweep run '
                          f'({max_iters} iterations): no affinity would be measured; set '
                          f'sweep.lookahead.interval <= {max_iters}')
    if 'model' in (settings.get('overrides') or {}):
        try:
            _build_model(run_cfg)
        except ConfigError as err:
            raise ConfigError(f'sweep.overrides.model: {err}') from None
