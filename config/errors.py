"""The one error type: a refusal with a code, a description and an HTTP status.

Every package raises a :class:`Refusal` (or a subclass naming its domain: ``PdfRefused``,
``DepartmentError``, ``FaceError``, ...) when it refuses what a caller asked, and nothing
else needs to know how it is shown: the web side renders it in one place
(:mod:`idp.errors`: JSON ``{"error", "error_description"}`` for APIs, the localized error
page for browsers), the command line prints its description in one line on stderr
(:mod:`config.cli`). A subclass adds no attribute of its own spelling; the three below are
the contract.

A fault is not a refusal: corrupt sealed data, a missing font or a misconfigured key
backend are the operator's to fix, are logged, and answer 500 without their details.
OAuth endpoints keep Authlib's ``OAuth2Error`` where the specifications define the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Refusal(Exception):
    """A refused request.

    ``error`` is a stable machine-readable code (an OAuth or protocol code where a
    specification defines one), ``description`` the words the caller reads (English; pages
    translate them), ``status`` the HTTP status to answer with, and ``headers`` any the
    answer must carry (``WWW-Authenticate``, ``Retry-After``). ``str()`` is the description.
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        return self.description

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; rebuild from the attributes so a
        # refusal crosses a process boundary (the face worker pool) whatever its shape.
        return _restore, (type(self), self.__dict__)


def _restore(cls: type[Refusal], state: dict[str, Any]) -> Refusal:
    refusal = cls.__new__(cls)
    Exception.__init__(refusal, state.get("description", ""))
    refusal.__dict__.update(state)
    return refusal
