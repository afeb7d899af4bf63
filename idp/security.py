"""Browser-facing protections: CSRF on every form, and the response headers of every answer.

- :func:`install_csrf`: Flask-WTF's CSRFProtect, with the APIs exempt.
- The headers and the CORS rule are declared once here (:func:`response_headers`,
  :data:`PAGE_HEADERS`, :data:`CORS_ENDPOINTS`) and applied by both request paths: the
  Flask app's ``after_request`` (:func:`install`) and the token endpoints served ahead of
  Flask (:mod:`idp.token_endpoints`), each computing its lists once.
- The session interface: Flask's builds an itsdangerous serializer on every request, even
  one without a session cookie (OCSP, time-stamps, token and API calls);
  :class:`_LazySessions` skips the cookie-less case and builds one serializer per signing
  key instead of one per request.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import BadRequest

from config.settings import Settings

#: What a refused form says (the page is in the browser's language, see idp.errors).
FORM_EXPIRED = (
    "The form has expired or did not come from this site. Go back, reload the page and try again."
)


class _CSRFProtect(CSRFProtect):
    """Flask-WTF's CSRFProtect, for which a multipart part without a name (a ``None``
    key, found by the fuzzer) is a form without a token rather than a crash."""

    def _get_csrf_token(self) -> str | None:
        if None in request.form:
            return None
        return super()._get_csrf_token()


def install_csrf(
    app: Flask, exempt: list[Blueprint | Callable], after_gate: list[Blueprint]
) -> None:
    """Every form post of ``app`` must carry the ``csrf_token`` field of its page
    (Flask-WTF's :class:`~flask_wtf.csrf.CSRFProtect`; templates call ``csrf_token()``),
    except the blueprints and views of ``exempt``: JSON and bearer-token APIs, which no
    browser form reaches with the citizen's cookies, and requests that other sites post
    by design (an OAuth authorization request). A refusal is the 400 page (or JSON) of
    idp.errors. The forms of ``after_gate`` are checked after the blueprint's own
    ``before_request`` gate (the console answers 404 to whoever is not an operator, form
    token or not; the workspace sends a visitor to the login page first).

    The token lives as long as the flow cookie (as before: a login, which rotates the
    cookie, ends it), and no ``Referer`` is asked for on https: the pages send none
    (``Referrer-Policy: no-referrer``).
    """
    app.config.update(WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=False)
    protect = _CSRFProtect(app)
    for blueprint_or_view in exempt:
        protect.exempt(blueprint_or_view)
    for gated in after_gate:
        protect.exempt(gated)  # from the app's check, which runs before any blueprint's
        app.before_request_funcs.setdefault(gated.name, []).append(protect.protect)

    @app.errorhandler(CSRFError)
    def _refused(exc: CSRFError):
        return app.handle_http_exception(BadRequest(FORM_EXPIRED))


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
#: The endpoints that answer other origins, by the names metrics and the access log use:
#: Flask's views and the token endpoints served ahead of Flask alike. A single-page app
#: redeems its code and revokes its tokens; only resource servers introspect. Refusals
#: carry the header too, so that an app can read the 401 that says its token has lapsed.
CORS_ENDPOINTS = frozenset(
    {"discovery.discovery", "discovery.jwks", "userinfo.userinfo", "token.token", "token.revoke"}
)
#: What every HTML page carries besides :func:`response_headers`.
PAGE_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; "
        "form-action 'self' *; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
]


def response_headers(settings: Settings) -> list[tuple[str, str]]:
    """The headers every answer carries; pages get :data:`PAGE_HEADERS` too."""
    headers = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
    if settings.secure_cookies:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


def endpoint_headers(settings: Settings, endpoint: str | None) -> list[tuple[str, str]]:
    """The headers every answer of ``endpoint`` carries, CORS included where it applies.
    Computed once per endpoint by its server (see :func:`install` and
    :mod:`idp.token_endpoints`), never per request."""
    every = response_headers(settings)
    return [*every, *CORS_ANSWER] if endpoint in CORS_ENDPOINTS else every


def set_defaults(headers, defaults: list[tuple[str, str]]) -> None:
    """Add each of ``defaults`` that the view did not set itself."""
    for name, value in defaults:
        headers.setdefault(name, value)


def install(app: Flask, settings: Settings) -> None:
    """The Flask side of the headers (the token endpoints apply the same lists)."""
    app.session_interface = _LazySessions()
    plain, with_cors = response_headers(settings), [*response_headers(settings), *CORS_ANSWER]
    # endpoint_headers(settings, request.endpoint), without building a list per request

    @app.after_request
    def _headers(response):
        headers = response.headers
        set_defaults(headers, with_cors if request.endpoint in CORS_ENDPOINTS else plain)
        if response.mimetype == "text/html":
            set_defaults(headers, PAGE_HEADERS)
        return response
