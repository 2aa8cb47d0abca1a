"""Claims: one process trains a sweep run at a time, however many share the work dir.

Before training a run, a process creates ``runs/<run_id>/claim.json`` atomically
(``O_CREAT | O_EXCL``) with its host, pid and a heartbeat it refreshes while it trains. Other
processes skip claimed runs. A claim whose owner is dead -- its pid is gone on this host, or its
heartbeat is older than ``stale_after`` seconds; a claim file that cannot be read is a claim
being written for ``WRITE_GRACE_S`` seconds, then garbage -- is taken over, under a short steal
lock so that two processes never both take it. Only a claim's owner clears or writes its run folder.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..io.atomic import write_json

__all__ = ['CLAIM_FILE', 'Claim', 'claim_owner', 'try_claim', 'HEARTBEAT_S', 'STALE_AFTER_S']

CLAIM_FILE = 'claim.json'
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
#: how long an unreadable claim file counts as one being written (a claim is written at once)
WRITE_GRACE_S = 10.0


def _now() -> float:
    return time.time()


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _alive(owner: dict | None, path: str, stale_after: float) -> bool:
    """Is the claim's owner still at work?"""
    if owner is None:   # being written right now, or garbage: trust it for a moment only
        try:
            return _now() - osp.getmtime(path) < min(stale_after, WRITE_GRACE_S)
        except OSError:
            return False
    if owner.get('host') == socket.gethostname():
        try:
            os.kill(int(owner.get('pid', -1)), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError, ValueError):
            pass
    beat = owner.get('heartbeat')
    return isinstance(beat, (int, float)) and _now() - beat < stale_after


def claim_owner(run_dir: str) -> str | None:
    """``host:pid`` of the process holding the run's claim; the file's path when it cannot be
    read; None when there is no claim."""
    path = osp.join(run_dir, CLAIM_FILE)
    owner = _read(path)
    if owner is None:
        return f'unreadable claim {path}' if osp.exists(path) else None
    return f"{owner.get('host')}:{owner.get('pid')}"


@dataclass
class Claim:
    """A held claim; refreshes its heartbeat in the background until released."""
    path: str
    info: dict
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self):
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.info['heartbeat'] = _now()
            write_json(self.path, self.info, indent=None)

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if (_read(self.path) or {}).get('token') == self.info['token']:
            os.remove(self.path)

    def __enter__(self) -> 'Claim':
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _create(path: str, info: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(info, f)
    return True


def try_claim(run_dir: str, stale_after: float = STALE_AFTER_S) -> Claim | None:
    """Claim the run in ``run_dir`` for this process, or None if a live process holds it."""
    try:
        return _try_claim(run_dir, stale_after)
    except PermissionError as err:
        from ..errors import SweepError
        raise SweepError(f'cannot claim the sweep run in {run_dir}: {err.strerror} '
                         f'({err.filename}); make the work dir writable, or choose another '
                         '--work-dir') from None


def _try_claim(run_dir: str, stale_after: float) -> Claim | None:
    os.makedirs(run_dir, exist_ok=True)
    path = osp.join(run_dir, CLAIM_FILE)
    info = dict(host=socket.gethostname(), pid=os.getpid(), token=uuid.uuid4().hex,
                started=_now(), heartbeat=_now())
    if _create(path, info):
        return Claim(path, info)
    if _alive(_read(path), path, stale_after):
        return None
    lock = path + '.steal'
    try:   # a steal lock left by a dead process expires too
        if _now() - osp.getmtime(lock) > stale_after:
            os.remove(lock)
    except OSError:
        pass
    if not _create(lock, info):
        return None                      # another process is taking it over right now
    try:
        if _alive(_read(path), path, stale_after):
            return None
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        return Claim(path, info) if _create(path, info) else None
    finally:
        os.remove(lock)
