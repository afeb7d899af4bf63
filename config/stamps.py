"""Change stamps: "something shared changed" told to every process and node, cheaply.

A process that keeps database rows in memory (certificate statuses, registered clients)
must drop them when another process changes them, yet cannot afford a round trip per
request to ask. A writer :meth:`~ChangeStamp.bump`\\ s the stamp after its change is stored:
it writes a fresh random value to a Redis key, and counts the bump for this process at
once. A reader asks :meth:`~ChangeStamp.changed` on every use; that reads the Redis key at
most every ``recheck`` seconds (one GET per interval, however many requests), so another
node's change is seen within that interval and this process's own at once. A random value
rather than a counter, so a Redis that lost its data and counts again still reads as a
change. While Redis cannot be reached, :meth:`~ChangeStamp.changed` says "changed" every
time: the caller then reads the database, which is right whatever happened meanwhile, and
keeps working through a Redis outage (refresh tokens, for one, need no Redis).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis import exceptions as redis_errors

if TYPE_CHECKING:
    from redis import Redis

#: Bumps made by this process, per key (shared by every stamp object on that key).
_local_bumps: Counter[str] = Counter()


class ChangeStamp:
    def __init__(self, redis: Callable[[], Redis], key: str, recheck: float = 0.05) -> None:
        self._redis = redis  # a getter: the embedded Valkey starts only when first needed
        self.key = key
        self._recheck = recheck
        self._seen: tuple[bytes | None, int] | None = None
        self._checked = float("-inf")

    def bump(self) -> None:
        """Tell every process that the data changed (call after the change is stored)."""
        self._redis().set(self.key, secrets.token_hex(8))
        _local_bumps[self.key] += 1

    def changed(self) -> bool:
        """Whether a bump happened, here or anywhere, since the last call (or the first)."""
        now, local = time.monotonic(), _local_bumps[self.key]
        fresh = self._seen is not None and self._seen[1] == local
        if fresh and now - self._checked < self._recheck:
            return False
        try:
            seen = (self._redis().get(self.key), local)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            self._seen = None
            return True
        self._checked = now
        changed = self._seen is not None and seen != self._seen
        self._seen = seen
        return changed
