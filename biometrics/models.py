"""Face templates: 128-d encodings, several per citizen, never an image.

``user_id`` is a plain indexed integer, not a foreign key to idp's ``users``: the design
has ``biometrics`` depend only on ``config`` (idp uses biometrics, not the reverse), so
this package's migration must not need idp's. idp deletes a citizen's templates with
``FaceService.delete(user_id)`` when it deletes the citizen.

Each template is encrypted under a data key of its own (``wrapped_key``, itself sealed
under the key-encryption key): deleting the row destroys the only key that opens the
encoding, so a copy of ``sealed`` that survived somewhere (a log, an export of one column)
opens for no one (crypto-shredding). Rows written before per-template keys have no
``wrapped_key`` and are sealed directly under the key-encryption key.

``provenance`` says how the face came to be tied to the account, and so what a match
against it proves (see :data:`PROOFED`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, utcnow

#: The encoder that produced a template; encodings of different models are not comparable.
MODEL = "dlib_resnet_v1"

#: Enrolled in person by a department officer at a counter, who saw the citizen.
COUNTER = "counter"
#: Imported by the operator from an authoritative photo (an ID card or passport register).
AUTHORITATIVE = "authoritative"
#: Registered by the citizen from their own session: proves "the same face as at
#: registration", not who the citizen is.
SELF = "self"
PROVENANCES = (COUNTER, AUTHORITATIVE, SELF)
#: Provenances whose match proves the citizen's identity.
PROOFED = frozenset({COUNTER, AUTHORITATIVE})


class FaceTemplate(Base):
    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    model: Mapped[str] = mapped_column(String(32), default=MODEL)
    provenance: Mapped[str] = mapped_column(String(16), default=SELF)
    # AES-GCM under this row's data key; the data key sealed under the
    # "face-template:<user_id>" subkey, so a row copied to another user does not open.
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
