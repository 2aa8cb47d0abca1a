"""Distributed training without a GPU: mmengine's launchers assume CUDA (``init_dist`` calls
``torch.cuda.set_device``, DDP gets ``device_ids=[LOCAL_RANK]``), so on a CPU-only machine the
plugin's runner starts the process group itself, with gloo, and wraps the model without device
ids. ``torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch`` then trains
data-parallel on CPU processes, exactly as it does on GPUs (which this module leaves alone).
"""
from __future__ import annotations

import os
import subprocess

import torch
import torch.distributed as torch_dist

__all__ = ['init_launched']


def _init_cpu_dist(launcher: str, timeout=None) -> None:
    """Start the gloo process group from the launcher's environment (torchrun's ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT``; Slurm's ``SLURM_PROCID``, ``SLURM_NTASKS``,
    first host of ``SLURM_NODELIST``)."""
    if launcher == 'slurm':
        nodes = os.environ.get('SLURM_NODELIST', 'localhost')
        first = subprocess.run(['scontrol', 'show', 'hostnames', nodes], capture_output=True,
                               text=True).stdout.split() or ['localhost']
        os.environ.setdefault('MASTER_ADDR', first[0])
        os.environ.setdefault('MASTER_PORT', '29500')
        os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
        os.environ['RANK'] = os.environ['SLURM_PROCID']
        os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    kwargs = {} if timeout is None else dict(timeout=timeout)
    torch_dist.init_process_group(backend='gloo', **kwargs)


def init_launched(launcher: str, env_cfg=None) -> None:
    """Start the process group of a job run by ``launcher`` (not ``'none'``) unless it is
    started: gloo without CUDA, else mmengine's ``init_dist`` with ``env_cfg.dist_cfg``. The
    runner calls it when it is built; the sweep calls it before its first claim, since its
    ranks must agree on every run from the start (rank 0 claims, the others follow)."""
    if launcher == 'none' or not torch_dist.is_available() or torch_dist.is_initialized():
        return
    dist_cfg = dict((env_cfg or {}).get('dist_cfg') or {})
    if launcher in ('pytorch', 'slurm') and not torch.cuda.is_available():
        _init_cpu_dist(launcher, dist_cfg.get('timeout'))
    else:
        from mmengine.dist import init_dist
        init_dist(launcher, **dist_cfg)
