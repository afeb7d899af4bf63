"""The relational database: one declarative ``Base`` for every package, engine, sessions.

SQLite (the default) gets WAL, ``synchronous=NORMAL`` and ``BEGIN IMMEDIATE`` for write
transactions: with several worker processes, a deferred transaction that reads and then
writes can lose its snapshot and fail where a plain wait would do. PostgreSQL needs none
of that.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, Select, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, NoResultFound
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from config.per_thread import PerThread


class Base(DeclarativeBase):
    """The one declarative base that every package's ``models.py`` uses."""


def utcnow() -> datetime:
    """Naive UTC now: stored the same way by SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


def epoch(moment: datetime) -> int:
    """Seconds since the epoch of a naive UTC datetime (``datetime.timestamp`` would read it
    as local time)."""
    return int(moment.replace(tzinfo=UTC).timestamp())


_BEGIN_WRITE = "BEGIN IMMEDIATE"


def _private_files(url: str) -> None:
    """Make the database file readable by this user only before SQLite opens it (SQLite
    would create it with the umask's mode, commonly 0644), and so its WAL and
    shared-memory files, which SQLite gives the database file's mode (issue 13)."""
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if not path or path == ":memory:":
        return
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with suppress(FileNotFoundError):
            os.chmod(name, 0o600)
    if not os.path.exists(path):
        with suppress(OSError):  # a file that cannot be made is SQLite's to report
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_engine(url: str) -> Engine:
    _private_files(url)
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
            "secure_delete=ON",  # issue 13: deleted rows (face templates) are zeroed
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(
            _BEGIN_WRITE if conn.get_execution_options().get("onetrip_write") else "BEGIN"
        )

    return engine


class Database:
    """Engine and sessions. Use :meth:`write` for anything that changes rows."""

    def __init__(self, url: str, *, audit_key: bytes | None = None) -> None:
        self.url = url
        self.audit_key = audit_key  # keys the audit chain (config.audit); in every session

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
        self._readers = PerThread(self._open_reader)
        info = {"audit_key": audit_key}
        self._read = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._write = sessionmaker(writer, expire_on_commit=False, info=info)

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

    @contextmanager
    def raw_write(self) -> Iterator[RawTransaction]:
        """A write transaction on a pooled DBAPI connection, for the few writes on hot
        paths: it commits when the block ends and rolls back on any error, like
        :meth:`write`, at a third of the CPU (a batch of three audit events: 0.35 ms
        against 1.1 ms with the caches cold after a password hash). Its statements come
        from :meth:`compile`.
        """
        checkout = _Checkout(self.engine)
        connection = checkout.connection
        try:
            cursor = connection.cursor()
            try:
                if self.is_sqlite:  # the driver runs in autocommit mode (see _sqlite_engine)
                    checkout.run(_BEGIN_WRITE, (), lambda: cursor.execute(_BEGIN_WRITE))
                yield RawTransaction(checkout, cursor)
                checkout.run("COMMIT", (), connection.commit)
            except BaseException:
                if connection.dbapi_connection is not None:  # not invalidated as lost
                    with suppress(checkout.driver_error):  # the first error is the one to tell
                        connection.rollback()
                raise
            finally:
                cursor.close()
        finally:
            connection.close()

    def compile(self, statement: Executable) -> CompiledStatement:
        """``statement`` compiled for :meth:`raw_write` on this database."""
        return CompiledStatement(self.engine, statement)

    def row_reader(self, statement: Select) -> RowReader:
        """A :class:`RowReader` of ``statement`` on this database."""
        return RowReader(self.engine, self._readers, statement)

    def _open_reader(self) -> Any:
        """A DBAPI connection for this thread's :class:`RowReader` calls, out of the pool
        and reading outside any transaction."""
        checkout = _Checkout(self.engine)
        fairy = checkout.connection
        fairy.detach()
        connection = fairy.dbapi_connection
        if not self.is_sqlite:  # SQLite's already is (see _sqlite_engine)

            def autocommit() -> None:
                connection.rollback()  # the pool's ping may have opened a transaction
                connection.autocommit = True

            checkout.run("", (), autocommit)
        return connection

    def dispose(self) -> None:
        """Close the pool's connections, and this thread's reading one (before a fork)."""
        if (reader := self._readers.held()) is not None:
            reader.close()
            self._readers.discard()
        self.engine.dispose()


def _wrapped(dialect: Any, exc: Exception, sql: str, args: Any, *, invalidated: bool) -> DBAPIError:
    return DBAPIError.instance(
        sql,
        args,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


class _Checkout:
    """A pooled DBAPI connection whose driver errors surface as SQLAlchemy's would.

    What a SQLAlchemy Connection would have done is kept: a driver error is raised wrapped
    as SQLAlchemy wraps it (so :mod:`config.outage` still maps a lost server to 503), and a
    connection the driver reports lost is invalidated instead of going back to the pool.
    """

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        self.driver_error = engine.dialect.loaded_dbapi.Error
        try:
            self.connection = engine.raw_connection()
        except self.driver_error as exc:
            raise _wrapped(self._dialect, exc, "", (), invalidated=True) from exc

    def run(self, sql: str, args: Any, call: Callable[[], Any]) -> Any:
        """``call()``, which runs ``sql`` with ``args`` on this connection."""
        try:
            return call()
        except self.driver_error as exc:
            lost = self._dialect.is_disconnect(exc, self.connection.dbapi_connection, None)
            if lost:
                self.connection.invalidate(exc)
            raise _wrapped(self._dialect, exc, sql, args, invalidated=lost) from exc


class RowReader:
    """Reads at most one row of a SELECT on a DBAPI connection of the calling thread's own;
    compiled once.

    For the one read on a hot path that has a budget: a password login may add no more
    than a tenth to its Argon2id hash. SQLAlchemy has no lighter path than its Connection,
    whose events, result objects and, on SQLite, our BEGIN and its ROLLBACK cost five
    times the query itself, and 0.6 ms with the CPU caches cold after a hash; taking a
    raw connection from the pool and giving it back still cost 0.1 ms of the 0.2 left, and
    on PostgreSQL two round trips (the pool's ping and its rollback). The thread's own
    connection reads outside transactions, so it holds no snapshot or lock between calls.
    Errors are SQLAlchemy's (see :class:`_Checkout`); a connection the driver reports lost
    is closed, and a call that found its kept connection lost (the server restarted since)
    is tried once more on a new one. Values come as the driver gives them (SQLite booleans
    are 0 and 1), named by column.
    """

    def __init__(self, engine: Engine, connections: PerThread, statement: Select) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self._dialect = engine.dialect
        self._connections = connections
        self._sql = str(compiled)
        self._positions = compiled.positiontup if compiled.positional else None
        self._row = namedtuple("Row", statement.selected_columns.keys())._make

    def __call__(self, **params: Any) -> Any:
        """The row as a named tuple of the statement's columns, or None."""
        args = params if self._positions is None else tuple(params[k] for k in self._positions)
        error = self._dialect.loaded_dbapi.Error
        kept = self._connections.held() is not None
        while True:
            connection = self._connections.get()
            try:
                found = self._fetch(connection, args)
            except error as exc:
                lost = self._dialect.is_disconnect(exc, connection, None)
                if lost:
                    with suppress(error):
                        connection.close()
                    self._connections.discard()
                if not (lost and kept):
                    raise _wrapped(self._dialect, exc, self._sql, args, invalidated=lost) from exc
                kept = False  # once more, on a new connection
                continue
            return None if found is None else self._row(found)

    def _fetch(self, connection: Any, args: Any) -> Any:
        cursor = connection.cursor()
        try:
            cursor.execute(self._sql, args)
            return cursor.fetchone()
        finally:
            cursor.close()


class CompiledStatement:
    """A Core statement compiled once for one engine's driver: its SQL, the order of its
    parameters and the conversions the driver needs (dates, JSON), for
    :class:`RawTransaction`."""

    def __init__(self, engine: Engine, statement: Executable) -> None:
        dialect = engine.dialect
        self._compiled = statement.compile(dialect=dialect)
        self.sql = str(self._compiled)
        self._positions = self._compiled.positiontup if self._compiled.positional else None
        self._conversions = [
            (name, convert)
            for name, bind in self._compiled.binds.items()
            if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def arguments(self, values: dict[str, Any]) -> Any:
        """The driver's arguments for ``values``: the statement's own literals added, each
        value converted as SQLAlchemy would."""
        params = self._compiled.construct_params(values)
        for name, convert in self._conversions:
            params[name] = convert(params[name])
        return params if self._positions is None else tuple(params[k] for k in self._positions)


class RawTransaction:
    """Statements in one write transaction on a pooled DBAPI connection (see
    :meth:`Database.raw_write`)."""

    def __init__(self, checkout: _Checkout, cursor: Any) -> None:
        self._checkout, self._cursor = checkout, cursor

    def execute(self, statement: CompiledStatement, values: dict[str, Any]) -> None:
        args = statement.arguments(values)
        self._checkout.run(statement.sql, args, lambda: self._cursor.execute(statement.sql, args))

    def executemany(self, statement: CompiledStatement, rows: list[dict[str, Any]]) -> None:
        args = [statement.arguments(row) for row in rows]
        self._checkout.run(
            statement.sql, args, lambda: self._cursor.executemany(statement.sql, args)
        )

    def one(self, statement: CompiledStatement, values: dict[str, Any]) -> tuple:
        """The one row ``statement`` finds; :class:`NoResultFound` when there is none."""
        self.execute(statement, values)
        row = self._checkout.run(statement.sql, values, self._cursor.fetchone)
        if row is None:
            raise NoResultFound(f"no row for: {statement.sql}")
        return tuple(row)
