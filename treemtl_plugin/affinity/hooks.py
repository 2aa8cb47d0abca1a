"""mmengine hooks that measure what the cheap two-task tables need, during a training.

``LookaheadAffinityHook`` (one all-shared multi-task training): every ``interval``
iterations, for each task ``i`` a step along ``i``'s gradient is applied to the first ``b``
blocks only (``b = 1..B``, cumulatively) and every task's loss is measured again on the same
batch; parameters and normalisation statistics are restored afterwards, so training itself is
untouched. The step has the size of an Adam step: ``lr * g / rms(g)`` per parameter tensor,
with ``lr`` the optimiser's current learning rate unless given. ``FeatureProbeHook`` (single-task trainings): after training, the
representation dissimilarity matrix of ``num_images`` validation images at the output of
every block. Both hand their results to the runner's message hub (``'extras'``), which the
sweep stores with the run's metrics.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..checks import check_int
from ..registry import HOOKS
from .tables import lookahead_affinity, rdm

__all__ = ['LookaheadAffinityHook', 'FeatureProbeHook', 'add_extras']


def add_extras(runner, **values) -> None:
    """Attach results to the run (the sweep writes them beside the metrics)."""
    extras = dict(runner.message_hub.get_info('extras') or {})
    extras.update(values)
    runner.message_hub.update_info('extras', extras)


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _current_lr(runner) -> float:
    lrs = runner.optim_wrapper.get_lr()
    return float(np.mean(next(iter(lrs.values())))) if isinstance(lrs, dict) else float(lrs)


def _block_keys(model) -> list[str]:
    """The branch keys of an all-shared tree model, one per block, in order."""
    keys = [f'b{b}_s0' for b in range(len(model._plan))]
    if any(len(row) != 1 for row in model._plan):
        raise ValueError('lookahead affinity needs the all-shared layout (model.layout=None)')
    return keys


@HOOKS.register_module()
class LookaheadAffinityHook(Hook):
    """Per-branching-point lookahead task affinity (Fifty et al., NeurIPS 2021)."""

    priority = 'LOW'

    def __init__(self, interval: int = 20, lr: float | None = None):
        self.interval = check_int('sweep.lookahead.interval', interval, low=1)
        self.lr = None if lr is None else float(lr)
        self.used_lr: list[float] = []
        self.sum = None
        self.count = 0
        self.seconds = 0.0
        self.passes = dict(forward=0, backward=0)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.interval or data_batch is None:
            return
        start = time.perf_counter()
        model = _unwrap(runner.model)
        keys = _block_keys(model)
        blocks = [list(model.branches[k].parameters()) for k in keys]
        tasks = list(model.task_names)
        data = model.data_preprocessor(data_batch, True)
        inputs, samples = data['inputs'], data['data_samples']
        saved = {n: b.detach().clone() for n, b in model.named_buffers()}
        params = [[p.detach().clone() for p in block] for block in blocks]

        def losses() -> np.ndarray:
            self.passes['forward'] += 1
            out = model(inputs, samples, mode='loss')
            return np.array([float(out[f'loss_{t}']) for t in tasks])

        lr = self.lr if self.lr is not None else _current_lr(runner)
        self.used_lr.append(lr)
        with torch.no_grad():
            base = losses()
        after = np.zeros((len(tasks), len(keys), len(tasks)))
        for i, task in enumerate(tasks):
            model.zero_grad(set_to_none=True)
            model(inputs, samples, mode='loss')[f'loss_{task}'].backward()
            self.passes['forward'] += 1
            self.passes['backward'] += 1
            grads = [[None if p.grad is None else
                      p.grad.detach() / (p.grad.detach().pow(2).mean().sqrt() + 1e-12)
                      for p in block] for block in blocks]
            model.zero_grad(set_to_none=True)
            with torch.no_grad():
                for b, (block, grad) in enumerate(zip(blocks, grads)):
                    for p, g in zip(block, grad):     # the step covers blocks 1..b+1
                        if g is not None:
                            p.sub_(lr * g)
                    after[i, b] = losses()
                for block, copies in zip(blocks, params):
                    for p, c in zip(block, copies):
                        p.copy_(c)
                for name, buffer in model.named_buffers():
                    buffer.copy_(saved[name])
        z = lookahead_affinity(base, after)
        self.sum = z if self.sum is None else self.sum + z
        self.count += 1
        self.seconds += time.perf_counter() - start

    def after_train(self, runner) -> None:
        if self.count == 0:
            raise ValueError(f'the lookahead hook never ran: training is shorter than its '
                             f'interval ({self.interval} iterations)')
        model = _unwrap(runner.model)
        add_extras(runner, lookahead=dict(
            tasks=list(model.task_names), affinity=(self.sum / self.count).tolist(),
            measurements=self.count, seconds=self.seconds, interval=self.interval,
            lr=float(np.mean(self.used_lr)), **self.passes))


@HOOKS.register_module()
class FeatureProbeHook(Hook):
    """After training: RDMs of ``num_images`` validation images at every block's output."""

    priority = 'LOW'

    def __init__(self, num_images: int = 64):
        self.num_images = int(num_images)

    def after_train(self, runner) -> None:
        model = _unwrap(runner.model)
        images = []
        for batch in runner.val_dataloader:
            images.append(model.data_preprocessor(batch, False)['inputs'])
            if sum(len(x) for x in images) >= self.num_images:
                break
        x = torch.cat(images)[:self.num_images]
        training = model.training
        model.eval()
        rdms = []
        with torch.no_grad():
            for row in model._plan:
                key = row[0][0]               # single-task model: one set per block
                x = model.branches[key](x)
                rdms.append(rdm(x.flatten(1).cpu().numpy())[np.triu_indices(len(x), 1)]
                            .tolist())
        model.train(training)
        add_extras(runner, rdm=dict(num_images=len(x), per_block=rdms))
