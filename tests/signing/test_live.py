"""Against a real ``onetrip serve``: pyHanko's own CSCSigner, and pdfsig asking OCSP online."""

from __future__ import annotations

import asyncio
import subprocess
from io import BytesIO

import aiohttp
import pytest
import requests
from asn1crypto import pem, x509
from pades_checks import add_officer, validate
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko_certvalidator import ValidationContext

from config.runtime import Runtime
from config.settings import load_settings
from idp.tokens import mint_access_token
from signing import departments, service
from signing.engine import LEVELS
from signing.pdfs import make_pdf


@pytest.fixture
def onetrip(live_server):
    """A live server with department PSB, officer li.wei, and a sign-scoped token for him.

    Set up in-process against the server's own database (the CLI has its own tests)."""
    runtime = Runtime(load_settings(environ=live_server.env))
    departments.create(runtime, "PSB", "上海市公安局", "Shanghai Public Security Bureau")
    add_officer(runtime, "PSB", "li.wei")
    live_server.runtime = runtime
    live_server.token = mint_access_token(runtime, ["sign"], username="li.wei")
    yield live_server
    runtime.db.dispose()


class _Authorize(CSCAuthorizationManager):
    """Asks OneTrip's credentials/authorize for SAD bound to the hashes about to be signed."""

    def __init__(self, session, info, credential):
        super().__init__(info, credential)
        self.session = session

    async def authorize_signature(self, hash_b64s):
        body = self.format_csc_auth_request(hash_b64s=hash_b64s)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self.session.post(url, json=body, headers=self.auth_headers) as response:
            response.raise_for_status()
            return self.parse_csc_auth_response(await response.json())


def test_pyhanko_csc_signer_signs_with_a_department_credential(onetrip, tmp_path):
    async def sign() -> bytes:
        async with aiohttp.ClientSession() as session:
            listed = await session.post(
                f"{onetrip.url}/csc/v1/credentials/list",
                json={},
                headers={"Authorization": f"Bearer {onetrip.token}"},
            )
            assert (await listed.json())["credentialIDs"] == ["PSB"]
            info = CSCServiceSessionInfo(onetrip.url, "PSB", oauth_token=onetrip.token)
            credential = await fetch_certs_in_csc_credential(session, info)
            signer = CSCSigner(session, _Authorize(session, info, credential))
            meta = signers.PdfSignatureMetadata(
                field_name="Remote", subfilter=fields.SigSeedSubFilter.PADES
            )
            writer = IncrementalPdfFileWriter(BytesIO(make_pdf(1)))
            out = await signers.PdfSigner(meta, signer).async_sign_pdf(writer)
            return out.getvalue()

    signed = asyncio.run(sign())
    root = requests.get(f"{onetrip.url}/pki/root.cer", timeout=10).content
    report = requests.post(
        f"{onetrip.url}/api/v1/verify", files={"file": ("s.pdf", signed)}, timeout=30
    ).json()
    assert report["ok"], report
    assert report["signatures"][0]["department"]["code"] == "PSB"
    assert report["signatures"][0]["level"] == "B-B"
    anchor = x509.Certificate.load(pem.unarmor(root)[2] if pem.detect(root) else root)
    # pyHanko fetches OCSP and CRLs over HTTP from the URLs in OneTrip's certificates.
    [status] = validate(
        signed,
        lambda _reader: ValidationContext(
            trust_roots=[anchor], allow_fetching=True, revocation_mode="hard-fail"
        ),
    )
    assert status.bottom_line, status.summary()


def test_pdfsig_trusts_every_level_after_asking_onetrip_ocsp(onetrip, tmp_path):
    root = tmp_path / "root.cer"
    root.write_bytes(requests.get(f"{onetrip.url}/pki/root.cer", timeout=10).content)
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    armour = ["-a"] if root.read_bytes().startswith(b"-----") else []
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{nss}",
            "-n",
            "root",
            "-t",
            "CT,C,C",
            *armour,
            "-i",
            str(root),
        ],
        check=True,
    )
    for level in LEVELS:
        signed, _ = service.sign(onetrip.runtime, make_pdf(2), "PSB", level=level, stamp=True)
        file = tmp_path / f"{level}.pdf"
        file.write_bytes(signed)
        out = subprocess.run(
            ["pdfsig", "-nssdir", f"sql:{nss}", str(file)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        first = out.split("Signature #2")[0]
        assert "Signature Validation: Signature is Valid." in first, (level, out)
        assert "Certificate Validation: Certificate is Trusted." in first, (level, out)
