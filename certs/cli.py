"""``onetrip ca``: create the CA, export its certificates, issue, revoke and list."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from certs.authority import AuthorityError, authority
from certs.custody import CustodyError
from certs.profiles import PUBLIC, ProfileError
from config.cli import CliError, emit, json_option, pass_runtime
from config.runtime import Runtime


def _pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@click.group("ca")
def ca() -> None:
    """The certificate authority: hierarchy, certificates, revocation."""


@ca.command("init")
@json_option
@pass_runtime
def init(runtime: Runtime, as_json: bool) -> None:
    """Create the CA hierarchy (root, issuing CA, OCSP responder, TSA) if it does not exist."""
    runtime.migrate()
    roles = authority(runtime).ensure()
    data = {
        name: {"serial": r.serial, "subject": r.certificate.subject.rfc4514_string()}
        for name, r in roles.items()
    }
    emit(data, as_json, "\n".join(f"{n}  {d['serial']}  {d['subject']}" for n, d in data.items()))


@ca.command("export")
@click.option("--chain", is_flag=True, help="The issuing CA's certificate, then the root's.")
@pass_runtime
def export(runtime: Runtime, chain: bool) -> None:
    """Print the root certificate (PEM), or with --chain the issuing CA then the root."""
    runtime.migrate()
    authority_ = authority(runtime)
    certs = authority_.chain() if chain else (authority_.root.certificate,)
    click.echo("".join(_pem(c) for c in certs), nl=False)


@ca.command("issue")
@click.option("--profile", required=True, help=f"One of: {', '.join(PUBLIC)}.")
@click.option("--csr", "csr_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--subject", help="RFC 4514 DN, e.g. 'CN=Zhang San,O=...'; key kept in custody.")
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@json_option
@pass_runtime
def issue(runtime: Runtime, profile: str, csr_path, subject, days, as_json: bool) -> None:
    """Issue a certificate from a CSR, or for a new key in custody (--subject)."""
    if (csr_path is None) == (subject is None):
        raise CliError("give exactly one of --csr FILE or --subject DN")
    try:
        csr = csr_path.read_bytes() if csr_path else None
    except OSError as exc:
        raise CliError(f"cannot read {csr_path}: {exc.strerror}") from None
    runtime.migrate()
    authority_ = authority(runtime)
    try:
        if csr is not None:
            issued = authority_.issue(profile, csr=csr, subject=subject, days=days, actor="cli")
        else:
            issued = authority_.issue_for_custody_key(profile, subject, days=days, actor="cli")
    except (AuthorityError, ProfileError, CustodyError) as refused:
        raise CliError(str(refused)) from None
    data = {
        "serial": issued.serial,
        "profile": issued.profile,
        "subject": issued.certificate.subject.rfc4514_string(),
        "key_label": issued.key_label,
        "certificate": issued.pem(),
        "chain": issued.chain_pem(),
    }
    emit(data, as_json, issued.pem().rstrip("\n"))


@ca.command("revoke")
@click.argument("serial")
@click.option("--reason", default="unspecified", help="RFC 5280 reason, e.g. keyCompromise.")
@json_option
@pass_runtime
def revoke(runtime: Runtime, serial: str, reason: str, as_json: bool) -> None:
    """Revoke a certificate by its serial number (hex); the CRL is reissued at once."""
    runtime.migrate()
    try:
        status = authority(runtime).revoke(serial, reason, actor="cli")
    except AuthorityError as refused:
        raise CliError(str(refused)) from None
    data = {
        "serial": serial.lower(),
        "status": status.state,
        "reason": status.reason,
        "revoked_at": status.revoked_at.isoformat() + "Z",
    }
    emit(data, as_json, f"revoked {data['serial']} ({reason})")


@ca.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every certificate the CA has signed."""
    runtime.migrate()
    rows = authority(runtime).certificates()
    emit(
        rows,
        as_json,
        "\n".join(
            f"{r['serial']}  {r['role']:<4}  {r['profile'] or '-':<10}  {r['status']:<7}  "
            f"{r['not_after']}  {r['subject']}"
            for r in rows
        ),
    )
