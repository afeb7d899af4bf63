"""HTTP face of the CA: certificates, CRLs, OCSP (RFC 6960), TSA (RFC 3161), EST (RFC 7030).

Thin: each view parses the request, calls the service and answers in the protocol's own
media type. Protocol errors are protocol answers (``malformedRequest``, a PKIStatus
rejection, EST's plain-text 4xx), never a 500; anything else refused (an unknown PKI
object) raises :class:`config.errors.Refusal` for the app's one error handler.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from flask import Blueprint, Response, jsonify, request

from certs import der
from certs.authority import authority
from certs.est import Enrollment, EstError
from certs.ocsp import MALFORMED_REQUEST, responder
from certs.tsa import rejection, time_stamp_authority
from config.errors import Refusal
from config.runtime import Runtime

_MAX_PROTOCOL_BODY = 64 * 1024
_CERT_ROLES = ("root", "ca", "ocsp", "tsa")


def _ocsp_answer(body: bytes, cacheable: bool) -> Response:
    response = Response(body, mimetype="application/ocsp-response")
    if cacheable:
        response.headers["Cache-Control"] = "max-age=60, public"
    return response


def _pkcs7_base64(certificates) -> Response:
    der = pkcs7.serialize_certificates(certificates, serialization.Encoding.DER)
    body = base64.encodebytes(der)
    response = Response(body, mimetype="application/pkcs7-mime")
    response.headers["Content-Type"] = "application/pkcs7-mime; smime-type=certs-only"
    response.headers["Content-Transfer-Encoding"] = "base64"
    return response


def _est_error(message: str, status: int = 400) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def _est_unauthorized(message: str) -> Response:
    response = _est_error(message, 401)
    response.headers["WWW-Authenticate"] = 'Basic realm="OneTrip EST", Bearer'
    return response


#: CsrAttrs (RFC 7030 4.5.2): SEQUENCE { ecdsa-with-SHA256,
#: SEQUENCE { id-ecPublicKey, SET { secp256r1 } } }.
_CSR_ATTRS = der.sequence(
    bytes.fromhex("06082a8648ce3d040302"),
    der.sequence(
        bytes.fromhex("06072a8648ce3d0201"), der.tlv(0x31, bytes.fromhex("06082a8648ce3d030107"))
    ),
)


def create_blueprint(runtime: Runtime, require_token) -> Blueprint:
    bp = Blueprint("certs", __name__)
    ca = authority(runtime)
    ca.ensure()

    @bp.get("/pki")
    def index():
        return jsonify(ca.urls())

    @bp.get("/pki/<role>.<ext>")
    def certificate(role: str, ext: str):
        if ext == "crl" and role in ("root", "ca"):
            return Response(ca.crl_der(role), mimetype="application/pkix-crl")
        if role not in _CERT_ROLES or ext not in ("cer", "crt", "der", "pem"):
            raise Refusal("not_found", "no such PKI object", 404)
        cert = ca.ensure()[role].certificate
        if ext == "pem" or request.args.get("format") == "pem":
            return Response(
                cert.public_bytes(serialization.Encoding.PEM), mimetype="application/x-pem-file"
            )
        return Response(
            cert.public_bytes(serialization.Encoding.DER), mimetype="application/pkix-cert"
        )

    @bp.post("/pki/ocsp")
    def ocsp_post():
        if (request.content_length or 0) > _MAX_PROTOCOL_BODY:
            return _ocsp_answer(MALFORMED_REQUEST, False)
        return _ocsp_answer(responder(ca).respond(request.get_data()), False)

    @bp.get("/pki/ocsp/<path:encoded>")
    def ocsp_get(encoded: str):
        try:
            der = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return _ocsp_answer(MALFORMED_REQUEST, False)
        return _ocsp_answer(responder(ca).respond(der), True)

    @bp.post("/pki/tsa")
    def tsa():
        if (request.content_length or 0) > _MAX_PROTOCOL_BODY:
            body = rejection("bad_request", "the request is too large")
        else:
            body = time_stamp_authority(ca).respond(request.get_data())
        return Response(body, mimetype="application/timestamp-reply")

    enrollment = Enrollment(ca)

    @bp.get("/.well-known/est/cacerts")
    def est_cacerts():
        return _pkcs7_base64(list(ca.chain()))

    @bp.get("/.well-known/est/csrattrs")
    def est_csrattrs():
        """RFC 7030 4.5: what a request should carry; here the key and signature algorithms
        OneTrip's own keys use (names come from the identity, so none are asked for)."""
        body = base64.encodebytes(_CSR_ATTRS)
        response = Response(body, mimetype="application/csrattrs")
        response.headers["Content-Transfer-Encoding"] = "base64"
        return response

    def _identity():
        """The authenticated EST client (see :mod:`certs.est`); None if nobody."""
        peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get(
            "REMOTE_ADDR", request.environ.get("REMOTE_ADDR")
        )
        forwarded = request.headers.get("X-SSL-Client-Cert", "")
        if forwarded and request.headers.get("X-SSL-Client-Verify") == "SUCCESS":
            found = enrollment.by_client_certificate(forwarded, peer)
            if found is not None:
                return found
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            found = enrollment.by_secret(auth.username or "", auth.password or "")
            if found is None:
                runtime.audit.record(
                    "certs.est.refused", actor=auth.username, ip=request.remote_addr
                )
            return found
        token = require_token.authenticate()
        if token is None:
            return None
        if "pki:enroll" not in token.scopes:
            raise EstError("forbidden", "the access token lacks scope pki:enroll", 403)
        return enrollment.by_token(token.client_id, token.username)

    def _enroll(renew: bool):
        if request.mimetype != "application/pkcs10":
            return _est_error("the Content-Type must be application/pkcs10", 415)
        if (request.content_length or 0) > _MAX_PROTOCOL_BODY:
            return _est_error("the request is too large", 413)
        try:
            identity = _identity()
        except EstError as refused:
            if refused.status == 401:
                return _est_unauthorized(refused.description)
            return _est_error(refused.description, refused.status)
        if identity is None:
            return _est_unauthorized("authenticate with a device secret, a token or a certificate")
        try:
            csr = base64.b64decode(b"".join(request.get_data().split()), validate=True)
        except (binascii.Error, ValueError):
            return _est_error("the body is not base64")
        try:
            issued = enrollment.enroll(identity, csr, renew=renew, ip=request.remote_addr)
        except EstError as refused:
            return _est_error(refused.description, refused.status)
        return _pkcs7_base64([issued.certificate])

    @bp.post("/.well-known/est/simpleenroll")
    def est_simpleenroll():
        return _enroll(renew=False)

    @bp.post("/.well-known/est/simplereenroll")
    def est_simplereenroll():
        return _enroll(renew=True)

    return bp
