"""What a page knows of the browser in front of it: its SSO session and its flow cookie.

The SSO cookie (:data:`idp.sso.COOKIE`) holds the secret of the browser's single sign-on
session; the flow cookie is Flask's signed session (CSRF token, pending-login secret, the
interaction binding of :mod:`idp.interactions`, the page language).
"""

from __future__ import annotations

from flask import Response, request, session

from idp.context import services
from idp.interactions import BROWSER_KEY
from idp.sso import COOKIE, SsoSession

#: What a login keeps of the flow cookie: the page language, and the secret that binds
#: this browser's pending authorizations (never shown in a page, so never read from one).
_KEPT = ("ui_locales", BROWSER_KEY)


def current_sso() -> SsoSession | None:
    """The browser's SSO session, or None."""
    return services().provider.sso.load(request.cookies.get(COOKIE))


def set_sso_cookie(response: Response, secret: str) -> Response:
    response.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="Lax",
        secure=services().provider.settings.secure_cookies,
        path="/",
    )
    return response


def clear_sso_cookie(response: Response) -> Response:
    response.delete_cookie(COOKIE, path="/")
    return response


def rotate_browser_session() -> None:
    """Start the browser's signed session (CSRF token, pending-login secret) afresh, as a
    login succeeds: a session cookie planted before the login, or a token read from a
    page before it, is worth nothing after it (session fixation, issue 13). What
    :data:`_KEPT` names stays."""
    keep = {key: session[key] for key in _KEPT if key in session}
    session.clear()
    session.update(keep)


def remember_language(params) -> None:
    """A service's ``ui_locales`` becomes the pages' language for this browser."""
    if params.get("ui_locales"):
        session["ui_locales"] = params["ui_locales"][:64]
