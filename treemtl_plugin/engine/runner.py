"""``SweepRunner``: an mmengine Runner for the sweep's many short trainings.

A sweep trains dozens of models of a few hundred iterations each, so what a plain Runner does
around the training matters: it collects the environment (~1.8 s: compilers, CUDA), formats
the config with yapf five times (~1 s), prints thousands of lines, and a caller that wants the
final metrics must validate a second time. This runner does the same training and validation,
but logs the environment in one line, writes the config without yapf, sends the full log only
to the run's own log file (warnings still reach the console) and keeps the metrics of the
validation that ends training in ``last_metrics``.
"""
from __future__ import annotations

import logging

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from ..io.config_file import config_text
from ..registry import RUNNERS

__all__ = ['SweepRunner', 'train_and_evaluate']


class QuickTextConfig(Config):
    """A Config whose text form keeps dict order and skips yapf (which costs ~0.2 s per call,
    and a Runner calls it several times); it is still a loadable config file."""

    @property
    def pretty_text(self) -> str:
        return config_text(self)


class _KeepLastMetrics(Hook):
    priority = 'LOWEST'

    def __init__(self, runner: 'SweepRunner'):
        self.owner = runner

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.owner.last_metrics = {k: float(v) for k, v in (metrics or {}).items()}


@RUNNERS.register_module()
class SweepRunner(Runner):
    """A quiet, lean Runner for short sweep runs; ``last_metrics`` holds the final validation."""

    last_metrics: dict[str, float] | None = None

    @classmethod
    def from_cfg(cls, cfg) -> 'SweepRunner':
        if not isinstance(cfg, QuickTextConfig):
            cfg = QuickTextConfig(cfg.to_dict() if isinstance(cfg, Config) else dict(cfg),
                                  filename=getattr(cfg, 'filename', None))
        runner = super().from_cfg(cfg)
        runner.register_hook(_KeepLastMetrics(runner))
        return runner

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.WARNING)   # the console shows only problems
        return logger

    def _log_env(self, env_cfg: dict) -> None:
        self.logger.info(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
                         f'seed {self.seed}, launcher {self.launcher}, '
                         f'world size {self.world_size}')
        self.logger.info(f'Config:\n{self.cfg.pretty_text}')

    def close_log(self) -> None:
        """Close the run's log file (a process running many runs would leak the handles)."""
        for handler in list(self.logger.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                self.logger.removeHandler(handler)


def train_and_evaluate(cfg: Config) -> dict:
    """Train one sweep run with :class:`SweepRunner`; returns the final validation metrics."""
    runner = SweepRunner.from_cfg(cfg)
    try:
        runner.train()
    finally:
        runner.close_log()
    if runner.last_metrics is None:
        runner.val()   # a loop without a final validation (e.g. a custom train_cfg)
    return dict(runner.last_metrics or {})
