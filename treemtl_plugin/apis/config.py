"""Reading a config: its tasks, two-task table, block costs and recommender.

Two kinds of config drive ``tools/recommend.py`` (docs/user_guides/config.md):

* **table mode** -- ``tasks``, ``two_task_table`` (CSV path), ``block_flops`` (one per
  branching point) and optional ``block_params``, ``head_flops``, ``head_params``,
  ``flops_unit``, ``params_unit``, ``flops_convention``;
* **full mode** -- a ``model`` (``TreeMultiTaskModel`` over a ``TimmBlockBackbone``; its
  ``tasks`` dict gives the tasks and their heads) plus the mmengine training setup; block costs
  are measured and the two-task table comes from the sweep (or ``two_task_table``).

Both take a ``recommender = dict(type='TreeRecommender' | 'TaskGroupingRecommender', ...)``.
"""
from __future__ import annotations

import copy
import inspect
import os
import os.path as osp
import tempfile
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmengine.config import Config

from ..checks import check_bool, check_int, check_int_list, check_options, is_int
from ..core.cost import FVCORE_CONVENTION, CostModel
from ..core.table import TwoTaskTable
from ..engine.img_size import SIZE_KEYS, apply_img_size
from ..errors import ConfigError, LayoutError, closest, did_you_mean
from ..registry import RECOMMENDERS
from .cli import find_config
from .components import check_component_types

__all__ = ['KNOWN_KEYS', 'load_config', 'apply_img_size', 'setup_work_dir',
           'check_config_keys', 'check_sweep_settings', 'is_full_mode', 'require_model',
           'config_tasks',
           'resolve_path', 'load_table', 'build_cost_model', 'strategy_names',
           'recommender_spec', 'build_recommender', 'check_data_root']

#: top-level keys an mmengine Runner reads
RUNNER_KEYS = ('model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
               'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
               'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks',
               'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher',
               'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
               'randomness', 'experiment_name', 'runner_type', 'compile', 'cfg',
               'custom_imports')
#: top-level keys the plugin reads
PLUGIN_KEYS = ('tasks', 'two_task_table', 'block_flops', 'block_params', 'head_flops',
               'head_params', 'flops_unit', 'params_unit', 'flops_convention', 'recommender',
               'sweep', 'validation', 'recommendation', 'img_size')
#: helper variables OpenMMLab configs commonly define for their own use
HELPER_KEYS = ('data_root', 'dataset_type', 'backend_args', 'file_client_args',
               'image_size', 'crop_size', 'norm_cfg', 'train_pipeline', 'test_pipeline',
               'val_pipeline', 'num_classes', 'class_names', 'metainfo', 'checkpoint', 'lr')
KNOWN_KEYS = RUNNER_KEYS + PLUGIN_KEYS + HELPER_KEYS
SWEEP_KEYS = ('overrides', 'keep_checkpoints', 'seeds', 'workers', 'threads', 'method',
              'more_seeds')


def load_config(path: str, cfg_options: Mapping | None = None,
                flags: Mapping[str, Any] | None = None) -> 'Config':
    """The one way a config is prepared, by every tool and the runner: read the file, switch
    the recommender to ``--strategy``, merge ``--cfg-options``, then every other command-line
    flag (``flags``: dotted config keys; None values are not given), apply ``img_size``, and
    check the result. What is saved in the work dir is exactly this config."""
    cfg = _read_config(path)
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    strategy = flags.pop('recommender.type', None)
    if strategy is not None:
        cfg.recommender = recommender_spec(cfg, strategy, warn=True)
    if cfg_options:
        check_config_keys({str(k).split('.')[0] for k in cfg_options}, '--cfg-options')
        _check_parents(cfg, cfg_options, '--cfg-options')
        _check_size_options(cfg, cfg_options)
        _drop_backbone_tied(cfg, cfg_options)
        _merge(cfg, cfg_options, '--cfg-options')
    if flags.get('recommender.search') is not None and \
            (cfg.get('recommender') or {}).get('type', 'TreeRecommender') != 'TreeRecommender':
        raise ConfigError(f"--search {flags['recommender.search']!r} chooses how tree layouts are "
                          f"searched; the {cfg.recommender.type} strategy has no such option")
    _check_parents(cfg, flags, 'the command line')
    _merge(cfg, flags, 'the command line')
    apply_img_size(cfg)
    check_config_keys(list(cfg.keys()), values=cfg)
    check_sweep_settings(cfg)
    check_validation_settings(cfg)
    check_schedule(cfg)
    if cfg.get('recommender') is not None:
        build_recommender(cfg)         # every recommender option is checked here, once
    return cfg


def _read_config(path: str) -> 'Config':
    """``Config.fromfile`` with a ConfigError naming the file (and line) for syntax errors,
    missing base files and errors in the config's code."""
    from mmengine.config import Config
    path = find_config(path)
    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        name = err.filename if err.filename and err.filename != '<unknown>' else path
        where = f'{name}, line {err.lineno}' if err.lineno else str(name)
        raise ConfigError(f'config {where}: syntax error: {err.msg}') from None
    except FileNotFoundError as err:
        raise ConfigError(f'config {path}: file not found: {err.filename or err}') from None
    except RecursionError:
        cycle = _base_cycle(path)
        raise ConfigError(f'config {path}: its _base_ files inherit from each other in a cycle'
                          + (f' ({" -> ".join(cycle)})' if cycle else '')
                          + '; remove one of these _base_ entries') from None
    except Exception as err:        # the config's own code: any error is the user's to fix
        raise ConfigError(f'config {path} cannot be loaded: {type(err).__name__}: {err}'
                          ) from None


def _base_cycle(path: str, seen: tuple = ()) -> list[str]:
    """The first chain of ``_base_`` files from ``path`` that comes back to one of them, as
    file names ([] when none is found); ``_base_`` is read as a literal, not run."""
    import ast
    path = osp.abspath(path)
    if path in seen:
        return [osp.basename(p) for p in seen[seen.index(path):]] + [osp.basename(path)]
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return []
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            bases = [value] if isinstance(value, str) else list(value)
    for base in bases:
        found = _base_cycle(osp.join(osp.dirname(path), str(base)), seen + (path,))
        if found:
            return found
    return []


def _check_parents(cfg, options: Mapping, where: str) -> None:
    """A dotted option (``sweep.workers=2``) sets a key inside a dict: the config's value on
    its path must be a dict (mmengine would fail with "cannot inherit")."""
    for key in sorted(str(k) for k in options if '.' in str(k)):
        node, path = cfg, []
        for part in key.split('.')[:-1]:
            node = node.get(part) if not path or isinstance(node, Mapping) else None
            path.append(part)
            if node is None:
                break
            if not isinstance(node, Mapping):
                raise ConfigError(f'`{".".join(path)}` must be a dict, got {node!r}; {where} '
                                  f'sets {key} in it')


def _merge(cfg, options: Mapping, where: str) -> None:
    try:
        cfg.merge_from_dict(dict(options))
    except (TypeError, KeyError, ValueError) as err:
        raise ConfigError(f'{where}: {dict(options)!r} cannot be applied: {err}') from None



#: backbone settings that describe one timm model; a swap of ``model_name`` drops them
BACKBONE_TIED_KEYS = ('model_kwargs', 'block_groups', 'block_modules', 'block_pattern',
                      'init_cfg')


def _drop_backbone_tied(cfg, cfg_options: Mapping) -> None:
    """``--cfg-options model.backbone.model_name=<other>`` swaps the backbone in one flag:
    the config's settings tied to its old timm model (``BACKBONE_TIED_KEYS``) are dropped
    unless the same options set them again, and ``block_groups`` becomes
    ``num_branch_points`` (the same number of branching points, FLOPs-balanced on the new
    model), with a note naming what was dropped."""
    backbone = (cfg.get('model') or {}).get('backbone')
    new_name = cfg_options.get('model.backbone.model_name')
    if not isinstance(backbone, Mapping) or new_name is None or \
            new_name == backbone.get('model_name'):
        return
    given = {str(k).split('.')[2] for k in cfg_options
             if str(k).startswith('model.backbone.') and str(k).count('.') >= 2}
    dropped = {k: backbone[k] for k in BACKBONE_TIED_KEYS
               if backbone.get(k) is not None and k not in given}
    if not dropped:
        return
    for key in dropped:
        backbone.pop(key)
    groups = dropped.get('block_groups')
    derived = ''
    if groups is not None and backbone.get('num_branch_points') is None and \
            'num_branch_points' not in given:
        backbone['num_branch_points'] = len(groups)
        derived = f'; num_branch_points={len(groups)} (as many as the old block_groups)'
    settings = ', '.join(f'{k}={v!r}' for k, v in dropped.items())
    flags = ' '.join(f'model.backbone.{k}=...' for k in dropped)
    warnings.warn(f'model.backbone.model_name={new_name}: dropped the settings of '
                  f'{backbone.get("model_name")} ({settings}){derived}; to set them for '
                  f'{new_name}, add --cfg-options {flags}', UserWarning, stacklevel=4)


def _check_size_options(cfg, cfg_options: Mapping) -> None:
    """A size given by ``--cfg-options`` would be overwritten by the config's ``img_size``:
    say so and name the one key to set instead."""
    if cfg.get('img_size') is None or 'img_size' in cfg_options:
        return
    given = [k for k in cfg_options if k in SIZE_KEYS]
    if given:
        raise ConfigError(
            f'--cfg-options {given[0]}={cfg_options[given[0]]!r}: this config sets the '
            f'resolution with img_size={cfg.img_size!r}, which drives '
            f'{", ".join(SIZE_KEYS)}; set --cfg-options img_size=<size> instead')


def setup_work_dir(cfg, work_dir: str | None, config_path: str) -> str:
    """``cfg.work_dir``: the command line's, else the config's, else
    ``work_dirs/<config name>`` (OpenMMLab's rule); a path that is a file is an error."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config_path))[0])
    if osp.exists(cfg.work_dir) and not osp.isdir(cfg.work_dir):
        raise ConfigError(f'work dir {cfg.work_dir!r} is a file, not a folder; choose a folder')
    try:                             # before anything trains: can the results be written?
        os.makedirs(cfg.work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=cfg.work_dir):
            pass
    except OSError as err:
        raise ConfigError(f'work dir {cfg.work_dir!r} cannot be written ({err.strerror or err}); '
                          'choose a folder you can write to with --work-dir') from None
    source = find_config(config_path)
    if osp.isdir(cfg.work_dir) and osp.isfile(source) and \
            osp.samefile(cfg.work_dir, osp.dirname(osp.abspath(source))):
        raise ConfigError(f'work dir {cfg.work_dir!r} is the folder of the config {source!r}: '
                          'a run saves its config in the work dir and would overwrite yours; '
                          'choose another --work-dir')
    return cfg.work_dir


#: mmcv 1.x keys an mmengine Runner ignores, and what replaced them
OLD_KEYS = {
    'optimizer': 'optim_wrapper = dict(optimizer=dict(...)) (e.g. --cfg-options '
                 'optim_wrapper.optimizer.lr=0.1)',
    'optimizer_config': 'optim_wrapper (e.g. optim_wrapper.clip_grad)',
    'lr_config': 'param_scheduler', 'runner': 'train_cfg (e.g. train_cfg.max_iters)',
    'total_epochs': 'train_cfg.max_epochs', 'workflow': 'train_cfg',
    'evaluation': 'val_evaluator and train_cfg.val_interval',
    'checkpoint_config': 'default_hooks.checkpoint', 'log_config': 'default_hooks.logger',
    'data': 'train_dataloader / val_dataloader / test_dataloader',
}
#: top-level keys whose value must be a dict when given
DICT_KEYS = ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
             'val_cfg', 'test_cfg', 'optim_wrapper', 'default_hooks', 'env_cfg', 'randomness',
             'log_processor', 'visualizer')     # (recommender, sweep, validation: own checks)


def check_config_keys(keys, where: str = 'the config', values: Mapping | None = None
                      ) -> list[str]:
    """Top-level ``keys`` that look like typos of known keys, or are mmcv 1.x keys the Runner
    would ignore, are errors (with the key to use); so is a ``DICT_KEYS`` entry of ``values``
    that is not a dict. Returns the other unknown keys (helper variables a config may define
    for itself)."""
    old = [k for k in keys if k in OLD_KEYS]
    if old:
        raise ConfigError(f'`{old[0]}` in {where} is an mmcv 1.x key that mmengine ignores; '
                          f'use {OLD_KEYS[old[0]]}')
    if values is not None:
        for key in keys:
            if key in DICT_KEYS and values[key] is not None and \
                    not isinstance(values[key], Mapping):
                raise ConfigError(f'`{key}` in {where} must be a dict, got {values[key]!r}')
    unknown = [k for k in keys if k not in KNOWN_KEYS and not str(k).startswith('_')]
    typos = [(k, closest(str(k), KNOWN_KEYS, cutoff=0.75, containment=False))
             for k in unknown]
    typos = [(k, m) for k, m in typos if m is not None]
    if typos:
        raise ConfigError(f'unknown key(s) in {where}: ' + ', '.join(
            f'{k!r} (did you mean {m!r}?)' for k, m in typos))
    return unknown


def check_sweep_settings(cfg: Mapping) -> None:
    """``sweep`` is the plugin's own dict: every key must be known and every value valid
    (checked here, once, before anything trains)."""
    sweep = cfg.get('sweep')
    if sweep is None:
        return
    if not isinstance(sweep, Mapping):
        raise ConfigError(f'`sweep` must be a dict such as dict(overrides=dict(train_cfg='
                          f'dict(max_iters=120))), got {sweep!r}')
    from ..affinity.methods import build_table_method, table_methods
    from ..sweep.executor import sweep_threads, sweep_workers
    from ..sweep.plan import sweep_seeds
    known = SWEEP_KEYS + tuple(table_methods())     # sweep.<method>: that method's options
    check_options('sweep', sweep, known)
    method = sweep.get('method', 'pairwise')
    unused = [name for name in table_methods() if name in sweep and name != method]
    if unused:
        warnings.warn(f'sweep.{unused[0]} options are not used: sweep.method is {method!r} '
                      f'(set sweep.method={unused[0]!r} to use them, or remove them)',
                      UserWarning, stacklevel=3)
    overrides = sweep.get('overrides')
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f'sweep.overrides must be a dict of config keys, got {overrides!r}')
    if overrides:
        check_config_keys(list(overrides), 'sweep.overrides', values=overrides)
    check_bool('sweep.keep_checkpoints', sweep.get('keep_checkpoints', False))
    sweep_seeds(sweep.get('seeds'))
    sweep_workers(sweep.get('workers'))
    sweep_threads(sweep.get('threads'))
    check_int('sweep.more_seeds', sweep.get('more_seeds', 0), low=0)
    build_table_method(sweep)


#: the options of ``validation`` (the study of ``tools/analysis/validate_recommender.py``)
VALIDATION_KEYS = ('train_cfg', 'seeds', 'layouts', 'overrides', 'right_tree')


def check_validation_settings(cfg: Mapping) -> dict:
    """``validation`` is a dict of known options with valid values (checked by every tool
    that loads the config, before anything trains); returns it ({} when not given)."""
    from ..core.layout import as_layout
    from ..sweep.plan import MAX_SEED, MAX_SEEDS
    settings = cfg.get('validation')
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ConfigError(f'`validation` must be a dict such as dict(seeds=3, layouts=20), got '
                          f'{settings!r}')
    check_options('validation', settings, VALIDATION_KEYS)
    seeds = settings.get('seeds', 3)
    if is_int(seeds):
        check_int('validation.seeds (a count)', seeds, low=1, high=MAX_SEEDS)
    else:
        check_int_list('validation.seeds (a count or a list of seeds)', seeds, low=0,
                       high=MAX_SEED, unique=True)
    layouts = settings.get('layouts', 'all')
    if isinstance(layouts, str) and layouts.isdigit():
        layouts = int(layouts)
    if layouts != 'all' and not (is_int(layouts) and layouts >= 2):
        raise ConfigError(f"validation.layouts must be 'all' or a number >= 2, got {layouts!r}")
    if settings.get('right_tree') is not None:
        try:
            as_layout(settings['right_tree'])
        except (LayoutError, TypeError, ValueError) as err:
            raise ConfigError(f'validation.right_tree must be a layout: {err}') from None
    for key in ('overrides', 'train_cfg'):
        value = settings.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f'validation.{key} must be a dict, got {value!r}')
    if settings.get('overrides'):
        check_config_keys(list(settings['overrides']), 'validation.overrides',
                          values=settings['overrides'])
    return dict(settings, layouts=layouts)


def check_schedule(cfg: Mapping) -> None:
    """Iteration counts, intervals and batch sizes of every schedule the config runs (the
    model's, the sweep's and the validation study's) are positive integers: a zero would
    train nothing and still write results."""
    sweep, study = cfg.get('sweep') or {}, cfg.get('validation') or {}
    schedules = (('train_cfg', cfg.get('train_cfg')),
                 ('sweep.overrides.train_cfg', (sweep.get('overrides') or {}).get('train_cfg')),
                 ('validation.train_cfg', study.get('train_cfg')))
    for where, schedule in schedules:
        if isinstance(schedule, Mapping):
            for key in ('max_iters', 'max_epochs', 'val_interval', 'val_begin'):
                if schedule.get(key) is not None:
                    check_int(f'{where}.{key}', schedule[key], low=0 if key == 'val_begin' else 1)
    randomness = cfg.get('randomness')
    if isinstance(randomness, Mapping) and randomness.get('seed') is not None:
        check_int('randomness.seed', randomness['seed'], low=0, high=2 ** 32 - 1)
    for prefix, source in (('', cfg), ('sweep.overrides.', sweep.get('overrides')),
                           ('validation.overrides.', study.get('overrides'))):
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = source.get(key) if hasattr(source, 'get') else None
            if isinstance(loader, Mapping) and loader.get('batch_size') is not None:
                check_int(f'{prefix}{key}.batch_size', loader['batch_size'], low=1)


def is_full_mode(cfg: Mapping) -> bool:
    """Does the config describe a model to train (full mode), not only a table?"""
    return cfg.get('model') is not None


def require_model(cfg: Mapping, tool: str) -> None:
    """A tool that trains or tests needs a full-mode config (say so for a table-mode one)
    whose tasks have a head and a loss, and whose optimiser, schedulers and metrics exist."""
    if not is_full_mode(cfg):
        raise ConfigError(f'{tool} needs a config with a `model` to train (full mode); this '
                          'config only has a two-task table (table mode): run tools/recommend.py '
                          'on it, or give a full-mode config such as an exported one')
    config_tasks(cfg)
    check_component_types(cfg)


def config_tasks(cfg: Mapping) -> list[str]:
    """The tasks, in display order: ``model.tasks`` in full mode (``tasks`` may reorder them),
    ``tasks`` in table mode."""
    tasks = cfg.get('tasks')
    if tasks is not None and (isinstance(tasks, str) or not isinstance(tasks, (list, tuple))
                              or not all(isinstance(t, str) and t for t in tasks)):
        raise ConfigError(f'`tasks` must be a list of task-name strings, got {tasks!r}')
    if tasks is not None and len(set(tasks)) != len(tasks):
        raise ConfigError(f'`tasks` lists a task twice: {list(tasks)}')
    if is_full_mode(cfg):
        heads = cfg.model.get('tasks')
        if not isinstance(heads, Mapping) or not heads:
            raise ConfigError('model.tasks must be a dict {task: dict(head=..., loss=...)} with '
                              'one entry per task (see configs/_base_/models/)')
        for task, spec in heads.items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get('head'), Mapping) \
                    or not isinstance(spec.get('loss'), Mapping):
                raise ConfigError(f'model.tasks[{task!r}] needs a `head` and a `loss`, e.g. '
                                  "dict(head=dict(type='LightConvHead', num_outputs=1), "
                                  f"loss=dict(type='DepthL1Loss')); got {spec!r}")
        if tasks is None:
            tasks = list(heads)
        elif set(tasks) != set(heads):
            unknown = [f'{t!r}{did_you_mean(t, heads)}' for t in tasks if t not in heads]
            missing = [t for t in heads if t not in tasks]
            raise ConfigError(f'`tasks` {list(tasks)} must name the same tasks as model.tasks '
                              f'{list(heads)} (unknown: {", ".join(unknown) or "none"}; '
                              f'missing: {missing or "none"}); add or remove heads in '
                              'model.tasks to change the tasks')
    if tasks is None:
        raise ConfigError('the config has no `tasks`: list the task names, e.g. '
                          "tasks = ['segment_semantic', 'normal', 'depth_zbuffer']")
    if len(tasks) < 2:
        raise ConfigError(f'a recommendation needs at least two tasks to share a backbone, '
                          f'got {list(tasks)}')
    return list(tasks)


def resolve_path(path: str, cfg_dir: str | None) -> str:
    """A config path: absolute, relative to the working directory, or to the config file."""
    if osp.isabs(path) or osp.exists(path) or cfg_dir is None:
        return path
    candidate = osp.join(cfg_dir, path)
    return candidate if osp.exists(candidate) else path


def load_table(cfg: Mapping, cfg_dir: str | None = None) -> TwoTaskTable:
    """The two-task table named by ``cfg.two_task_table``, restricted to the config's tasks,
    with as many branching points as its branches give."""
    tasks = config_tasks(cfg)
    path = cfg.get('two_task_table')
    if path is not None and not isinstance(path, str):
        raise ConfigError(f'two_task_table={path!r}: give the path of a two-task CSV file as a '
                          "string, e.g. two_task_table='data/my_table.csv'")
    if not path:
        raise ConfigError('the config has no `two_task_table`: give the path of a two-task '
                          'CSV (header task_a,task_b,branch,perf_a,perf_b; see '
                          'docs/user_guides/file_formats.md)')
    path = resolve_path(path, cfg_dir)
    if osp.isdir(path):
        raise ConfigError(f'two_task_table={path!r} is a folder; give the path of a two-task '
                          'CSV file in it')
    if not osp.isfile(path):
        raise ConfigError(f'two_task_table file not found: {path!r} (relative paths are looked '
                          "up from the working directory, then from the config file's folder)")
    return TwoTaskTable.from_csv(path, tasks=tasks)


def build_cost_model(cfg: Mapping) -> CostModel:
    """Cost model from the table-mode keys ``block_flops`` etc."""
    if cfg.get('block_flops') is None:
        raise ConfigError('the config has no `block_flops`: give one FLOPs value per branching '
                          'point (e.g. GFLOPs as fvcore counts them, one image)')
    return CostModel(block_flops=cfg.block_flops, block_params=cfg.get('block_params'),
                     head_flops=cfg.get('head_flops'), head_params=cfg.get('head_params'),
                     flops_unit=cfg.get('flops_unit', 'GFLOPs'),
                     params_unit=cfg.get('params_unit', 'M'),
                     flops_convention=cfg.get('flops_convention', FVCORE_CONVENTION))


def _accepted(cls) -> list[str]:
    return [n for n in inspect.signature(cls.__init__).parameters
            if n not in ('self', 'progress', 'chunk_rows')]


def strategy_names() -> dict[str, str]:
    """``--strategy`` names (each recommender class's ``name``) -> registered types."""
    import treemtl_plugin.recommenders  # noqa: F401  (registers the strategies)
    return {cls.name: key for key, cls in RECOMMENDERS.module_dict.items()}


def recommender_spec(cfg: Mapping, strategy: str | None = None, warn: bool = False) -> dict:
    """A copy of ``cfg.recommender``; switched to ``strategy`` (a ``--strategy`` name or a
    registered type) it keeps only the options every strategy takes (``topk``, ``budget``)."""
    given = cfg.get('recommender')
    if given is not None and not isinstance(given, Mapping):
        raise ConfigError(f'recommender={given!r}: give a dict such as '
                          "dict(type='TreeRecommender', topk=5)")
    spec = copy.deepcopy(dict(given or {}))
    spec.setdefault('type', 'TreeRecommender')
    if strategy is None:
        return spec
    names = strategy_names()
    kind = names.get(strategy, strategy)
    if kind not in names.values():
        raise ConfigError(f'unknown strategy {strategy!r}{did_you_mean(str(strategy), names)}; '
                          f'use one of {sorted(names)}')
    if kind == spec['type']:
        return spec
    common = RECOMMENDERS.get(kind).common_options
    dropped = sorted(k for k in spec if k not in common and k != 'type')
    if dropped and warn:              # the user switched: say what does not carry over
        warnings.warn(f'--strategy {strategy}: the {spec["type"]} options {dropped} do not '
                      f'apply to {kind} and are left out (its own options can be set with '
                      '--cfg-options recommender.<option>=...)', UserWarning, stacklevel=3)
    return dict(type=kind, **{k: v for k, v in spec.items() if k in common})


def build_recommender(cfg: Mapping, progress: Callable[[int, int], None] | None = None):
    """``RECOMMENDERS.build(cfg.recommender)``, with a ConfigError naming an unknown type or
    option (with a did-you-mean) instead of a TypeError."""
    spec = recommender_spec(cfg)
    names = strategy_names()
    kind = spec['type']
    cls = RECOMMENDERS.get(kind)
    if cls is None:
        raise ConfigError(f'recommender.type={kind!r} is not a registered recommender'
                          f'{did_you_mean(str(kind), RECOMMENDERS.module_dict)}; use one of '
                          f'{sorted(RECOMMENDERS.module_dict)}')
    check_options('recommender', [k for k in spec if k != 'type'], _accepted(cls),
                  fix=f' for {kind} (--strategy {{{",".join(sorted(names))}}} switches '
                      'strategies and keeps topk and budget)')
    if progress is not None and 'progress' in inspect.signature(cls.__init__).parameters:
        spec['progress'] = progress
    return RECOMMENDERS.build(spec)


def check_data_root(cfg: Mapping) -> None:
    """Fail fast when a dataset's data_root does not exist (before any training)."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        root = dataset.get('data_root')
        if root and not osp.isdir(root):
            raise ConfigError(f'{key}.dataset.data_root {root!r} does not exist; download the '
                              'dataset there or set data_root (see docs/user_guides/datasets.md)')
