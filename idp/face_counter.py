"""Face enrolment at a counter: the citizen's one trip, as a JSON API for officers.

``POST /api/faces/enrol`` (multipart: ``username``, ``department``, ``photo``) with an
access token that has the ``face:enroll`` scope and speaks for an officer who is a member
of ``department``: the officer saw the citizen and their papers, so the template is a
``counter`` one and a match against it proves who the citizen is (``acr=face``). A token
without a citizen behind it (client credentials) cannot enrol: a counter is a person.
The department and officer are kept in the audit event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
from flask import Blueprint, g, jsonify, request
from pydantic import StringConstraints
from sqlalchemy import select

from biometrics.models import COUNTER
from biometrics.service import FaceService
from config import jsonbody
from config.cli import CliError, emit, ensure_schema, json_option, pass_runtime
from config.errors import Refusal
from config.runtime import Runtime
from idp.context import services, token_required
from idp.errors import ApiError
from idp.models import User

SCOPE = "face:enroll"

_REQUIRED = "username, department and photo are required."


class CounterEnrolment(jsonbody.Body):
    """The form fields of ``POST /api/faces/enrol`` (the photo is its file part)."""

    refusals = {"username": _REQUIRED, "department": _REQUIRED}

    username: Annotated[str, StringConstraints(min_length=1)]
    department: Annotated[str, StringConstraints(min_length=1)]


def enrol_at_counter(
    runtime: Runtime,
    faces: FaceService,
    *,
    officer_id: int | None,
    officer: str | None,
    department: str,
    username: str,
    photo: bytes,
    ip: str | None = None,
) -> dict:
    """Enrol ``photo`` as a counter template of ``username``; refuse unless the officer is
    a member of ``department``. Raises :class:`~config.errors.Refusal`."""
    from signing.departments import require_member  # idp composes signing

    require_member(runtime, department, officer_id)
    with runtime.db.read() as session:
        user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or user.disabled:
        raise ApiError("unknown_user", "There is no active citizen with this username.", 404)
    result = faces.enroll(
        user.id,
        photo,
        subject=user.username,
        provenance=COUNTER,
        actor=officer,
        ip=ip,
        department=department,
    )
    return {
        "username": user.username,
        "template_id": result.template_id,
        "templates": result.templates,
        "provenance": result.provenance,
    }


bp = Blueprint("face_counter", __name__)


@bp.post("/api/faces/enrol")
@token_required(SCOPE)
def counter_enrol():
    token = g.token
    if token.user_id is None:
        raise ApiError("officer_required", "Only an officer's token may enrol a face.", 403)
    form = jsonbody.validate(CounterEnrolment, request.form.to_dict())
    photo = request.files.get("photo")
    if not photo:
        raise ApiError("invalid_request", _REQUIRED)
    answer = enrol_at_counter(
        services().provider.runtime,
        services().faces,
        officer_id=token.user_id,
        officer=token.username,
        department=form.department[:32],
        username=form.username[:64],
        photo=photo.read(),
        ip=request.remote_addr,
    )
    return jsonify(answer), 201


@click.command("counter")
@click.argument("username")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--officer", required=True, help="The officer's username (a department member).")
@click.option("--department", required=True, help="The department's code.")
@json_option
@pass_runtime
def counter_command(
    runtime: Runtime, username: str, image: Path, officer: str, department: str, as_json: bool
) -> None:
    """Enrol the face in IMAGE as a counter template of USERNAME, taken by OFFICER of
    DEPARTMENT who saw the citizen in person (a match then proves the citizen: acr=face)."""
    from biometrics.pool import INLINE
    from idp.users import find_user

    ensure_schema(runtime)
    with runtime.db.read() as session:
        found = find_user(session, officer)
    try:
        answer = enrol_at_counter(
            runtime,
            FaceService(runtime, INLINE),
            officer_id=found.id if found else None,
            officer=officer,
            department=department,
            username=username,
            photo=image.read_bytes(),
        )
    except Refusal as exc:
        raise CliError(f"{exc.error}: {exc.description}", 2) from None
    emit(answer, as_json, text=f"enrolled {image} for {username} at the {department} counter")
