"""Which exceptions mean "a backing server is unreachable" rather than "a bug".

The web layer answers those with 503 and ``Retry-After`` (the node stays up and recovers by
itself: the SQLAlchemy pool pre-pings and redis-py reconnects on the next command), and
everything else with 500. Only connection-class failures count: a constraint violation or
a syntax error is a bug, whatever its exception class.
"""

from __future__ import annotations

import sqlite3

import redis.exceptions
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

#: PostgreSQL SQLSTATEs of lost or refused connections: class 08 and operator intervention.
_PG_UNAVAILABLE = ("08", "57P01", "57P02", "57P03")
#: SQLite errors of a database file that cannot be reached (not "locked": that waits).
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk i/o error")


def unavailable_service(exc: BaseException) -> str | None:
    """``"redis"`` or ``"database"`` when ``exc`` says that server cannot be reached."""
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "redis"
    if isinstance(exc, OperationalError | InterfaceError) and _is_connection_failure(exc):
        return "database"
    return None


def _is_connection_failure(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).lower().startswith(_SQLITE_UNAVAILABLE)
    sqlstate = getattr(orig, "sqlstate", None)
    # psycopg reports a refused or dropped connection without a SQLSTATE.
    return sqlstate is None or sqlstate.startswith(_PG_UNAVAILABLE)
