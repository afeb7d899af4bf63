"""The face service over a real database and Redis: enrol, verify, throttle, delete, audit."""

from __future__ import annotations

import pytest
from face_samples import photo
from sqlalchemy import select

from biometrics.errors import FaceError
from biometrics.models import FaceTemplate
from config.audit import AuditEvent

ALICE = 7


def _events(runtime) -> list[str]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEvent.event).order_by(AuditEvent.seq)))


def test_enrolment_keeps_only_a_sealed_encoding_never_the_image(faces, runtime):
    result = faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice", actor="alice")
    assert result.templates == 1
    with runtime.db.read() as session:
        row = session.scalars(select(FaceTemplate)).one()
    assert row.user_id == ALICE and row.provenance == "self"
    assert len(row.sealed) == 12 + 128 * 8 + 16  # nonce, float64s, GCM tag
    assert len(row.wrapped_key) == 1 + 12 + 32 + 16  # its own AES key, sealed by the KEK
    assert b"JFIF" not in row.sealed
    assert _events(runtime) == ["face.enroll"]


def test_the_same_person_matches_and_the_answer_carries_distance_and_threshold(faces):
    faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    verdict = faces.verify(ALICE, photo("obama_2.jpg"), subject="alice")
    assert verdict.match
    assert 0 < verdict.distance <= verdict.threshold == 0.58


def test_another_person_does_not_match(faces, runtime):
    faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    verdict = faces.verify(ALICE, photo("biden_1.jpg"), subject="alice")
    assert not verdict.match
    assert verdict.distance > verdict.threshold
    assert _events(runtime)[-1] == "face.verify.failure"


def test_a_probe_is_compared_with_every_enrolled_photo(faces):
    faces.enroll(ALICE, photo("john_simm_000288_00470387.jpg"), subject="alice")
    faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    assert faces.count(ALICE) == 2
    assert faces.verify(ALICE, photo("obama_3.jpg"), subject="alice").match
    assert faces.verify(ALICE, photo("john_simm_000300_00470148.jpg"), subject="alice").match


def test_a_template_sealed_for_one_citizen_does_not_open_for_another(faces, runtime):
    faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    with runtime.db.write() as session:
        session.add(
            FaceTemplate(
                user_id=8,
                model="dlib_resnet_v1",
                sealed=session.scalars(select(FaceTemplate.sealed)).one(),
                wrapped_key=session.scalars(select(FaceTemplate.wrapped_key)).one(),
            )
        )
    with pytest.raises(ValueError, match="does not open"):
        faces.verify(8, photo("obama_2.jpg"), subject="bob")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("no_face_dogs.jpg", "no_face"),
        ("several_obama_biden.jpg", "several_faces"),
        ("manifest.csv", "not_an_image"),
    ],
)
def test_a_refused_photo_changes_nothing(inline_faces, runtime, name, code):
    with pytest.raises(FaceError) as info:
        inline_faces.enroll(ALICE, photo(name), subject="alice")
    assert info.value.error == code
    assert not inline_faces.has_template(ALICE)
    assert _events(runtime) == []


def test_verifying_without_a_template_says_so(inline_faces):
    with pytest.raises(FaceError) as info:
        inline_faces.verify(ALICE, photo("obama_1.jpg"), subject="alice")
    assert info.value.error == "no_template"


def test_five_failures_lock_face_checks_even_for_the_right_face(inline_faces, runtime):
    inline_faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    impostor = photo("biden_2.jpg")
    for _ in range(runtime.settings.login_max_failures_per_account):
        assert not inline_faces.verify(ALICE, impostor, subject="alice").match
    with pytest.raises(FaceError) as info:
        inline_faces.verify(ALICE, photo("obama_2.jpg"), subject="alice")
    assert info.value.error == "throttled"
    assert _events(runtime)[-1] == "face.throttled"
    ttl = runtime.redis.ttl(f"throttle:face:acct:{ALICE}")
    assert 0 < ttl <= runtime.settings.login_throttle_window


def test_a_success_clears_earlier_failures(inline_faces, runtime):
    inline_faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    for _ in range(runtime.settings.login_max_failures_per_account - 1):
        inline_faces.verify(ALICE, photo("biden_2.jpg"), subject="alice")
    assert inline_faces.verify(ALICE, photo("obama_2.jpg"), subject="alice").match
    assert not inline_faces.verify(ALICE, photo("biden_2.jpg"), subject="alice").match
    assert inline_faces.verify(ALICE, photo("obama_4.jpg"), subject="alice").match


def test_delete_removes_every_template_and_is_audited(inline_faces, runtime):
    inline_faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    inline_faces.enroll(ALICE, photo("obama_2.jpg"), subject="alice")
    inline_faces.enroll(9, photo("biden_1.jpg"), subject="joe")
    assert inline_faces.delete(ALICE, subject="alice", actor="alice") == 2
    assert not inline_faces.has_template(ALICE)
    assert inline_faces.has_template(9)
    assert _events(runtime)[-1] == "face.delete"


def test_face_events_name_the_citizen_as_the_caller_names_them(inline_faces, runtime):
    """The caller (idp) passes the username: biometrics never reads idp's accounts."""
    inline_faces.enroll(ALICE, photo("obama_1.jpg"), subject="meilin", actor="meilin")
    inline_faces.verify(ALICE, photo("biden_2.jpg"), subject="meilin", actor="meilin")
    with runtime.db.read() as session:
        events = session.execute(
            select(AuditEvent.event, AuditEvent.subject).where(AuditEvent.event.like("face.%"))
        ).all()
    assert [tuple(e) for e in events] == [
        ("face.enroll", "meilin"),
        ("face.verify.failure", "meilin"),
    ]


def test_a_match_names_the_provenance_and_a_proofed_template_wins(faces):
    faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    assert faces.verify(ALICE, photo("obama_2.jpg"), subject="alice").provenance == "self"
    faces.enroll(
        ALICE, photo("obama_3.jpg"), subject="alice", provenance="counter", department="PSB"
    )
    verdict = faces.verify(ALICE, photo("obama_2.jpg"), subject="alice")
    assert verdict.provenance == "counter" and verdict.proofed


def test_a_deleted_template_leaves_no_byte_in_the_database_files_or_a_later_backup(
    inline_faces, runtime, tmp_path
):
    """Issue 13: deleted means gone (secure_delete, WAL emptied, the data key with it)."""
    import sqlite3
    from pathlib import Path

    if not runtime.db.is_sqlite:
        pytest.skip("the file-level check is SQLite's")
    inline_faces.enroll(ALICE, photo("obama_1.jpg"), subject="alice")
    with runtime.db.read() as session:
        row = session.scalars(select(FaceTemplate)).one()
        secrets_ = (row.sealed[12:60], row.wrapped_key[13:45])
    database = Path(runtime.settings.database_url.removeprefix("sqlite:///"))

    def files() -> bytes:
        return b"".join(
            p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
        )

    assert any(part in files() for part in secrets_)  # the test can see it while it exists
    assert inline_faces.delete(ALICE, subject="alice") == 1
    assert not any(part in files() for part in secrets_)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(database) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    assert not any(part in backup.read_bytes() for part in secrets_)
