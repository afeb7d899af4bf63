"""Browser-facing protections: CSRF tokens on every form and strict response headers.

Also the session interface: Flask's builds an itsdangerous serializer on every request,
even one without a session cookie (OCSP, time-stamps, token and API calls), which cost
about 7% of an OCSP answer; :class:`_LazySessions` skips the cookie-less case and builds
one serializer per signing key instead of one per request.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from config.settings import Settings

_CSRF_KEY = "csrf"


def csrf_token() -> str:
    """The form token of this browser session, created on first use."""
    token = session.get(_CSRF_KEY)
    if not token:
        token = session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a form post whose ``csrf_token`` field does not match the session's."""
    sent = request.form.get("csrf_token", "")
    expected = session.get(_CSRF_KEY, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(
            400,
            description="The form has expired or did not come from this site. "
            "Go back, reload the page and try again.",
        )


class _LazySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with no serializer built for a request without one."""

    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._serializers.get(keys)
        if made is None:
            made = self._serializers[keys] = super().get_signing_serializer(app)
        return made

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what Flask returns too, minus the serializer
        return super().open_session(app, request)


#: What the endpoints a browser-based client calls from its own origin (token, revocation,
#: UserInfo; discovery and keys too) answer to any origin. None of them reads a cookie, so
#: ``*`` lends a page nothing it could not do itself (Fetch standard, CORS without
#: credentials).
CORS_ANSWER = [("Access-Control-Allow-Origin", "*")]
CORS_PREFLIGHT = [
    *CORS_ANSWER,
    ("Access-Control-Allow-Methods", "GET, POST"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
    ("Access-Control-Max-Age", "600"),
]


def response_headers(settings: Settings) -> list[tuple[str, str]]:
    """The headers every answer carries; pages get more (see :func:`install`)."""
    headers = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
    if settings.secure_cookies:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


def install(app: Flask, settings: Settings) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.session_interface = _LazySessions()
    every_answer = response_headers(settings)

    @app.after_request
    def _headers(response):
        headers = response.headers
        for name, value in every_answer:
            headers.setdefault(name, value)
        if response.mimetype == "text/html":
            headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; "
                "form-action 'self' *; base-uri 'none'",
            )
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        return response
