"""The adapter from OneTrip's CA (``certs``) to what the signing engine needs.

Everything is in-process: certificates from the hierarchy, signatures from key custody,
OCSP answers from the responder object, CRLs from the CA, time-stamps from the TSA object.
Converts between ``cryptography`` certificates (what ``certs`` speaks) and asn1crypto ones
(what pyHanko speaks).
"""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import x509
from cryptography import x509 as pyca_x509

from certs.authority import authority
from certs.ocsp import responder
from certs.tsa import time_stamp_authority
from config.memo import per_owner
from config.runtime import Runtime


def _asn1(der: bytes) -> x509.Certificate:
    return x509.Certificate.load(der)


class CaAuthority:
    """Implements :class:`signing.engine.Authority` over ``certs``."""

    def __init__(self, runtime: Runtime) -> None:
        self.ca = authority(runtime)
        roles = self.ca.ensure()
        self._root = _asn1(roles["root"].der)
        self._issuing = _asn1(roles["ca"].der)
        self._tsa_cert = _asn1(roles["tsa"].der)
        self._ours = {self._issuing.subject.dump()}

    def root(self) -> x509.Certificate:
        return self._root

    def chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        return [self._issuing, self._root]

    def tsa_chain(self) -> list[x509.Certificate]:
        return [self._tsa_cert, self._issuing, self._root]

    def sign(self, key_label: str, data: bytes, hash_name: str) -> bytes:
        return self.ca.custody.sign(key_label, data, hash_name)

    def timestamp(self, request_der: bytes) -> bytes:
        return time_stamp_authority(self.ca).respond(request_der)

    def revinfo(self, certs: Iterable[x509.Certificate]) -> tuple[list[bytes], list[bytes], float]:
        """OCSP for end-entity certificates our issuing CA signed, plus both CRLs.

        The root CRL covers the issuing CA; the OCSP responder's certificate carries
        id-pkix-ocsp-nocheck, so the chain is complete without fetching anything.
        """
        answer = responder(self.ca)
        ocsps = []
        seen = set()
        for cert in certs:
            if cert.issuer.dump() in self._ours and cert.serial_number not in seen:
                seen.add(cert.serial_number)
                ocsps.append(answer.response_for(pyca_x509.load_der_x509_certificate(cert.dump())))
        crls = [self.ca.crl_der("root"), self.ca.crl_der("ca")]
        return ocsps, crls, self.ca.settings.ocsp_validity / 2

    def live_revinfo(self, certs: Iterable[x509.Certificate]) -> tuple[list[bytes], list[bytes]]:
        """Current answers for ``certs`` and for OneTrip's TSA (whose tokens they may carry)."""
        ocsps, crls, _ = self.revinfo([*certs, *self.tsa_chain()])
        return ocsps, crls


@per_owner
def ca_authority(runtime: Runtime) -> CaAuthority:
    """The process-wide :class:`CaAuthority` of ``runtime``."""
    return CaAuthority(runtime)
