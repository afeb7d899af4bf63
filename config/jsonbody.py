"""JSON from outside, with its nesting bounded.

Python's ``json`` recurses once per level of nesting, so a body of 100,000 ``[`` raises
:class:`RecursionError`, which is no :class:`ValueError`: callers that catch the latter
answered 500. Whatever walks the result afterwards (validation, storage, an echo) recurses
again. No document OneTrip reads (client metadata, a JWKS, a CSC request) nests more than
a few levels, so :func:`loads` refuses more than :data:`MAX_DEPTH` before parsing, with a
:class:`ValueError` like any other malformed JSON.

Request bodies are read here too: :func:`read_object` bounds and parses one, and
:func:`validate` checks it against a declared :class:`Body` schema at the edge, so services
receive typed values and every bad body gets one 400 naming its field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from config.errors import Refusal

MAX_DEPTH = 32

_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Every opening bracket becomes "(", every closing one ")", everything else goes.
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(data: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than ``max_depth``
    (brackets inside strings aside). Innermost pairs are removed one level per pass,
    each pass a single C-level ``replace``, so the cost is ``max_depth`` scans at most."""
    shape = _STRINGS.sub(b"", data).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(max_depth):
        if b"()" not in shape:
            break
        shape = shape.replace(b"()", b"")
    # Left: pairs nested deeper than max_depth, or brackets never closed (")))((("):
    return b"()" in shape or shape.count(b"(") > max_depth


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing nesting deeper than ``max_depth`` with :class:`ValueError`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if too_deep(raw, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    if b"\\u0000" in raw:  # no document OneTrip reads has one; PostgreSQL stores none
        raise ValueError("JSON strings must not contain NUL characters")
    try:
        return json.loads(raw)
    except RecursionError:  # should the count above ever read a text differently
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None


def read_object(raw: bytes, max_bytes: int) -> dict:
    """A request body that must be a JSON object (an empty body reads as ``{}``).

    Refuses with :class:`~config.errors.Refusal`: 413 beyond ``max_bytes``, 400
    ``invalid_request`` for anything but an object (malformed or too deep included).
    """
    if len(raw) > max_bytes:
        raise Refusal("invalid_request", "the body is too large", 413)
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refusal("invalid_request", "the body must be a JSON object")
    return body


class Body(BaseModel):
    """A request body's declared schema: its fields are the members a view reads.

    Strict (``"1"`` is no number) and tolerant of members it does not declare (protocols
    let clients send more than a server reads). ``refusals`` maps a field to the words a
    caller gets when that field is missing or wrong (default ``Invalid parameter NAME``),
    so a protocol's own wording (CSC's, say) survives validation.
    """

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    refusals: ClassVar[dict[str, str]] = {}


B = TypeVar("B", bound=Body)


def validate(schema: type[B], body: Mapping[str, Any]) -> B:
    """``body`` checked against ``schema``; the first bad field refused with one 400
    ``invalid_request`` that names it."""
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = [str(part) for part in first["loc"]]
        field = loc[0] if loc else ""
        description = schema.refusals.get(field) or f"Invalid parameter {'.'.join(loc)}"
        raise Refusal("invalid_request", description) from None
