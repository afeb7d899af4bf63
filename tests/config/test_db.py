"""The database layer's one hand-written piece: RowReader, on SQLite and PostgreSQL alike."""

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, select
from sqlalchemy.exc import DBAPIError

from config.audit import AuditHead
from config.db import Database
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


def test_a_row_reader_gives_back_every_connection_it_takes(runtime):
    read = runtime.db.row_reader(HEAD)
    for n in range(50):
        read(id=n)
    assert runtime.db.engine.pool.checkedout() == 0
    with runtime.db.write() as session:  # and left no transaction open to block a writer
        session.add(AuditHead(id=9, seq=1, hash="cd" * 32))
    assert read(id=9).seq == 1


def test_a_row_reader_raises_driver_errors_as_sqlalchemy_does(runtime):
    missing = Table("no_such_table", MetaData(), Column("seq", Integer))
    read = runtime.db.row_reader(select(missing.c.seq).where(missing.c.seq == bindparam("seq")))
    with pytest.raises(DBAPIError) as raised:
        read(seq=1)
    assert unavailable_service(raised.value) is None  # a bug, answered 500, not 503
    assert runtime.db.engine.pool.checkedout() == 0


@pytest.mark.parametrize(
    "url",
    ["sqlite:////nonexistent-onetrip-dir/onetrip.db", "postgresql+psycopg://test@127.0.0.1:9/test"],
    ids=["sqlite", "postgresql"],
)
def test_an_unreachable_database_reads_as_unavailable(url):
    db = Database(url)
    with pytest.raises(DBAPIError) as raised:
        db.row_reader(HEAD)(id=1)
    assert unavailable_service(raised.value) == "database"
    db.dispose()
