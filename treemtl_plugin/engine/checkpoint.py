"""Loading mmengine checkpoints under torch >= 2.6, trusted only where it is safe, and checked.

torch 2.6 made ``torch.load(weights_only=True)`` the default; mmengine's training checkpoints
hold ``HistoryBuffer`` objects and numpy values, so resuming them fails ("Unsupported
global"). :func:`trusted_loading` lets mmengine fully unpickle files under given folders --
the runner's own work dir, a file named explicitly to resume from -- for the duration of a
``with`` block, and restores mmengine's own loader afterwards: importing the plugin changes
nothing for other mmengine code. Files elsewhere still load as weights only.
"""
from __future__ import annotations

import contextlib
import os.path as osp
import pickle
import zipfile

import torch
from mmengine.runner import CheckpointLoader

from ..errors import CheckpointError

__all__ = ['trusted_loading', 'read_checkpoint', 'read_state_dict', 'check_belongs']


def _under(path: str, roots) -> bool:
    real = osp.realpath(path)
    return any(real == root or real.startswith(root.rstrip(osp.sep) + osp.sep) for root in roots)


def read_checkpoint(filename: str, map_location='cpu', trusted: bool = False):
    """``torch.load`` a local checkpoint: weights only, or a full unpickle when ``trusted``.
    A missing, corrupt or non-checkpoint file raises CheckpointError naming it."""
    if osp.isdir(filename):
        raise CheckpointError(f'checkpoint {filename} is a folder; give a checkpoint file in '
                              'it (e.g. iter_300.pth)')
    if not osp.isfile(filename):
        raise CheckpointError(f'checkpoint {filename} not found')
    if not zipfile.is_zipfile(filename):   # torch.save has written zip archives since 1.6
        raise CheckpointError(f'{filename} is not a readable checkpoint: not a torch file '
                              '(or one truncated)')
    try:
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            if not trusted:
                raise
            return torch.load(filename, map_location=map_location, weights_only=False)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' in str(err):
            raise CheckpointError(
                f'{filename} holds more than weights (e.g. an mmengine training checkpoint) '
                'and is outside the trusted folders (the run\'s work dir, a file given to '
                '--resume); resume it with tools/train.py --resume <file>') from None
        raise CheckpointError(f'{filename} is not a readable checkpoint ({err})') from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as err:
        raise CheckpointError(f'{filename} is not a readable checkpoint: it is truncated or '
                              f'not a torch file ({type(err).__name__}: {err})') from None


@contextlib.contextmanager
def trusted_loading(*roots: str | None):
    """Inside the block, mmengine loads local checkpoints under ``roots`` in full."""
    roots = [osp.realpath(osp.expanduser(r)) for r in roots if r]

    def load_from_local(filename, map_location=None):   # mmengine logs "by local backend"
        filename = osp.expanduser(filename)
        return read_checkpoint(filename, map_location, trusted=_under(filename, roots))

    previous = CheckpointLoader._schemes.get('')
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    try:
        yield
    finally:
        if previous is not None:
            CheckpointLoader.register_scheme(prefixes='', loader=previous, force=True)


def read_state_dict(filename: str, trusted: bool = True) -> dict:
    """The model weights of a checkpoint file (``state_dict`` of an mmengine checkpoint, or a
    bare state dict; DataParallel's ``module.`` prefixes removed); CheckpointError for a
    missing, unreadable or weightless file."""
    checkpoint = read_checkpoint(filename, trusted=trusted)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError(f'{filename} holds no model weights (no state dict of tensors, '
                              'as the checkpoints of tools/train.py have)')
    return {str(k).removeprefix('module.'): v for k, v in state.items()}


def check_belongs(model, state: dict, filename: str) -> None:
    """``state`` must hold exactly ``model``'s parameters and buffers (names and shapes); a
    missing ``_extra_state`` (a checkpoint from before layouts were recorded) is fine. The
    layout itself is checked when the state is loaded (``TreeMultiTaskModel``)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith('_extra_state')]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and hasattr(state[k], 'shape')
              and hasattr(own[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f'{filename} belongs to another model (another layout, grouping, backbone or task '
            f'set) than the {type(model).__name__} of this config: {len(missing)} missing '
            f'key(s) {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, '
            f'{len(shapes)} of another shape {shapes[:3]}; use it with the config it was '
            'trained with')
