"""The workspace's words, and the services' refusals in the officer's language.

The words are signing's gettext catalogue (:mod:`signing.texts`). Services refuse with a
stable code and an English message; :func:`refusal` turns the code (and, for a few codes,
the message) into the page's words, so a refusal is never shown in the wrong language.
"""

from __future__ import annotations

import re

from config.catalogues import N_
from signing.texts import translate

__all__ = ["refusal", "translate"]

#: A service's refusal code, and the words for it.
_BY_CODE = {
    "not_pdf": N_("This file is not a PDF."),
    "corrupt_pdf": N_("This PDF is damaged and cannot be read."),
    "encrypted_pdf": N_("This PDF is protected by a password; remove the password and try again."),
    "too_large": N_("This PDF is too large."),
    "too_complex": N_("This PDF has too many pages or objects."),
    "broken_signature": N_(
        "A signature in this PDF is broken; OneTrip does not sign on top of it."
    ),
    "cannot_sign": N_("This PDF cannot be signed."),
    "cannot_stamp": N_("There is no room on this page for a visible stamp."),
    "cannot_render": N_("This page cannot be shown."),
    "invalid_place": N_("Click on the page to place the stamp."),
    "invalid_level": N_("Choose a signature level from the list."),
    "expired": N_("The batch expired before this file was signed."),
    "failed": N_("The server could not sign this file."),
    "not_a_member": N_("You are not a member of this department."),
    "not_found": N_("There is no such route, or it is not yours to see."),
    "route_closed": N_("This route is closed: it was completed or rejected."),
    "conflict": N_("The route moved on meanwhile; reload the page."),
    "unknown_department": N_("There is no such department."),
    "invalid_role": N_("A member's role is officer or department administrator."),
}
#: Codes that cover several refusals: the English message picks the words.
_BY_MESSAGE = [
    (r"choose at least one PDF", N_("Choose at least one PDF.")),
    (r"a batch has at most (?P<count>\d+) files", N_("A batch has at most {count} files.")),
    (r"a department appears twice in the route", N_("A department appears twice in the route.")),
    (r"a route needs at least one department", N_("Choose at least one department.")),
    (r"a subject has at most 200 characters", N_("A subject has at most 200 characters.")),
    (r"a note has at most 2000 characters", N_("A note has at most 2000 characters.")),
    (r"a rejection needs a reason", N_("A rejection needs a reason of 1 to 1000 characters.")),
    (r"(?P<name>\S+) is not a member of \S+", N_("{name} is not a member of this department.")),
]
_COMPILED = [(re.compile(pattern), text) for pattern, text in _BY_MESSAGE]


def refusal(refused) -> str:
    """A service's refusal (a :class:`config.errors.Refusal`, or a batch result with
    ``error`` and ``message``) in the officer's language."""
    if isinstance(refused, dict):
        code, message = refused.get("error", ""), refused.get("message", "")
    else:
        code, message = refused.error, refused.description
    for pattern, text in _COMPILED:
        if found := pattern.fullmatch(message):
            return translate(text, **found.groupdict())
    if code in _BY_CODE:
        return translate(_BY_CODE[code])
    return translate("The request was refused: {reason}", reason=message)
