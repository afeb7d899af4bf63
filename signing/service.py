"""Signing and verification as OneTrip's services: engine per process, records, audit.

Every path (CLI, JSON API, CSC API, routes) comes through here, so they share the cached
engine and the same checks: the PDF is refused at the edge (:mod:`signing.pdfs`), it is
signed in memory, and only then is the signature recorded with its audit event in one
transaction; a failure before the commit leaves no trace.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError
from sqlalchemy import select

from config import audit, metrics
from config.db import utcnow
from config.runtime import Runtime
from signing import departments
from signing.authority import ca_authority
from signing.engine import DEFAULT_LEVEL, LEVELS, Engine, renew_archive
from signing.models import Blob, Document, Signature
from signing.pdfs import PARSE_ERRORS, PdfLimits, PdfRefused, open_pdf, sha256
from signing.placement import Placement
from signing.verify import Trust, etsi_report, verify_pdf


def extra_roots(setting: str) -> list[x509.Certificate]:
    """The operator's extra trust anchors: comma-separated PEM or DER files."""
    roots = []
    for name in filter(None, (p.strip() for p in setting.split(","))):
        data = Path(name).read_bytes()
        if pem.detect(data):
            roots += [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            roots.append(x509.Certificate.load(data))
    return roots


def engine(runtime: Runtime) -> Engine:
    """The signing engine of ``runtime``, one per runtime
    (:meth:`~config.runtime.Sharing.shared`): its signers and revocation data are cached
    for every thread of the process."""
    return runtime.shared(_new_engine)


def _new_engine(runtime: Runtime) -> Engine:
    settings = runtime.settings
    return Engine(
        ca_authority(runtime),
        issuer=settings.issuer,
        tsa_url=settings.signing_tsa_url,
        extra_roots=extra_roots(settings.signing_trust_roots),
        font=settings.signing_font,
    )


def new_document_id() -> str:
    return secrets.token_hex(16)


def check_level(level: str | None) -> str:
    level = (level or DEFAULT_LEVEL).upper()
    if level not in LEVELS:
        raise PdfRefused("invalid_level", f"level must be one of {', '.join(LEVELS)}")
    return level


def sign(
    runtime: Runtime,
    data: bytes,
    code: str,
    *,
    level: str | None = None,
    stamp: bool = False,
    reason: str | None = None,
    filename: str = "document.pdf",
    user_id: int | None = None,
    actor: str | None = None,
    client_id: str | None = None,
    ip: str | None = None,
    placement: Placement | None = None,
) -> tuple[bytes, str]:
    """Sign ``data`` with department ``code``'s seal; return the signed PDF and its id.

    ``placement`` puts the visible stamp (with ``stamp``) where the officer clicked."""
    level = check_level(level)
    open_pdf(data, runtime.settings.max_upload_bytes, PdfLimits.of(runtime.settings))
    seal = departments.seal(runtime, code)
    document_id = new_document_id()
    signed, field = asyncio.run(
        engine(runtime).sign(
            data,
            seal,
            level=level,
            stamp=stamp,
            reason=reason,
            document_id=document_id,
            placement=placement,
        )
    )
    digest = sha256(signed)
    with runtime.db.write() as session:
        now = utcnow()
        session.add(
            Document(
                id=document_id,
                filename=filename[:255],
                state="signed",
                level=level,
                sha256=digest,
                created_by=user_id,
                created_by_name=actor,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        session.add(
            Signature(
                document_id=document_id,
                department_id=seal.department_id,
                user_id=user_id,
                client_id=client_id,
                field_name=field,
                level=level,
                certification=False,
                sha256=digest,
                signed_at=now,
            )
        )
        audit.record(
            session,
            "signing.sign",
            actor=actor,
            subject=document_id,
            client_id=client_id,
            ip=ip,
            department=code,
            level=level,
            sha256=digest,
            input_sha256=sha256(data),
        )
    metrics.signature(level)
    return signed, document_id


def last_archive_stamp_ends(data: bytes) -> datetime | None:
    """When the certificate of the newest document time-stamp of ``data`` expires."""
    reader = PdfFileReader(BytesIO(data), strict=False)
    stamps = reader.embedded_timestamp_signatures
    if not stamps:
        return None
    return stamps[-1].signer_cert.not_valid_after.replace(tzinfo=None)


def renew_file(runtime: Runtime, data: bytes) -> bytes:
    """``data`` with a fresh archive time-stamp (see :func:`signing.engine.renew_archive`)."""
    open_pdf(data, runtime.settings.max_upload_bytes, PdfLimits.of(runtime.settings))
    try:
        return asyncio.run(renew_archive(engine(runtime), data))
    except (*PARSE_ERRORS, SigningError) as exc:
        raise PdfRefused("cannot_sign", f"the PDF cannot be re-time-stamped: {exc}") from None


def renew_stored(runtime: Runtime, within: int | None = None) -> list[dict]:
    """Re-time-stamp every stored (B-LTA) document whose newest archive time-stamp's
    certificate ends within ``within`` seconds (``archive_renew_before``).

    Each renewal is its own transaction: the new version, the document's pointer to it
    and the audit event; a document renewed meanwhile by another process is skipped.
    """
    horizon = utcnow() + timedelta(seconds=within or runtime.settings.archive_renew_before)
    with runtime.db.read() as session:
        candidates = session.execute(
            # A completed route always ends in a document time-stamp (routes.approve).
            select(Document.id, Document.blob_sha256).where(
                Document.state == "completed", Document.blob_sha256.is_not(None)
            )
        ).all()
    renewed = []
    for document_id, digest in candidates:
        with runtime.db.read() as session:
            data = session.get(Blob, digest).data
        ends = last_archive_stamp_ends(data)
        if ends is None or ends > horizon:
            continue
        fresh = renew_file(runtime, data)
        with runtime.db.write() as session:
            doc = session.get(Document, document_id, with_for_update=True)
            if doc.blob_sha256 != digest:
                continue
            new_digest = sha256(fresh)
            if session.get(Blob, new_digest) is None:
                session.add(Blob(sha256=new_digest, size=len(fresh), data=fresh))
                session.flush()
            doc.blob_sha256 = doc.sha256 = new_digest
            doc.updated_at = utcnow()
            audit.record(
                session,
                "signing.renew",
                actor="cli",
                subject=document_id,
                sha256=new_digest,
                previous_stamp_ends=ends.isoformat() + "Z",
            )
        renewed.append({"id": document_id, "sha256": new_digest, "previous_stamp_ends": ends})
    return renewed


def trust(runtime: Runtime) -> Trust:
    ca = ca_authority(runtime)
    eng = engine(runtime)

    def department(serial: str) -> dict | None:
        return departments.by_serial(runtime, serial)

    return Trust(
        [ca.root(), *eng.extra_roots], ca.hierarchy(), ca.live_revinfo, department, ca.status_of
    )


def verify(runtime: Runtime, data: bytes) -> dict:
    """The verification report of ``data`` (see :mod:`signing.verify`)."""
    settings = runtime.settings
    report = verify_pdf(data, trust(runtime), settings.max_upload_bytes, PdfLimits.of(settings))
    report["onetrip_document"] = find_document(runtime, report["sha256"])
    return report


def verify_xml(runtime: Runtime, data: bytes) -> str:
    """The ETSI TS 119 102-2 XML validation report of ``data``."""
    settings = runtime.settings
    return etsi_report(data, trust(runtime), settings.max_upload_bytes, PdfLimits.of(settings))


def find_document(runtime: Runtime, digest_or_id: str, *, private: bool = False) -> dict | None:
    """What OneTrip recorded about a document, by its public id or any version's SHA-256.

    The public record (the /verify page, verification reports) says which departments
    signed when; ``private`` (a route's readers only) adds the file name, which may name
    the citizen the document concerns.
    """
    from sqlalchemy import or_

    from signing.models import Department

    with runtime.db.read() as session:
        doc = (
            session.execute(
                select(Document).where(
                    or_(Document.id == digest_or_id, Document.sha256 == digest_or_id)
                )
            )
            .scalars()
            .first()
        )
        if doc is None:
            sig = (
                session.execute(select(Signature).where(Signature.sha256 == digest_or_id))
                .scalars()
                .first()
            )
            doc = session.get(Document, sig.document_id) if sig else None
        if doc is None:
            return None
        sigs = session.execute(
            select(Signature, Department.code, Department.name)
            .join(Department, Department.id == Signature.department_id)
            .where(Signature.document_id == doc.id)
            .order_by(Signature.id)
        ).all()
        record = {
            "id": doc.id,
            "state": doc.state,
            "sha256": doc.sha256,
            "created_at": doc.created_at.isoformat() + "Z",
            "signatures": [
                {
                    "department": code,
                    "department_name": name,
                    "field": s.field_name,
                    "level": s.level,
                    "certification": s.certification,
                    "signed_at": s.signed_at.isoformat() + "Z",
                    "sha256": s.sha256,
                }
                for s, code, name in sigs
            ],
        }
        if private:
            record["filename"] = doc.filename
        return record
