"""Verification of every signature in a PDF, for anyone: the report behind CLI, API and page.

pyHanko does the checking (integrity, CMS signature, trust path, revocation, time-stamps,
DocMDP and its difference analysis of what changed after each signature). What this module
adds is the PAdES baseline level each signature reaches and a plain report:

- each signature is validated first from the data embedded in the PDF alone (DSS and CMS
  certificates, OCSP responses, CRLs; no network), at the time its signature time-stamp
  proves: if that succeeds the signature is long-term verifiable (B-LT or better), years
  after its certificates and OCSP answers expired;
- failing that, it is validated again with OneTrip's current revocation answers for
  certificates OneTrip's CA issued (``live_revinfo``), so a B-B or B-T signature still
  gets a revocation status.

Trust anchors are OneTrip's root plus the operator's extra roots; nothing is fetched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import ModificationInfo, SignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.pdfs import open_pdf, sha256

#: Revocation material for some certificates: (OCSP responses DER, CRLs DER).
RevInfo = tuple[list[bytes], list[bytes]]

_CHANGES = {
    "NONE": "nothing changed after this signature",
    "LTA_UPDATES": "only long-term validation data and document time-stamps were added",
    "FORM_FILLING": "later signatures or form field values were added",
    "ANNOTATIONS": "annotations were added",
    "OTHER": "the document was changed in a way its signature does not allow",
}


@dataclass(frozen=True)
class Trust:
    """What verification trusts: anchors, and OneTrip's live revocation answers."""

    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    live_revinfo: Callable[[Iterable[x509.Certificate]], RevInfo] | None = None
    departments: Callable[[str], dict | None] | None = None  # cert serial hex -> department


def _context(
    trust: Trust,
    dss: DocumentSecurityStore | None,
    extra: RevInfo = ([], []),
    moment: datetime | None = None,
) -> ValidationContext:
    kwargs = {
        "moment": moment,
        "trust_roots": trust.roots,
        "other_certs": trust.intermediates,
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
        "ocsps": list(extra[0]),
        "crls": list(extra[1]),
    }
    if dss is not None:
        return dss.as_validation_context(kwargs)
    return ValidationContext(**kwargs)


def _name(cert: x509.Certificate) -> str:
    subject = cert.subject.native
    return subject.get("common_name") or cert.subject.human_friendly


def _path(status: SignatureStatus) -> list[str]:
    if status.validation_path is None:
        return []
    return [_name(c) for c in status.validation_path.iter_certs(include_root=True)]


def _revocation(status: SignatureStatus, source: str) -> dict:
    if status.revoked:
        details = status.revocation_details
        return {
            "status": "revoked",
            "source": source,
            "revoked_at": details.revocation_date.isoformat() if details else None,
            "reason": details.revocation_reason.native if details else None,
        }
    if status.trusted:
        return {"status": "good", "source": source}
    return {"status": "unknown", "source": source}


def _changes(status: ModificationInfo) -> dict:
    level = status.modification_level
    coverage = status.coverage
    return {
        "coverage": coverage.name.lower() if coverage is not None else None,
        "modification_level": level.name.lower() if level is not None else None,
        "description": _CHANGES.get(level.name, "unknown") if level is not None else "unknown",
        "docmdp_ok": status.docmdp_ok,
    }


def _timestamp_time(sig: EmbeddedPdfSignature) -> datetime | None:
    """genTime of the signature's time-stamp token, unverified (pyHanko verifies it)."""
    for attr in sig.signer_info["unsigned_attrs"] or ():
        if attr["type"].native == "signature_time_stamp_token":
            content = attr["values"][0]["content"]["encap_content_info"]["content"]
            return content.parsed["gen_time"].native
    return None


def _time(value) -> str | None:
    return value.isoformat() if value is not None else None


async def _check_signature(
    sig: EmbeddedPdfSignature, trust: Trust, dss: DocumentSecurityStore | None, lta_after: int
) -> dict:
    # Long-term validation happens at the signing time the TSA vouched for: certificates
    # may have expired and OCSP answers aged since, but not before that moment.
    status = await async_validate_pdf_signature(
        sig, _context(trust, dss, moment=_timestamp_time(sig))
    )
    source = "embedded"
    long_term = status.bottom_line
    if not status.trusted and not status.revoked and trust.live_revinfo is not None:
        live = trust.live_revinfo([sig.signer_cert, *sig.other_embedded_certs])
        retry = await async_validate_pdf_signature(sig, _context(trust, dss, live))
        if retry.trusted or retry.revoked:
            status, source = retry, "onetrip"
    ts = status.timestamp_validity
    timestamped = ts is not None and ts.valid and ts.intact and ts.trusted
    subfilter = sig.sig_object.get("/SubFilter")
    signed_attrs = sig.signer_info["signed_attrs"]
    has_cert_v2 = any(a["type"].native == "signing_certificate_v2" for a in signed_attrs)
    level = None
    if subfilter == "/ETSI.CAdES.detached" and has_cert_v2:
        level = "B-B"
        if timestamped:
            level = "B-T"
            if long_term:
                level = "B-LTA" if lta_after > sig.signed_revision else "B-LT"
    cert = status.signing_cert
    department = trust.departments(format(cert.serial_number, "x")) if trust.departments else None
    organisations = cert.subject.native.get("organization_name")
    if isinstance(organisations, str):
        organisations = [organisations]
    return {
        "field": sig.field_name,
        "type": "certification" if sig.docmdp_level is not None else "approval",
        "signer": _name(cert),
        "organization": organisations or [],
        "department": department,
        "certificate_serial": format(cert.serial_number, "x"),
        "signing_time": _time(status.signer_reported_dt),
        "timestamp_time": _time(ts.timestamp) if ts is not None else None,
        "timestamp_valid": timestamped if ts is not None else None,
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "trust_path": _path(status),
        "revocation": _revocation(status, source),
        "changes": _changes(status),
        "level": level,
        "ok": bool(status.bottom_line),
        "summary": status.summary(),
    }


async def _check_timestamp(sig: EmbeddedPdfSignature, trust: Trust, dss) -> dict:
    status = await async_validate_pdf_timestamp(sig, _context(trust, dss))
    return {
        "field": sig.field_name,
        "type": "document_timestamp",
        "signer": _name(status.signing_cert),
        "timestamp_time": _time(status.timestamp),
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "trust_path": _path(status),
        "revocation": _revocation(status, "embedded"),
        "changes": _changes(status),
        "ok": bool(status.intact and status.valid and status.trusted),
        "revision": sig.signed_revision,
    }


async def _verify(reader: PdfFileReader, trust: Trust) -> list[dict]:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:
        dss = None
    sigs = reader.embedded_signatures
    stamps = [s for s in sigs if s.sig_object_type == "/DocTimeStamp"]
    results = {s.field_name: await _check_timestamp(s, trust, dss) for s in stamps}
    valid_ts_revisions = [s.signed_revision for s in stamps if results[s.field_name]["ok"]]
    newest_ts = max(valid_ts_revisions, default=-1)
    for s in sigs:
        if s.sig_object_type != "/DocTimeStamp":
            results[s.field_name] = await _check_signature(s, trust, dss, newest_ts)
    return [results[s.field_name] for s in sigs]


def verify_pdf(data: bytes, trust: Trust, max_bytes: int) -> dict:
    """The report for ``data``: ``ok`` only if it has signatures and every one passes."""
    open_pdf(data, max_bytes)  # refuses non-PDFs, encrypted and corrupt files with PdfRefused
    reader = PdfFileReader(BytesIO(data), strict=False)
    signatures = asyncio.run(_verify(reader, trust))
    return {
        "sha256": sha256(data),
        "ok": bool(signatures) and all(s["ok"] for s in signatures),
        "signature_count": sum(1 for s in signatures if s["type"] != "document_timestamp"),
        "signatures": signatures,
    }
