"""mmengine hooks that measure what the cheap two-task tables need, during a training.

``LookaheadAffinityHook`` (one all-shared multi-task training, TAG): every ``interval``
iterations, before the real step and on its batch, a step along each task's own gradient (TAG:
``lr * g_i``; with Adam(W) scaled by its second-moment estimate) is applied to the first ``b``
blocks only
(``b = 1..B``) and every task's loss is measured again; parameters and normalisation
statistics are restored afterwards, so training itself is untouched. ``FeatureProbeHook``
(single-task trainings): the representation dissimilarity matrix of ``num_images`` validation
images at the output of every block, after training (and, with ``control``, before it). Both
hand their results to the runner's message hub (``'extras'``), which the sweep stores with the
run's metrics.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..checks import check_bool, check_choice, check_int
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


def _lookahead_step(optimizer, param: torch.Tensor, grad: torch.Tensor, lr: float | None,
                    precondition: bool = True) -> torch.Tensor:
    """TAG's lookahead step for one task: ``lr * g_i``, the task's own gradient only (Fifty et
    al., 2021, Eq. 1), never the optimiser's first moment (mostly the combined gradient's
    history) nor its weight decay. With ``precondition`` and Adam(W), each coordinate is
    divided by ``sqrt(v_hat) + eps``, Adam's current second-moment estimate (bias-corrected;
    ``|g_i|`` before the first step): Adam's learning rate is in units of that normalised
    step, so ``lr * g_i`` with Adam's rate would be a step of another size per coordinate than
    the training takes. ``lr`` None: the group's learning rate."""
    group = next(g for g in optimizer.param_groups if any(p is param for p in g['params']))
    rate = group['lr'] if lr is None else lr
    if not (precondition and isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW))):
        return rate * grad
    state = optimizer.state.get(param, {})
    if 'exp_avg_sq' in state and float(state.get('step', 0)) > 0:
        _, beta2 = group['betas']
        scale = (state['exp_avg_sq'] / (1 - beta2 ** float(state['step']))).sqrt()
    else:
        scale = grad.abs()
    return rate * grad / (scale + group['eps'])


@HOOKS.register_module()
class LookaheadAffinityHook(Hook):
    """Per-branching-point lookahead task affinity (Fifty et al., NeurIPS 2021, TAG).

    Every ``interval`` iterations, before the real step and on its batch: for each task
    ``i``, a step along ``i``'s own gradient (``_lookahead_step``) is applied to blocks ``1..b``
    only, and every task's loss is measured on the same batch, then the weights are put
    back (``docs/advanced/method.md``, "Cheap two-task tables")."""

    priority = 'LOW'

    def __init__(self, interval: int = 10, lr: float | None = None, on: str = 'train',
                 precondition: bool = True):
        self.interval = check_int('sweep.lookahead.interval', interval, low=1)
        self.lr = None if lr is None else float(lr)
        self.on = check_choice('sweep.lookahead.on', on, ('train', 'val'))
        self.precondition = check_bool('sweep.lookahead.precondition', precondition)
        self._val_batches = None
        self.used_lr: list[float] = []
        self.sum = None
        self.count = 0
        self.seconds = 0.0
        self.passes = dict(forward=0, backward=0)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if (runner.iter + 1) % self.interval or data_batch is None:
            return
        start = time.perf_counter()
        model = _unwrap(runner.model)
        optimizer = runner.optim_wrapper.optimizer
        keys = _block_keys(model)
        blocks = [list(model.branches[k].parameters()) for k in keys]
        tasks = list(model.task_names)
        data = model.data_preprocessor(data_batch, True)
        inputs, samples = data['inputs'], data['data_samples']
        if self.on == 'val':        # the step from the training batch, its effect on held-out
            probe = model.data_preprocessor(self._next_val_batch(runner), True)
            probe_inputs, probe_samples = probe['inputs'], probe['data_samples']
        else:
            probe_inputs, probe_samples = inputs, samples
        saved = {n: b.detach().clone() for n, b in model.named_buffers()}
        params = [[p.detach().clone() for p in block] for block in blocks]

        def losses() -> np.ndarray:
            self.passes['forward'] += 1
            out = model(probe_inputs, probe_samples, mode='loss')
            return np.array([float(out[f'loss_{t}']) for t in tasks])

        self.used_lr.append(self.lr if self.lr is not None else _current_lr(runner))
        model.zero_grad(set_to_none=True)
        out = model(inputs, samples, mode='loss')      # one forward, a backward per task
        self.passes['forward'] += 1
        base = np.array([float(out[f'loss_{t}'].detach()) for t in tasks])
        if self.on == 'val':
            with torch.no_grad():
                base = losses()
        updates = []
        for i, task in enumerate(tasks):
            grads = torch.autograd.grad(out[f'loss_{task}'], [p for b in blocks for p in b],
                                        retain_graph=i < len(tasks) - 1, allow_unused=True)
            self.passes['backward'] += 1
            flat = iter(grads)
            updates.append([[None if g is None else
                             _lookahead_step(optimizer, p, g, self.lr, self.precondition)
                             for p, g in zip(block, flat)] for block in blocks])
        del out, grads
        after = np.zeros((len(tasks), len(keys), len(tasks)))
        with torch.no_grad():
            for i in range(len(tasks)):
                for b, (block, update) in enumerate(zip(blocks, updates[i])):
                    for p, u in zip(block, update):     # the step covers blocks 1..b+1
                        if u is not None:
                            p.sub_(u)
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

    def _next_val_batch(self, runner):
        if self._val_batches is None:
            self._val_batches = iter(runner.val_dataloader)
        try:
            return next(self._val_batches)
        except StopIteration:
            self._val_batches = iter(runner.val_dataloader)
            return next(self._val_batches)

    def after_train(self, runner) -> None:
        if self.count == 0:
            raise ValueError(f'the lookahead hook never ran: training is shorter than its '
                             f'interval ({self.interval} iterations)')
        model = _unwrap(runner.model)
        add_extras(runner, lookahead=dict(
            tasks=list(model.task_names), affinity=(self.sum / self.count).tolist(),
            measurements=self.count, seconds=self.seconds, interval=self.interval,
            lr=float(np.mean(self.used_lr)), precondition=self.precondition, **self.passes))


@HOOKS.register_module()
class FeatureProbeHook(Hook):
    """After training: RDMs of ``num_images`` validation images at every block's output; with
    ``control``, also those of the untrained network (what the input alone explains)."""

    priority = 'LOW'

    def __init__(self, num_images: int = 64, control: bool = False):
        self.num_images = check_int('FeatureProbeHook: num_images', num_images, low=3)
        self.control = bool(control)
        self.at_init = None

    def _rdms(self, runner) -> list[list[float]]:
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
                upper = rdm(x.flatten(1).cpu().numpy())[np.triu_indices(len(x), 1)]
                rdms.append(np.round(upper, 5).tolist())
        model.train(training)
        return rdms

    def before_train(self, runner) -> None:
        if self.control:
            self.at_init = self._rdms(runner)

    def after_train(self, runner) -> None:
        rdms = self._rdms(runner)
        add_extras(runner, rdm=dict(num_images=int(np.sqrt(2 * len(rdms[0])) + 1),
                                    per_block=rdms,
                                    **({'per_block_init': self.at_init} if self.control
                                       else {})))
