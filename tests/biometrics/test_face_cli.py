"""``onetrip faces`` end to end through the real ``onetrip`` command group."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from face_samples import FACES

from idp.cli import main


@pytest.fixture
def onetrip(runtime, monkeypatch):
    """Run ``onetrip ARGS`` in-process against the test's data directory, database, Redis."""
    settings = runtime.settings
    monkeypatch.setenv("ONETRIP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(main, list(args), input=input)

    created = run(
        "users",
        "create",
        "alice",
        "--name",
        "Alice",
        "--email",
        "alice@example.org",
        input="correct horse battery staple 42\n",
    )
    assert created.exit_code == 0, created.output
    return run


def test_enrol_then_verify_matching_photos_exits_zero(onetrip):
    enrolled = onetrip(
        "faces",
        "enroll",
        "alice",
        str(FACES / "obama_1.jpg"),
        "--provenance",
        "authoritative",
        "--json",
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert json.loads(enrolled.output)["templates"] == 1
    result = onetrip(
        "faces",
        "verify",
        "alice",
        str(FACES / "obama_2.jpg"),
        str(FACES / "obama_4.jpg"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    answers = json.loads(result.output)
    assert [a["match"] for a in answers] == [True, True]
    assert all(0 < a["distance"] <= a["threshold"] == 0.58 for a in answers)


def test_a_photo_of_someone_else_exits_one(onetrip):
    onetrip("faces", "enroll", "alice", str(FACES / "obama_1.jpg"), "--provenance", "authoritative")
    result = onetrip(
        "faces",
        "verify",
        "alice",
        str(FACES / "obama_2.jpg"),
        str(FACES / "biden_1.jpg"),
        "--json",
    )
    assert result.exit_code == 1
    assert [a["match"] for a in json.loads(result.output)] == [True, False]


def test_an_unusable_photo_exits_two_with_the_reason_per_image(onetrip):
    onetrip("faces", "enroll", "alice", str(FACES / "obama_1.jpg"), "--provenance", "authoritative")
    result = onetrip(
        "faces",
        "verify",
        "alice",
        str(FACES / "biden_1.jpg"),
        str(FACES / "no_face_dogs.jpg"),
        "--json",
    )
    assert result.exit_code == 2
    answers = json.loads(result.output)
    assert answers[0]["match"] is False
    assert answers[1]["error"] == "no_face"


def test_enrolling_a_group_photo_exits_two_with_one_line_and_stores_nothing(onetrip):
    result = onetrip(
        "faces",
        "enroll",
        "alice",
        str(FACES / "several_kit_rose.jpg"),
        "--provenance",
        "authoritative",
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"onetrip: {FACES / 'several_kit_rose.jpg'}: several_faces: "
        "We found more than one face. Make sure only you are in the picture."
    ]
    verify = onetrip("faces", "verify", "alice", str(FACES / "obama_1.jpg"), "--json")
    assert json.loads(verify.output)[0]["error"] == "no_template"


def test_delete_removes_the_templates(onetrip):
    onetrip("faces", "enroll", "alice", str(FACES / "obama_1.jpg"), "--provenance", "authoritative")
    deleted = onetrip("faces", "delete", "alice", "--json")
    assert json.loads(deleted.output) == {"username": "alice", "deleted": 1}
    assert onetrip("faces", "verify", "alice", str(FACES / "obama_1.jpg")).exit_code == 2


def test_an_unknown_user_is_refused(onetrip):
    result = onetrip("faces", "verify", "bob", str(FACES / "obama_1.jpg"))
    assert result.exit_code == 2
    assert "no user named 'bob'" in result.output
