"""Error answers, rendered here and nowhere else: JSON ``{"error", "error_description"}``
for APIs, the localized error page for browsers.

Views and services refuse by raising :class:`config.errors.Refusal` (``ApiError`` is the
same type, under the name idp's views have always raised); werkzeug's HTTP errors (404,
405, 413, ...) and unexpected exceptions are answered in the same two shapes. The fast
token path (:mod:`idp.token_endpoints`) answers ahead of Flask with the same functions.
No caller ever sees a stack trace: unexpected errors are logged with a reference (the
request id, also in the ``X-Request-Id`` header) that the answer repeats, so an operator
can find the log line. An unreachable database or Redis is not a bug: the caller gets 503
"service temporarily unavailable" with ``Retry-After`` and the node recovers by itself;
so is a full disk (see :mod:`config.outage`). Pages are in the browser's language.
"""

from __future__ import annotations

import json
import logging
import secrets

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from config.errors import Refusal
from config.outage import note_storage_full, unavailable_service
from idp.i18n import translate

log = logging.getLogger("onetrip")

#: The one error type (see :mod:`config.errors`), by the name idp's views raise it.
ApiError = Refusal


#: Endpoints under /oauth/ that browsers are sent to: their errors are pages for a browser.
_BROWSER_ENDPOINTS = (
    "/oauth/authorize",
    "/oauth/authorize/resume",
    "/oauth/consent",
    "/oauth/logout",
)


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if request.path in _BROWSER_ENDPOINTS:
        return best != "text/html" or request.accept_mimetypes.best != "text/html"
    if request.path.startswith(("/api/", "/oauth/", "/csc/", "/.well-known/", "/pki", "/connect/")):
        return True
    return best == "application/json"


def json_error(
    error: str, description: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    """``{"error", "error_description"}`` (RFC 6749 5.2); needs no Flask context."""
    body = json.dumps({"error": error, "error_description": description})
    return Response(body, status=status, mimetype="application/json", headers=headers)


def json_refusal(exc: Refusal) -> Response:
    """The JSON answer to a :class:`~config.errors.Refusal`, its headers included."""
    return json_error(exc.error, exc.description, exc.status, exc.headers)


def json_failure(exc: Exception, environ: dict) -> Response:
    """The JSON answer to an exception no handler expected (see :func:`_failure`)."""
    return _failure_json(*_failure(exc, environ))


_HTTP_ERRORS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    429: "too_many_requests",
}


def json_http_error(exc: HTTPException) -> Response:
    """The JSON answer to a werkzeug HTTP error (405, 413, ...)."""
    code = exc.code or 500
    error = _HTTP_ERRORS.get(code, "server_error")
    return _allow(json_error(error, exc.description or exc.name, code), exc)


def _allow(response: Response, exc: HTTPException) -> Response:
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


_UNAVAILABLE = "The service is temporarily unavailable; please try again shortly (reference {ref})."
_FAILED = "The server could not complete this request (reference {ref})."


def _failure(exc: Exception, environ: dict) -> tuple[int, str, str]:
    """Logs an unexpected exception under the request's reference; the status, the words
    the caller gets (an English template with ``{ref}``) and the reference: 503 while the
    database or Redis is unreachable or storage is full, else 500."""
    ref = environ.get("onetrip.request_id") or secrets.token_hex(8)
    path = environ.get("PATH_INFO", "")
    if service := unavailable_service(exc):
        if service == "storage":
            note_storage_full()
        log.warning("%s unavailable ref=%s path=%s: %s", service, ref, path, exc)
        return 503, _UNAVAILABLE, ref
    log.exception("unhandled error ref=%s path=%s", ref, path)
    return 500, _FAILED, ref


def _failure_json(status: int, description: str, ref: str) -> Response:
    error = "temporarily_unavailable" if status == 503 else "server_error"
    return _retry_later(json_error(error, description.format(ref=ref), status))


def _retry_later(response: Response) -> Response:
    if response.status_code == 503:
        response.headers["Retry-After"] = "5"
    return response


_TITLES = {
    "invalid_request": "The request is not valid",
    "access_denied": "Access denied",
    "not_found": "Not found",
    "forbidden": "Not allowed",
}


def _page(status: int, title: str, description: str) -> Response:
    return Response(
        render_template("error.html", status=status, title=title, description=description),
        status=status,
    )


def install(app: Flask) -> None:
    """Answer every refusal, HTTP error and unexpected exception of ``app`` as above."""

    @app.errorhandler(Refusal)
    def _refused(exc: Refusal):
        if wants_json():
            return json_refusal(exc)
        title = translate(_TITLES.get(exc.error) or HTTP_STATUS_CODES.get(exc.status, exc.error))
        page = _page(exc.status, title, translate(exc.description))
        page.headers.update(exc.headers)
        return page

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json():
            return json_http_error(exc)
        page = _page(exc.code or 500, translate(exc.name), translate(exc.description or ""))
        return _allow(page, exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        status, description, ref = _failure(exc, request.environ)
        # Browsers reach /oauth/authorize too: a page for whoever asks for HTML first.
        if wants_json() and (status == 500 or request.accept_mimetypes.best != "text/html"):
            return _failure_json(status, description, ref)
        title = "Internal Server Error" if status == 500 else "Service temporarily unavailable"
        page = _page(status, translate(title), translate(description, ref=ref))
        return _retry_later(page)
