"""Counts per hour in Redis, for things the audit log does not record (OCSP answers).

The console's overview draws the last 24 hours of what a node did; most of it comes from
the audit log, but OCSP answers are not audited (they change nothing, and there are
thousands a second). :class:`HourlyCounter` adds them up in this process and writes the
sum to ``hourly:<name>:<YYYYmmddHH>`` (kept 25 hours) at most once a second, in the
request that finds the second passed, so a hot path pays a Redis round trip per second,
not per answer. The counts are a best effort, and say so: a process killed outright loses
its last second, counts of a quiet second wait for the next answer, and a failed write
(Redis away) drops that second's sum rather than failing the answer it rides on.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis

log = logging.getLogger("onetrip.hourly")
_KEEP = 25 * 3600


def hour_key(name: str, moment: datetime) -> str:
    return f"hourly:{name}:{moment:%Y%m%d%H}"


class HourlyCounter:
    def __init__(self, redis_client: Callable[[], redis.Redis], name: str, every: float = 1.0):
        self._redis, self.name, self._every = redis_client, name, every
        self._lock = threading.Lock()
        self._counted = itertools.count(1)  # next() is atomic under the GIL: no lock per add
        self._written = 0
        self._flushed_at = 0.0  # the first count is written at once

    def add(self) -> None:
        """Count one; every ``every`` seconds, write what was counted since the last write."""
        total = next(self._counted)
        if time.monotonic() - self._flushed_at < self._every:
            return
        with self._lock:
            if time.monotonic() - self._flushed_at < self._every or total <= self._written:
                return
            count, self._written = total - self._written, total
            self._flushed_at = time.monotonic()
        self._write(count)

    def _write(self, count: int) -> None:
        if not count:
            return
        key = hour_key(self.name, datetime.now(UTC))
        try:
            pipe = self._redis().pipeline()
            pipe.incrby(key, count)
            pipe.expire(key, _KEEP)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("hourly count %s not written (%d dropped): %s", self.name, count, exc)


def last_hours(redis_client: redis.Redis, name: str, hours: int = 24) -> list[tuple[datetime, int]]:
    """(start of hour, count) for the last ``hours`` hours, oldest first, this one last."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    starts = [now - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    values = redis_client.mget([hour_key(name, s) for s in starts])
    return [(s, int(v or 0)) for s, v in zip(starts, values, strict=True)]
