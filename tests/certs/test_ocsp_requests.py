"""OCSP requests of every shape RFC 6960 allows are answered; anything else is malformedRequest.

The responder reads requests with its own strict DER reader, so these tests feed it what
OpenSSL and ``cryptography`` send, what they could send (several CertIDs, SHA-256 CertIDs,
a requestor name and signature) and broken variants of each.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certs import der
from certs.ocsp import MALFORMED_REQUEST, responder

_NONCE_OID = der.tlv(0x06, bytes.fromhex("2b0601050507300102"))


def _cert_id(ca, certificate, algorithm=hashes.SHA1()) -> bytes:
    """The DER CertID of ``certificate`` as ``cryptography`` encodes it."""
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, ca.ca.certificate, algorithm)
    tbs = der.elements(request.build().public_bytes(serialization.Encoding.DER))[0]
    request_list = der.elements(tbs)[0]
    return der.elements(der.elements(request_list)[0])[0]


def _request(*cert_ids: bytes, extensions: bytes = b"", before: bytes = b"", after=b"") -> bytes:
    """OCSPRequest { TBSRequest { before, requestList, extensions }, after }."""
    requests = der.sequence(*(der.sequence(c) for c in cert_ids))
    tbs = der.sequence(before, requests, der.explicit(2, extensions) if extensions else b"")
    return der.sequence(tbs, after)


def _extension(oid: bytes, value: bytes, critical: bool = False) -> bytes:
    return der.sequence(oid, b"\x01\x01\xff" if critical else b"", der.octet_string(value))


def _answers(body: bytes) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


@pytest.fixture
def two(ca):
    """A good and a revoked certificate of the issuing CA."""
    good = ca.issue_for_custody_key("citizen", "CN=Good Citizen").certificate
    revoked = ca.issue_for_custody_key("citizen", "CN=Revoked Citizen")
    ca.revoke(revoked.serial, "keyCompromise")
    return good, revoked.certificate


def test_openssl_request_for_two_certificates_answers_both_in_openssl(ca, two, pki, openssl, pem):
    for name, cert in zip(("good", "revoked"), two, strict=True):
        (pki / f"{name}.pem").write_bytes(pem(cert))
    files = ["-issuer", str(pki / "ca.pem"), "-cert", str(pki / "good.pem")]
    files += ["-cert", str(pki / "revoked.pem")]
    openssl("ocsp", *files, "-reqout", str(pki / "req.der"))
    (pki / "resp.der").write_bytes(responder(ca).respond((pki / "req.der").read_bytes()))
    out = openssl(
        "ocsp", *files, "-reqin", str(pki / "req.der"), "-respin", str(pki / "resp.der"),
        "-CAfile", str(pki / "root.pem"), "-no_nonce",
    ).stdout  # fmt: skip
    assert b"good.pem: good" in out
    assert b"revoked.pem: revoked" in out


def test_sha256_cert_id_is_answered_and_echoed_byte_for_byte(ca, two):
    cert_id = _cert_id(ca, two[0], hashes.SHA256())
    response = _answers(responder(ca).respond(_request(cert_id)))
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response.hash_algorithm.name == "sha256"
    assert cert_id in response.tbs_response_bytes


def test_nonce_is_echoed_and_a_version_requestor_and_signature_are_accepted(ca, two):
    nonce = _extension(_NONCE_OID, der.octet_string(b"\x42" * 16))
    version = der.explicit(0, der.integer(0))
    requestor = der.explicit(1, der.tlv(0x82, b"client.example"))  # dNSName
    signature = der.explicit(0, der.sequence(der.sequence(der.tlv(0x06, b"\x2a")), b"\x03\x01\x00"))
    request = _request(
        _cert_id(ca, two[1]), extensions=der.sequence(nonce), before=version + requestor,
        after=signature,
    )  # fmt: skip
    response = _answers(responder(ca).respond(request))
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"\x42" * 16


def test_unknown_non_critical_extension_is_ignored(ca, two):
    other = _extension(der.tlv(0x06, b"\x2a\x03"), b"\x05\x00")
    response = _answers(
        responder(ca).respond(_request(_cert_id(ca, two[0]), extensions=der.sequence(other)))
    )
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD


def test_cert_id_with_an_unsupported_hash_answers_unknown(ca, two):
    cert_id = _cert_id(ca, two[0])
    md5 = der.sequence(der.tlv(0x06, bytes.fromhex("2a864886f70d0205")), b"\x05\x00")
    md5_cert_id = der.sequence(md5, *der.elements(cert_id)[1:])
    response = _answers(responder(ca).respond(_request(md5_cert_id)))
    assert response.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def _malformed(ca, two) -> dict[str, bytes]:
    cert_id = _cert_id(ca, two[0])
    good = _request(cert_id)
    return {
        "empty": b"",
        "not DER": b"GET / HTTP/1.1\r\n",
        "truncated": good[:-1],
        "trailing bytes": good + b"\x00",
        "indefinite length (BER)": b"\x30\x80" + good[2:] + b"\x00\x00",
        "non-minimal length": b"\x30\x81" + good[1:],
        "no CertID": _request(),
        "seventeen CertIDs": _request(*[cert_id] * 17),
        "version 2": _request(cert_id, before=der.explicit(0, der.integer(1))),
        "CertID without serial": _request(der.sequence(*der.elements(cert_id)[:3])),
        "critical unknown extension": _request(
            cert_id,
            extensions=der.sequence(_extension(der.tlv(0x06, b"\x2a\x03"), b"", critical=True)),
        ),
        "nonce over 128 bytes": _request(
            cert_id, extensions=der.sequence(_extension(_NONCE_OID, der.octet_string(b"n" * 129)))
        ),
        "a TimeStampReq": der.sequence(der.integer(1), der.sequence(b"")),
    }


def test_malformed_requests_get_malformed_request_never_an_exception(ca, two):
    for name, body in _malformed(ca, two).items():
        assert responder(ca).respond(body) == MALFORMED_REQUEST, name
