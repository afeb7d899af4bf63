"""Checks of signed PDFs with independent tools: pyHanko's validator and poppler's pdfsig."""

from __future__ import annotations

import asyncio
import subprocess
from io import BytesIO
from pathlib import Path

from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko_certvalidator import ValidationContext

from idp.passwords import Passwords
from idp.users import create_user
from signing import departments
from signing.authority import ca_authority

PASSWORD = "correct horse battery staple"


def embedded_only_context(reader: PdfFileReader, root: x509.Certificate) -> ValidationContext:
    """What a verifier years from now has: the root, and only what the PDF embeds."""
    return DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )


def live_context(runtime, reader: PdfFileReader, root) -> ValidationContext:
    """The root plus OneTrip's current OCSP answers and CRLs (for B-B and B-T)."""
    sig = reader.embedded_signatures[0]
    ca = ca_authority(runtime)
    ocsps, crls = ca.live_revinfo([sig.signer_cert])
    return ValidationContext(
        trust_roots=[root],
        other_certs=ca.tsa_chain(),
        ocsps=ocsps,
        crls=crls,
        allow_fetching=False,
        revocation_mode="hard-fail",
    )


def validate(data: bytes, context_for):
    """pyHanko's verdict on every signature and document time-stamp of ``data``."""
    reader = PdfFileReader(BytesIO(data))

    async def run():
        results = []
        for sig in reader.embedded_signatures:
            context = context_for(reader)
            if sig.sig_object_type == "/DocTimeStamp":
                results.append(await async_validate_pdf_timestamp(sig, context))
            else:
                results.append(await async_validate_pdf_signature(sig, context))
        return results

    return asyncio.run(run())


def pdfsig(data: bytes, tmp_path: Path, nssdir: str | None = None) -> str:
    """pdfsig's report. With ``nssdir`` (trusting OneTrip's root) it also checks the chain,
    asking OneTrip's OCSP responder online, so that needs a live server at the issuer URL;
    without, it checks signatures and coverage only (``-nocert``)."""
    file = tmp_path / "checked.pdf"
    file.write_bytes(data)
    args = ["-nssdir", nssdir] if nssdir else ["-nocert"]
    result = subprocess.run(
        ["pdfsig", *args, str(file)], capture_output=True, text=True, timeout=60
    )
    return result.stdout


def add_user(runtime, username: str) -> int:
    """A citizen account; its user id."""
    with runtime.db.write() as session:
        return create_user(
            session,
            Passwords(runtime.settings),
            username,
            name=username,
            email=f"{username}@example.org",
            password=PASSWORD,
        ).id


def caller(runtime, username: str):
    """The signing Caller for ``username``, as the API builds it from an access token."""
    from idp.users import find_user
    from signing.routes import Caller

    with runtime.db.read() as session:
        return Caller(find_user(session, username).id, username)


def add_officer(runtime, code: str, username: str) -> str:
    departments.add_member(runtime, code, add_user(runtime, username), username)
    return username


def encrypted_pdf(pdf: bytes) -> bytes:
    writer = copy_into_new_writer(PdfFileReader(BytesIO(pdf)))
    writer.encrypt("owner-secret", "user-secret")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- EN 319 102-1 validation with pyHanko's AdES module, offline ---------------------------


def ades_spec(root: x509.Certificate, ocsps=(), crls=(), certs=()):
    """pyHanko's AdES validation settings: ``root`` trusted, nothing fetched, revocation
    checked wherever a certificate points to it, plus the given OCSP/CRL DER (if any)."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp
    from pyhanko.sign.validation.policy_decl import (
        LocalKnowledge,
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )
    from pyhanko_certvalidator.registry import SimpleTrustManager
    from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

    rule = RevocationCheckingRule.CHECK_IF_DECLARED
    knowledge = LocalKnowledge(
        known_ocsps=[
            c for d in ocsps for c in OCSPContainer.load_multi(asn1_ocsp.OCSPResponse.load(d))
        ],
        known_crls=[CRLContainer(asn1_crl.CertificateList.load(d)) for d in crls],
        known_certs=list(certs),
    )
    spec = SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[root]),
            revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule)),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
        ),
        local_knowledge=knowledge,
    )
    return PdfSignatureValidationSpec(spec)


def dss_contents(reader: PdfFileReader) -> tuple[list[bytes], list[bytes], list]:
    """The DSS's OCSP responses, CRLs (DER) and certificates: what a PDF carries for LTV."""
    dss = DocumentSecurityStore.read_dss(reader)
    return (
        [r.get_object().data for r in dss.ocsps],
        [c.get_object().data for c in dss.crls],
        list(dss.load_certs()),
    )


def ades(data: bytes, root: x509.Certificate, *, at=None, live=None):
    """pyHanko's EN 319 102-1 verdict on the first signature of ``data``, with the process
    its form calls for: LTA validation for B-LTA, validation with time for B-T and B-LT,
    basic validation for B-B. ``at`` validates at a later, simulated time: for a PDF with
    long-term data (a DSS), pyHanko's simulate_future_ades_lta_validation (the verdict
    then, archive time-stamps being renewed meanwhile); else a timing at that moment.
    ``live`` adds revocation data (OCSP DER, CRL DER) from outside the PDF."""
    from pyhanko.sign.validation import ades as pyhanko_ades
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo

    reader = PdfFileReader(BytesIO(data))
    sig = reader.embedded_regular_signatures[0]
    lta = any(t.signed_revision > sig.signed_revision for t in reader.embedded_timestamp_signatures)
    try:
        ocsps, crls, certs = dss_contents(reader)
        has_dss = True
    except Exception:  # no DSS: B-B, B-T
        ocsps, crls, certs, has_dss = [], [], [], False
    if live:
        ocsps, crls = [*ocsps, *live[0]], [*crls, *live[1]]
    spec = ades_spec(root, ocsps, crls, certs)
    timed = any(
        a["type"].native == "signature_time_stamp_token"
        for a in sig.signer_info["unsigned_attrs"] or ()
    )

    async def run():
        if at is not None and has_dss:
            return await pyhanko_ades.simulate_future_ades_lta_validation(sig, spec, at)
        if lta:
            return await pyhanko_ades.ades_lta_validation(sig, spec)
        timing = None if at is None else ValidationTimingInfo(at, at, True)
        check = (
            pyhanko_ades.ades_with_time_validation if timed else pyhanko_ades.ades_basic_validation
        )
        return await check(
            sig.signed_data,
            spec.signature_validation_spec,
            timing_info=timing,
            raw_digest=sig.compute_digest(),
        )

    return asyncio.run(run())


def _load_oscrypto() -> None:
    """Load oscrypto (endesive's crypto, through certvalidator) on this OpenSSL.

    oscrypto 1.3.0, the newest on PyPI, reads the library's version with the pattern
    ``\\d\\.\\d\\.\\d`` and so fails on any two-digit patch release (OpenSSL 3.0.22 here:
    "Error detecting the version of libcrypto", oscrypto issue 78, fixed upstream but not
    released). The pattern is widened for that one import; nothing else changes.
    """
    import re

    real = re.search
    narrow = "\\b(\\d\\.\\d\\.\\d[a-z]*)\\b"

    def search(pattern, string, flags=0):
        if pattern == narrow:
            pattern = "\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b"
        return real(pattern, string, flags)

    re.search = search
    try:
        import oscrypto.asymmetric  # noqa: F401
    finally:
        re.search = real


def endesive_results(data: bytes, root: x509.Certificate) -> list:
    """endesive's verdict on every signature: hash, signature and certificate checks."""
    _load_oscrypto()
    from endesive.pdf.verify import PDFVerifier

    return PDFVerifier(data, [root.dump()]).verify_all_signatures()


def render_last_page(data: bytes, tmp_path: Path, name: str, dpi: int):
    """The document's last page as pdftoppm renders it (grey levels)."""
    from PIL import Image

    (tmp_path / f"{name}.pdf").write_bytes(data)
    pages = int(PdfFileReader(BytesIO(data), strict=False).root["/Pages"]["/Count"])
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", "-f", str(pages), "-l", str(pages),
         str(tmp_path / f"{name}.pdf"), str(tmp_path / name)],
        check=True, timeout=60,
    )  # fmt: skip
    return Image.open(tmp_path / f"{name}.png").convert("L")


def changed_pixels(before: bytes, after: bytes, tmp_path: Path, dpi: int, foot: float = 1.0):
    """(bounding box of the pixels that differ on the last page, rendered page size);
    ``foot`` < 1 looks only at that lower fraction of the page."""
    from PIL import ImageChops

    old = render_last_page(before, tmp_path, "before", dpi)
    new = render_last_page(after, tmp_path, "after", dpi)
    assert old.size == new.size
    changed = ImageChops.difference(old, new).point(lambda p: 255 if p > 40 else 0)
    top = int(new.size[1] * (1 - foot))
    changed.paste(0, (0, 0, new.size[0], top))
    return changed.getbbox(), new.size


def cli_env(runtime) -> dict:
    """The environment in which ``onetrip`` commands use ``runtime``'s data, database and
    Redis (and no settings file)."""
    settings = runtime.settings
    return {
        "ONETRIP_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "ONETRIP_ISSUER": settings.issuer,
        "ONETRIP_CONFIG": "",
    }
