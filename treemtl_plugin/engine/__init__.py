"""Runtime glue for mmengine: trusted checkpoint loading (torch >= 2.6)."""
from .checkpoint import is_trusted, load_local_checkpoint, trust_checkpoints_in

__all__ = ['is_trusted', 'load_local_checkpoint', 'trust_checkpoints_in']
