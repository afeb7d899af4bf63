"""JSON from outside, with its nesting bounded.

Python's ``json`` recurses once per level of nesting, so a body of 100,000 ``[`` raises
:class:`RecursionError`, which is no :class:`ValueError`: callers that catch the latter
answered 500. Whatever walks the result afterwards (validation, storage, an echo) recurses
again. No document OneTrip reads (client metadata, a JWKS, a CSC request) nests more than
a few levels, so :func:`loads` refuses more than :data:`MAX_DEPTH` before parsing, with a
:class:`ValueError` like any other malformed JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

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
