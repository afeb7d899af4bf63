"""Error answers: JSON ``{"error", "error_description"}`` for APIs, a page for browsers.

No caller ever sees a stack trace: unexpected errors are logged with a reference (the
request id, also in the ``X-Request-Id`` header) that the answer repeats, so an operator
can find the log line. An unreachable database or Redis is not a bug: the caller gets 503
"service temporarily unavailable" with ``Retry-After`` and the node recovers by itself.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from config.outage import unavailable_service

log = logging.getLogger("onetrip")


class ApiError(Exception):
    """A refusal with an error code, a description, and an HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/oauth/", "/csc/", "/.well-known/", "/pki", "/connect/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def json_error(error: str, description: str, status: int) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response


def _page(status: int, title: str, description: str) -> Response:
    return Response(
        render_template("error.html", status=status, title=title, description=description),
        status=status,
    )


def install(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        if wants_json():
            return json_error(exc.error, exc.description, exc.status)
        return _page(exc.status, exc.error, exc.description)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        error = {
            400: "invalid_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            429: "too_many_requests",
        }.get(code, "server_error")
        if wants_json():
            response = json_error(error, exc.description or exc.name, code)
        else:
            response = _page(code, exc.name, exc.description or "")
        if code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        ref = request.environ.get("onetrip.request_id") or secrets.token_hex(8)
        if service := unavailable_service(exc):
            log.warning("%s unavailable ref=%s path=%s: %s", service, ref, request.path, exc)
            return _unavailable(ref)
        log.exception("unhandled error ref=%s path=%s", ref, request.path)
        description = f"The server could not complete this request (reference {ref})."
        if wants_json():
            return json_error("server_error", description, 500)
        return _page(500, InternalServerError.name, description)


def _unavailable(ref: str) -> Response:
    description = (
        f"The service is temporarily unavailable; please try again shortly (reference {ref})."
    )
    # Browsers reach /oauth/authorize too: a page for whoever asks for HTML first.
    if wants_json() and request.accept_mimetypes.best != "text/html":
        response = json_error("temporarily_unavailable", description, 503)
    else:
        response = _page(503, "Service temporarily unavailable", description)
    response.headers["Retry-After"] = "5"
    return response
