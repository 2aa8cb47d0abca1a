"""Runners: ``TreeMTLRunner`` (checked, scoped checkpoint loading) and ``SweepRunner``.

``TreeMTLRunner`` is the runner of the plugin's configs (``runner_type`` in
``configs/_base_/default_runtime.py``): it loads mmengine checkpoints under torch >= 2.6 by
trusting only its own work dir and the file the config names (``load_from``, ``--resume``),
and it refuses to resume a checkpoint that does not belong to its model, with one clear
message. Launched without a GPU it trains data-parallel on CPU processes (``cpu_dist.py``).

``SweepRunner`` is for the sweep's many short trainings.

A sweep trains dozens of models of a few hundred iterations each, so what a plain Runner does
around the training matters: it collects the environment (~1.8 s: compilers, CUDA), formats
the config with yapf five times (~1 s), prints thousands of lines, and a caller that wants the
final metrics must validate a second time. This runner does the same training and validation,
but logs the environment in one line, writes the config without yapf, sends the full log only
to the run's own log file (warnings still reach the console) and keeps the metrics of the
validation that ends training in ``last_metrics``.
"""
from __future__ import annotations

import copy
import logging

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from ..errors import CheckpointError
from ..io.config_file import config_text
from ..registry import RUNNERS
from .checkpoint import check_belongs, read_state_dict, trusted_loading
from .cpu_dist import init_launched
from .img_size import apply_img_size

__all__ = ['TreeMTLRunner', 'SweepRunner', 'KeepLastMetrics', 'train_and_evaluate',
           'load_weights', 'EXTRAS_KEY', 'TEST_METRICS_KEY', 'TEST_AFTER_TRAIN']


class QuickTextConfig(Config):
    """A Config whose text form keeps dict order and skips yapf (which costs ~0.2 s per call,
    and a Runner calls it several times); it is still a loadable config file."""

    @property
    def pretty_text(self) -> str:
        return config_text(self)


class KeepLastMetrics(Hook):
    """Keeps the metrics of the runner's last validation in ``metrics`` (None before one)."""
    priority = 'LOWEST'

    def __init__(self):
        self.metrics: dict[str, float] | None = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = {k: float(v) for k, v in (metrics or {}).items()}


@RUNNERS.register_module()
class TreeMTLRunner(Runner):
    """An mmengine Runner whose checkpoint loading is trusted only where it is safe, and
    checked: a corrupt file or one of another model is a CheckpointError before any state is
    touched."""

    @classmethod
    def from_cfg(cls, cfg) -> 'TreeMTLRunner':
        """Build from a config, with its ``img_size`` applied (a ``Config.fromfile`` config
        trains at the size it names)."""
        cfg = copy.deepcopy(cfg)
        apply_img_size(cfg)
        return super().from_cfg(cfg)

    def load_or_resume(self) -> None:
        # trusted: what this runner wrote, and the file the config / --resume names
        with trusted_loading(self.work_dir, self._load_from):
            super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        check_belongs(self.bare_model, read_state_dict(filename), filename)
        super().resume(filename, *args, **kwargs)

    @property
    def bare_model(self):
        return _bare(self.model)

    def setup_env(self, env_cfg: dict) -> None:
        # mmengine's launchers need CUDA: start the group here (gloo without it) first
        if self.distributed:
            init_launched(self.launcher, env_cfg)
        super().setup_env(env_cfg)

    def _init_model_weights(self) -> None:
        # as mmengine's, but only tensors are broadcast: the state dict also holds the tree
        # model's layout (``_extra_state``, a dict of names), the same on every rank
        model = self.bare_model
        if hasattr(model, 'init_weights'):
            from mmengine.dist import broadcast
            model.init_weights()
            for value in model.state_dict().values():
                if isinstance(value, torch.Tensor):
                    broadcast(value)

    def wrap_model(self, model_wrapper_cfg, model):
        # a CPU model in DDP takes no device ids (mmengine passes [LOCAL_RANK])
        if self.distributed and not torch.cuda.is_available() and model_wrapper_cfg is None \
                and not is_model_wrapper(model):
            import inspect

            from mmengine.model import MMDistributedDataParallel
            params = inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
            no_sync = {'forward_sync_buffers' if 'forward_sync_buffers' in params
                       else 'broadcast_buffers': False}      # (the newer torch name)
            return MMDistributedDataParallel(
                module=model, **no_sync,
                find_unused_parameters=self.cfg.get('find_unused_parameters', False))
        return super().wrap_model(model_wrapper_cfg, model)

    def _log_env(self, env_cfg: dict) -> None:
        # mmengine's collect_env imports distutils, which Python >= 3.12 has only through
        # setuptools: without it, log the essentials instead of failing to start
        try:
            super()._log_env(env_cfg)
        except ModuleNotFoundError as err:
            if err.name not in ('distutils', 'setuptools'):
                raise
            self.logger.info(_short_env(self))


def _short_env(runner: Runner) -> str:
    """One line of the environment that shapes a run."""
    cuda = torch.cuda.is_available()
    return (f'torch {torch.__version__}, CUDA {torch.version.cuda if cuda else "not available"}'
            f', {torch.get_num_threads()} threads, seed {runner.seed}, launcher '
            f'{runner.launcher}, world size {runner.world_size}')


def _bare(model):
    return model.module if is_model_wrapper(model) else model


def load_weights(runner: Runner, filename: str) -> None:
    """Load a checkpoint's weights into ``runner``'s model (strict), after checking that
    they belong to it; the file named here is trusted."""
    check_belongs(_bare(runner.model), read_state_dict(filename), filename)
    with trusted_loading(filename):
        try:
            runner.load_checkpoint(filename, map_location='cpu', strict=True)
        except RuntimeError as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f'{filename} cannot be loaded into the model: {err}'
                                  ) from None


@RUNNERS.register_module()
class SweepRunner(TreeMTLRunner):
    """A quiet, lean Runner for short sweep runs; ``last_metrics`` holds the final validation."""

    @classmethod
    def from_cfg(cls, cfg) -> 'SweepRunner':
        if not isinstance(cfg, QuickTextConfig):
            cfg = QuickTextConfig(cfg.to_dict() if isinstance(cfg, Config) else dict(cfg),
                                  filename=getattr(cfg, 'filename', None))
        runner = super().from_cfg(cfg)
        runner._last_val = KeepLastMetrics()
        runner.register_hook(runner._last_val)
        runner.message_hub.update_info('extras', {})   # filled by measuring hooks
        return runner

    @property
    def last_metrics(self) -> dict[str, float] | None:
        return self._last_val.metrics

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.WARNING)   # the console shows only problems
        return logger

    def _log_env(self, env_cfg: dict) -> None:
        self.logger.info(_short_env(self))
        self.logger.info(f'Config:\n{self.cfg.pretty_text}')

    def close_log(self) -> None:
        """Close the run's log file (a process running many runs would leak the handles)."""
        for handler in list(self.logger.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                self.logger.removeHandler(handler)


#: key of the metrics dict under which a training returns what measuring hooks found
EXTRAS_KEY = '__extras__'
#: ... and its test-split metrics, when its config sets ``TEST_AFTER_TRAIN``
TEST_METRICS_KEY = '__test_metrics__'
#: config key: also score the trained model on the test split (the sweep's single-task runs,
#: the baselines ``tools/test.py`` compares a model's test metrics with)
TEST_AFTER_TRAIN = 'test_after_train'


def train_and_evaluate(cfg: Config) -> dict:
    """Train one sweep run with :class:`SweepRunner`; returns the final validation metrics
    (and, under ``EXTRAS_KEY``, what measuring hooks attached to the run; under
    ``TEST_METRICS_KEY`` its test metrics if the config asks for them)."""
    runner = SweepRunner.from_cfg(cfg)
    test_metrics = None
    try:
        runner.train()
        if runner.last_metrics is None:
            runner.val()   # a loop without a final validation (e.g. a custom train_cfg)
        if cfg.get(TEST_AFTER_TRAIN):
            test_metrics = dict(runner.test())
    finally:
        runner.close_log()
    metrics = dict(runner.last_metrics or {})
    if test_metrics is not None:
        metrics[TEST_METRICS_KEY] = test_metrics
    extras = runner.message_hub.get_info('extras')
    if extras:
        metrics[EXTRAS_KEY] = extras
    return metrics
