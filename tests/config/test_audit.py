import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError, NoResultFound

from config import audit


def _append(runtime, n):
    for i in range(n):
        with runtime.db.write() as session:
            audit.record(session, "test.event", actor="tester", subject=f"s{i}", n=i)


def test_an_untouched_chain_verifies(runtime):
    _append(runtime, 5)
    with runtime.db.read() as session:
        report = audit.verify(session)
    assert report.intact and report.rows == 5


def test_the_database_refuses_to_update_or_delete_audit_rows(runtime):
    _append(runtime, 2)
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"), runtime.db.write() as session:
            session.execute(text(statement))
    with runtime.db.read() as session:
        assert audit.verify(session).intact


def _drop_guards(session):
    if session.bind.dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))
    else:
        session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


def test_an_edited_row_is_named_as_the_first_broken_one(runtime):
    _append(runtime, 6)
    with runtime.db.write() as session:
        _drop_guards(session)
        session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"))
    with runtime.db.read() as session:
        report = audit.verify(session)
    assert report.first_broken == 4
    assert "hash" in report.reason


def test_a_deleted_row_breaks_the_chain_where_it_was(runtime):
    _append(runtime, 6)
    with runtime.db.write() as session:
        _drop_guards(session)
        session.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    with runtime.db.read() as session:
        report = audit.verify(session)
    assert report.first_broken == 3


def test_removing_the_newest_rows_is_detected(runtime):
    _append(runtime, 4)
    with runtime.db.write() as session:
        _drop_guards(session)
        session.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    with runtime.db.read() as session:
        assert not audit.verify(session).intact


def test_an_event_is_not_recorded_when_its_action_rolls_back(runtime):
    with pytest.raises(RuntimeError), runtime.db.write() as session:
        audit.record(session, "test.event")
        raise RuntimeError("the action failed")
    with runtime.db.read() as session:
        assert audit.verify(session).rows == 0


def _events(runtime) -> list[str]:
    with runtime.db.read() as session:
        return [row.event for row in audit.tail(session, 100)]


def test_batched_events_land_in_order_on_one_chain_with_transactional_ones(runtime):
    batched = audit.BatchedLog(runtime.db, max_delay=60)  # only flush() writes
    batched.record("batched.one", client_id="svc")
    _append(runtime, 1)
    batched.record("batched.two", client_id="svc", scope="api")
    assert _events(runtime) == ["test.event"]
    batched.flush()
    assert _events(runtime) == ["test.event", "batched.one", "batched.two"]
    with runtime.db.read() as session:
        report = audit.verify(session)
    assert report.intact and report.rows == 3


def test_batched_events_are_written_by_the_background_thread_without_a_flush(runtime):
    batched = audit.BatchedLog(runtime.db, max_delay=0.01)
    for i in range(50):
        batched.record("batched.event", n=i)
    deadline = time.monotonic() + 10
    while len(_events(runtime)) < 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _events(runtime) == ["batched.event"] * 50


def test_a_failed_batch_keeps_its_events_for_the_next_attempt(runtime):
    batched = audit.BatchedLog(runtime.db, max_delay=60)
    batched.record("batched.event")
    with runtime.db.write() as session:
        session.execute(text("DELETE FROM audit_head"))  # the head is gone: appends must fail
    with pytest.raises(NoResultFound):
        batched.flush()
    with runtime.db.write() as session:
        session.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": audit.GENESIS}
        )
    batched.flush()
    assert _events(runtime) == ["batched.event"]


def test_a_full_queue_writes_synchronously_instead_of_dropping(runtime):
    batched = audit.BatchedLog(runtime.db, max_delay=60, capacity=2)
    for i in range(3):
        batched.record("batched.event", n=i)
    assert len(_events(runtime)) == 3
