"""Files the plugin reads and writes: atomic writes, recommendation outputs, exported configs."""
from .atomic import atomic_write, dumps_strict, write_json

__all__ = ['atomic_write', 'dumps_strict', 'write_json']
