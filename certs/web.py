"""HTTP face of the CA: certificates, CRLs, OCSP (RFC 6960), TSA (RFC 3161), EST (RFC 7030).

Thin: each view parses the request, calls the service and answers in the protocol's own
media type. Protocol errors are protocol answers (``malformedRequest``, a PKIStatus
rejection, EST's plain-text 400), never a 500.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from flask import Blueprint, Response, g, jsonify, request

from certs.authority import AuthorityError, authority
from certs.ocsp import MALFORMED_REQUEST, responder
from certs.profiles import ProfileError
from certs.tsa import rejection, time_stamp_authority
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


def _est_error(message: str) -> Response:
    return Response(message + "\n", status=400, mimetype="text/plain")


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
            return jsonify(error="not_found", error_description="no such PKI object"), 404
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

    @bp.get("/.well-known/est/cacerts")
    def est_cacerts():
        return _pkcs7_base64(list(ca.chain()))

    @bp.post("/.well-known/est/simpleenroll")
    @require_token("pki:enroll")
    def est_simpleenroll():
        if (request.content_length or 0) > _MAX_PROTOCOL_BODY:
            return _est_error("the request is too large")
        try:
            csr = base64.b64decode(b"".join(request.get_data().split()), validate=True)
        except (binascii.Error, ValueError):
            return _est_error("the body is not base64")
        token = g.token
        try:
            issued = ca.issue(
                "device",
                csr=csr,
                actor=token.username or token.client_id,
                client_id=token.client_id,
                ip=request.remote_addr,
            )
        except (AuthorityError, ProfileError) as refused:
            return _est_error(str(refused))
        return _pkcs7_base64([issued.certificate])

    return bp
