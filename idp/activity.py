"""What this deployment did in each of the last 24 hours, for the console's overview.

Drawn from what OneTrip already records, so no outside monitoring is needed to see
whether the service is well: the audit log, counted by hour and event in the database
(sign-ins, token grants, signatures, failures), and the per-hour OCSP counts kept in Redis
(:mod:`config.hourly`; OCSP answers are not audited). An hour that ended more than a
minute ago cannot change any more (batched audit events land within 50 ms), so this
process keeps its counts and the database counts only the hours it has not seen yet.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import redis
from sqlalchemy import func, select

from config.audit import AuditEvent
from config.db import Database, utcnow
from config.hourly import last_hours

#: Each chart and the audit events it counts.
SERIES: dict[str, tuple[str, ...]] = {
    "sign_ins": ("login.success",),
    "token_grants": ("token.issue", "token.refresh"),
    "signatures": ("signing.sign", "signing.route.approve", "signing.csc.sign_hash"),
    "failures": (
        "login.failure",
        "login.throttled",
        "totp.failure",
        "totp.replay",
        "face.verify.failure",
        "token.code.replay",
    ),
}
HOURS = 24
_SETTLED = timedelta(minutes=1)


class Activity:
    def __init__(self, db: Database, redis_client: redis.Redis) -> None:
        self.db, self.r = db, redis_client
        self._settled: dict[datetime, dict[str, int]] = {}
        self._lock = threading.Lock()

    def last_day(self) -> dict[str, list[tuple[datetime, int]]]:
        """Each series (and ``ocsp_answers``) as (start of hour, count), oldest first."""
        now = utcnow()
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        starts = [this_hour - timedelta(hours=h) for h in range(HOURS - 1, -1, -1)]
        with self._lock:
            missing = [s for s in starts if s not in self._settled]
        counted = self._count(missing[0], this_hour + timedelta(hours=1)) if missing else {}
        with self._lock:
            for start in missing:
                if start + timedelta(hours=1) + _SETTLED <= now:
                    self._settled[start] = counted.get(start, {})
            for old in [s for s in self._settled if s < starts[0]]:
                del self._settled[old]
            by_hour = {s: self._settled.get(s) or counted.get(s, {}) for s in starts}
        out = {
            name: [(s, sum(by_hour[s].get(e, 0) for e in events)) for s in starts]
            for name, events in SERIES.items()
        }
        out["ocsp_answers"] = last_hours(self.r, "ocsp", HOURS)
        return out

    def _count(self, since: datetime, until: datetime) -> dict[datetime, dict[str, int]]:
        events = [e for names in SERIES.values() for e in names]
        if self.db.is_sqlite:
            bucket = func.strftime("%Y-%m-%d %H:00:00", AuditEvent.at)
        else:
            bucket = func.date_trunc("hour", AuditEvent.at)
        query = (
            select(bucket.label("hour"), AuditEvent.event, func.count())
            .where(AuditEvent.at >= since, AuditEvent.at < until, AuditEvent.event.in_(events))
            .group_by(bucket, AuditEvent.event)
        )
        out: dict[datetime, dict[str, int]] = {}
        with self.db.read() as session:
            for hour, event, count in session.execute(query):
                start = datetime.fromisoformat(hour) if isinstance(hour, str) else hour
                out.setdefault(start.replace(tzinfo=None), {})[event] = count
        return out
