"""Counter enrolment (issue 13): an officer of a department enrols a citizen's face in
person, through the API (its own scope) or the CLI; nobody else can make a counter
template."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from biometrics.service import FaceService
from config.audit import AuditEvent
from idp.cli import main
from idp.tokens import mint_access_token
from signing import departments

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "biometrics"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "signing"))
from face_samples import FACES
from pades_checks import add_user


@pytest.fixture
def counter(runtime):
    """The PSB counter with officer zhang.wei, and citizen li.na."""
    departments.create(runtime, "PSB", "上海市公安局", "Shanghai Public Security Bureau")
    officer = add_user(runtime, "zhang.wei")
    departments.add_member(runtime, "PSB", officer, "zhang.wei")
    add_user(runtime, "wang.fang")  # a citizen, not an officer
    return add_user(runtime, "li.na")


def _enrol(client, token: str, department: str = "PSB", username: str = "li.na"):
    return client.post(
        "/api/faces/enrol",
        headers={"Authorization": f"Bearer {token}"},
        data={
            "username": username,
            "department": department,
            "photo": ((FACES / "obama_1.jpg").open("rb"), "face.jpg"),
        },
        content_type="multipart/form-data",
    )


def test_an_officer_enrols_a_citizen_at_the_counter_and_it_is_audited(client, runtime, counter):
    token = mint_access_token(runtime, ["face:enroll"], username="zhang.wei")
    answer = _enrol(client, token)
    assert answer.status_code == 201, answer.json
    assert answer.json["provenance"] == "counter"
    assert FaceService(runtime).has_proofed(counter)
    with runtime.db.read() as session:
        event = session.query(AuditEvent).filter_by(event="face.enroll").one()
    assert (event.actor, event.subject) == ("zhang.wei", "li.na")
    assert event.details["department"] == "PSB" and event.details["provenance"] == "counter"


@pytest.mark.parametrize(
    ("scopes", "who", "department", "status", "error"),
    [
        (["face:enroll"], "wang.fang", "PSB", 403, "not_a_member"),  # a citizen's own token
        (["sign"], "zhang.wei", "PSB", 403, "insufficient_scope"),  # another API's token
        (["face:enroll"], None, "PSB", 403, "officer_required"),  # a service, no person
        (["face:enroll"], "zhang.wei", "TAX", 404, None),  # a department he is not in
    ],
)
def test_nobody_but_an_officer_of_the_department_makes_a_counter_template(
    client, runtime, counter, scopes, who, department, status, error
):
    token = mint_access_token(runtime, scopes, username=who)
    answer = _enrol(client, token, department=department)
    assert answer.status_code == status, answer.json
    if error:
        assert answer.json["error"] == error
    assert not FaceService(runtime).has_template(counter)


def test_bad_input_to_the_counter_api_is_a_clear_400_and_stores_nothing(client, runtime, counter):
    token = mint_access_token(runtime, ["face:enroll"], username="zhang.wei")
    missing = client.post(
        "/api/faces/enrol", headers={"Authorization": f"Bearer {token}"}, data={"username": "li.na"}
    )
    assert missing.status_code == 400 and missing.json["error"] == "invalid_request"
    dogs = client.post(
        "/api/faces/enrol",
        headers={"Authorization": f"Bearer {token}"},
        data={
            "username": "li.na",
            "department": "PSB",
            "photo": ((FACES / "no_face_dogs.jpg").open("rb"), "dogs.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert dogs.status_code == 400 and dogs.json["error"] == "no_face"
    assert not FaceService(runtime).has_template(counter)


def test_the_counter_cli_needs_an_officer_of_the_department(runtime, counter, monkeypatch):
    settings = runtime.settings
    monkeypatch.setenv("ONETRIP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    photo = str(FACES / "obama_1.jpg")
    args = ["faces", "counter", "li.na", photo, "--department", "PSB", "--officer"]
    refused = CliRunner().invoke(main, [*args, "wang.fang"])
    assert refused.exit_code == 2 and "not_a_member" in refused.output
    assert not FaceService(runtime).has_template(counter)
    done = CliRunner().invoke(main, [*args, "zhang.wei", "--json"])
    assert done.exit_code == 0, done.output
    assert FaceService(runtime).has_proofed(counter)
