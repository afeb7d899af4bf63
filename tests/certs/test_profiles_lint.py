"""Every certificate profile, CRL and OCSP answer passes pkilint's PKIX and ETSI linters
(ETSI EN 319 412-2/-3 for the seals and citizens' certificates) with no error."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.authority import Authority
from certs.ocsp import responder
from config.runtime import Runtime
from signing import departments

BIN = Path(sys.executable).parent


@pytest.fixture
def public_ca(runtime) -> Authority:
    """The CA as deployed: an https issuer on a public name (pkilint refuses loopback URLs)."""
    public = dataclasses.replace(runtime.settings, issuer="https://id.example.gov")
    ca = Authority(Runtime(public))
    ca.ensure()
    return ca


def _lint(tool: str, *args: str, path: Path) -> str:
    """pkilint's findings of severity ERROR or worse (empty when there are none)."""
    done = subprocess.run(
        [str(BIN / tool), "lint", "-s", "ERROR", *args, str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return (done.stdout + done.stderr).strip()


def _write(tmp_path: Path, name: str, der: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(der)
    return path


@pytest.mark.slow
def test_every_profile_crl_and_ocsp_answer_lints_clean(public_ca, runtime, tmp_path):
    ca = public_ca
    runtime.settings = ca.settings  # departments issue through the same CA settings
    departments.create(runtime, "PSB", "上海市公安局", organization_identifier="NTRCN-113100001")
    seal = departments.seal(runtime, "PSB").cert
    citizen = ca.issue_for_custody_key("citizen", "CN=张三").certificate
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "kiosk-1")]))
        .sign(key, hashes.SHA256())
    )
    device = ca.issue(
        "device", subject="CN=kiosk-1", csr=csr, alt_names=[x509.DNSName("kiosk-1.example.gov")]
    ).certificate
    revoked = ca.issue_for_custody_key("citizen", "CN=李四")
    compromised = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=30)
    ca.revoke(revoked.serial, "keyCompromise", compromised_at=compromised)
    der = serialization.Encoding.DER

    certificates = {
        "root": ca.root.certificate,
        "ca": ca.ca.certificate,
        "ocsp": ca.ocsp.certificate,
        "tsa": ca.tsa.certificate,
        "citizen": citizen,
        "device": device,
    }
    findings = {}
    for name, cert in certificates.items():
        findings[name] = _lint(
            "lint_pkix_cert", path=_write(tmp_path, name, cert.public_bytes(der))
        )
    seal_file = _write(tmp_path, "seal", seal.dump())
    findings["seal"] = _lint("lint_pkix_cert", path=seal_file)
    findings["seal etsi"] = _lint(
        "lint_etsi_cert", "-t", "NCP-LEGAL-PERSON-CERTIFICATE", path=seal_file
    )
    findings["citizen etsi"] = _lint(
        "lint_etsi_cert", "-t", "NCP-NATURAL-PERSON-CERTIFICATE", path=tmp_path / "citizen"
    )
    findings["ca crl"] = _lint("lint_crl", "-t", "CRL", "-p", "PKIX",
                               path=_write(tmp_path, "ca.crl", ca.crl_der("ca")))  # fmt: skip
    findings["root arl"] = _lint("lint_crl", "-t", "ARL", "-p", "PKIX",
                                 path=_write(tmp_path, "root.crl", ca.crl_der("root")))  # fmt: skip
    answers = responder(ca)
    for name, cert in (("good", citizen), ("revoked", revoked.certificate)):
        findings[f"ocsp {name}"] = _lint(
            "lint_ocsp_response",
            path=_write(tmp_path, f"{name}.ocsp", answers.response_for(cert, fresh=True)),
        )
    assert findings == dict.fromkeys(findings, "")


def test_certificates_point_at_http_urls_even_with_an_https_issuer(public_ca):
    issued = public_ca.issue_for_custody_key("citizen", "CN=Wang Wu").certificate
    points = issued.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    access = issued.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    urls = [points[0].full_name[0].value, *(a.access_location.value for a in access)]
    assert urls == [
        "http://id.example.gov/pki/ca.crl",
        "http://id.example.gov/pki/ocsp",
        "http://id.example.gov/pki/ca.cer",
    ]
    policies = issued.extensions.get_extension_for_class(x509.CertificatePolicies).value
    oids = [p.policy_identifier.dotted_string for p in policies]
    assert oids == [public_ca.settings.certificate_policy, "0.4.0.2042.1.1"]  # OneTrip's, NCP
    names = [a.value for a in public_ca.ca.certificate.subject.get_attributes_for_oid(
        x509.NameOID.COUNTRY_NAME)]  # fmt: skip
    assert names == ["CN"]


def test_a_seal_has_one_organisation_and_its_identifier(runtime):
    departments.create(runtime, "CUSTOMS", "上海海关", "Shanghai Customs")
    subject = departments.seal(runtime, "CUSTOMS").cert.subject.native
    assert subject["organization_name"] == "上海海关"
    assert subject["organization_identifier"] == "CN:ONETRIP-CUSTOMS"
    assert subject["country_name"] == "CN"
