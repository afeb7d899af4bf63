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


def add_officer(runtime, code: str, username: str) -> str:
    departments.add_member(runtime, code, add_user(runtime, username), username)
    return username


def encrypted_pdf(pdf: bytes) -> bytes:
    writer = copy_into_new_writer(PdfFileReader(BytesIO(pdf)))
    writer.encrypt("owner-secret", "user-secret")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
