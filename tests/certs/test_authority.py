"""The CA's service API: hierarchy, profiles, revocation, CRL, OCSP and TSA, checked with
OpenSSL and pyHanko's certificate validator."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

import pytest
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from sqlalchemy import select

from certs.authority import Authority, authority
from certs.models import AuthorityRole, Crl, CustodyKey
from certs.ocsp import responder
from certs.profiles import department_subject
from certs.tsa import time_stamp_authority
from config.runtime import Runtime


def test_hierarchy_roles_carry_their_profiles(ca):
    root, issuing, ocsp, tsa = (
        ca.root.certificate,
        ca.ca.certificate,
        ca.ocsp.certificate,
        ca.tsa.certificate,
    )
    assert root.issuer == root.subject
    assert issuing.issuer == root.subject
    assert ocsp.issuer == tsa.issuer == issuing.subject
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    eku = ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in eku
    assert ocsp.extensions.get_extension_for_oid(ExtensionOID.OCSP_NO_CHECK)
    tsa_eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_eku.critical
    assert list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_root_signs_only_the_issuing_ca(ca):
    signed_by_root = [
        c
        for c in ca.certificates()
        if c["role"] != "root"
        and c["serial"]
        and x509.load_der_x509_certificate(_der(ca, c["serial"])).issuer
        == ca.root.certificate.subject
    ]
    assert [c["role"] for c in signed_by_root] == ["ca"]


def _der(ca: Authority, serial: str) -> bytes:
    from certs.models import Certificate

    with ca.db.read() as session:
        return session.get(Certificate, serial).der


def test_ensure_is_idempotent_within_and_across_processes(runtime, settings):
    code = (
        "from config.settings import load_settings; from config.runtime import Runtime; "
        "from certs.authority import authority; "
        f"rt = Runtime(load_settings(environ={{}}, data_dir={str(settings.data_dir)!r}, "
        f"database_url={settings.database_url!r}, redis_url={settings.redis_url!r})); "
        "print(authority(rt).ensure()['root'].serial)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    serials = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(serials) == 1
    assert authority(runtime).ensure()["root"].serial in serials
    with runtime.db.read() as session:
        assert len(session.execute(select(AuthorityRole)).all()) == 4
        assert len(session.execute(select(CustodyKey)).all()) == 4


def test_department_certificate_names_one_organisation_and_points_at_the_pki(ca, pki, openssl, pem):
    subject = department_subject("市场监督管理局", "NTRCN-11310000MB2F33415H")
    issued = ca.issue_for_custody_key("department", subject, "dept-msa")
    cert = issued.certificate
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    ids = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)]
    assert orgs == ["市场监督管理局"]
    assert ids == ["NTRCN-11310000MB2F33415H"]
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_cert_sign
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name[0].value == "http://127.0.0.1:8000/pki/ca.crl"
    aia = {
        a.access_method._name: a.access_location.value
        for a in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    }
    assert aia == {
        "OCSP": "http://127.0.0.1:8000/pki/ocsp",
        "caIssuers": "http://127.0.0.1:8000/pki/ca.cer",
    }
    (pki / "ee.pem").write_bytes(pem(cert))
    assert (
        b"ee.pem: OK"
        in openssl(
            "verify",
            "-x509_strict",
            "-CAfile",
            str(pki / "root.pem"),
            "-untrusted",
            str(pki / "ca.pem"),
            str(pki / "ee.pem"),
        ).stdout
    )
    # the key stays in custody and signs for the certificate
    signature = ca.custody.sign("dept-msa", b"document digest input", "sha256")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    cert.public_key().verify(signature, b"document digest input", ec.ECDSA(hashes.SHA256()))


def test_pyhanko_validator_builds_and_validates_the_path(ca):
    issued = ca.issue_for_custody_key("citizen", "CN=Zhang San")

    def as_asn1(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    context = ValidationContext(
        trust_roots=[as_asn1(ca.root.certificate)], other_certs=[as_asn1(ca.ca.certificate)]
    )
    validator = CertificateValidator(as_asn1(issued.certificate), validation_context=context)
    path = asyncio.run(validator.async_validate_usage({"digital_signature", "non_repudiation"}))
    assert len(path) == 3


def test_citizen_certificates_are_short_lived(ca):
    cert = ca.issue_for_custody_key("citizen", "CN=Short").certificate
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=7, minutes=1)


def test_revoked_certificate_is_in_the_crl_with_its_reason(ca, pki, openssl, pem):
    issued = ca.issue_for_custody_key("citizen", "CN=To Revoke")
    before = (
        x509.load_der_x509_crl(ca.crl_der())
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
    )
    ca.revoke(issued.serial, "keyCompromise")
    (pki / "ca.crl").write_bytes(ca.crl_der())
    text = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        str(pki / "ca.crl"),
        "-text",
        "-noout",
        "-CAfile",
        str(pki / "chain.pem"),
    )
    assert issued.serial.upper().encode() in text.stdout.replace(b":", b"")
    assert b"Key Compromise" in text.stdout
    assert b"verify OK" in text.stdout + text.stderr
    assert (
        f"CRL Number: \n                {before + 1}".encode() in text.stdout.replace(b"\r", b"")
        or str(before + 1).encode() in text.stdout
    )
    (pki / "ee.pem").write_bytes(pem(issued.certificate))
    openssl("crl", "-inform", "DER", "-in", str(pki / "ca.crl"), "-out", str(pki / "ca.crl.pem"))
    refused = openssl(
        "verify",
        "-crl_check",
        "-CAfile",
        str(pki / "root.pem"),
        "-untrusted",
        str(pki / "ca.pem"),
        "-CRLfile",
        str(pki / "ca.crl.pem"),
        str(pki / "ee.pem"),
        check=False,
    )
    assert refused.returncode != 0
    assert b"certificate revoked" in refused.stdout + refused.stderr


def test_crl_is_reissued_past_half_its_life(ca):
    first = x509.load_der_x509_crl(ca.crl_der())
    with ca.db.write() as session:
        for row in session.execute(select(Crl)).scalars():
            row.this_update -= timedelta(seconds=ca.settings.crl_validity)
    second = x509.load_der_x509_crl(ca.crl_der())
    number = lambda crl: crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(second) == number(first) + 1


def _ocsp_check(ca, pki, openssl, pem, cert, name: str) -> bytes:
    (pki / f"{name}.pem").write_bytes(pem(cert))
    openssl(
        "ocsp",
        "-issuer",
        str(pki / "ca.pem"),
        "-cert",
        str(pki / f"{name}.pem"),
        "-reqout",
        str(pki / f"{name}.req"),
    )
    (pki / f"{name}.resp").write_bytes(responder(ca).respond((pki / f"{name}.req").read_bytes()))
    return openssl(
        "ocsp",
        "-issuer",
        str(pki / "ca.pem"),
        "-cert",
        str(pki / f"{name}.pem"),
        "-reqin",
        str(pki / f"{name}.req"),
        "-respin",
        str(pki / f"{name}.resp"),
        "-CAfile",
        str(pki / "root.pem"),
        "-no_nonce",
    ).stdout


def test_revoked_certificate_answers_revoked_in_openssl_ocsp(ca, pki, openssl, pem):
    issued = ca.issue_for_custody_key("citizen", "CN=Ocsp Subject")
    assert b"cert.pem: good" in _ocsp_check(ca, pki, openssl, pem, issued.certificate, "cert")
    cached_good = responder(ca).response_for(issued.certificate)
    ca.revoke(issued.serial, "superseded")
    out = _ocsp_check(ca, pki, openssl, pem, issued.certificate, "cert")
    assert b"cert.pem: revoked" in out
    assert b"Reason: superseded" in out
    assert responder(ca).response_for(issued.certificate) != cached_good


def test_certificate_we_never_issued_answers_unknown(ca, runtime, pki, openssl, pem, tmp_path):
    other = Authority(Runtime(runtime.settings))  # same CA; a serial it never issued
    from cryptography.hazmat.primitives.asymmetric import ec

    builder = (
        x509.CertificateBuilder()
        .subject_name(ca.ca.certificate.subject)
        .issuer_name(ca.ca.certificate.subject)
    )
    builder = builder.public_key(
        ec.generate_private_key(ec.SECP256R1()).public_key()
    ).serial_number(12345)
    builder = builder.not_valid_before(ca.ca.certificate.not_valid_before_utc).not_valid_after(
        ca.ca.certificate.not_valid_after_utc
    )
    from certs.builders import sign_certificate

    stranger = sign_certificate(builder, other.custody.signer(ca.ca.key_label))
    assert b"stranger.pem: unknown" in _ocsp_check(ca, pki, openssl, pem, stranger, "stranger")


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
def test_time_stamp_token_verifies_in_openssl_ts(ca, openssl_ts, digest):
    query = openssl_ts.query(b"evidence " * 100, digest)
    text = openssl_ts.verify(time_stamp_authority(ca).respond(query))
    assert ca.settings.tsa_policy.encode() in text
    assert b"Accuracy: 0x01 seconds" in text


def _request(nonce: int = 7, **changes) -> bytes:
    fields = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": b"\x01" * 32,
        },
        "nonce": nonce,
        "cert_req": True,
    }
    fields.update(changes)
    return tsp.TimeStampReq(fields).dump()


def test_time_stamp_serials_strictly_increase_across_processes_and_redis_loss(ca, runtime):
    first = time_stamp_authority(ca)
    second = time_stamp_authority(Authority(Runtime(runtime.settings)))  # another "process"
    serials = []
    for i in range(10):
        tsa_ = first if i % 2 else second
        token = tsp.TimeStampResp.load(tsa_.respond(_request(nonce=i)))["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        assert info["nonce"].native == i
        serials.append(info["serial_number"].native)
        if i == 5:
            runtime.redis.flushdb()
    assert serials == sorted(set(serials))


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        (b"\x30\x02\x05\x00", "bad_data_format"),
        (
            _request(
                message_imprint={
                    "hash_algorithm": {"algorithm": "md5"},
                    "hashed_message": b"\x01" * 16,
                }
            ),
            "bad_alg",
        ),
        (
            _request(
                message_imprint={
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": b"\x01" * 20,
                }
            ),
            "bad_data_format",
        ),
        (_request(req_policy="1.2.3.4"), "unaccepted_policy"),
        (_request(version="v2"), "bad_request"),
    ],
)
def test_bad_time_stamp_requests_get_a_rejection_status(ca, request_der, fail_info):
    answer = time_stamp_authority(ca).respond(request_der)
    status = tsp.PKIStatusInfo.load(answer[2:])
    assert status["status"].native == "rejection"
    assert fail_info in status["fail_info"].native
