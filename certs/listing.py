"""Finding certificates and CRLs for people who look after the CA (the console's PKI pages).

Read-only and paginated: a CA that issues a certificate to every citizen who signs a form
holds many, so a listing never loads more than one page of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy import func, select

from certs.authority import Authority, serial_hex
from certs.models import Certificate, Crl
from config.db import utcnow

STATUSES = ("good", "revoked", "expired")


@dataclass(frozen=True)
class CertificateRow:
    serial: str
    role: str
    profile: str | None
    subject: str
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None
    key_label: str | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.not_after <= utcnow() else "good"


@dataclass(frozen=True)
class CrlInfo:
    issuer: str  # ca | root
    number: int
    this_update: datetime
    next_update: datetime
    entries: int


def _row(c: Certificate) -> CertificateRow:
    return CertificateRow(
        c.serial,
        c.role,
        c.profile,
        c.subject,
        c.not_before,
        c.not_after,
        c.revoked_at,
        c.revocation_reason,
        c.key_label,
    )


def find(
    authority: Authority,
    *,
    profile: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 25,
) -> tuple[list[CertificateRow], int]:
    """Certificates, newest first, of ``profile`` (a profile name, or ``ca`` for the
    hierarchy's own) and ``status`` (``good``, ``revoked``, ``expired``); and how many
    match."""
    where = []
    if profile == "ca":
        where.append(Certificate.role != "end")
    elif profile:
        where.append(Certificate.profile == profile)
    now = utcnow()
    if status == "revoked":
        where.append(Certificate.revoked_at.is_not(None))
    elif status == "expired":
        where += [Certificate.revoked_at.is_(None), Certificate.not_after <= now]
    elif status == "good":
        where += [Certificate.revoked_at.is_(None), Certificate.not_after > now]
    with authority.db.read() as session:
        total = session.scalar(select(func.count(Certificate.serial)).where(*where))
        rows = session.scalars(
            select(Certificate)
            .where(*where)
            .order_by(Certificate.created_at.desc(), Certificate.serial)
            .offset(offset)
            .limit(limit)
        ).all()
        return [_row(c) for c in rows], total


def get(authority: Authority, serial: str) -> tuple[CertificateRow, x509.Certificate] | None:
    """One certificate by serial (any spelling :func:`serial_hex` accepts), with its DER
    parsed; None if the CA never issued it."""
    with authority.db.read() as session:
        row = session.get(Certificate, serial_hex(serial))
        if row is None:
            return None
        return _row(row), x509.load_der_x509_certificate(row.der)


def crls(authority: Authority) -> list[CrlInfo]:
    """The newest CRL of the issuing CA and of the root, as they are served now."""
    out = []
    for issuer in ("ca", "root"):
        crl = x509.load_der_x509_crl(authority.crl_der(issuer))
        with authority.db.read() as session:
            number = session.scalar(
                select(func.max(Crl.number)).where(
                    Crl.issuer_serial == authority.ensure()[issuer].serial
                )
            )
        out.append(
            CrlInfo(
                issuer,
                number or 0,
                crl.last_update_utc.replace(tzinfo=None),
                crl.next_update_utc.replace(tzinfo=None),
                len(crl),
            )
        )
    return out
