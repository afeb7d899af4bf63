"""``onetrip ca``: create the CA, export its certificates, issue, revoke and list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from certs.authority import AuthorityError, authority
from certs.custody import CustodyError
from certs.profiles import PUBLIC, ProfileError
from config.cli import CliError, emit, ensure_schema, json_option, pass_runtime
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
    ensure_schema(runtime)
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
    ensure_schema(runtime)
    authority_ = authority(runtime)
    certs = authority_.chain() if chain else (authority_.root.certificate,)
    click.echo("".join(_pem(c) for c in certs), nl=False)


@ca.command("issue")
@click.option("--profile", required=True, help=f"One of: {', '.join(PUBLIC)}.")
@click.option(
    "--subject",
    required=True,
    help="RFC 4514 DN of the holder you vouch for, e.g. 'CN=Zhang San' (C= is added).",
)
@click.option(
    "--csr",
    "csr_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The holder's PKCS#10 request; without one the key is made and kept in custody.",
)
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@json_option
@pass_runtime
def issue(runtime: Runtime, profile: str, subject, csr_path, days, as_json: bool) -> None:
    """Issue a certificate for SUBJECT: from a CSR (which may not ask for other names),
    or for a new key in custody."""
    try:
        csr = csr_path.read_bytes() if csr_path else None
    except OSError as exc:
        raise CliError(f"cannot read {csr_path}: {exc.strerror}") from None
    ensure_schema(runtime)
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


def _utc_time(_ctx, _param, value: str | None) -> datetime | None:
    """An ISO 8601 time; naive means UTC. Returned as naive UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@ca.command("revoke")
@click.argument("serial")
@click.option("--reason", default="unspecified", help="RFC 5280 reason, e.g. keyCompromise.")
@click.option(
    "--compromised-at",
    callback=_utc_time,
    help="When the key was (or may have been) compromised, ISO 8601 (UTC if no offset): the "
    "invalidityDate; signatures not proven to exist before it fail verification.",
)
@json_option
@pass_runtime
def revoke(
    runtime: Runtime, serial: str, reason: str, compromised_at: datetime | None, as_json: bool
) -> None:
    """Revoke a certificate by its serial number (hex); the CRL is reissued at once."""
    ensure_schema(runtime)
    try:
        status = authority(runtime).revoke(
            serial, reason, compromised_at=compromised_at, actor="cli"
        )
    except AuthorityError as refused:
        raise CliError(str(refused)) from None
    data = {
        "serial": serial.lower(),
        "status": status.state,
        "reason": status.reason,
        "revoked_at": status.revoked_at.isoformat() + "Z",
        "compromised_at": status.compromised_at.isoformat() + "Z"
        if status.compromised_at
        else None,
    }
    emit(data, as_json, f"revoked {data['serial']} ({reason})")


@ca.command("rotate")
@click.argument("role", type=click.Choice(["tsa", "ocsp"]))
@click.option("--days", type=int, help="Validity of the new certificate in days.")
@json_option
@pass_runtime
def rotate(runtime: Runtime, role: str, days: int | None, as_json: bool) -> None:
    """A new key and certificate for the time-stamping unit or the OCSP responder.

    Every node takes it within 30 s; the old certificate and key stay, so what they
    signed keeps validating. Run `onetrip signing renew` after rotating the TSA.
    """
    ensure_schema(runtime)
    try:
        new = authority(runtime).rotate(role, days=days, actor="cli")
    except AuthorityError as refused:
        raise CliError(str(refused)) from None
    data = {
        "role": role,
        "serial": new.serial,
        "not_after": new.certificate.not_valid_after_utc.isoformat(),
    }
    emit(data, as_json, f"{role} now signs with {new.serial} until {data['not_after']}")


@ca.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every certificate the CA has signed."""
    ensure_schema(runtime)
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


@ca.group("devices")
def devices() -> None:
    """Devices that enrol over EST (RFC 7030) with HTTP Basic, a token or their certificate."""


@devices.command("add")
@click.argument("name")
@click.option("--dns", "dns_names", multiple=True, help="A DNS name of the device (repeatable).")
@click.option("--client-id", default=None, help="An OAuth client whose tokens speak for it.")
@json_option
@pass_runtime
def devices_add(
    runtime: Runtime, name: str, dns_names: tuple[str, ...], client_id: str | None, as_json: bool
) -> None:
    """Register device NAME; prints its EST secret once (HTTP Basic: NAME and the secret)."""
    from certs.est import Enrollment, EstError

    ensure_schema(runtime)
    try:
        record, secret = Enrollment(authority(runtime)).register(
            name, dns_names=list(dns_names), client_id=client_id, actor="cli"
        )
    except EstError as refused:
        raise CliError(str(refused)) from None
    emit({**record, "secret": secret}, as_json, f"{name}  secret: {secret}  (shown once)")


@devices.command("list")
@json_option
@pass_runtime
def devices_list(runtime: Runtime, as_json: bool) -> None:
    """Every registered device and its current certificate."""
    from certs.est import Enrollment

    ensure_schema(runtime)
    rows = Enrollment(authority(runtime)).devices()
    text = "\n".join(
        f"{d['name']}  {d['certificate_serial'] or '-'}  {','.join(d['dns_names']) or '-'}"
        for d in rows
    )
    emit(rows, as_json, text or "no devices")
