"""Tables of the certificate authority: custody keys, certificates, the hierarchy, CRLs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from config.db import Base, utcnow


class CustodyKey(Base):
    """A key held in custody. ``pkcs8`` is the encrypted key (pkcs8 backend) or NULL (token)."""

    __tablename__ = "certs_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(128), unique=True)
    backend: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    pkcs8: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Certificate(Base):
    """Every certificate the CA has signed, its DER, and its revocation if any."""

    __tablename__ = "certs_certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # lowercase hex
    role: Mapped[str] = mapped_column(String(16), index=True)  # root|ca|ocsp|tsa|end
    profile: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(1024))
    issuer_serial: Mapped[str] = mapped_column(String(40))
    key_label: Mapped[str | None] = mapped_column(String(128))
    not_before: Mapped[datetime] = mapped_column(DateTime)
    not_after: Mapped[datetime] = mapped_column(DateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    invalidity_date: Mapped[datetime | None] = mapped_column(DateTime)  # key compromised since
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuthorityRole(Base):
    """Which certificate plays each CA role; the primary key makes creation race-safe."""

    __tablename__ = "certs_authority"

    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("certs_certificates.serial"))


class Crl(Base):
    """Every CRL issued, newest number last; the number is unique per issuer."""

    __tablename__ = "certs_crls"
    __table_args__ = (UniqueConstraint("issuer_serial", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_serial: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(DateTime)
    next_update: Mapped[datetime] = mapped_column(DateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class Device(Base):
    """A device that may enrol over EST: its name is its certificate's subject.

    ``secret_sha256`` is the keyed SHA-256 of its HTTP Basic secret (256 random bits, so a
    slow hash adds nothing); ``client_id`` binds an OAuth client's Bearer tokens to it.
    ``cert_serial`` is the newest certificate it holds, which ``simplereenroll`` renews.
    """

    __tablename__ = "certs_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sha256: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    dns_names: Mapped[str] = mapped_column(String(1024), default="")  # comma-separated
    cert_serial: Mapped[str | None] = mapped_column(String(40))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
