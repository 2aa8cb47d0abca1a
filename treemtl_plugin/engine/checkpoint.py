"""Loading mmengine checkpoints under torch >= 2.6 without trusting every file.

torch 2.6 made ``torch.load(weights_only=True)`` the default; mmengine's checkpoints hold
``HistoryBuffer`` objects and numpy values, so resume and ``load_from`` of Runner checkpoints
fail ("Unsupported global"). We replace mmengine's local-file loader: it tries
``weights_only=True`` first and falls back to a full unpickle only for files inside trusted
folders -- the work dirs this package's tools write checkpoints to, and files the user names
explicitly with ``--resume``. Anything else still loads as weights only.
"""
from __future__ import annotations

import os.path as osp
import pickle

import torch
from mmengine.runner import CheckpointLoader

_TRUSTED: set[str] = set()


def trust_checkpoints_in(path: str) -> None:
    """Allow full unpickling of checkpoints at or under ``path`` (a file or a folder)."""
    _TRUSTED.add(osp.realpath(osp.expanduser(path)))


def is_trusted(filename: str) -> bool:
    real = osp.realpath(filename)
    return any(real == root or real.startswith(root.rstrip(osp.sep) + osp.sep)
               for root in _TRUSTED)


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine loader for local files: weights only, or full unpickle when trusted."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if is_trusted(filename):
            return torch.load(filename, map_location=map_location, weights_only=False)
        raise pickle.UnpicklingError(
            f'{filename} holds more than weights (e.g. an mmengine training checkpoint) and is '
            'not in a work dir of this run. If you trust it, resume with '
            '`tools/train.py --resume <file>` or call '
            'treemtl_plugin.engine.trust_checkpoints_in(<file or folder>).') from err


CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
