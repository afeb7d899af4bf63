"""The PKCS#11 custody backend on a real SoftHSM2 token: the whole CA works, keys stay inside."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from sqlalchemy import select

from certs.authority import Authority
from certs.custody import Custody
from certs.models import CustodyKey
from certs.ocsp import responder
from config.runtime import Runtime
from config.settings import Settings

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "1234"

pytestmark = pytest.mark.skipif(
    not MODULE.exists(),
    reason=f"SoftHSM2 is not installed ({MODULE} absent; apt-get install softhsm2)",
)


@pytest.fixture(scope="module")
def token(tmp_path_factory) -> str:
    """A fresh SoftHSM2 token in a temporary directory (SOFTHSM2_CONF is read at C_Initialize)."""
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "onetrip-test",
            "--so-pin",
            "5678",
            "--pin",
            PIN,
        ],
        check=True,
        capture_output=True,
    )
    return "onetrip-test"


def _on_token(runtime, token: str, **overrides) -> Settings:
    """The runtime's settings with keys in the SoftHSM2 ``token``."""
    return dataclasses.replace(
        runtime.settings,
        key_backend="pkcs11",
        pkcs11_module=str(MODULE),
        pkcs11_token_label=token,
        pkcs11_pin=PIN,
        **overrides,
    )


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_ca_on_softhsm_issues_verifiable_certificates_without_exporting_keys(
    runtime, token, algorithm
):
    settings = _on_token(runtime, token, key_algorithm=algorithm)
    ca = Authority(Runtime(settings))
    roles = ca.ensure()
    issued = ca.issue_for_custody_key("department", "CN=Seal,2.5.4.97=NTRCN-1131000011,O=税务局")
    # the chain verifies: each certificate under its issuer's token-held key
    issued.certificate.verify_directly_issued_by(roles["ca"].certificate)
    roles["ca"].certificate.verify_directly_issued_by(roles["root"].certificate)
    with ca.db.read() as session:
        rows = session.execute(select(CustodyKey)).scalars().all()
    assert {r.backend for r in rows} == {"pkcs11"}
    assert all(r.pkcs8 is None for r in rows)
    signature = ca.custody.sign(issued.key_label, b"payload", "sha384")
    public = issued.certificate.public_key()
    if algorithm == "ec-p256":
        public.verify(signature, b"payload", ec.ECDSA(hashes.SHA384()))
    else:
        public.verify(signature, b"payload", padding.PKCS1v15(), hashes.SHA384())
    assert responder(ca).response_for(issued.certificate)

    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    lib = pkcs11.lib(str(MODULE))
    # login is per application: this session shares the custody session's login
    with lib.get_token(token_label=token).open() as session:
        key = session.get_key(ObjectClass.PRIVATE_KEY, label=issued.key_label)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_token_key_signs_a_precomputed_digest_that_verifies_over_the_data(
    runtime, token, signs_digests, algorithm
):
    signs_digests(Custody(_on_token(runtime, token), runtime.db), runtime, algorithm)
