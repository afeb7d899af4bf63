"""Enrollment over Secure Transport (RFC 7030): who is asking, and what they may get.

A certificate is bound to the identity that authenticated, never to what the CSR says
(:mod:`certs.names`). EST clients authenticate in one of three ways, tried in this order:

- a TLS client certificate (RFC 7030 3.3.2), checked by the nginx front and forwarded
  in ``X-SSL-Client-Cert``; believed only when the request comes straight from an
  address in ``est_client_cert_proxies`` and OneTrip itself finds the certificate to be
  the current, unrevoked certificate of a registered device;
- HTTP Basic (3.2.3) with a registered device's name and secret;
- an OAuth access token with scope ``pki:enroll``: the device registered for that
  client, else the citizen the token speaks for, else the client itself.

A device's certificate names the device (``CN=<name>`` and the DNS names registered for
it); a citizen's names the username; a client's its client id. ``simplereenroll``
(4.2.2) also requires proof of possession of the current certificate: the TLS client
certificate itself, or a CSR signed by the current certificate's key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from certs import names
from certs.authority import Authority, AuthorityError, Issued, load_csr
from certs.models import Certificate, Device
from config import audit
from config.errors import Refusal

DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]{2,63}$"
)


class EstError(Refusal):
    """A refused EST request; RFC 7030 answers it in plain text with ``status``."""


@dataclass(frozen=True)
class Identity:
    """Who enrols, and the names their certificate may carry."""

    name: str
    subject: x509.Name
    alt_names: tuple[x509.GeneralName, ...] = ()
    device_id: int | None = None
    current_serial: str | None = None  # the device's certificate now, if any
    presented: x509.Certificate | None = field(default=None, compare=False)  # TLS client cert
    client_id: str | None = None


def secret_digest(secret_key: bytes, secret: str) -> str:
    """Keyed SHA-256 of a device secret: 256 random bits need no slow hash."""
    return hmac.new(secret_key, secret.encode(), hashlib.sha256).hexdigest()


def _dns_names(raw: str) -> tuple[x509.GeneralName, ...]:
    return tuple(x509.DNSName(n) for n in filter(None, raw.split(",")))


def _device_identity(device: Device, presented: x509.Certificate | None = None) -> Identity:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device.name)])
    return Identity(
        device.name,
        subject,
        _dns_names(device.dns_names),
        device.id,
        device.cert_serial,
        presented,
        device.client_id,
    )


class Enrollment:
    """The device registry and EST issuance over one :class:`Authority`."""

    def __init__(self, ca: Authority) -> None:
        self.ca = ca
        self.db = ca.db
        self._key = ca.settings.key_bytes("secret_key")
        self._proxies = [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in ca.settings.est_client_cert_proxies.split(",")
            if p.strip()
        ]

    # -- the registry --------------------------------------------------------------------

    def register(
        self,
        name: str,
        *,
        dns_names: list[str] = (),  # type: ignore[assignment]
        client_id: str | None = None,
        actor: str | None = None,
    ) -> tuple[dict, str]:
        """Register device ``name``; returns its record and its secret (shown once)."""
        if not DEVICE_NAME.match(name):
            raise EstError(
                "invalid_request", "a device name is 1-64 letters, digits, '.', '_' or '-'"
            )
        for dns in dns_names:
            if not DNS_NAME.match(dns):
                raise EstError(
                    "invalid_request", f"{dns!r} is not a DNS name (wildcards are not issued)"
                )
        hierarchy = [r.certificate.subject for r in self.ca.hierarchy_roles()]
        identity = _device_identity(Device(name=name, dns_names=",".join(dns_names)))
        try:
            names.check_identity(identity.subject, identity.alt_names, hierarchy)
        except names.NameRefused as refused:
            raise EstError("invalid_request", refused.description) from None
        secret = secrets.token_urlsafe(32)
        try:
            with self.db.write() as session:
                device = Device(
                    name=name,
                    secret_sha256=secret_digest(self._key, secret),
                    client_id=client_id,
                    dns_names=",".join(dns_names),
                    disabled=False,
                )
                session.add(device)
                session.flush()
                audit.record(
                    session, "certs.device.register", actor=actor, subject=name, client_id=client_id
                )
                record = _as_dict(device)
        except IntegrityError:
            raise EstError(
                "conflict", f"device {name} (or its client) is already registered", 409
            ) from None
        return record, secret

    def devices(self) -> list[dict]:
        with self.db.read() as session:
            return [
                _as_dict(d) for d in session.execute(select(Device).order_by(Device.name)).scalars()
            ]

    # -- authentication ------------------------------------------------------------------

    def by_client_certificate(self, escaped_pem: str, peer: str | None) -> Identity | None:
        """The device whose current certificate nginx forwarded, if the forwarder is ours."""
        if not escaped_pem or not peer or not self._from_proxy(peer):
            return None
        try:
            cert = x509.load_pem_x509_certificate(urllib.parse.unquote(escaped_pem).encode())
        except ValueError:
            raise EstError(
                "unauthorized", "the forwarded client certificate cannot be read", 401
            ) from None
        serial = format(cert.serial_number, "x")
        issuer = self.ca.ca.certificate
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, x509.InvalidSignature):
            raise EstError(
                "unauthorized", "the client certificate was not issued by OneTrip", 401
            ) from None
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise EstError("unauthorized", "the client certificate has expired", 401)
        if self.ca.status_now(serial).state != "good":
            raise EstError("unauthorized", "the client certificate is revoked", 401)
        with self.db.read() as session:
            device = session.execute(
                select(Device).where(Device.cert_serial == serial)
            ).scalar_one_or_none()
        if device is None or device.disabled:
            raise EstError(
                "unauthorized", "the client certificate is not a device's current certificate", 401
            )
        return _device_identity(device, cert)

    def by_secret(self, name: str, secret: str) -> Identity | None:
        with self.db.read() as session:
            device = session.execute(select(Device).where(Device.name == name)).scalar_one_or_none()
        if device is None or device.disabled or device.secret_sha256 is None:
            return None
        if not hmac.compare_digest(device.secret_sha256, secret_digest(self._key, secret)):
            return None
        return _device_identity(device)

    def by_token(self, client_id: str, username: str | None) -> Identity:
        with self.db.read() as session:
            device = session.execute(
                select(Device).where(Device.client_id == client_id)
            ).scalar_one_or_none()
        if device is not None and not device.disabled:
            return _device_identity(device)
        name = username or client_id
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return Identity(name, subject, client_id=client_id)

    def _from_proxy(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    # -- issuance ------------------------------------------------------------------------

    def enroll(self, identity: Identity, csr_der: bytes, *, renew: bool, ip: str | None) -> Issued:
        """Issue a device certificate for ``identity`` from its CSR (RFC 7030 4.2)."""
        try:
            csr = load_csr(csr_der)
        except AuthorityError as refused:
            raise EstError("invalid_request", refused.description) from None
        if renew:
            self._check_possession(identity, csr)
        try:
            with self.db.write() as session:
                issued = self.ca.issue(
                    "device",
                    subject=identity.subject,
                    alt_names=identity.alt_names,
                    csr=csr,
                    actor=identity.name,
                    client_id=identity.client_id,
                    ip=ip,
                    session=session,
                )
                if identity.device_id is not None:
                    device = session.get(Device, identity.device_id)
                    device.cert_serial = issued.serial
                audit.record(
                    session,
                    "certs.est.reenroll" if renew else "certs.est.enroll",
                    actor=identity.name,
                    subject=issued.serial,
                    client_id=identity.client_id,
                    ip=ip,
                    previous=identity.current_serial if renew else None,
                )
        except AuthorityError as refused:
            raise EstError("invalid_request", refused.description) from None
        return issued

    def _check_possession(self, identity: Identity, csr: x509.CertificateSigningRequest) -> None:
        """simplereenroll: the caller holds the current certificate (RFC 7030 4.2.2)."""
        if identity.current_serial is None:
            raise EstError(
                "invalid_request", "there is no current certificate to renew; use simpleenroll"
            )
        with self.db.read() as session:
            der = session.get(Certificate, identity.current_serial).der
        current = x509.load_der_x509_certificate(der)
        if identity.presented is not None and identity.presented == current:
            return
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if csr.public_key().public_bytes(*spki) == current.public_key().public_bytes(*spki):
            return
        raise EstError(
            "forbidden",
            "re-enrollment needs the current certificate: present it as the TLS client "
            "certificate, or sign the request with its key",
            403,
        )


def _as_dict(device: Device) -> dict:
    return {
        "name": device.name,
        "dns_names": [n for n in device.dns_names.split(",") if n],
        "client_id": device.client_id,
        "certificate_serial": device.cert_serial,
        "disabled": device.disabled,
    }
