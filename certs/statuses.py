"""Certificate statuses remembered in this process, never longer than a bound.

The OCSP responder asks for a status on every request; statuses change only by
revocation. So this process keeps the ones it has read from the database, the record,
and forgets them:

- at once in this process, and within :data:`RECHECK_SECONDS` on any other, when a
  revocation bumps a :class:`config.stamps.ChangeStamp` in Redis;
- in any case ``max_age`` seconds after it read them (``revocation_status_max_age``), so a
  revocation whose Redis write failed is still seen everywhere within that bound.

A status loaded while a revocation lands is stored only into the set it was loaded under,
so a ``good`` read just before a revocation can never outlive it. ``unknown`` is not kept:
a serial unknown now may be issued a moment later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from redis import exceptions as redis_errors

from config.stamps import ChangeStamp

if TYPE_CHECKING:
    from redis import Redis


@dataclass(frozen=True)
class Status:
    """A certificate's revocation status as the OCSP responder reports it.

    ``compromised_at`` is the RFC 5280 invalidityDate: when the key is known or suspected
    to have been compromised, which may be before the revocation itself.
    """

    state: str  # good | revoked | unknown
    revoked_at: datetime | None = None
    reason: str | None = None
    compromised_at: datetime | None = None

    def encode(self) -> bytes:
        if self.state != "revoked":
            return self.state.encode()
        moment = f"{self.compromised_at:%Y%m%d%H%M%S}" if self.compromised_at else ""
        return f"revoked|{self.revoked_at:%Y%m%d%H%M%S}|{self.reason}|{moment}".encode()


STAMP_KEY = "certs:revocation-stamp"
RECHECK_SECONDS = 0.05
_LIMIT = 100_000
log = logging.getLogger(__name__)


class Statuses:
    """A process-local status cache bounded in age and invalidated by revocations."""

    def __init__(
        self, redis: Callable[[], Redis], max_age: float, recheck: float = RECHECK_SECONDS
    ) -> None:
        self._stamp = ChangeStamp(redis, STAMP_KEY, recheck)
        self._max_age = max_age
        self._entries: dict[str, tuple[float, Status]] = {}

    def lookup(self, serial: str, load: Callable[[str], Status]) -> Status:
        """The status of ``serial``: remembered if young enough, else ``load(serial)``."""
        entries = self._current()
        now = time.monotonic()
        found = entries.get(serial)
        if found is not None and found[0] > now:
            return found[1]
        status = load(serial)
        if status.state != "unknown" and entries is self._entries:
            if len(entries) >= _LIMIT:
                entries.clear()
            entries[serial] = (now + self._max_age, status)
        return status

    def revoked(self) -> None:
        """Tell every process that a status changed (call after the change is stored).

        This process forgets at once. If Redis cannot take the stamp, the others still
        see the change within ``max_age``: the database already holds it.
        """
        self._entries = {}
        try:
            self._stamp.bump()
        except redis_errors.RedisError as exc:
            log.warning(
                "revocation stamp not written (%s); other processes see it within %s s",
                exc,
                self._max_age,
            )

    def _current(self) -> dict[str, tuple[float, Status]]:
        if self._stamp.changed():
            self._entries = {}
        return self._entries
