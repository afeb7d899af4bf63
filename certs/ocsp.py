"""The OCSP responder (RFC 6960), signed by the delegated responder certificate.

Requests are parsed by a strict hand-written DER reader; responses are assembled from
precomputed DER fragments (responder id, algorithm, responder certificate) because this is
the hottest path of the CA. The status of a certificate comes from
:meth:`Authority.status`: remembered in this process until any node revokes a certificate
(:mod:`certs.statuses`), behind that Redis, then the database. A response to a request
without a nonce depends only on the CertID and the status, so it is kept in this process
keyed by both and reused for a few seconds: a revocation changes the
status and thus the key, so a cached ``good`` is never served after the revocation is
visible, and never longer than ``revocation_status_max_age``, so no answer's thisUpdate
is older than that bound. Requests with a nonce are signed fresh, and so are the answers
a signature embeds (:meth:`Responder.response_for` with ``fresh``).

Anything that is not a well-formed OCSPRequest gets ``malformedRequest``; the responder
never raises for a caller's bytes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from asn1crypto import algos
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs import der
from certs.authority import Authority, Role, serial_hex
from certs.builders import algorithm_identifier
from certs.statuses import Status
from config import metrics
from config.db import utcnow
from config.hourly import HourlyCounter

MALFORMED_REQUEST = der.sequence(der.enumerated(1))
INTERNAL_ERROR = der.sequence(der.enumerated(2))
_BASIC = bytes.fromhex("06092b0601050507300101")  # OID id-pkix-ocsp-basic
_HASHES = ("sha1", "sha256", "sha384", "sha512")
_MAX_CERT_IDS = 16
_MAX_NONCE = 128
_REASON_CODES = {
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
_CACHE_LIMIT = 50_000
_V1 = der.integer(0)  # the body of version [0] EXPLICIT when present
_NONCE = bytes.fromhex("2b0601050507300102")  # id-pkix-ocsp-nonce
_INVALIDITY_DATE = bytes.fromhex("0603551d18")  # OID 2.5.29.24, id-ce-invalidityDate
_HASH_OIDS = {
    bytes.fromhex("2b0e03021a"): "sha1",
    bytes.fromhex("608648016503040201"): "sha256",
    bytes.fromhex("608648016503040202"): "sha384",
    bytes.fromhex("608648016503040203"): "sha512",
}


@dataclass(frozen=True)
class _CertId:
    der: bytes
    hash_name: str
    name_hash: bytes
    key_hash: bytes
    serial: int


class Responder:
    """Answers OCSP requests about certificates of the issuing CA."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        ca = authority.ca.certificate
        responder = authority.ocsp
        name = ca.subject.public_bytes()
        key = _key_bits(ca)
        self._issuer_hashes = {
            h: (hashlib.new(h, name).digest(), hashlib.new(h, key).digest()) for h in _HASHES
        }
        self._use(responder)
        self._validity = timedelta(seconds=authority.settings.ocsp_validity)
        # An answer's thisUpdate is never older than the status bound (see module doc).
        self._reuse = min(
            authority.settings.ocsp_validity / 2, authority.settings.revocation_status_max_age
        )
        self._cache: dict[tuple[bytes, bytes], tuple[float, bytes]] = {}
        self._cache_lock = threading.Lock()
        # Issue 17: answers per hour for the console's overview (OCSP is not audited).
        self.answers = HourlyCounter(lambda: authority.runtime.redis, "ocsp")

    def _use(self, responder: Role) -> None:
        """Sign with ``responder`` (the current OCSP role) from now on."""
        self._serial = responder.serial
        self._signer = self.authority.custody.signer(responder.key_label)
        self._responder_id = der.explicit(
            2,
            der.octet_string(hashlib.sha1(_key_bits(responder.certificate)).digest()),  # noqa: S324 - RFC 6960 KeyHash
        )
        self._algorithm = algorithm_identifier(self._signer.algorithm)
        self._certs = der.explicit(0, der.sequence(responder.der))

    # -- entry points ---------------------------------------------------------------------

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSPResponse to a DER OCSPRequest; ``malformedRequest`` for garbage."""
        try:
            cert_ids, nonce = _parse(request_der)
        except (ValueError, IndexError):
            return MALFORMED_REQUEST
        return self._answer(cert_ids, nonce)

    def response_for(
        self, certificate: x509.Certificate, hash_name: str = "sha1", *, fresh: bool = False
    ) -> bytes:
        """The OCSPResponse for one of our certificates, as a client would get it (no nonce).

        ``fresh``: signed now, never a cached answer (what a signature embeds); its status
        is as recent as every status this process answers with (``revocation_status_max_age``).
        """
        name_hash, key_hash = self._issuer_hashes[hash_name]
        serial = certificate.serial_number
        cert_id = der.sequence(
            algos.DigestAlgorithm({"algorithm": hash_name}).dump(),
            der.octet_string(name_hash),
            der.octet_string(key_hash),
            der.integer(serial),
        )
        found = _CertId(cert_id, hash_name, name_hash, key_hash, serial)
        return self._answer([found], None, fresh=fresh)

    # -- internals ------------------------------------------------------------------------

    def _answer(self, cert_ids: list[_CertId], nonce: bytes | None, fresh: bool = False) -> bytes:
        current = self.authority.ocsp
        if current.serial != self._serial:  # rotated (onetrip ca rotate ocsp)
            with self._cache_lock:
                self._use(current)
                self._cache.clear()
        statuses = [self._status(c) for c in cert_ids]
        metrics.ocsp_answers(statuses)
        self.answers.add()
        cache_key = None
        if nonce is None and len(cert_ids) == 1 and not fresh:
            cache_key = (cert_ids[0].der, statuses[0].encode())
            hit = self._cache.get(cache_key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        now = utcnow().replace(microsecond=0)
        singles = [
            _single(c.der, s, now, now + self._validity)
            for c, s in zip(cert_ids, statuses, strict=True)
        ]
        parts = [self._responder_id, der.generalized_time(now), der.sequence(*singles)]
        if nonce is not None:
            parts.append(der.explicit(1, der.sequence(nonce)))
        tbs = der.sequence(*parts)
        signature = self._signer.sign(tbs, "sha256")
        basic = der.sequence(tbs, self._algorithm, der.bit_string(signature), self._certs)
        response = der.sequence(
            der.enumerated(0), der.explicit(0, der.sequence(_BASIC, der.octet_string(basic)))
        )
        if cache_key is not None:
            with self._cache_lock:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                expires = time.monotonic() + self._reuse
                self._cache[cache_key] = (expires, response)
        return response

    def _status(self, cert_id: _CertId) -> Status:
        if self._issuer_hashes.get(cert_id.hash_name) != (cert_id.name_hash, cert_id.key_hash):
            return Status("unknown")
        return self.authority.status(serial_hex(cert_id.serial))


def _key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's bits, which OCSP key hashes cover."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bit_string = der.elements(spki)[1]
    _, body, end = der.header(bit_string, 0)
    return bit_string[body + 1 : end]  # after the unused-bits octet


def _single(cert_id: bytes, status: Status, this_update, next_update) -> bytes:
    if status.state == "good":
        cert_status = b"\x80\x00"
    elif status.state == "unknown":
        cert_status = b"\x82\x00"
    else:
        info = der.generalized_time(status.revoked_at)
        if status.reason in _REASON_CODES:
            info += der.explicit(0, der.enumerated(_REASON_CODES[status.reason]))
        cert_status = der.tlv(0xA1, info)
    parts = [
        cert_id,
        cert_status,
        der.generalized_time(this_update),
        der.explicit(0, der.generalized_time(next_update)),
    ]
    if status.state == "revoked" and status.compromised_at is not None:
        # RFC 6960 4.4: CRL entry extensions may be singleExtensions; invalidityDate, 5.3.2.
        extension = der.sequence(
            _INVALIDITY_DATE, der.octet_string(der.generalized_time(status.compromised_at))
        )
        parts.append(der.explicit(1, der.sequence(extension)))
    return der.sequence(*parts)


def _parse(request_der: bytes) -> tuple[list[_CertId], bytes | None]:
    """The CertIDs and the nonce extension (whole, to echo) of a DER OCSPRequest.

    Written by hand over :func:`der.read` rather than with asn1crypto, whose parsing was a
    large share of a whole answer (README, Speed); ``cryptography``'s parser is fast but
    accepts only one CertID. Raises ``ValueError`` for anything that is not strict DER of RFC 6960's
    shape. A requestor signature, if any, is ignored (RFC 6960 4.1.2 makes it optional).
    """
    _, body, end = der.read(request_der, 0, len(request_der))
    outer = der.children(request_der, body, end)
    if end != len(request_der) or request_der[0] != 0x30 or not 1 <= len(outer) <= 2:
        raise ValueError("not an OCSPRequest")
    if outer[0][0] != 0x30 or (len(outer) == 2 and outer[1][0] != 0xA0):
        raise ValueError("not an OCSPRequest")
    parts = der.children(request_der, outer[0][2], outer[0][3])
    tags = [tag for tag, *_ in parts]
    if tags and tags[0] == 0xA0:  # version [0] EXPLICIT, DEFAULT v1
        if request_der[parts[0][2] : parts[0][3]] != _V1:
            raise ValueError("unsupported version")
        parts, tags = parts[1:], tags[1:]
    if tags and tags[0] == 0xA1:  # requestorName
        parts, tags = parts[1:], tags[1:]
    if tags not in ([0x30], [0x30, 0xA2]):
        raise ValueError("not a TBSRequest")
    cert_ids = [_cert_id(request_der, *item) for item in _items(request_der, parts[0])]
    if not 1 <= len(cert_ids) <= _MAX_CERT_IDS:
        raise ValueError("bad number of CertIDs")
    nonce = None
    if len(parts) == 2:
        (wrapped,) = _items(request_der, parts[1])
        for extension in _items(request_der, wrapped):
            oid, critical, value = _extension(request_der, extension)
            if oid == _NONCE:
                if value > _MAX_NONCE:
                    raise ValueError("nonce too long")
                nonce = request_der[extension[1] : extension[3]]
            elif critical:
                raise ValueError("unsupported critical extension")
    return cert_ids, nonce


def _items(data: bytes, element: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """The children of ``element``, each of which must be a SEQUENCE."""
    found = der.children(data, element[2], element[3])
    if any(tag != 0x30 for tag, *_ in found):
        raise ValueError("a SEQUENCE was expected")
    return found


def _cert_id(data: bytes, _tag: int, start: int, body: int, end: int) -> _CertId:
    """Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] OPTIONAL }."""
    request = der.children(data, body, end)
    if not request or request[0][0] != 0x30 or [t for t, *_ in request[1:]] not in ([], [0xA0]):
        raise ValueError("not a Request")
    _, id_start, id_body, id_end = request[0]
    fields = der.children(data, id_body, id_end)
    if [tag for tag, *_ in fields] != [0x30, 0x04, 0x04, 0x02] or fields[3][2] == fields[3][3]:
        raise ValueError("not a CertID")
    algorithm = der.children(data, fields[0][2], fields[0][3])
    if not 1 <= len(algorithm) <= 2 or algorithm[0][0] != 0x06:
        raise ValueError("not an AlgorithmIdentifier")
    oid = data[algorithm[0][2] : algorithm[0][3]]
    return _CertId(
        data[id_start:id_end],
        _HASH_OIDS.get(oid, "unsupported"),
        data[fields[1][2] : fields[1][3]],
        data[fields[2][2] : fields[2][3]],
        int.from_bytes(data[fields[3][2] : fields[3][3]], "big", signed=True),
    )


def _extension(data: bytes, element: tuple[int, int, int, int]) -> tuple[bytes, bool, int]:
    """(OID body, critical, length of extnValue's contents) of one Extension."""
    fields = der.children(data, element[2], element[3])
    tags = [tag for tag, *_ in fields]
    if tags == [0x06, 0x04]:
        critical = False
    elif tags == [0x06, 0x01, 0x04] and fields[1][3] - fields[1][2] == 1:
        critical = data[fields[1][2]] != 0
    else:
        raise ValueError("not an Extension")
    value = fields[-1]
    return data[fields[0][2] : fields[0][3]], critical, value[3] - value[2]


def responder(authority: Authority) -> Responder:
    """The responder of ``authority``, one per CA (:meth:`~config.runtime.Sharing.shared`): its
    precomputed fragments, key and answer cache serve every thread of the process."""
    return authority.shared(Responder)
