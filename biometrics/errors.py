"""Refusals a citizen can understand, in the language of the page.

A :class:`FaceError` is a :class:`config.errors.Refusal` made from its code alone, so it
crosses the process boundary of the face worker pool unchanged; its message is looked up
from the code: the English one for logs and JSON, the page's one through biometrics'
catalogue.
"""

from __future__ import annotations

from biometrics.texts import translate
from config.catalogues import N_
from config.errors import Refusal

#: code -> the English message, the catalogue's id. Written for the person holding the phone.
MESSAGES: dict[str, str] = {
    "not_an_image": N_(
        "This file is not a photo we can read. Please send a JPEG, PNG or WebP picture."
    ),
    "truncated": N_("The photo is incomplete or damaged. Please take or choose it again."),
    "too_many_pixels": N_(
        "The photo is too large. Please send a smaller picture (a normal phone photo works)."
    ),
    "no_face": N_(
        "We could not find a face in the photo. Face the camera in good light and try again."
    ),
    "several_faces": N_("We found more than one face. Make sure only you are in the picture."),
    "face_too_small": N_(
        "Your face is too small in the photo. Move closer to the camera and try again."
    ),
    "throttled": N_("Too many failed face checks. Please wait 15 minutes and try again."),
    "no_template": N_(
        "No face is registered for this account yet. Add a photo on your account page first."
    ),
    "challenge_expired": N_("The face check timed out or was already used. Please start it again."),
    "challenge_failed": N_(
        "We could not confirm the requested movement with your face. Please try again."
    ),
    "too_many_templates": N_(
        "This account already has the most face photos allowed. Delete them to start again."
    ),
    "bad_frames": N_("The camera pictures did not arrive complete. Please try again."),
    "replayed": N_(
        "These camera pictures were already used in an earlier check. Please do the check live."
    ),
    "fresh_face_needed": N_(
        "To change your face settings, first pass a face check with a face already registered."
    ),
    "proofed_needed": N_(
        "This service needs a face registered in person at a counter. Please visit one once."
    ),
}


class FaceError(Refusal):
    """A refused face operation; ``error`` is one of :data:`MESSAGES`' keys, the
    description its English message."""

    def __init__(self, error: str) -> None:
        if error not in MESSAGES:
            raise ValueError(f"unknown face error code {error!r}")
        super().__init__(error, MESSAGES[error])

    @property
    def message_en(self) -> str:
        return MESSAGES[self.error]

    @property
    def message(self) -> str:
        """The message in the language of the current request's page."""
        return translate(MESSAGES[self.error])

    def __str__(self) -> str:
        return f"{self.error}: {self.message_en}"
