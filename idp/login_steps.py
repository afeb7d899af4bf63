"""The steps of a login after the password: an authenticator app's code, a new password.

A password that is right does not yet make a session when the account has an
authenticator app (TOTP) or an operator gave it a temporary password. The login view then
hands over to :func:`continue_after_password`, which keeps a *pending login* in Redis
(five minutes, keyed by the SHA-256 of a random secret held in the browser's flow cookie)
with what is still needed; each page here removes one need, and the SSO session is made
only when none is left. A browser without the pending secret gets nothing.

``/login/totp`` also serves as a step-up for a session that exists already: a service
asking for ``acr_values=urn:onetrip:acr:totp`` and the console (``/admin``), which wants a
second factor from the last few minutes, send the citizen here; a correct code adds
``otp`` to the session's ``amr``, makes its ``acr`` the TOTP ACR and its ``auth_time`` now.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from idp import logout as logout_service
from idp.browser import rotate_browser_session, set_sso_cookie
from idp.clients import PASSWORD_ACR, TOTP_ACR
from idp.context import services
from idp.i18n import translate
from idp.interactions import mark_logged_in
from idp.models import User
from idp.provider import Provider
from idp.sso import COOKIE
from idp.totp import TotpError
from idp.users import UserError, set_password

bp = Blueprint("login_steps", __name__, template_folder="templates")

_PENDING_TTL = 300
_FLOW_KEY = "pending_login"
#: Where ``next`` may send a browser after a step: the citizen's and the operator's pages.
_NEXT_PREFIXES = ("/admin", "/account", "/workspace")


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path of this site's account or console pages, else None (an
    open redirect is a phishing tool)."""
    if not value or len(value) > 500 or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(_NEXT_PREFIXES):
        return None
    return value


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(secret: str) -> str:
    return f"login:pending:{_digest(secret)}"


# -- the hook of the login view ---------------------------------------------------------


def continue_after_password(provider: Provider, user, *, needs_totp: bool) -> Response | None:
    """Called by the login view once the password is right: None when the session may be
    made now, else the redirect to the first step still needed."""
    needs = [n for n, due in (("otp", needs_totp), ("password", user.password_must_change)) if due]
    if not needs:
        return None
    rotate_browser_session()
    secret = secrets.token_urlsafe(32)
    pending = {
        "user_id": user.id,
        "username": user.username,
        "needs": needs,
        "amr": ["pwd"],
        "ip": request.remote_addr,
        "user_agent": request.headers.get("User-Agent"),
        "args": request.args.to_dict(),
    }
    provider.runtime.redis.set(_key(secret), json.dumps(pending), ex=_PENDING_TTL)
    session[_FLOW_KEY] = secret
    return redirect(_step_url(pending))


def _step_url(pending: dict) -> str:
    endpoint = "login_steps.totp" if pending["needs"][0] == "otp" else "login_steps.new_password"
    return url_for(endpoint, **pending["args"])


def _load_pending(provider: Provider) -> tuple[str, dict] | None:
    secret = session.get(_FLOW_KEY)
    raw = provider.runtime.redis.get(_key(secret)) if secret else None
    return (secret, json.loads(raw)) if raw else None


def _advance(provider: Provider, secret: str, pending: dict, done: str, amr: str | None):
    """Mark one need as met; the next step's page, or the session when none is left."""
    pending["needs"].remove(done)
    if amr:
        pending["amr"] = sorted(set(pending["amr"]) | {amr})
    if pending["needs"]:
        provider.runtime.redis.set(_key(secret), json.dumps(pending), keepttl=True)
        return redirect(_step_url(pending))
    provider.runtime.redis.delete(_key(secret))
    rotate_browser_session()
    old = provider.sso.load(request.cookies.get(COOKIE))
    if old is not None:
        logout_service.end_session(provider, old.sid, reason="new_login")
    sso_secret, _ = provider.sso.create(
        user_id=pending["user_id"],
        username=pending["username"],
        amr=pending["amr"],
        acr=TOTP_ACR if "otp" in pending["amr"] else PASSWORD_ACR,
        ip=pending["ip"],
        user_agent=pending["user_agent"],
    )
    mark_logged_in(pending["args"].get("interaction"))
    return set_sso_cookie(redirect(target(pending["args"])), sso_secret)


def target(args: dict) -> str:
    """Where a browser goes once signed in: back to its pending authorization, to a
    ``next`` page of this site, or to its account."""
    if args.get("interaction"):
        return url_for("authorize.resume", interaction=args["interaction"])
    return safe_next(args.get("next")) or url_for("account.account")


def _client_id(args) -> str | None:
    """The service a step is taken for, as the audit log names it."""
    interaction = services().interactions.load(args.get("interaction"))
    return interaction.client_id if interaction else None


def totp_message(exc: TotpError) -> str:
    """The page's words for a refused code (with the wait when throttled)."""
    minutes = max(1, (exc.retry_after + 59) // 60)
    return (
        translate(exc.description, minutes=minutes)
        if exc.retry_after
        else translate(exc.description)
    )


# -- the pages --------------------------------------------------------------------------


@bp.route("/login/totp", methods=["GET", "POST"])
def totp():
    """The code of the account's authenticator app: in a login, or as a step-up."""
    provider = services().provider
    found = _load_pending(provider)
    sso_secret = request.cookies.get(COOKIE)
    sso = None if found else provider.sso.load(sso_secret)
    if found is None and sso is None:
        return redirect(url_for("login.login", **request.args.to_dict()))
    user_id, username = (
        (found[1]["user_id"], found[1]["username"]) if found else (sso.user_id, sso.username)
    )
    if found is None and not provider.authenticators.enrolled(user_id):
        return redirect(url_for("account_security.totp", next=request.full_path))
    error, status = None, 200
    if request.method == "POST":
        try:
            method = provider.authenticators.verify(
                user_id, username, request.form.get("code", "")[:64], ip=request.remote_addr
            )
        except TotpError as exc:
            error = totp_message(exc)
            status = exc.status
        else:
            provider.runtime.audit.record(
                "login.success",
                actor=username,
                subject=username,
                ip=request.remote_addr,
                method=method,
                client_id=_client_id(request.args),
            )
            if found:
                return _advance(provider, *found, done="otp", amr="otp")
            sso.amr = sorted(set(sso.amr) | {"otp"})
            sso.acr = TOTP_ACR
            sso.auth_time = int(time.time())
            provider.sso.update(sso_secret, sso)
            return redirect(target(request.args.to_dict()))
    return make_response(render_template("login_totp.html", error=error), status)


@bp.route("/login/new-password", methods=["GET", "POST"])
def new_password():
    """A new password in place of an operator's temporary one, before the session."""
    provider = services().provider
    found = _load_pending(provider)
    if found is None or "password" not in found[1]["needs"] or found[1]["needs"][0] != "password":
        return redirect(url_for("login.login", **request.args.to_dict()))
    secret, pending = found
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")[:2048]
        if password != request.form.get("confirm", "")[:2048]:
            error = translate("The two passwords are not the same.")
        else:
            try:
                with provider.db.write() as db:
                    user = db.get(User, pending["user_id"])
                    if provider.passwords.verify(user.password_hash, password):
                        raise UserError(
                            "invalid_request", "choose a password other than the temporary one"
                        )
                    set_password(
                        db,
                        provider.passwords,
                        user,
                        password,
                        actor=user.username,
                        ip=request.remote_addr,
                    )
            except UserError as exc:
                error = translate(password_message(exc))
            else:
                return _advance(provider, secret, pending, done="password", amr=None)
    page = render_template("login_new_password.html", error=error)
    return make_response(page, 400 if error else 200)


def password_message(exc: UserError) -> str:
    """The page's words for a refused password (the English key of the ZH table)."""
    text = str(exc)
    if text.startswith("password must have at least"):
        return "The password must have at least 8 characters."
    if text.startswith("password must have at most"):
        return "The password is too long."
    if text.startswith("choose a password other than"):
        return "Choose a password other than the temporary one."
    if text.startswith("password is too easy to guess: "):  # issue 13: zxcvbn's reason
        reason = text.removeprefix("password is too easy to guess: ")
        return f"This password is too easy to guess: {reason}."
    return text
