"""Which exceptions mean "a backing server is unreachable" or "storage is full" rather
than "a bug".

The web layer answers those with 503 and ``Retry-After`` (the node stays up and recovers by
itself: the SQLAlchemy pool pre-pings and redis-py reconnects on the next command, and a
disk that has space again takes writes again), and everything else with 500. Only
connection-class and full-storage failures count: a constraint violation or a syntax
error is a bug, whatever its exception class.
"""

from __future__ import annotations

import errno
import sqlite3
import time

import redis.exceptions
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

#: PostgreSQL SQLSTATEs of lost or refused connections: class 08 and operator intervention.
_PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03")
#: SQLite errors of a database file that cannot be reached (not "locked": that waits).
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk i/o error")
#: PostgreSQL's class 53, insufficient resources: disk full (53100), out of memory...
_PG_FULL = "53"
_FULL_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT))


def unavailable_service(exc: BaseException) -> str | None:
    """``"redis"``, ``"database"`` or ``"storage"`` when ``exc`` says that server cannot
    be reached, or that the disk under the database or the data directory is full."""
    if is_storage_full(exc):
        return "storage"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "redis"
    if isinstance(exc, OperationalError | InterfaceError) and _is_connection_failure(exc):
        return "database"
    return None


_storage_full_at = 0.0


def note_storage_full() -> None:
    """Remember that a write just found storage full (the readiness probe reports it: a
    database server's disk cannot be looked at from here)."""
    global _storage_full_at
    _storage_full_at = time.monotonic()


def storage_full_within(seconds: float) -> float | None:
    """Seconds since this process last found storage full, if within ``seconds``."""
    ago = time.monotonic() - _storage_full_at
    return ago if _storage_full_at and ago <= seconds else None


def is_storage_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, SQLite's "database or disk is full", PostgreSQL's class 53
    (DiskFull), also when SQLAlchemy wraps them; Redis's "OOM" refusal of writes too."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.OperationalError):
        return "database or disk is full" in str(orig).lower()
    sqlstate = getattr(orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_PG_FULL)


def _is_connection_failure(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).lower().startswith(_SQLITE_UNAVAILABLE)
    sqlstate = getattr(orig, "sqlstate", None)
    # psycopg reports a refused or dropped connection without a SQLSTATE.
    return sqlstate is None or sqlstate.startswith(_PG_UNAVAILABLE)
