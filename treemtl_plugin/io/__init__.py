"""Ground-level file writing: atomic writes and ordered config files (no plugin imports)."""
from .atomic import atomic_write, dumps_strict, write_json

__all__ = ['atomic_write', 'dumps_strict', 'write_json']
