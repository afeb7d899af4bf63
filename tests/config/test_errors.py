"""The one error type: every refusal carries a code, a description and a status, whatever
its domain; bodies are checked against declared schemas with one 400 naming the field; the
command line prints a refusal in one line."""

from __future__ import annotations

import pickle

import click
import pytest
from click.testing import CliRunner

from biometrics.errors import FaceError
from config import jsonbody
from config.cli import LazyGroup
from config.errors import Refusal
from idp.errors import ApiError
from idp.totp import TotpError
from signing.batches import BatchError
from signing.pdfs import PdfRefused


def test_api_error_is_the_one_type():
    assert ApiError is Refusal
    refused = ApiError("not_found", "This service has no logo.", 404)
    assert (refused.error, refused.description, refused.status) == (
        "not_found",
        "This service has no logo.",
        404,
    )
    assert str(refused) == "This service has no logo."


@pytest.mark.parametrize(
    "refused",
    [
        FaceError("no_face"),
        TotpError("throttled", retry_after=90),
        BatchError("a.pdf", PdfRefused("too_large", "the PDF is too large", 413)),
        Refusal("invalid_token", "no", 401, {"WWW-Authenticate": "Bearer"}),
    ],
    ids=["face", "totp", "batch", "plain"],
)
def test_a_refusal_of_any_shape_crosses_a_process_boundary_unchanged(refused):
    again = pickle.loads(pickle.dumps(refused))
    assert type(again) is type(refused)
    assert again.__dict__ == refused.__dict__
    assert str(again) == str(refused)


def test_domain_refusals_spell_their_attributes_one_way():
    face = FaceError("throttled")
    assert (face.error, face.status) == ("throttled", 400)
    assert face.description == face.message_en
    totp = TotpError("throttled", retry_after=60)
    assert (totp.error, totp.status, totp.retry_after) == ("throttled", 429, 60)
    batch = BatchError("a.pdf", PdfRefused("too_large", "big", 413))
    assert (batch.filename, batch.error, batch.description, batch.status) == (
        "a.pdf",
        "too_large",
        "big",
        413,
    )


class _Sample(jsonbody.Body):
    refusals = {"name": "Missing (or invalid type) string parameter name"}

    name: str
    count: int = 1


def test_a_body_is_validated_against_its_schema():
    assert jsonbody.validate(_Sample, {"name": "x", "extra": [1]}) == _Sample(name="x")


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({}, "Missing (or invalid type) string parameter name"),
        ({"name": 5}, "Missing (or invalid type) string parameter name"),
        ({"name": "x", "count": "2"}, "Invalid parameter count"),
    ],
)
def test_a_bad_body_gets_one_400_naming_its_field(body, description):
    with pytest.raises(Refusal) as refused:
        jsonbody.validate(_Sample, body)
    assert (refused.value.error, refused.value.description, refused.value.status) == (
        "invalid_request",
        description,
        400,
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"x" * 2000, 413), (b"[1]", 400), (b"{", 400), (b"[" * 100 + b"]" * 100, 400)],
    ids=["too-large", "array", "malformed", "too-deep"],
)
def test_a_body_that_is_not_a_bounded_json_object_is_refused(raw, status):
    with pytest.raises(Refusal) as refused:
        jsonbody.read_object(raw, max_bytes=1024)
    assert refused.value.status == status


def test_an_empty_body_reads_as_an_empty_object():
    assert jsonbody.read_object(b"  ", max_bytes=1024) == {}


def test_a_refusal_reaching_the_command_line_is_one_line_on_stderr():
    @click.command()
    def refuse() -> None:
        raise PdfRefused("not_pdf", "the file is not a PDF (no %PDF- header)")

    root = LazyGroup("onetrip", lazy={})
    root.add_command(refuse, "refuse")
    result = CliRunner().invoke(root, ["refuse"])
    assert result.exit_code == 1
    assert result.stderr == "onetrip: the file is not a PDF (no %PDF- header)\n"
