"""Tables of PAdES signing: departments and their officers, documents, routes, signatures.

User ids (officers, creators, citizens) are the identity provider's: the migrations tie
them to its ``users`` table, but the models name no foreign key there, so signing loads
without the provider's models (it never reads them).

PDF versions live in the database (``signing_blobs``, keyed by their SHA-256), not in the
data directory: nodes are stateless and share only the database and Redis, and a route
step must commit the new PDF together with the state change and the audit event, so that a
failed step changes nothing. Identical versions are stored once. Uploads are bounded by
``max_upload_bytes``, well within PostgreSQL ``bytea`` and SQLite BLOB limits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, utcnow


class Department(Base):
    """A department that seals documents; its key is in custody under ``key_label``."""

    __tablename__ = "signing_departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str | None] = mapped_column(String(255))
    key_label: Mapped[str] = mapped_column(String(128))
    cert_serial: Mapped[str] = mapped_column(ForeignKey("certs_certificates.serial"))
    organization_identifier: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Member(Base):
    """An officer (an idp user) who may sign on the department's behalf.

    ``username`` is the name the identity provider gave when the officer was added: signing
    keeps the names it shows, and never reads the provider's tables. ``role`` is
    ``officer`` (signs, acts on routes) or ``admin`` (also names the department's officers
    in the workspace).
    """

    __tablename__ = "signing_members"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("signing_departments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(primary_key=True, index=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16), default="officer")
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Seal(Base):
    """Every seal certificate a department has had; the newest is ``Department.cert_serial``.

    Older ones stay so that verification reports still name the department of documents
    they signed, and renewal (``departments renew-seal``) never loses that link.
    """

    __tablename__ = "signing_seals"

    cert_serial: Mapped[str] = mapped_column(
        ForeignKey("certs_certificates.serial"), primary_key=True
    )
    department_id: Mapped[int] = mapped_column(
        ForeignKey("signing_departments.id", ondelete="CASCADE"), index=True
    )
    key_label: Mapped[str] = mapped_column(String(128))
    not_after: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Blob(Base):
    """One version of a PDF, addressed by the SHA-256 of its bytes."""

    __tablename__ = "signing_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Document(Base):
    """A document OneTrip signed: a single signature, or a route through departments.

    ``id`` is random and public: it is what the stamp's QR code points at
    (``/verify/<id>``). ``state`` is ``signed`` for a single signature, else
    ``routing`` -> ``completed`` | ``rejected``. ``blob_sha256`` is the newest version
    (stored for routes only; single signatures keep just the hash). ``created_by_name``,
    ``subject``, ``note`` and ``deadline`` are what an officer's inbox shows of a route.
    """

    __tablename__ = "signing_documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), index=True)
    current_step: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    stamp: Mapped[bool] = mapped_column(Boolean, default=False)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    blob_sha256: Mapped[str | None] = mapped_column(ForeignKey("signing_blobs.sha256"))
    created_by: Mapped[int | None] = mapped_column(Integer, index=True)
    citizen_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_by_name: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RouteStep(Base):
    """One department's turn on a routed document: ``pending``, ``signed`` or ``rejected``."""

    __tablename__ = "signing_route_steps"
    __table_args__ = (
        UniqueConstraint("document_id", "position"),
        Index("ix_signing_route_steps_department_state", "department_id", "state", "acted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("signing_documents.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(ForeignKey("signing_departments.id"))
    state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    acted_at: Mapped[datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class Signature(Base):
    """Every signature OneTrip made, with the hash of the PDF it produced."""

    __tablename__ = "signing_signatures"
    __table_args__ = (
        Index("ix_signing_signatures_department_signed_at", "department_id", "signed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("signing_documents.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int] = mapped_column(ForeignKey("signing_departments.id"))
    user_id: Mapped[int | None] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(String(64))
    field_name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(8))
    certification: Mapped[bool] = mapped_column(Boolean, default=False)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    signed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
