"""The adapter from OneTrip's CA (``certs``) to what the signing engine needs.

Everything is in-process: certificates from the hierarchy, signatures from key custody,
OCSP answers from the responder object, CRLs from the CA, time-stamps from the TSA object.
Converts between ``cryptography`` certificates (what ``certs`` speaks) and asn1crypto ones
(what pyHanko speaks).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import x509
from cryptography import x509 as pyca_x509

from certs.authority import authority
from certs.ocsp import responder
from certs.tsa import time_stamp_authority
from config.runtime import Runtime


@functools.lru_cache(maxsize=256)
def _asn1(der: bytes) -> x509.Certificate:
    return x509.Certificate.load(der)


class CaAuthority:
    """Implements :class:`signing.engine.Authority` over ``certs``.

    The hierarchy is read through :meth:`Authority.ensure` on each use, so a rotated TSA
    takes over here too; asn1crypto copies are made once per certificate.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.ca = authority(runtime)
        self.ca.ensure()

    def _role(self, name: str) -> x509.Certificate:
        return _asn1(self.ca.ensure()[name].der)

    @property
    def _ours(self) -> set[bytes]:
        return {self._role("ca").subject.dump()}

    def root(self) -> x509.Certificate:
        return self._role("root")

    def chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        return [self._role("ca"), self._role("root")]

    def tsa_chain(self) -> list[x509.Certificate]:
        return [self._role("tsa"), self._role("ca"), self._role("root")]

    def hierarchy(self) -> list[x509.Certificate]:
        """Every certificate OneTrip's hierarchy ever had, retired TSA and OCSP ones too."""
        return [_asn1(r.der) for r in self.ca.hierarchy_roles()]

    def status_of(self, cert: x509.Certificate) -> dict | None:
        """OneTrip's status of ``cert`` this moment, or None if OneTrip did not issue it."""
        ours = {r.certificate.subject.public_bytes() for r in self.ca.hierarchy_roles()}
        if cert.issuer.dump() not in ours:
            return None
        status = self.ca.status_now(format(cert.serial_number, "x"))
        if status.state == "unknown":
            return None

        def moment(value):
            return value.replace(tzinfo=UTC).isoformat() if value is not None else None

        return {
            "state": status.state,
            "revoked_at": moment(status.revoked_at),
            "reason": status.reason,
            "compromised_at": moment(status.compromised_at),
            "checked_at": datetime.now(UTC).isoformat(),
        }

    def sign(self, key_label: str, data: bytes, hash_name: str) -> bytes:
        return self.ca.custody.sign(key_label, data, hash_name)

    def timestamp(self, request_der: bytes) -> bytes:
        return time_stamp_authority(self.ca).respond(request_der)

    def ocsp_now(self, certs: Iterable[x509.Certificate]) -> list[bytes]:
        """OCSP answers signed now for every end-entity certificate our issuing CA signed.

        Signed afresh, never taken from the responder's cache, so an answer embedded in a
        signature is never older than the signature itself (EN 319 102-1 freshness).
        """
        answer = responder(self.ca)
        ocsps, seen = [], set()
        for cert in certs:
            if cert.issuer.dump() in self._ours and cert.serial_number not in seen:
                seen.add(cert.serial_number)
                pyca = pyca_x509.load_der_x509_certificate(cert.dump())
                ocsps.append(answer.response_for(pyca, fresh=True))
        return ocsps

    def crls(self) -> tuple[list[bytes], float]:
        """The root's CRL (it covers the issuing CA) and the seconds it stays fresh.

        End entities are covered by OCSP (:meth:`ocsp_now`) and the OCSP responder's
        certificate carries id-pkix-ocsp-nocheck, so with the root CRL every certificate
        of a path up to the root has the revocation data it needs.
        """
        return [self.ca.crl_der("root")], self.ca.settings.crl_validity / 2

    def live_revinfo(self, certs: Iterable[x509.Certificate]) -> tuple[list[bytes], list[bytes]]:
        """Current answers for ``certs`` and for OneTrip's TSA (whose tokens they may carry)."""
        return self.ocsp_now([*certs, *self.tsa_chain()]), self.crls()[0]


def ca_authority(runtime: Runtime) -> CaAuthority:
    """The :class:`CaAuthority` of ``runtime``, one per runtime
    (:meth:`~config.runtime.Sharing.shared`), over the runtime's one CA."""
    return runtime.shared(CaAuthority)
