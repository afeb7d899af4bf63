import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

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
