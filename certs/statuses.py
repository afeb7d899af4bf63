"""Certificate statuses remembered in this process until any node revokes a certificate.

The OCSP responder asks for a status on every request. Asking Redis each time cost one
round trip per response: redis-py's Python under the GIL, a syscall pair, and the Redis
server's CPU, which on a single node shares the worker's core. Statuses change only by
revocation, so this process keeps the ones it has looked up and drops them all when a
revocation happens:

- in this process at once (a process-wide generation number that every revocation bumps);
- on any other process or node within :data:`RECHECK_SECONDS`: every revocation writes a
  fresh random stamp to Redis, and a process re-reads that stamp when its last look is
  older than that (one GET per interval, however many requests). A random stamp rather
  than a counter, so a Redis that lost its data and counts again from 1 still reads as a
  change.

A status loaded while a revocation lands is stored only into the generation it was
loaded under, so a ``good`` read just before a revocation can never outlive it.
``unknown`` is not kept: a serial unknown now may be issued a moment later.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

    from certs.authority import Status

STAMP_KEY = "certs:revocation-stamp"
RECHECK_SECONDS = 0.05
_LIMIT = 100_000
_local_generation = itertools.count(1)
_generation = 0  # bumped by every revocation in this process (any Authority)


def _bump_local() -> None:
    global _generation
    _generation = next(_local_generation)


class Statuses:
    """A process-local status cache invalidated by revocations anywhere (see module doc)."""

    def __init__(self, redis: Callable[[], Redis], recheck: float = RECHECK_SECONDS) -> None:
        self._redis = redis  # a getter: the embedded Valkey starts only when first needed
        self._recheck = recheck
        self._entries: dict[str, Status] = {}
        self._stamp: bytes | None = None
        self._generation = -1
        self._checked = float("-inf")

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
        self._redis().set(STAMP_KEY, secrets.token_hex(8))
        _bump_local()

    def _current(self) -> dict[str, Status]:
        now = time.monotonic()
        generation = _generation
        if generation != self._generation or now - self._checked >= self._recheck:
            stamp = self._redis().get(STAMP_KEY)
            if stamp != self._stamp or generation != self._generation:
                self._entries = {}
                self._stamp, self._generation = stamp, generation
            self._checked = now
        return self._entries
