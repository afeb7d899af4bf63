"""The database layer's hand-written pieces, RowReader and raw_write, on SQLite and PostgreSQL
alike."""

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound

from config.audit import AuditEvent, AuditHead
from config.db import Database, utcnow
from config.outage import unavailable_service

HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == bindparam("id"))


def test_a_row_reader_gives_the_row_by_column_name_or_none(runtime):
    with runtime.db.write() as session:
        session.add(AuditHead(id=7, seq=41, hash="ab" * 32))
    read = runtime.db.row_reader(HEAD)
    row = read(id=7)
    assert (row.seq, row.hash) == (41, "ab" * 32)
    assert row == (41, "ab" * 32)
    assert read(id=8) is None


def test_a_row_reader_reads_on_a_connection_per_thread_that_holds_no_snapshot(runtime):
    read = runtime.db.row_reader(HEAD)
    assert read(id=9) is None
    with runtime.db.write() as session:  # the reads left no lock to block a writer
        session.add(AuditHead(id=9, seq=1, hash="cd" * 32))
    assert read(id=9).seq == 1  # and no snapshot from before the write
    in_thread = []
    thread = threading.Thread(target=lambda: in_thread.append(read(id=9)))
    thread.start()
    thread.join()
    assert in_thread[0].seq == 1
    assert runtime.db.engine.pool.checkedout() == 0
    if not runtime.db.is_sqlite:
        with runtime.db.read() as session:
            states = session.execute(
                text(
                    "SELECT state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert "idle in transaction" not in states.scalars().all()


def test_a_row_reader_replaces_a_kept_connection_the_server_dropped(runtime):
    if runtime.db.is_sqlite:
        pytest.skip("a SQLite connection is a file: no server can drop it")
    read = runtime.db.row_reader(HEAD)
    assert read(id=1).seq == 0  # the head that migrations create
    with runtime.db.write() as session:  # as a restart of PostgreSQL would
        session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert read(id=1).seq == 0


def test_a_row_reader_raises_driver_errors_as_sqlalchemy_does(runtime):
    missing = Table("no_such_table", MetaData(), Column("seq", Integer))
    read = runtime.db.row_reader(select(missing.c.seq).where(missing.c.seq == bindparam("seq")))
    with pytest.raises(DBAPIError) as raised:
        read(seq=1)
    assert unavailable_service(raised.value) is None  # a bug, answered 500, not 503
    assert runtime.db.engine.pool.checkedout() == 0


def _events(db):
    return db.compile(AuditEvent.__table__.insert())


def _event(seq, **details):
    return {
        "seq": seq,
        "at": utcnow(),
        "event": "test.raw",
        "actor": None,
        "subject": "s",
        "client_id": None,
        "ip": None,
        "details": details,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }


def test_a_raw_write_commits_its_rows_with_their_values_converted_as_sqlalchemy_would(runtime):
    db = runtime.db
    rows = [_event(1, scope="openid", n=1), _event(2, nested={"a": [1, 2]})]
    with db.raw_write() as transaction:
        transaction.executemany(_events(db), rows)
        transaction.execute(
            db.compile(AuditHead.__table__.insert()),
            {"id": 5, "seq": 2, "hash": "h", "keyed_from": 1},
        )
        head = select(AuditHead.seq).where(AuditHead.id == bindparam("head_id"))
        assert transaction.one(db.compile(head), {"head_id": 5}) == (2,)
    with db.read() as session:
        stored = session.query(AuditEvent).order_by(AuditEvent.seq).all()
    assert [(e.at, e.details) for e in stored] == [(r["at"], r["details"]) for r in rows]


def test_a_raw_write_rolls_back_on_error_and_gives_back_its_connection(runtime):
    db = runtime.db
    with pytest.raises(IntegrityError), db.raw_write() as transaction:
        transaction.execute(_events(db), _event(1))
        transaction.execute(_events(db), _event(1))  # the same seq again
    assert db.engine.pool.checkedout() == 0
    with db.raw_write() as transaction:  # no transaction was left open to block this one
        missing = select(AuditHead.seq).where(AuditHead.id == bindparam("head_id"))
        with pytest.raises(NoResultFound):
            transaction.one(db.compile(missing), {"head_id": 99})
    with db.read() as session:
        assert session.query(AuditEvent).count() == 0


def _raw_write(db):
    with db.raw_write():
        pass


@pytest.mark.parametrize(
    "access", [lambda db: db.row_reader(HEAD)(id=1), _raw_write], ids=["row_reader", "raw_write"]
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
