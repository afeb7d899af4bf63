"""The relational database: one declarative ``Base`` for every package, engine, sessions.

SQLite (the default) gets WAL, ``synchronous=NORMAL`` and ``BEGIN IMMEDIATE`` for write
transactions: with several worker processes, a deferred transaction that reads and then
writes can lose its snapshot and fail where a plain wait would do. PostgreSQL needs none
of that.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """The one declarative base that every package's ``models.py`` uses."""


def utcnow() -> datetime:
    """Naive UTC now: stored the same way by SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def epoch(moment: datetime) -> int:
    """Seconds since the epoch of a naive UTC datetime (``datetime.timestamp`` would read it
    as local time)."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("onetrip_write") else "BEGIN"
        )

    return engine


class Database:
    """Engine and sessions. Use :meth:`write` for anything that changes rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
        else:
            # pre-ping: after a restart of the server, stale pooled connections are replaced
            # instead of failing one request each; connect_timeout bounds a black-holed host.
            self.engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=20,
                connect_args={"connect_timeout": 5},
            )
        writer = self.engine.execution_options(onetrip_write=True)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(writer, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it does is committed."""
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back on any error."""
        with self._write() as session, session.begin():
            yield session

    def row_reader(self, statement: Select) -> RowReader:
        """A :class:`RowReader` of ``statement`` on this database."""
        return RowReader(self.engine, statement)

    def dispose(self) -> None:
        self.engine.dispose()


class RowReader:
    """Reads at most one row of a SELECT through a pooled DBAPI cursor; compiled once.

    For the one read on a hot path that has a budget: a password login may add no more
    than a tenth to its Argon2id hash. SQLAlchemy has no lighter path than its Connection,
    whose events, result objects and, on SQLite, our BEGIN and its ROLLBACK cost five
    times the query itself, and 0.6 ms with the CPU caches cold after a hash (this: 0.2).
    What the Connection would have done is kept: a driver error is raised wrapped as
    SQLAlchemy wraps it (so :mod:`config.outage` still maps a lost server to 503), and a
    connection the driver reports lost is invalidated instead of going back to the pool.
    Values come as the driver gives them (SQLite booleans are 0 and 1), named by column.
    """

    def __init__(self, engine: Engine, statement: Select) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self._engine = engine
        self._dialect = engine.dialect
        self._sql = str(compiled)
        self._positions = compiled.positiontup if compiled.positional else None
        self._row = namedtuple("Row", statement.selected_columns.keys())._make

    def __call__(self, **params: Any) -> Any:
        """The row as a named tuple of the statement's columns, or None."""
        args = params if self._positions is None else tuple(params[k] for k in self._positions)
        error = self._dialect.loaded_dbapi.Error
        try:
            connection = self._engine.raw_connection()
        except error as exc:
            raise self._wrapped(exc, args, invalidated=True) from exc
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self._sql, args)
                found = cursor.fetchone()
                return None if found is None else self._row(found)
            finally:
                cursor.close()
        except error as exc:
            lost = self._dialect.is_disconnect(exc, connection.dbapi_connection, None)
            if lost:
                connection.invalidate(exc)
            raise self._wrapped(exc, args, invalidated=lost) from exc
        finally:
            connection.close()

    def _wrapped(self, exc: Exception, args: Any, *, invalidated: bool) -> DBAPIError:
        return DBAPIError.instance(
            self._sql,
            args,
            exc,
            self._dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=self._dialect,
        )
