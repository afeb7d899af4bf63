"""The time-stamp authority (RFC 3161), signing with the time-stamping certificate.

``cryptography`` has no RFC 3161 support and pyHanko's time-stamper is a test double
over in-memory keys, so the token is written here: requests are parsed with asn1crypto,
the static parts (policy, TSA name, ESS signing-certificate-v2, signer id) are encoded
once with asn1crypto, and each token is concatenated from them as DER (building
asn1crypto objects per request cost many times the signature itself: README, Speed) and
signed through custody.

With ``certReq`` the token carries the TSA's certificate and the issuing CA's (RFC 3161
2.4.1 asks for at least the former), so a verifier that trusts only the root builds the
path from the token alone.

Each TSTInfo has the policy from settings, a one-second accuracy, the request's nonce
and a serial number from one Redis counter: an atomic script returns
``max(counter + 1, now in microseconds)``, so serials strictly increase across all
processes and nodes, and still do after Redis loses its data (below a million a second).

Every problem with a request (not DER, wrong version, unsupported hash, wrong digest
length, unknown policy, extensions) is answered with a ``rejection`` PKIStatus and the
matching failInfo bit; :meth:`TimeStampAuthority.respond` never raises for caller input.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509

from certs import der
from certs.authority import Authority, Role
from certs.builders import algorithm_identifier

_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_NEXT_SERIAL = """
local v = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if v < floor then
  redis.call('SET', KEYS[1], ARGV[1])
  v = floor
end
return v
"""
_SERIAL_KEY = "certs:tsa:serial"
_VERSION_1 = der.integer(1)
_ONE_SECOND = der.sequence(der.integer(1))  # Accuracy ::= SEQUENCE { seconds 1 }
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_MESSAGE_DIGEST = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()
_TST_INFO = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_SIGNED_DATA = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_GRANTED = der.sequence(der.integer(0))  # PKIStatusInfo { status granted }


class _RejectedError(Exception):
    def __init__(self, fail_info: str, text: str) -> None:
        super().__init__(text)
        self.fail_info = fail_info


def rejection(fail_info: str, text: str) -> bytes:
    """A TimeStampResp with PKIStatus ``rejection``, the failInfo bit and a reason."""
    status = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({fail_info}),
        }
    )
    # asn1crypto's TimeStampResp wrongly makes the token mandatory: wrap the status by hand.
    return der.sequence(status.dump())


class TimeStampAuthority:
    """Issues RFC 3161 time-stamp tokens; one per process (see :func:`time_stamp_authority`)."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self._policy = authority.settings.tsa_policy
        self._policy_der = core.ObjectIdentifier(self._policy).dump()
        self._next_serial = authority.runtime.redis.register_script(_NEXT_SERIAL)
        self._lock = threading.Lock()
        self._use(authority.tsa)

    def _use(self, role: Role) -> None:
        """Sign with ``role`` (the current TSA certificate) from now on."""
        self._serial = role.serial
        self._signer = self.authority.custody.signer(role.key_label)
        self._certificate = asn1_x509.Certificate.load(role.der)
        # certReq: the TSA's certificate and its issuing CA's, so that any verifier can
        # build the path from the token alone up to the root it trusts.
        self._certificate_der = role.der + self.authority.ca.der
        self._tsa_name = der.explicit(
            0, asn1_x509.GeneralName(name="directory_name", value=self._certificate.subject).dump()
        )
        issuer_serial = {
            "issuer": [
                asn1_x509.GeneralName(name="directory_name", value=self._certificate.issuer)
            ],
            "serial_number": self._certificate.serial_number,
        }
        self._signing_certificate = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                "cert_hash": hashlib.sha256(role.der).digest(),
                                "issuer_serial": issuer_serial,
                            }
                        ]
                    }
                ],
            }
        ).dump()
        self._content_type = cms.CMSAttribute(
            {"type": "content_type", "values": ["tst_info"]}
        ).dump()
        self._sid = cms.IssuerAndSerialNumber(
            {"issuer": self._certificate.issuer, "serial_number": self._certificate.serial_number}
        ).dump()
        self._signature_algorithm = algorithm_identifier(self._signer.algorithm)

    def respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp to a DER TimeStampReq: a token, or a rejection."""
        try:
            request = _check(request_der, self._policy)
        except _RejectedError as refused:
            return rejection(refused.fail_info, str(refused))
        current = self.authority.tsa
        if current.serial != self._serial:  # rotated (onetrip ca rotate tsa)
            with self._lock:
                self._use(current)
        try:
            return self._grant(request)
        except Exception:
            return rejection("system_failure", "the time-stamp could not be produced")

    def _grant(self, request: tsp.TimeStampReq) -> bytes:
        """Assemble the token from precomputed DER (never asn1crypto objects per request:
        see the module docstring)."""
        serial = self._next_serial(keys=[_SERIAL_KEY], args=[time.time_ns() // 1000])
        parts = [
            _VERSION_1,
            self._policy_der,
            request["message_imprint"].dump(),
            der.integer(int(serial)),
            der.generalized_time(datetime.now(UTC)),
            _ONE_SECOND,
        ]
        if request["nonce"].native is not None:
            parts.append(request["nonce"].dump())
        parts.append(self._tsa_name)
        tst_info = der.sequence(*parts)
        digest = der.sequence(
            _MESSAGE_DIGEST, der.tlv(0x31, der.octet_string(hashlib.sha256(tst_info).digest()))
        )
        attributes = b"".join(sorted((self._content_type, digest, self._signing_certificate)))
        signature = self._signer.sign(der.tlv(0x31, attributes), "sha256")
        signer_info = der.sequence(
            _VERSION_1,
            self._sid,
            _SHA256,
            der.tlv(0xA0, attributes),
            self._signature_algorithm,
            der.octet_string(signature),
        )
        content = [
            der.integer(3),
            der.tlv(0x31, _SHA256),
            der.sequence(_TST_INFO, der.explicit(0, der.octet_string(tst_info))),
        ]
        if request["cert_req"].native:
            content.append(der.tlv(0xA0, self._certificate_der))
        content.append(der.tlv(0x31, signer_info))
        token = der.sequence(_SIGNED_DATA, der.explicit(0, der.sequence(*content)))
        return der.sequence(_GRANTED, token)


def _check(request_der: bytes, policy: str) -> tsp.TimeStampReq:
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        version = request["version"].native
        imprint = request["message_imprint"]
        hash_name = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        wanted_policy = request["req_policy"].native
        extensions = request["extensions"].native
        request["nonce"].native  # noqa: B018 - parse now, not while signing
        request["cert_req"].native  # noqa: B018
    except Exception:  # asn1crypto raises many types for malformed input
        raise _RejectedError("bad_data_format", "not a DER TimeStampReq") from None
    if version != "v1":
        raise _RejectedError("bad_request", "only version 1 requests are supported")
    if hash_name not in _DIGEST_SIZES:
        raise _RejectedError("bad_alg", "the imprint must be SHA-256, SHA-384 or SHA-512")
    if len(digest) != _DIGEST_SIZES[hash_name]:
        raise _RejectedError(
            "bad_data_format", f"a {hash_name} imprint has {_DIGEST_SIZES[hash_name]} bytes"
        )
    if wanted_policy is not None and wanted_policy != policy:
        raise _RejectedError("unaccepted_policy", f"this TSA issues under policy {policy} only")
    if extensions:
        raise _RejectedError("unaccepted_extensions", "no request extensions are supported")
    return request


def time_stamp_authority(authority: Authority) -> TimeStampAuthority:
    """The TSA of ``authority``, one per CA (:meth:`~config.runtime.Sharing.shared`): its key and
    precomputed attributes serve every thread of the process."""
    return authority.shared(TimeStampAuthority)


def in_process_timestamper(authority: Authority):
    """A pyHanko ``TimeStamper`` that asks this process's TSA directly (no HTTP)."""
    from pyhanko.sign.timestamps.api import TimeStamper

    tsa = time_stamp_authority(authority)

    class InProcessTimeStamper(TimeStamper):
        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            return tsp.TimeStampResp.load(tsa.respond(req.dump()))

    return InProcessTimeStamper()
