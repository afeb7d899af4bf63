"""The certificate authority: its hierarchy, issuance by profile, revocation, CRLs, status.

The hierarchy (root CA, issuing CA, delegated OCSP responder, time-stamping unit) is
created on first use in one transaction. Two processes that start together are safe: on
SQLite the write transaction is ``BEGIN IMMEDIATE`` so the second waits and then finds
the roles; on PostgreSQL the loser hits the ``certs_authority`` primary key, rolls back
(its token keys are destroyed again) and reads the winner's hierarchy. Key labels carry
a random suffix so the losers' keys never collide with the winner's.

The root key signs only the issuing CA's certificate and the root CRL; everything else
is signed by the issuing CA.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certs import names, profiles
from certs.builders import sign_certificate, sign_crl
from certs.custody import Custody, PublicKey
from certs.models import AuthorityRole, Certificate, Crl
from certs.statuses import Status, Statuses
from config import audit
from config.db import utcnow
from config.errors import Refusal
from config.runtime import Runtime, Sharing

ROLES = ("root", "ca", "ocsp", "tsa")
_CREATE_LOCK = 0x6F74_4341  # PostgreSQL advisory lock: one creator of the hierarchy at a time
_ROLE_PROFILES = {"ocsp": profiles.OCSP_RESPONDER, "tsa": profiles.TSA}
_BACKDATE = timedelta(minutes=1)
ROLE_RECHECK = 30.0  # seconds between re-reads of the hierarchy (rotations elsewhere)
_REMEMBERED_DERS = 4096  # certificates asked for by serial (seals) kept in memory, at most
#: ETSI EN 319 411-1 policy OIDs: normalized certificate policy, and NCP+ (key in an SSCD).
NCP = "0.4.0.2042.1.1"
NCP_PLUS = "0.4.0.2042.1.2"

#: RFC 5280 CRLReason names accepted for revocation (certificateHold and removeFromCRL
#: are left out: OneTrip revokes for good).
REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}


class AuthorityError(Refusal):
    """A request the CA refuses: bad CSR, unknown serial, already revoked, bad reason."""


@dataclass(frozen=True)
class Role:
    """One certificate of the hierarchy and the custody label of its key."""

    name: str
    certificate: x509.Certificate
    der: bytes
    serial: str
    key_label: str


@dataclass(frozen=True)
class Issued:
    """A newly issued certificate with its chain (issuing CA, then root)."""

    certificate: x509.Certificate
    serial: str
    profile: str
    key_label: str | None
    chain: tuple[x509.Certificate, ...]

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def chain_pem(self) -> list[str]:
        return [c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain]


def serial_hex(value: int | str) -> str:
    """The canonical form of a serial number: lowercase hex, no colons or leading zeros."""
    if isinstance(value, int):
        return format(value, "x")
    cleaned = value.strip().lower().replace(":", "").removeprefix("0x")
    try:
        return format(int(cleaned, 16), "x")
    except ValueError:
        raise AuthorityError(
            "invalid_request", f"not a hexadecimal serial number: {value!r}"
        ) from None


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER PKCS#10 request and check its signature (proof of possession)."""
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
        valid = csr.is_signature_valid
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
        raise AuthorityError("invalid_request", "not a PKCS#10 certificate request") from None
    if not valid:
        raise AuthorityError(
            "invalid_request", "the certificate request's signature does not verify"
        )
    return csr


def parse_subject(subject: x509.Name | str) -> x509.Name:
    if isinstance(subject, x509.Name):
        return subject
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError as exc:
        raise AuthorityError(
            "invalid_request", f"not a distinguished name: {subject!r} ({exc})"
        ) from None
    if not list(name):
        raise AuthorityError("invalid_request", "the subject is empty")
    return name


def _check_public_key(public: PublicKey) -> None:
    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise AuthorityError("invalid_request", f"EC curve {public.curve.name} is not accepted")
    elif isinstance(public, rsa.RSAPublicKey):
        if public.key_size < 2048:
            raise AuthorityError("invalid_request", "RSA keys need at least 2048 bits")
    else:
        raise AuthorityError("invalid_request", "only EC (P-256/384/521) and RSA keys are accepted")


class Authority(Sharing):
    """The CA of one runtime. Get it with :func:`authority` (or from the composition root,
    :mod:`idp.components`), which keeps one per runtime; it caches its hierarchy."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()  # its responder and TSA (certs.ocsp, certs.tsa) are shared by it
        self.runtime = runtime
        self.settings = runtime.settings
        self.db = runtime.db
        self.custody = Custody(runtime.settings, runtime.db)
        self._roles: dict[str, Role] | None = None
        self._history: list[Role] = []
        self._roles_until = 0.0
        self._lock = threading.Lock()
        self._statuses = Statuses(lambda: runtime.redis, runtime.settings.revocation_status_max_age)
        self._ders: dict[str, bytes] = {}

    # -- hierarchy ------------------------------------------------------------------------

    def ensure(self) -> dict[str, Role]:
        """The current hierarchy, created on first use (idempotent, safe across processes).

        Re-read from the database every :data:`ROLE_RECHECK` seconds, so a TSA or OCSP
        responder rotated by another process (``onetrip ca rotate``) takes over here too.
        """
        if self._roles is not None and time.monotonic() < self._roles_until:
            return self._roles
        with self._lock:
            if self._roles is None or time.monotonic() >= self._roles_until:
                roles = self._load_roles()
                if roles is None:
                    # IntegrityError: another process won the race; read its hierarchy.
                    with contextlib.suppress(IntegrityError):
                        self._create_hierarchy()
                    roles = self._load_roles()
                if roles is None:
                    raise RuntimeError("the CA hierarchy could not be created")
                self._roles, self._history = roles, self._load_history()
                self._roles_until = time.monotonic() + ROLE_RECHECK
        return self._roles

    def hierarchy_roles(self) -> list[Role]:
        """Every certificate the hierarchy ever had (rotated TSA and OCSP ones included)."""
        self.ensure()
        return self._history

    def hierarchy_certificates(self) -> list[x509.Certificate]:
        """Every hierarchy certificate, current and retired: what verifiers may need."""
        return [r.certificate for r in self.hierarchy_roles()]

    @property
    def root(self) -> Role:
        return self.ensure()["root"]

    @property
    def ca(self) -> Role:
        return self.ensure()["ca"]

    @property
    def ocsp(self) -> Role:
        return self.ensure()["ocsp"]

    @property
    def tsa(self) -> Role:
        return self.ensure()["tsa"]

    def chain(self) -> tuple[x509.Certificate, ...]:
        """The issuing CA's certificate, then the root's."""
        return (self.ca.certificate, self.root.certificate)

    def urls(self) -> dict[str, str]:
        """Where OneTrip serves each part of its PKI (the ``GET /pki`` index)."""
        base = f"{self.settings.issuer}/pki"
        return {
            "root": f"{base}/root.cer",
            "ca": f"{base}/ca.cer",
            "crl": f"{base}/ca.crl",
            "root_crl": f"{base}/root.crl",
            "ocsp": f"{base}/ocsp",
            "tsa": f"{base}/tsa",
            "est": f"{self.settings.issuer}/.well-known/est",
        }

    def pointer_urls(self) -> dict[str, str]:
        """The URLs written into certificates: always ``http`` (ETSI EN 319 412-2 4.3.11).

        A relying party fetches them to check a certificate; an https URL would need that
        very check to open (circular validation). ``pki_url_base`` names the base (the
        ``/pki`` paths are served there too); by default it is the issuer with ``http``.
        """
        base = self.settings.pki_url_base.rstrip("/") or (
            "http://" + self.settings.issuer.split("://", 1)[-1]
        )
        return {
            "root": f"{base}/pki/root.cer",
            "ca": f"{base}/pki/ca.cer",
            "crl": f"{base}/pki/ca.crl",
            "root_crl": f"{base}/pki/root.crl",
            "ocsp": f"{base}/pki/ocsp",
        }

    def _load_roles(self) -> dict[str, Role] | None:
        with self.db.read() as session:
            rows = session.execute(
                select(
                    AuthorityRole.role, Certificate.der, Certificate.serial, Certificate.key_label
                ).join(Certificate, Certificate.serial == AuthorityRole.serial)
            ).all()
        if len(rows) < len(ROLES):
            return None
        return {
            role: Role(role, x509.load_der_x509_certificate(der), der, serial, label)
            for role, der, serial, label in rows
        }

    def _load_history(self) -> list[Role]:
        with self.db.read() as session:
            rows = session.execute(
                select(Certificate.role, Certificate.der, Certificate.serial, Certificate.key_label)
                .where(Certificate.role.in_(ROLES))
                .order_by(Certificate.created_at)
            ).all()
        return [
            Role(role, x509.load_der_x509_certificate(der), der, serial, label)
            for role, der, serial, label in rows
        ]

    def _create_hierarchy(self) -> None:
        org = self.settings.ca_organization
        with self.db.write() as session:
            if session.bind.dialect.name == "postgresql":
                # Creators wait for each other, so the later one sees the first's hierarchy
                # (the primary key alone let a creator that read before the first's commit
                # return its own, uncommitted, roles).
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CREATE_LOCK})
            if session.get(AuthorityRole, "root") is not None:
                return
            root_name = self._ca_name(f"{org} Root CA")
            root = self._make_role(session, "root", profiles.ROOT, root_name, issuer=None)
            ca = self._make_role(
                session, "ca", profiles.ISSUING_CA, self._ca_name(f"{org} Issuing CA"), root
            )
            for name in ("ocsp", "tsa"):
                self._make_role(session, name, _ROLE_PROFILES[name], self._role_name(name), ca)
            session.flush()
            for issuer in (root, ca):
                self._new_crl(session, issuer)
            audit.record(session, "certs.init", subject=root.serial, issuing_ca=ca.serial)

    def _ca_name(self, common_name: str) -> x509.Name:
        """C=, O= and CN= (ETSI EN 319 412-2 4.2.3.1 wants the country on every issuer)."""
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, self.settings.ca_country),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.settings.ca_organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )

    def _role_name(self, role: str) -> x509.Name:
        org = self.settings.ca_organization
        label = {"ocsp": "OCSP Responder", "tsa": "Time-Stamping Authority"}[role]
        return self._ca_name(f"{org} {label}")

    def _make_role(
        self,
        session: Session,
        name: str,
        profile: profiles.Profile,
        subject: x509.Name,
        issuer: Role | None,
        days: int | None = None,
    ) -> Role:
        label = f"ca-{name}-{secrets.token_hex(6)}"
        public = self.custody.generate(session, label)
        signer_label = issuer.key_label if issuer else label
        cert = self._sign(profile, subject, public, issuer, signer_label, days or profile.days)
        der = cert.public_bytes(serialization.Encoding.DER)
        role = Role(name, cert, der, serial_hex(cert.serial_number), label)
        self._store(session, cert, der, name, None, issuer or role, label)
        session.flush()  # the certificate row first: certs_authority refers to it
        existing = session.get(AuthorityRole, name)
        if existing is None:
            session.add(AuthorityRole(role=name, serial=role.serial))
        else:
            existing.serial = role.serial
        return role

    def rotate(self, role: str, *, days: int | None = None, actor: str | None = None) -> Role:
        """A new key and certificate for the TSA or the OCSP responder, in use at once.

        The old certificate stays in the database (and in :meth:`hierarchy_certificates`),
        so every time-stamp and OCSP answer it signed keeps validating; its key is kept.
        """
        if role not in _ROLE_PROFILES:
            raise AuthorityError("invalid_request", "only the tsa and ocsp roles can be rotated")
        profile = _ROLE_PROFILES[role]
        if days is not None and not 1 <= days <= profile.max_days:
            raise AuthorityError(
                "invalid_request", f"a {role} certificate lives 1 to {profile.max_days} days"
            )
        ca = self.ca
        with self.db.write() as session:
            old = session.get(AuthorityRole, role).serial
            new = self._make_role(session, role, profile, self._role_name(role), ca, days)
            audit.record(
                session, "certs.rotate", actor=actor, subject=new.serial, role=role, previous=old
            )
        with self._lock:
            self._roles_until = 0.0  # re-read at the next use
        return new

    # -- issuance -------------------------------------------------------------------------

    def _sign(
        self,
        profile: profiles.Profile,
        subject: x509.Name,
        public: PublicKey,
        issuer: Role | None,
        signer_label: str,
        days: int,
        extra: list[x509.Extension] | None = None,
        *,
        in_custody: bool = True,
    ) -> x509.Certificate:
        now = utcnow().replace(microsecond=0)
        not_after = now + timedelta(days=days)
        if issuer is not None:
            not_after = min(not_after, issuer.certificate.not_valid_after_utc.replace(tzinfo=None))
        issuer_public = issuer.certificate.public_key() if issuer else public
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject if issuer else subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), False)
        )
        for extension, critical in profile.extensions():
            builder = builder.add_extension(extension, critical)
        policies = self._policies(profile, in_custody)
        if policies is not None:
            builder = builder.add_extension(policies, False)
        if issuer is not None:
            for extension, critical in self._pointers(issuer.name):
                builder = builder.add_extension(extension, critical)
        for extension in extra or ():
            builder = builder.add_extension(extension.value, extension.critical)
        return sign_certificate(builder, self.custody.signer(signer_label))

    def _policies(
        self, profile: profiles.Profile, in_custody: bool
    ) -> x509.CertificatePolicies | None:
        """OneTrip's policy OID on every certificate (anyPolicy on the issuing CA), plus the
        ETSI EN 319 411-1 NCP OID for persons' certificates whose key OneTrip holds, NCP+
        when that key is in a hardware token (a secure cryptographic device)."""
        if profile.is_ca:
            if profile.path_length is None:  # the root: policies are its subordinates' job
                return None
            oids = ["2.5.29.32.0"]
        else:
            oids = [self.settings.certificate_policy]
            if profile.etsi_person and in_custody:
                oids.append(NCP_PLUS if self.custody.backend == "pkcs11" else NCP)
        return x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in oids]
        )

    def _pointers(self, issuer_role: str) -> list[tuple[x509.ExtensionType, bool]]:
        """CRL distribution point and AIA of a certificate signed by ``issuer_role``."""
        urls = self.pointer_urls()
        crl = urls["root_crl"] if issuer_role == "root" else urls["crl"]
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls[issuer_role]),
            )
        ]
        if issuer_role == "ca":
            access.insert(
                0,
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls["ocsp"])
                ),
            )
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl)], None, None, None)
        return [
            (x509.CRLDistributionPoints([point]), False),
            (x509.AuthorityInformationAccess(access), False),
        ]

    def _store(
        self,
        session: Session,
        cert: x509.Certificate,
        der: bytes,
        role: str,
        profile: str | None,
        issuer: Role,
        key_label: str | None,
    ) -> None:
        session.add(
            Certificate(
                serial=serial_hex(cert.serial_number),
                role=role,
                profile=profile,
                subject=cert.subject.rfc4514_string(),
                issuer_serial=issuer.serial,
                key_label=key_label,
                not_before=cert.not_valid_before_utc.replace(tzinfo=None),
                not_after=cert.not_valid_after_utc.replace(tzinfo=None),
                der=der,
            )
        )

    def issue(
        self,
        profile: str,
        *,
        subject: x509.Name | str,
        csr: bytes | x509.CertificateSigningRequest | None = None,
        public_key: PublicKey | None = None,
        alt_names: Sequence[x509.GeneralName] = (),
        key_label: str | None = None,
        days: int | None = None,
        actor: str | None = None,
        client_id: str | None = None,
        ip: str | None = None,
        session: Session | None = None,
    ) -> Issued:
        """Issue an end-entity certificate by ``profile`` for a CSR or a public key.

        ``subject`` and ``alt_names`` are the identity the caller authenticated (a device
        entry, a department, a citizen, the operator's word), never taken from the CSR:
        a CSR's signature is checked (proof of possession) and a CSR that asks for any
        other name is refused (:mod:`certs.names`), as are CA-like and wildcard names.
        The issuance and its audit record land in one transaction: ``session`` if given,
        else a new one.
        """
        chosen = profiles.public_profile(profile)
        name = chosen.complete(parse_subject(subject), self.settings.ca_country)
        alt_names = list(alt_names)
        if csr is not None:
            request = csr if isinstance(csr, x509.CertificateSigningRequest) else load_csr(csr)
            if not request.is_signature_valid:
                raise AuthorityError(
                    "invalid_request", "the certificate request's signature does not verify"
                )
            _refuse_names(names.check_request, request, name, alt_names)
            public_key = request.public_key()  # type: ignore[assignment]
        elif chosen.requires_csr:
            raise profiles.ProfileError(
                "invalid_request", f"profile {profile} is issued only from a CSR"
            )
        if public_key is None:
            raise AuthorityError("invalid_request", "a CSR or a public key is needed")
        _check_public_key(public_key)
        chosen.check_subject(name)
        hierarchy = [r.certificate.subject for r in self.hierarchy_roles()]
        _refuse_names(names.check_identity, name, alt_names, hierarchy)
        days = chosen.days if days is None else days
        if not 1 <= days <= chosen.max_days:
            raise AuthorityError(
                "invalid_request", f"profile {profile} allows 1 to {chosen.max_days} days"
            )
        extra = []
        if alt_names:
            extra.append(
                x509.Extension(
                    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                    False,
                    x509.SubjectAlternativeName(alt_names),
                )
            )
        ca = self.ca
        cert = self._sign(
            chosen,
            name,
            public_key,
            ca,
            ca.key_label,
            days,
            extra,
            in_custody=key_label is not None,
        )
        issued = Issued(cert, serial_hex(cert.serial_number), profile, key_label, self.chain())
        if session is not None:
            self._record_issue(session, issued, actor, client_id, ip)
        else:
            with self.db.write() as own:
                self._record_issue(own, issued, actor, client_id, ip)
        return issued

    def _record_issue(self, session: Session, issued: Issued, actor, client_id, ip) -> None:
        der = issued.certificate.public_bytes(serialization.Encoding.DER)
        self._store(
            session, issued.certificate, der, "end", issued.profile, self.ca, issued.key_label
        )
        audit.record(
            session,
            "certs.issue",
            actor=actor,
            subject=issued.serial,
            client_id=client_id,
            ip=ip,
            profile=issued.profile,
            dn=issued.certificate.subject.rfc4514_string(),
            key_label=issued.key_label,
        )

    def issue_for_custody_key(
        self,
        profile: str,
        subject: x509.Name | str,
        label: str | None = None,
        *,
        algorithm: str | None = None,
        days: int | None = None,
        actor: str | None = None,
    ) -> Issued:
        """Issue a certificate for a key in custody, generating it under ``label`` if new.

        This is what signing uses: the department's key never leaves custody; sign with
        ``authority.custody.sign(issued.key_label, data, "sha256")``.
        """
        profiles.public_profile(profile)
        parse_subject(subject)
        self.ensure()
        label = label or f"{profile}-{secrets.token_hex(8)}"
        with self.db.write() as session:
            if self.custody.exists_in(session, label):
                public = self.custody.public_key(label)
            else:
                public = self.custody.generate(session, label, algorithm)
            return self.issue(
                profile,
                subject=subject,
                public_key=public,
                key_label=label,
                days=days,
                actor=actor,
                session=session,
            )

    # -- revocation -----------------------------------------------------------------------

    def revoke(
        self,
        serial: str | int,
        reason: str = "unspecified",
        *,
        compromised_at: datetime | None = None,
        actor: str | None = None,
        client_id: str | None = None,
        ip: str | None = None,
    ) -> Status:
        """Revoke a certificate, reissue its issuer's CRL and update the OCSP status, at once.

        ``compromised_at`` (naive UTC, not in the future, not before the certificate's
        notBefore) becomes the invalidityDate of the CRL entry and of OCSP answers: a
        signature whose proof of existence is not earlier fails verification. The
        database is the record; other processes learn of the revocation through a Redis
        stamp within 50 ms, or, if that write fails, within ``revocation_status_max_age``.
        """
        if reason not in REASONS:
            raise AuthorityError(
                "invalid_request", f"unknown reason {reason!r}; choose one of {', '.join(REASONS)}"
            )
        serial = serial_hex(serial)
        now = utcnow().replace(microsecond=0)
        if compromised_at is not None:
            compromised_at = compromised_at.replace(microsecond=0, tzinfo=None)
            if compromised_at > now:
                raise AuthorityError(
                    "invalid_request", "the compromise time cannot be in the future"
                )
        with self.db.write() as session:
            row = session.execute(
                select(Certificate).where(Certificate.serial == serial).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                raise AuthorityError("invalid_request", f"no certificate with serial {serial}")
            if row.role == "root":
                raise AuthorityError(
                    "invalid_request", "the root CA cannot be revoked by its own CRL"
                )
            if row.revoked_at is not None:
                raise AuthorityError("invalid_request", f"certificate {serial} is already revoked")
            if compromised_at is not None and compromised_at < row.not_before:
                raise AuthorityError(
                    "invalid_request", "the compromise time is before the certificate was issued"
                )
            row.revoked_at = now
            row.revocation_reason = reason
            row.invalidity_date = compromised_at
            issuer = next(r for r in self.hierarchy_roles() if r.serial == row.issuer_serial)
            session.flush()
            self._new_crl(session, issuer)
            audit.record(
                session,
                "certs.revoke",
                actor=actor,
                subject=serial,
                client_id=client_id,
                ip=ip,
                reason=reason,
                compromised_at=compromised_at.isoformat() + "Z" if compromised_at else None,
            )
            status = Status("revoked", row.revoked_at, reason, compromised_at)
        self._statuses.revoked()
        return status

    def status(self, serial: str) -> Status:
        """The status of a certificate issued by the issuing CA (current or earlier).

        Read from the database and remembered in this process for at most
        ``revocation_status_max_age`` seconds, less if any node revokes meanwhile
        (:mod:`certs.statuses`), so the OCSP responder's hot path makes no round trip.
        """
        return self._statuses.lookup(serial, self.status_now)

    def status_now(self, serial: str) -> Status:
        """The status as the database has it this moment (no cache)."""
        issuers = {r.serial for r in self.hierarchy_roles() if r.name == "ca"}
        with self.db.read() as session:
            row = session.execute(
                select(
                    Certificate.issuer_serial,
                    Certificate.revoked_at,
                    Certificate.revocation_reason,
                    Certificate.invalidity_date,
                ).where(Certificate.serial == serial)
            ).first()
        if row is None or row.issuer_serial not in issuers:
            return Status("unknown")
        if row.revoked_at is not None:
            return Status("revoked", row.revoked_at, row.revocation_reason, row.invalidity_date)
        return Status("good")

    # -- CRLs -----------------------------------------------------------------------------

    def crl_der(self, issuer: str = "ca") -> bytes:
        """The current CRL of ``issuer`` (``ca`` or ``root``), reissued past half its life."""
        role = self.ensure()[issuer]
        latest = self._latest_crl(role)
        refresh_after = timedelta(seconds=self.settings.crl_validity / 2)
        if latest is None or utcnow() >= latest.this_update + refresh_after:
            try:
                with self.db.write() as session:
                    fresh = self._latest_crl(role, session)
                    if fresh is None or utcnow() >= fresh.this_update + refresh_after:
                        self._new_crl(session, role)
            except IntegrityError:
                pass  # another process reissued it at the same moment
            latest = self._latest_crl(role)
        return latest.der  # type: ignore[union-attr]

    def _latest_crl(self, role: Role, session: Session | None = None) -> Crl | None:
        query = (
            select(Crl).where(Crl.issuer_serial == role.serial).order_by(Crl.number.desc()).limit(1)
        )
        if session is not None:
            return session.execute(query).scalar_one_or_none()
        with self.db.read() as own:
            return own.execute(query).scalar_one_or_none()

    def _new_crl(self, session: Session, issuer: Role) -> Crl:
        latest = self._latest_crl(issuer, session)
        number = 1 if latest is None else latest.number + 1
        now = utcnow().replace(microsecond=0)
        next_update = now + timedelta(seconds=self.settings.crl_validity)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.certificate.subject)
            .last_update(now)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.certificate.public_key()),
                False,
            )
        )
        revoked = session.execute(
            select(
                Certificate.serial,
                Certificate.revoked_at,
                Certificate.revocation_reason,
                Certificate.invalidity_date,
            )
            .where(Certificate.issuer_serial == issuer.serial, Certificate.revoked_at.is_not(None))
            .order_by(Certificate.revoked_at)
        ).all()
        for serial, revoked_at, reason, invalid_since in revoked:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial, 16))
                .revocation_date(revoked_at)
            )
            if reason and reason != "unspecified":  # RFC 5280 5.3.1: omit unspecified
                entry = entry.add_extension(x509.CRLReason(REASONS[reason]), False)
            if invalid_since is not None:  # RFC 5280 5.3.2
                entry = entry.add_extension(x509.InvalidityDate(invalid_since), False)
            builder = builder.add_revoked_certificate(entry.build())
        crl = sign_crl(builder, self.custody.signer(issuer.key_label))
        row = Crl(
            issuer_serial=issuer.serial,
            number=number,
            this_update=now,
            next_update=next_update,
            der=crl.public_bytes(serialization.Encoding.DER),
        )
        session.add(row)
        session.flush()
        return row

    # -- listing --------------------------------------------------------------------------

    def certificate_der(self, serial: str) -> bytes | None:
        """The DER of certificate ``serial`` (as :func:`serial_hex` writes it), or None when
        this CA issued none. Other packages ask here rather than read certs' tables (a
        department's seal, on every signature); remembered, as a certificate never changes."""
        found = self._ders.get(serial)
        if found is None:
            with self.db.read() as session:
                found = session.scalar(select(Certificate.der).where(Certificate.serial == serial))
            if found is not None and len(self._ders) < _REMEMBERED_DERS:
                self._ders[serial] = found
        return found

    def certificates(self) -> list[dict]:
        """Every certificate the CA has signed, oldest first."""
        with self.db.read() as session:
            rows = session.execute(select(Certificate).order_by(Certificate.created_at)).scalars()
            return [
                {
                    "serial": row.serial,
                    "role": row.role,
                    "profile": row.profile,
                    "subject": row.subject,
                    "not_before": row.not_before.isoformat() + "Z",
                    "not_after": row.not_after.isoformat() + "Z",
                    "status": "revoked" if row.revoked_at else "good",
                    "revoked_at": row.revoked_at.isoformat() + "Z" if row.revoked_at else None,
                    "reason": row.revocation_reason,
                    "key_label": row.key_label,
                }
                for row in rows
            ]


def _refuse_names(check, *args) -> None:
    try:
        check(*args)
    except names.NameRefused as refused:
        raise AuthorityError("invalid_request", str(refused)) from None


def authority(runtime: Runtime) -> Authority:
    """The :class:`Authority` of ``runtime``, one per runtime (:meth:`Runtime.shared`): it
    caches the hierarchy and the revocation statuses every thread of the process uses."""
    return runtime.shared(Authority)
