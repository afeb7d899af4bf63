"""``onetrip faces``: enrol, verify and delete a citizen's face templates from a shell.

Citizens are named by username and found by the lookup the ``onetrip`` root supplies
(:func:`faces_group`): accounts are idp's, and biometrics neither imports idp nor reads its
tables. Face work runs in this process: a CLI has no other requests to keep responsive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from biometrics.errors import FaceError
from biometrics.models import AUTHORITATIVE, SELF
from biometrics.pool import INLINE
from biometrics.service import EnrolmentResult, FaceService
from config.cli import CliError, emit, ensure_schema, json_option, pass_runtime
from config.runtime import Runtime

#: Exit codes of ``faces verify``.
ALL_MATCHED, SOME_DID_NOT_MATCH, BAD_INPUT = 0, 1, 2

_IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)


#: The account lookup the root supplies (:func:`faces_group`): a username's id, or None.
FindUser = Callable[[Runtime, str], int | None]
_find_user: list[FindUser] = []


def _citizen(runtime: Runtime, username: str) -> tuple[int, str]:
    """The account's id and its username as stored (how audit events name a citizen)."""
    ensure_schema(runtime)  # a fresh data directory answers "no user", not a missing table
    user_id = _find_user[0](runtime, username)
    if user_id is None:
        raise CliError(f"no user named {username!r}", BAD_INPUT)
    return user_id, username.strip().lower()


@click.group("faces")
def faces() -> None:
    """Face templates: enrol a photo, verify photos, delete."""


@faces.command("enroll")
@click.argument("username")
@click.argument("image", type=_IMAGE)
@click.option(
    "--provenance",
    type=click.Choice([AUTHORITATIVE, SELF]),
    required=True,
    help="authoritative: IMAGE comes from an official register (ID card, passport), so a "
    "match proves the citizen (acr=face); self: a photo the citizen sent (acr=face-self). "
    "Counter enrolment is `onetrip faces counter`.",
)
@json_option
@pass_runtime
def enroll(runtime: Runtime, username: str, image: Path, provenance: str, as_json: bool) -> None:
    """Import the face in IMAGE as a template of USERNAME (exactly one face must show)."""
    user_id, subject = _citizen(runtime, username)
    try:
        result = FaceService(runtime, INLINE).enroll(
            user_id, image.read_bytes(), subject=subject, provenance=provenance, actor="cli"
        )
    except FaceError as exc:
        raise CliError(f"{image}: {exc}", BAD_INPUT) from None
    _enrolled(username, image, result, as_json)


def _enrolled(username: str, image: Path, result: EnrolmentResult, as_json: bool) -> None:
    emit(
        {
            "username": username,
            "template_id": result.template_id,
            "templates": result.templates,
            "provenance": result.provenance,
        },
        as_json,
        text=f"enrolled {image} for {username} as {result.provenance} "
        f"({result.templates} template(s))",
    )


@faces.command("verify")
@click.argument("username")
@click.argument("images", nargs=-1, required=True, type=_IMAGE)
@json_option
@pass_runtime
def verify(runtime: Runtime, username: str, images: tuple[Path, ...], as_json: bool) -> None:
    """Compare each IMAGE with USERNAME's templates.

    Exit status: 0 every image matched, 1 some did not match (or checks are throttled),
    2 some image could not be used or the user has no template.
    """
    service = FaceService(runtime, INLINE)
    user_id, subject = _citizen(runtime, username)
    results, status = [], ALL_MATCHED
    for image in images:
        try:
            verdict = service.verify(user_id, image.read_bytes(), subject=subject, actor="cli")
        except FaceError as exc:
            failed = SOME_DID_NOT_MATCH if exc.error == "throttled" else BAD_INPUT
            status = max(status, failed)
            results.append(
                {"image": str(image), "error": exc.error, "error_description": exc.description}
            )
            continue
        if not verdict.match:
            status = max(status, SOME_DID_NOT_MATCH)
        results.append({"image": str(image), **verdict.as_dict()})
    lines = [
        f"{r['image']}: "
        + (
            f"error {r['error']}: {r['error_description']}"
            if "error" in r
            else f"{'match' if r['match'] else 'no match'} "
            f"(distance {r['distance']:.3f}, threshold {r['threshold']})"
        )
        for r in results
    ]
    emit(results, as_json, text="\n".join(lines))
    if status != ALL_MATCHED:
        raise click.exceptions.Exit(status)


@faces.command("delete")
@click.argument("username")
@json_option
@pass_runtime
def delete(runtime: Runtime, username: str, as_json: bool) -> None:
    """Delete every face template of USERNAME."""
    user_id, subject = _citizen(runtime, username)
    gone = FaceService(runtime, INLINE).delete(user_id, subject=subject, actor="cli")
    emit({"username": username, "deleted": gone}, as_json, text=f"deleted {gone} template(s)")


def faces_group(find_user: FindUser) -> click.Group:
    """``faces`` for the ``onetrip`` root, which supplies the account lookup."""
    _find_user[:] = [find_user]
    return faces
