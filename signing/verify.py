"""Verification of every signature in a PDF, for anyone: the report behind CLI, API and page.

The verdict is ETSI EN 319 102-1's, computed by pyHanko's AdES validation
(:mod:`pyhanko.sign.validation.ades`), offline, with the process the signature's form calls
for: long-term validation (5.6) when a document time-stamp follows it, validation with
time (5.5) when it carries a signature time-stamp, basic validation (5.3) otherwise. The
validator knows the trust anchors (OneTrip's roots and the operator's), what the PDF
embeds (CMS certificates, the DSS) and OneTrip's own answers of this moment for the
certificates it issued; nothing is fetched.

What this module adds to pyHanko's verdict, and why:

- the certificate's status now, from OneTrip's CA: a seal revoked after signing is shown
  revoked, with time and reason, beside "valid at signing time" (the proof of existence
  precedes the revocation, so EN 319 102-1 passes the signature);
- the invalidityDate of a revocation (``onetrip ca revoke --compromised-at``): pyHanko
  knows only the revocation time, so a signature whose proof of existence is not earlier
  than the compromise is failed here (TOTAL-FAILED/REVOKED);
- changes made after signing that the signature does not allow (pyHanko's difference
  analysis) turn a pass into INDETERMINATE/SIG_CONSTRAINTS_FAILURE;
- the PAdES baseline level reached, the revocation data relevant to the path with its
  thisUpdate, and an ETSI TS 119 102-2 XML report (pyHanko's) for auditors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESStatus
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    ades,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from signing.pdfs import PARSE_ERRORS, PdfRefused, open_pdf, reader_for, sha256

#: Revocation material for some certificates: (OCSP responses DER, CRLs DER).
RevInfo = tuple[list[bytes], list[bytes]]

# pyHanko and its certificate validator log every failed path and fetch attempt with a
# traceback; the report carries the verdict, so those logs are only noise (issue 14).
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

_CHANGES = {
    "NONE": "nothing changed after this signature",
    "LTA_UPDATES": "only long-term validation data and document time-stamps were added",
    "FORM_FILLING": "later signatures or form field values were added",
    "ANNOTATIONS": "annotations were added",
    "OTHER": "the document was changed in a way its signature does not allow",
}
_INDICATIONS = {
    AdESStatus.PASSED: "TOTAL-PASSED",
    AdESStatus.INDETERMINATE: "INDETERMINATE",
    AdESStatus.FAILED: "TOTAL-FAILED",
}
_REVOKED_OK = RevocationCheckingRule.CHECK_IF_DECLARED


@dataclass(frozen=True)
class Trust:
    """What verification trusts and knows: anchors, OneTrip's answers of this moment."""

    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    live_revinfo: Callable[[Iterable[x509.Certificate]], RevInfo] | None = None
    departments: Callable[[str], dict | None] | None = None  # cert serial hex -> department
    status: Callable[[x509.Certificate], dict | None] | None = None  # OneTrip's status now


def _spec(trust: Trust, knowledge: LocalKnowledge) -> SignatureValidationSpec:
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=trust.roots),
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy(
                ee_certificate_rule=_REVOKED_OK, intermediate_ca_cert_rule=_REVOKED_OK
            )
        ),
    )
    return SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
        ),
        local_knowledge=knowledge,
    )


def _containers(ocsps: Iterable[bytes], crls: Iterable[bytes]):
    found_ocsps = [
        c for der in ocsps for c in OCSPContainer.load_multi(asn1_ocsp.OCSPResponse.load(der))
    ]
    return found_ocsps, [CRLContainer(asn1_crl.CertificateList.load(der)) for der in crls]


def _dss(reader: PdfFileReader) -> tuple[list[bytes], list[bytes], list[x509.Certificate]]:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return [], [], []
    ocsps = [r.get_object().data for r in dss.ocsps]
    crls = [c.get_object().data for c in dss.crls]
    return ocsps, crls, list(dss.load_certs())


def _name(cert: x509.Certificate) -> str:
    subject = cert.subject.native
    return subject.get("common_name") or cert.subject.human_friendly


def _time(value) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _modification_level(integrity: dict):
    """pyHanko's difference analysis verdict; a failed analysis counts as OTHER."""
    diff = integrity.get("diff_result")
    if diff is None:
        return None
    return getattr(diff, "modification_level", ModificationLevel.OTHER)


def _changes(integrity: dict) -> dict:
    """What pyHanko's difference analysis says changed after a signature."""
    level = _modification_level(integrity)
    coverage = integrity.get("coverage")
    return {
        "coverage": coverage.name.lower() if coverage is not None else None,
        "modification_level": level.name.lower() if level is not None else None,
        "description": _CHANGES.get(level.name, "unknown") if level is not None else "unknown",
        "docmdp_ok": integrity.get("docmdp_ok"),
    }


def _revocation_data(
    path: list[x509.Certificate], ocsps: list[tuple[str, OCSPContainer]], crls
) -> list[dict]:
    """The OCSP answers and CRLs that speak about a certificate of the path."""
    used = []
    by_serial = {c.serial_number: c for c in path}
    for source, container in ocsps:
        single = container.extract_single_response()
        if single is None:
            continue
        cert = by_serial.get(single["cert_id"]["serial_number"].native)
        if cert is None:
            continue
        status = single["cert_status"].name
        used.append(
            {
                "kind": "OCSP",
                "about": _name(cert),
                "source": source,
                "status": "good" if status == "good" else status,
                "this_update": _time(single["this_update"].native),
                "next_update": _time(single["next_update"].native),
            }
        )
    issuers = {c.issuer.dump(): c for c in path}
    for source, container in crls:
        tbs = container.crl_data["tbs_cert_list"]
        about = issuers.get(tbs["issuer"].dump())
        if about is None:
            continue
        used.append(
            {
                "kind": "CRL",
                "about": _name(about),
                "source": source,
                "status": "good",
                "this_update": _time(tbs["this_update"].native),
                "next_update": _time(tbs["next_update"].native),
            }
        )
    return used


def _level(sig: EmbeddedPdfSignature, timestamped: bool, ltv: bool, lta: bool) -> str | None:
    subfilter = sig.sig_object.get("/SubFilter")
    attrs = sig.signer_info["signed_attrs"]
    has_cert_v2 = any(a["type"].native == "signing_certificate_v2" for a in attrs)
    if subfilter != "/ETSI.CAdES.detached" or not has_cert_v2:
        return None
    if not timestamped:
        return "B-B"
    if not ltv:
        return "B-T"
    return "B-LTA" if lta else "B-LT"


def _has_ltv(sig: EmbeddedPdfSignature, dss_ocsps, dss_crls) -> bool:
    """Whether the DSS speaks about the signer's certificate (PAdES B-LT, EN 319 142-1)."""
    serial, issuer = sig.signer_cert.serial_number, sig.signer_cert.issuer.dump()
    for _, container in dss_ocsps:
        single = container.extract_single_response()
        if single is not None and single["cert_id"]["serial_number"].native == serial:
            return True
    return any(c.crl_data["tbs_cert_list"]["issuer"].dump() == issuer for _, c in dss_crls)


@dataclass
class _Knowledge:
    """Everything the validator may know: embedded data and OneTrip's answers of now."""

    ocsps: list[tuple[str, OCSPContainer]]
    crls: list[tuple[str, CRLContainer]]
    certs: list[x509.Certificate]

    def local(self) -> LocalKnowledge:
        return LocalKnowledge(
            known_ocsps=[c for _, c in self.ocsps],
            known_crls=[c for _, c in self.crls],
            known_certs=self.certs,
        )


def _knowledge(reader: PdfFileReader, trust: Trust) -> tuple[_Knowledge, _Knowledge]:
    """(embedded only, embedded plus OneTrip's current answers)."""
    ocsps, crls, certs = _dss(reader)
    dss_ocsps, dss_crls = _containers(ocsps, crls)
    embedded = _Knowledge(
        [("embedded", c) for c in dss_ocsps],
        [("embedded", c) for c in dss_crls],
        [*certs, *trust.intermediates],
    )
    live_ocsps: list = []
    live_crls: list = []
    if trust.live_revinfo is not None:
        signers = [s.signer_cert for s in reader.embedded_signatures]
        extra = [c for s in reader.embedded_signatures for c in s.other_embedded_certs]
        live_ocsps, live_crls = _containers(*trust.live_revinfo([*signers, *extra]))
    combined = _Knowledge(
        embedded.ocsps + [("onetrip", c) for c in live_ocsps],
        embedded.crls + [("onetrip", c) for c in live_crls],
        embedded.certs,
    )
    return embedded, combined


def _best_time(result) -> datetime | None:
    return getattr(result, "best_signature_time", None)


def _verdict(result, integrity: dict, now_status: dict | None):
    """(indication, sub-indication, explanation) after OneTrip's own checks."""
    sub = result.ades_subindic
    indication, sub_name = _INDICATIONS[sub.status], sub.standard_name
    explanation = result.failure_msg
    if indication == "TOTAL-PASSED":
        sub_name, explanation = None, None
        level = _modification_level(integrity)
        if integrity.get("docmdp_ok") is False or (level is not None and level.name == "OTHER"):
            indication, sub_name = "INDETERMINATE", AdESIndeterminate.SIG_CONSTRAINTS_FAILURE.name
            explanation = "the document was changed after signing in a way it does not allow"
    compromised = (now_status or {}).get("compromised_at")
    if compromised is not None and indication != "TOTAL-FAILED":
        proof = _best_time(result) or datetime.now(UTC)
        if proof >= datetime.fromisoformat(compromised):
            indication, sub_name = "TOTAL-FAILED", AdESFailure.REVOKED.name
            explanation = (
                "the signing key was compromised at "
                f"{compromised}, and nothing proves the signature existed before that"
            )
    return indication, sub_name, explanation


async def _check_signature(
    sig: EmbeddedPdfSignature,
    trust: Trust,
    embedded: _Knowledge,
    known: _Knowledge,
    lta: bool,
) -> tuple[dict, object]:
    sig.compute_integrity_info()
    integrity = sig.summarise_integrity_info()
    spec = _spec(trust, known.local())
    timing = ValidationTimingInfo.now()
    ts_present = any(
        a["type"].native == "signature_time_stamp_token"
        for a in sig.signer_info["unsigned_attrs"] or ()
    )
    if lta:
        process = "long-term"
        result = await ades.ades_lta_validation(sig, PdfSignatureValidationSpec(spec), timing)
    else:
        arguments = {
            "signed_data": sig.signed_data,
            "validation_spec": spec,
            "timing_info": timing,
            "raw_digest": sig.compute_digest(),
        }
        if ts_present:
            process = "with-time"
            result = await ades.ades_with_time_validation(**arguments)
        else:
            process = "basic"
            result = await ades.ades_basic_validation(**arguments)
    status = result.api_status
    cert = sig.signer_cert
    serial = format(cert.serial_number, "x")
    now_status = trust.status(cert) if trust.status is not None else None
    indication, sub_name, explanation = _verdict(result, integrity, now_status)
    ts = status.timestamp_validity if status is not None else None
    timestamped = ts is not None and ts.valid and ts.intact and ts.trusted
    path = []
    if status is not None and status.validation_path is not None:
        path = list(status.validation_path.iter_certs(include_root=True))
    revocation_data = _revocation_data(path or [cert], known.ocsps, known.crls)
    best = _best_time(result)
    claimed = status.signer_reported_dt if status is not None else None
    passed = indication == "TOTAL-PASSED"
    organisations = cert.subject.native.get("organization_name")
    if isinstance(organisations, str):
        organisations = [organisations]
    department = trust.departments(serial) if trust.departments else None
    if ts_present and timestamped:
        proof = "signature time-stamp" if not lta else "signature and archive time-stamps"
    elif lta:
        proof = "archive time-stamp"
    else:
        proof = None
    report = {
        "field": sig.field_name,
        "type": "certification" if sig.docmdp_level is not None else "approval",
        "signer": _name(cert),
        "organization": organisations or [],
        "department": department,
        "certificate_serial": serial,
        "indication": indication,
        "sub_indication": sub_name,
        "explanation": explanation,
        "validation_process": process,
        "signing_time": _time(claimed),
        "signing_time_proof": {
            "proven_before": _time(best) if proof else None,
            "by": proof,
        },
        "timestamp_time": _time(ts.timestamp) if ts is not None else None,
        "timestamp_valid": timestamped if ts is not None else None,
        "intact": bool(status and status.intact),
        "valid": bool(status and status.valid),
        "trusted": passed or bool(status and status.trusted),
        "trust_path": [_name(c) for c in path],
        "revocation_data": revocation_data,
        "status_now": now_status,
        "valid_at_signing_time": passed,
        "revocation": _revocation_summary(now_status, passed, revocation_data),
        "changes": _changes(integrity),
        "level": _level(sig, timestamped, _has_ltv(sig, embedded.ocsps, embedded.crls), lta),
        "ok": passed,
    }
    return report, result


def _revocation_summary(now_status: dict | None, passed: bool, data: list[dict]) -> dict:
    """The short form: the status now if OneTrip knows it, else what the data says."""
    if now_status is not None:
        summary = {"status": now_status["state"], "source": "onetrip"}
        if now_status["state"] == "revoked":
            summary |= {k: now_status[k] for k in ("revoked_at", "reason", "compromised_at")}
        return summary
    revoked = [d for d in data if d["status"] == "revoked"]
    if revoked:
        return {"status": "revoked", "source": revoked[0]["source"]}
    return {"status": "good" if passed else "unknown", "source": "embedded"}


async def _check_timestamp(sig: EmbeddedPdfSignature, trust: Trust, known: _Knowledge) -> dict:
    ocsps = [c.ocsp_response_data for _, c in known.ocsps]
    context = ValidationContext(
        trust_roots=trust.roots,
        other_certs=known.certs,
        ocsps=ocsps,
        crls=[c.crl_data for _, c in known.crls],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )
    status = await async_validate_pdf_timestamp(sig, context)
    ok = bool(status.intact and status.valid and status.trusted)
    path = []
    if status.validation_path is not None:
        path = [_name(c) for c in status.validation_path.iter_certs(include_root=True)]
    return {
        "field": sig.field_name,
        "type": "document_timestamp",
        "signer": _name(status.signing_cert),
        "timestamp_time": _time(status.timestamp),
        "indication": "TOTAL-PASSED" if ok else "INDETERMINATE",
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "trust_path": path,
        "changes": _changes(sig.summarise_integrity_info()),
        "ok": ok,
        "revision": sig.signed_revision,
    }


def _check_byte_range(sig: EmbeddedPdfSignature, size: int) -> None:
    """Refuse a signature whose /ByteRange is not two ranges inside the file around its
    /Contents (ISO 32000-1 12.8.1): it is malformed, not merely a failing signature."""
    byte_range = [int(v) for v in sig.byte_range]
    ok = len(byte_range) == 4 and all(v >= 0 for v in byte_range)
    if ok:
        start1, len1, start2, len2 = byte_range
        ok = start1 == 0 and len1 < start2 and start2 + len2 <= size
    if not ok:
        raise PdfRefused(
            "corrupt_pdf",
            f"the /ByteRange of signature {sig.field_name} is not two ranges inside the file",
        )


async def _verify(reader: PdfFileReader, trust: Trust) -> tuple[list[dict], list]:
    embedded, known = _knowledge(reader, trust)
    sigs = reader.embedded_signatures
    size = len(reader.stream.getbuffer())
    for sig in sigs:
        _check_byte_range(sig, size)
    stamps = [s for s in sigs if s.sig_object_type == "/DocTimeStamp"]
    results = {s.field_name: await _check_timestamp(s, trust, known) for s in stamps}
    valid_ts = [s.signed_revision for s in stamps if results[s.field_name]["ok"]]
    newest_ts = max(valid_ts, default=-1)
    ades_results = []
    for s in sigs:
        if s.sig_object_type != "/DocTimeStamp":
            report, result = await _check_signature(
                s, trust, embedded, known, newest_ts > s.signed_revision
            )
            results[s.field_name] = report
            ades_results.append((s, result))
    return [results[s.field_name] for s in sigs], ades_results


def _read(data: bytes, max_bytes: int, limits) -> PdfFileReader:
    open_pdf(data, max_bytes, limits)  # refuses non-PDFs, encrypted and corrupt files
    return reader_for(data)


def verify_pdf(data: bytes, trust: Trust, max_bytes: int, limits=None) -> dict:
    """The report for ``data``: ``ok`` only if it has signatures and every one passes."""
    reader = _read(data, max_bytes, limits)
    signatures, _ = _run(reader, trust)
    return {
        "sha256": sha256(data),
        "ok": bool(signatures) and all(s["ok"] for s in signatures),
        "signature_count": sum(1 for s in signatures if s["type"] != "document_timestamp"),
        "validated_at": datetime.now(UTC).isoformat(),
        "signatures": signatures,
    }


def _run(reader: PdfFileReader, trust: Trust):
    try:
        return asyncio.run(_verify(reader, trust))
    except PdfRefused:
        raise
    except PARSE_ERRORS as exc:
        # A signature dictionary pyHanko cannot make sense of (bad /ByteRange, /Contents).
        raise PdfRefused("corrupt_pdf", f"a signature in the PDF cannot be read: {exc}") from None


_VR = "http://uri.etsi.org/19102/v1.2.1#"


def etsi_report(data: bytes, trust: Trust, max_bytes: int, limits=None) -> str:
    """The ETSI TS 119 102-2 validation report (XML) of every signature, from pyHanko's
    report generator: one SignatureValidationReport each, validation objects merged."""
    from pyhanko.sign.validation.report.tools import NAMESPACES, generate_report

    reader = _read(data, max_bytes, limits)
    _, results = _run(reader, trust)
    for prefix, uri in NAMESPACES.items():
        ElementTree.register_namespace(prefix, uri)
    merged = ElementTree.Element(f"{{{_VR}}}ValidationReport")
    objects = ElementTree.Element(f"{{{_VR}}}SignatureValidationObjects")
    seen: set[str] = set()
    for sig, result in results:
        if result.api_status is None:
            continue
        # pyHanko generated this XML in this process: not untrusted input.
        tree = ElementTree.fromstring(generate_report(sig, result))  # noqa: S314
        merged.extend(tree.findall(f"{{{_VR}}}SignatureValidationReport"))
        for vo in tree.iterfind(f"{{{_VR}}}SignatureValidationObjects/{{{_VR}}}ValidationObject"):
            if vo.get("id") not in seen:
                seen.add(vo.get("id"))
                objects.append(vo)
    merged.append(objects)
    return ElementTree.tostring(merged, encoding="unicode", xml_declaration=True)
