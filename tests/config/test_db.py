"""The database layer's Core paths for hot reads and writes, ``first`` and ``transaction``,
on SQLite and PostgreSQL alike: plain SQLAlchemy on the engine's pool."""

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from config.audit import AuditEvent, AuditHead
from config.db import Database, utcnow
from config.outage import unavailable_service

HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == bindparam("id"))


def test_first_gives_the_row_by_column_name_or_none(runtime):
    with runtime.db.write() as session:
        session.add(AuditHead(id=7, seq=41, hash="ab" * 32))
    row = runtime.db.first(HEAD, id=7)
    assert (row.seq, row.hash) == (41, "ab" * 32)
    assert tuple(row) == (41, "ab" * 32)
    assert runtime.db.first(HEAD, id=8) is None


def test_first_gives_back_its_connection_and_holds_no_snapshot_or_lock(runtime):
    db = runtime.db
    assert db.first(HEAD, id=9) is None
    with db.write() as session:  # the read left no lock to block a writer
        session.add(AuditHead(id=9, seq=1, hash="cd" * 32))
    assert db.first(HEAD, id=9).seq == 1  # and no snapshot from before the write
    in_thread = []
    thread = threading.Thread(target=lambda: in_thread.append(db.first(HEAD, id=9)))
    thread.start()
    thread.join()
    assert in_thread[0].seq == 1
    assert db.engine.pool.checkedout() == 0
    if not db.is_sqlite:
        with db.read() as session:
            states = session.execute(
                text(
                    "SELECT state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert "idle in transaction" not in states.scalars().all()


def test_first_replaces_a_pooled_connection_the_server_dropped(runtime):
    if runtime.db.is_sqlite:
        pytest.skip("a SQLite connection is a file: no server can drop it")
    assert runtime.db.first(HEAD, id=1).seq == 0  # the head that migrations create
    with runtime.db.write() as session:  # as a restart of PostgreSQL would
        session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert runtime.db.first(HEAD, id=1).seq == 0


def test_a_failing_read_is_a_bug_answered_500_and_gives_back_its_connection(runtime):
    missing = Table("no_such_table", MetaData(), Column("seq", Integer))
    with pytest.raises(DBAPIError) as raised:
        runtime.db.first(select(missing.c.seq).where(missing.c.seq == bindparam("seq")), seq=1)
    assert unavailable_service(raised.value) is None  # a bug, answered 500, not 503
    assert runtime.db.engine.pool.checkedout() == 0


def _event(seq, **details):
    return {
        "seq": seq,
        "at": utcnow(),
        "event": "test.core",
        "actor": None,
        "subject": "s",
        "client_id": None,
        "ip": None,
        "details": details,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }


def test_a_transaction_commits_its_rows_with_their_values_as_stored_by_the_orm(runtime):
    db = runtime.db
    rows = [_event(1, scope="openid", n=1), _event(2, nested={"a": [1, 2]})]
    with db.transaction() as connection:
        connection.execute(AuditEvent.__table__.insert(), rows)
        connection.execute(
            AuditHead.__table__.insert(), {"id": 5, "seq": 2, "hash": "h", "keyed_from": 1}
        )
        assert connection.execute(HEAD, {"id": 5}).one().seq == 2
    with db.read() as session:
        stored = session.query(AuditEvent).order_by(AuditEvent.seq).all()
    assert [(e.at, e.details) for e in stored] == [(r["at"], r["details"]) for r in rows]


def test_a_transaction_rolls_back_on_error_and_gives_back_its_connection(runtime):
    db = runtime.db
    with pytest.raises(IntegrityError), db.transaction() as connection:
        connection.execute(AuditEvent.__table__.insert(), _event(1))
        connection.execute(AuditEvent.__table__.insert(), _event(1))  # the same seq again
    assert db.engine.pool.checkedout() == 0
    with db.transaction() as connection:  # no transaction was left open to block this one
        assert connection.execute(HEAD, {"id": 99}).first() is None
    with db.read() as session:
        assert session.query(AuditEvent).count() == 0


def _transaction(db):
    with db.transaction():
        pass


@pytest.mark.parametrize(
    "access", [lambda db: db.first(HEAD, id=1), _transaction], ids=["first", "transaction"]
)
@pytest.mark.parametrize(
    "url",
    ["sqlite:////nonexistent-onetrip-dir/onetrip.db", "postgresql+psycopg://test@127.0.0.1:9/test"],
    ids=["sqlite", "postgresql"],
)
def test_an_unreachable_database_reads_as_unavailable(url, access):
    db = Database(url)
    with pytest.raises(DBAPIError) as raised:
        access(db)
    assert unavailable_service(raised.value) == "database"
    db.dispose()
