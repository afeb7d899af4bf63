"""``onetrip ca``: init, export, issue, revoke, list; bad input refused in one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from certs.models import Certificate
from config import audit
from idp.cli import main


@pytest.fixture
def cli(settings, runtime):
    env = {
        "ONETRIP_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "ONETRIP_ISSUER": settings.issuer,
    }

    def run(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def _count(runtime) -> int:
    with runtime.db.read() as session:
        return session.execute(select(func.count()).select_from(Certificate)).scalar_one()


def _csr_file(tmp_path, tamper: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "kiosk-7")])
    der = bytearray(
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    if tamper:
        der[-5] ^= 0x01  # inside the signature: the CSR still parses but does not verify
    path = tmp_path / "req.der"
    path.write_bytes(bytes(der))
    return path


def test_init_then_export_prints_root_and_chain(cli, tmp_path, openssl):
    assert cli("ca", "init").exit_code == 0
    root = cli("ca", "export").output
    chain = cli("ca", "export", "--chain").output
    assert root.count("BEGIN CERTIFICATE") == 1
    assert chain.count("BEGIN CERTIFICATE") == 2
    assert chain.endswith(root)
    (tmp_path / "root.pem").write_text(root)
    (tmp_path / "chain.pem").write_text(chain)
    assert (
        b"OK"
        in openssl(
            "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "chain.pem")
        ).stdout
    )


def test_issue_department_by_subject_prints_pem_and_json_with_chain(cli, runtime):
    result = cli(
        "ca",
        "issue",
        "--profile",
        "department",
        "--json",
        "--subject",
        "CN=Seal,2.5.4.97=NTRCN-11310000MB2F33415H,O=市场监督管理局,C=CN",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    cert = x509.load_pem_x509_certificate(data["certificate"].encode())
    assert format(cert.serial_number, "x") == data["serial"]
    assert len(data["chain"]) == 2
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)]
    assert "市场监督管理局" in orgs
    with runtime.db.read() as session:
        events = [e.event for e in audit.tail(session)]
    assert "certs.issue" in events


def test_issue_device_from_csr_then_revoke_and_list(cli, tmp_path, runtime):
    issued = cli(
        "ca",
        "issue",
        "--profile",
        "device",
        "--csr",
        str(_csr_file(tmp_path)),
        "--subject",
        "CN=kiosk-7",
        "--days",
        "30",
        "--json",
    )
    serial = json.loads(issued.output)["serial"]
    assert cli("ca", "revoke", serial.upper(), "--reason", "keyCompromise").exit_code == 0
    rows = json.loads(cli("ca", "list", "--json").output)
    row = next(r for r in rows if r["serial"] == serial)
    assert row["status"] == "revoked"
    assert row["reason"] == "keyCompromise"
    with runtime.db.read() as session:
        assert "certs.revoke" in [e.event for e in audit.tail(session)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nobody", "--subject", "CN=x"], "unknown profile"),
        (["--profile", "device", "--subject", "CN=x"], "only from a CSR"),
        (["--profile", "department", "--subject", "CN=no organisation"], "needs a subject"),
        (["--profile", "citizen", "--subject", "CN=OneTrip Issuing CA"], "certificate authority"),
        (["--profile", "citizen", "--subject", "CN=*.example.org"], "wildcard"),
        (["--profile", "citizen", "--subject", "not a dn"], "not a distinguished name"),
        (["--profile", "citizen", "--subject", "CN=x", "--days", "400"], "allows 1 to"),
    ],
)
def test_bad_issue_requests_fail_in_one_line_and_write_nothing(cli, runtime, args, message):
    cli("ca", "init")
    before = _count(runtime)
    outcome = cli("ca", "issue", *args)
    assert outcome.exit_code != 0
    assert message in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert _count(runtime) == before


@pytest.mark.parametrize("tamper", [True, False])
def test_malformed_or_forged_csr_is_refused(cli, runtime, tmp_path, tamper):
    cli("ca", "init")
    path = _csr_file(tmp_path, tamper=tamper)
    if not tamper:
        path.write_bytes(
            b"-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----\n"
        )
    before = _count(runtime)
    outcome = cli(
        "ca", "issue", "--profile", "device", "--csr", str(path), "--subject", "CN=kiosk-7"
    )
    assert outcome.exit_code != 0
    assert ("does not verify" if tamper else "not a PKCS#10") in outcome.stderr
    assert _count(runtime) == before


def test_revoking_an_unknown_serial_fails_in_one_line(cli):
    outcome = cli("ca", "revoke", "abcdef")
    assert outcome.exit_code != 0
    assert outcome.stderr.startswith("onetrip: no certificate with serial abcdef")
