"""Face templates: sealed 128-d encodings, several per citizen, never an image.

``user_id`` is a plain indexed integer, not a foreign key to idp's ``users``: the design
has ``biometrics`` depend only on ``config`` (idp uses biometrics, not the reverse), so
this package's migration must not need idp's. idp deletes a citizen's templates with
``FaceService.delete(user_id)`` when it deletes the citizen.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, utcnow

#: The encoder that produced a template; encodings of different models are not comparable.
MODEL = "dlib_resnet_v1"


class FaceTemplate(Base):
    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    model: Mapped[str] = mapped_column(String(32), default=MODEL)
    # AES-GCM under the "face-template:<user_id>" subkey: a row copied to another user
    # does not open.
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
