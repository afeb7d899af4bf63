"""The relational database: one declarative ``Base`` for every package, engine, sessions.

SQLite (the default) gets WAL, ``synchronous=NORMAL`` and ``BEGIN IMMEDIATE`` for write
transactions: with several worker processes, a deferred transaction that reads and then
writes can lose its snapshot and fail where a plain wait would do. PostgreSQL needs none
of that.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, create_engine, event
from sqlalchemy.engine import Connection, Engine
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
        options = conn.get_execution_options()
        if not options.get("onetrip_one_statement"):  # one SELECT is atomic by itself
            conn.exec_driver_sql(_BEGIN_WRITE if options.get("onetrip_write") else "BEGIN")

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
        self._writer = self.engine.execution_options(onetrip_write=True)
        self._one_statement = self.engine.execution_options(onetrip_one_statement=True)
        info = {"audit_key": audit_key}
        self._read = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._write = sessionmaker(self._writer, expire_on_commit=False, info=info)

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
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a write transaction, for the writes on hot paths that need
        no unit of work (the audit log's batches): it commits when the block ends and
        rolls back on any error, like :meth:`write`."""
        with self._writer.begin() as connection:
            yield connection

    def first(self, statement: Select, **params: Any) -> Row | None:
        """The first row of a Core ``statement`` (named by column) or None, read on a pooled
        connection that is given back at once, for the reads on hot paths that need no
        ORM objects (an account's sign-in record). On SQLite it opens no transaction: one
        SELECT reads one snapshot by itself."""
        with self._one_statement.connect() as connection:
            return connection.execute(statement, params).first()

    def dispose(self) -> None:
        """Close the pool's connections (before a fork)."""
        self.engine.dispose()
