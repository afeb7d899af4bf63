"""Certificate statuses remembered in this process until any node revokes a certificate.

The OCSP responder asks for a status on every request. Asking Redis each time cost one
round trip per response: redis-py's Python under the GIL, a syscall pair, and the Redis
server's CPU, which on a single node shares the worker's core. Statuses change only by
revocation, so this process keeps the ones it has looked up and drops them all when a
revocation happens: at once in this process, within :data:`RECHECK_SECONDS` on any other
(a :class:`config.stamps.ChangeStamp`).

A status loaded while a revocation lands is stored only into the set it was loaded under,
so a ``good`` read just before a revocation can never outlive it. ``unknown`` is not kept:
a serial unknown now may be issued a moment later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from config.stamps import ChangeStamp

if TYPE_CHECKING:
    from redis import Redis

    from certs.authority import Status

STAMP_KEY = "certs:revocation-stamp"
RECHECK_SECONDS = 0.05
_LIMIT = 100_000


class Statuses:
    """A process-local status cache invalidated by revocations anywhere (see module doc)."""

    def __init__(self, redis: Callable[[], Redis], recheck: float = RECHECK_SECONDS) -> None:
        self._stamp = ChangeStamp(redis, STAMP_KEY, recheck)
        self._entries: dict[str, Status] = {}

    def lookup(self, serial: str, load: Callable[[str], Status]) -> Status:
        """The status of ``serial``: remembered, else ``load(serial)`` (and remembered)."""
        entries = self._current()
        found = entries.get(serial)
        if found is not None:
            return found
        status = load(serial)
        if status.state != "unknown" and entries is self._entries:
            if len(entries) >= _LIMIT:
                entries.clear()
            entries[serial] = status
        return status

    def revoked(self) -> None:
        """Tell every process that a status changed (call after the change is stored)."""
        self._stamp.bump()

    def _current(self) -> dict[str, Status]:
        if self._stamp.changed():
            self._entries = {}
        return self._entries
