"""What every console request passes through, and what every console view shares.

:func:`guard` (before each request): a signed-in account (else the login page, and back);
an operator role (else 404: the console does not exist for citizens); a second factor
from the last ``console_step_up_max_age`` seconds, i.e. the session's ``acr`` is the
face or the TOTP ACR and its ``auth_time`` recent (else the step-up page, and back); a
valid CSRF token on every POST. :func:`requires` then checks the view's permission
against the operator's roles (:mod:`idp.operators`), on the server, for every action.

:func:`headers` gives console answers a stricter policy than the citizen's pages: no
script at all, no inline style, forms only to this site, never framed.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from markupsafe import Markup

from biometrics.service import FaceService
from idp.activity import Activity
from idp.clients import FACE_ACR, TOTP_ACR
from idp.components import Components
from idp.context import services
from idp.i18n import translate
from idp.models import User
from idp.operators import allowed, roles_of
from idp.provider import Provider
from idp.sso import COOKIE, SsoSession

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: Second factors that open the console: a proofed face check, an authenticator's code.
STRONG_ACRS = (FACE_ACR, TOTP_ACR)
STEP_UP_ENDPOINT = "console.step_up"


@dataclass(frozen=True)
class Console:
    """The long-lived objects the console's views share: the composition root's
    (:mod:`idp.components`) and the console's own activity counters."""

    components: Components
    activity: Activity

    @property
    def faces(self) -> FaceService:
        return self.components.faces


@dataclass(frozen=True)
class Operator:
    user_id: int
    username: str
    name: str
    roles: frozenset[str]
    sso: SsoSession

    def may(self, permission: str) -> bool:
        return allowed(self.roles, permission)


def console_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint of the console: every request through :func:`guard`, every answer
    with :func:`headers`."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix, template_folder="../templates")
    bp.before_request(guard)
    bp.after_request(headers)
    return bp


def provider() -> Provider:
    return services().provider


def console() -> Console:
    return current_app.extensions["onetrip.console"]


def operator() -> Operator:
    return g.operator


def who() -> dict:
    """The ``actor`` and ``ip`` that every change records."""
    return {"actor": g.operator.username, "ip": request.remote_addr}


def fresh(sso: SsoSession, max_age: int) -> bool:
    return sso.acr in STRONG_ACRS and time.time() - sso.auth_time <= max_age


def opens_console(p: Provider, sso: SsoSession) -> bool:
    """A fresh face check, or a fresh code from an app enrolled for operators."""
    if not fresh(sso, p.settings.console_step_up_max_age):
        return False
    return sso.acr != TOTP_ACR or p.authenticators.for_operators(sso.user_id)


def guard():
    p = provider()
    sso = p.sso.load(request.cookies.get(COOKIE))
    if sso is None:
        return redirect(url_for("login.login", next=request.full_path.rstrip("?")))
    with p.db.read() as session:
        user = session.get(User, sso.user_id)
        roles = roles_of(session, sso.user_id) if user is not None else set()
    if user is None or user.disabled or not roles:
        abort(404)
    g.operator = Operator(user.id, user.username, user.name, frozenset(roles), sso)
    if request.endpoint != STEP_UP_ENDPOINT and not opens_console(p, sso):
        target = (
            request.full_path.rstrip("?") if request.method == "GET" else url_for("console.home")
        )
        return redirect(url_for(STEP_UP_ENDPOINT, next=target))
    return None


def headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def requires(permission: str):
    """The view needs ``permission``: 403 for an operator whose roles lack it."""

    def wrap(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if not g.operator.may(permission):
                abort(403, description=translate("Your role does not allow this."))
            return view(*args, **kwargs)

        return checked

    return wrap


def page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


# -- refusals in the operator's language -----------------------------------------------

#: Refusals of the services, in English, and the words the page shows for each; the
#: named groups fill the translated text's placeholders.
_REFUSALS = [
    (r"user '(?P<name>[^']+)' already exists", "The username {name} is taken."),
    (
        r"the username '(?P<name>[^']+)' belonged to an erased account",
        "The username {name} belonged to an erased account and cannot be used again.",
    ),
    (r"username must be .*", "A username has 3 to 64 characters: a-z, 0-9, '.', '_' or '-'."),
    (r"not an email address: .*", "That is not an e-mail address."),
    (r"name must not be empty", "The name must not be empty."),
    (r"no user '(?P<name>[^']+)'", "There is no account {name}."),
    (r"an operator cannot erase their own account", "An operator cannot erase their own account."),
    (r"password must have at least .*", "The password must have at least 8 characters."),
    (
        r"redirect_uri must use https .*|.*must use https \(http only on loopback\).*",
        "Addresses must use https (http only on this machine).",
    ),
    (
        r".* must be absolute and have no fragment.*",
        "Addresses must be absolute, without a #fragment.",
    ),
    (
        r"redirect_uris are required .*",
        "A service that signs citizens in needs at least one redirect address.",
    ),
    (r"client_name is required .*", "The service needs a name (at most 200 characters)."),
    (
        r"a public client cannot use the client_credentials grant",
        "A public client cannot use client credentials.",
    ),
    (r"this client authenticates without a secret", "This service authenticates without a secret."),
    (r"scopes are words .*", "Scopes are words of letters, digits and ':._-'."),
    (
        r"not a PKCS#10 certificate request",
        "That is not a certificate request (PKCS#10, PEM or DER).",
    ),
    (
        r"the certificate request's signature does not verify",
        "The certificate request's signature does not verify.",
    ),
    (r"certificate (?P<serial>\w+) is already revoked", "The certificate is already revoked."),
    (r"no certificate with serial .*", "There is no such certificate."),
    (r"the compromise time is not a date and time", "The compromise time is not a date and time."),
    (
        r"the compromise time cannot be in the future",
        "The compromise time cannot be in the future.",
    ),
    (
        r"the compromise time is before the certificate was issued",
        "The compromise time is before the certificate was issued.",
    ),
    (r"department (?P<code>\S+) already exists", "The department {code} exists already."),
    (r"a department code is .*", "A department code is 1 to 32 letters, digits, '-' or '_'."),
    (r"a department name is .*", "A department name has 1 to 255 characters."),
    (r"no user named (?P<name>\S+)", "There is no account {name}."),
    (r"(?P<name>\S+) is not a member of (?P<code>\S+)", "{name} is not a member of {code}."),
    (
        r"profile (?P<profile>\S+) allows 1 to (?P<days>\d+) days",
        "This profile allows 1 to {days} days.",
    ),
]
_COMPILED = [(re.compile(pattern), text) for pattern, text in _REFUSALS]


def refusal(exc: Exception) -> str:
    """The service's refusal in the operator's language (the English as a last resort)."""
    message = str(exc)
    for pattern, text in _COMPILED:
        if found := pattern.fullmatch(message):
            return translate(text, **found.groupdict())
    return translate("The change was refused: {reason}", reason=message)


def safe(markup: str) -> Markup:
    return Markup(markup)  # noqa: S704 - SVG built from numbers and escaped labels only
