"""Signing's HTTP face: sign and verify APIs, routes, the public verify page, CSC API v1.

The public ``/verify`` form is stateless and side-effect free: it reads the uploaded file,
answers with a report and stores nothing, with no session or cookie involved. A forged
cross-site post could only make a browser show its own user a report, so there is
nothing for a CSRF token to protect; the form therefore works without a session, on any
phone, without JavaScript.

Refusals (:class:`config.errors.Refusal`: a bad PDF, a department the caller is not a
member of, a CSC body that does not match its schema) propagate to the app's one error
handler, which answers ``{"error", "error_description"}``.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, Response, g, jsonify, render_template, request

from config import jsonbody
from config.runtime import Runtime
from signing import csc, departments, routes, service, texts
from signing.pdfs import PdfRefused
from signing.routes import Caller

B = TypeVar("B", bound=jsonbody.Body)


def _upload() -> tuple[bytes, str]:
    upload = request.files.get("file")
    if upload is None:
        raise PdfRefused("invalid_request", "send the PDF as multipart field 'file'")
    return upload.read(), upload.filename or "document.pdf"


def _flag(name: str) -> bool:
    return request.form.get(name, "").lower() in ("1", "true", "yes", "on")


def _caller() -> Caller:
    """Who calls, from the access token alone (signing never reads the provider's tables)."""
    token = g.token
    return Caller(token.user_id, token.username, token.client_id, request.remote_addr)


def _optional_int(name: str) -> int | None:
    raw = request.form.get(name)
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise PdfRefused("invalid_request", f"{name} must be a user id")
    return int(raw)


def create_blueprint(runtime: Runtime, require_token) -> Blueprint:
    bp = Blueprint("signing", __name__, template_folder="templates")
    bp.context_processor(lambda: {"_": texts.translate})  # the verify page: signing's words

    # -- sign and verify --------------------------------------------------------------------

    @bp.post("/api/v1/sign")
    @require_token("sign")
    def sign():
        data, filename = _upload()
        code = request.form.get("department", "")
        level = service.check_level(request.form.get("level"))
        user_id = g.token.user_id
        departments.require_member(runtime, code, user_id)
        signed, document_id = service.sign(
            runtime,
            data,
            code,
            level=level,
            stamp=_flag("stamp"),
            reason=request.form.get("reason") or None,
            filename=filename,
            user_id=user_id,
            actor=g.token.username,
            client_id=g.token.client_id,
            ip=request.remote_addr,
        )
        response = Response(signed, mimetype="application/pdf")
        response.headers["OneTrip-Document-Id"] = document_id
        response.headers["Location"] = service.engine(runtime).verify_url(document_id)
        return response

    @bp.post("/api/v1/verify")
    def verify_api():
        """The report as JSON, or with ``format=xml`` as ETSI TS 119 102-2 XML."""
        data, _ = _upload()
        if request.values.get("format") == "xml":
            return _xml_report(data)
        return jsonify(service.verify(runtime, data))

    def _xml_report(data: bytes) -> Response:
        response = Response(service.verify_xml(runtime, data), mimetype="application/xml")
        response.headers["Content-Disposition"] = 'attachment; filename="validation-report.xml"'
        return response

    @bp.route("/verify", methods=["GET", "POST"], endpoint="verify_page")
    @bp.route("/verify/<document_id>", methods=["GET", "POST"], endpoint="verify_page")
    def verify_page(document_id: str | None = None):
        record = service.find_document(runtime, document_id) if document_id else None
        context = {"record": record, "record_missing": document_id and record is None}
        status = 404 if context["record_missing"] else 200
        if request.method == "POST":
            try:
                data, _ = _upload()
                if request.form.get("format") == "xml":
                    return _xml_report(data)
                context["report"] = service.verify(runtime, data)
            except PdfRefused as exc:
                context["error"], context["error_code"], status = exc.description, exc.error, 400
        return render_template("signing/verify.html", **context), status

    # -- routes -----------------------------------------------------------------------------

    @bp.post("/api/v1/routes")
    @require_token("sign")
    def route_create():
        data, filename = _upload()
        codes = [c.strip() for v in request.form.getlist("departments") for c in v.split(",")]
        record = routes.create(
            runtime,
            data,
            [c for c in codes if c],
            filename=filename,
            caller=_caller(),
            citizen_id=_optional_int("citizen_id"),
            stamp=_flag("stamp"),
        )
        return jsonify(record), 201

    @bp.get("/api/v1/routes/<document_id>")
    @require_token("sign")
    def route_status(document_id: str):
        return jsonify(routes.status(runtime, document_id, _caller()))

    @bp.get("/api/v1/routes/<document_id>/document")
    @require_token("sign")
    def route_document(document_id: str):
        data = routes.document_bytes(runtime, document_id, _caller())
        return Response(data, mimetype="application/pdf")

    @bp.post("/api/v1/routes/<document_id>/approve")
    @require_token("sign")
    def route_approve(document_id: str):
        reason = request.form.get("reason") or None
        return jsonify(routes.approve(runtime, document_id, _caller(), reason=reason))

    @bp.post("/api/v1/routes/<document_id>/reject")
    @require_token("sign")
    def route_reject(document_id: str):
        return jsonify(
            routes.reject(runtime, document_id, _caller(), request.form.get("reason", ""))
        )

    # -- Cloud Signature Consortium API v1 --------------------------------------------------

    def _body() -> dict:
        """The request's JSON object, bounded in size and depth (:mod:`config.jsonbody`)."""
        return jsonbody.read_object(request.get_data(cache=True), runtime.settings.max_json_bytes)

    def _parsed(schema: type[B]) -> B:
        return jsonbody.validate(schema, _body())

    @bp.post("/csc/v1/info")
    def csc_info():
        return jsonify(csc.info(runtime))

    @bp.post("/csc/v1/credentials/list")
    @require_token("sign")
    def csc_list():
        _body()
        return jsonify(csc.credentials_list(runtime, g.token.user_id))

    @bp.post("/csc/v1/credentials/info")
    @require_token("sign")
    def csc_credential_info():
        return jsonify(
            csc.credentials_info(runtime, g.token.user_id, _parsed(csc.CredentialRequest))
        )

    @bp.post("/csc/v1/credentials/authorize")
    @require_token("sign")
    def csc_authorize():
        return jsonify(csc.authorize(runtime, g.token.user_id, _parsed(csc.AuthorizeRequest)))

    @bp.post("/csc/v1/signatures/signHash")
    @require_token("sign")
    def csc_sign_hash():
        token = g.token
        body = _parsed(csc.SignHashRequest)
        return jsonify(csc.sign_hash(runtime, token.user_id, token.username, token.client_id, body))

    return bp
