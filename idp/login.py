"""The password login: the first page of every sign-in.

A right password makes the SSO session, unless the account still needs a step
(:mod:`idp.login_steps`: an authenticator code, a new password). The browser then goes on
to the pending authorization (``?interaction=``, :mod:`idp.interactions`), or to ``next``
(an account or console page), or to the account page. This is a benchmarked hot path:
one throttle check, one row read, one hash verify, and no other lookup when it succeeds.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, redirect, render_template, request

from config import audit, metrics
from idp import login_devices, login_steps
from idp import logout as logout_service
from idp.browser import current_sso, rotate_browser_session, set_sso_cookie
from idp.client_metadata import PASSWORD_ACR
from idp.context import services
from idp.i18n import translate
from idp.interactions import mark_logged_in, refusal
from idp.models import User

bp = Blueprint("login", __name__)


def _page(username: str | None, error: str | None) -> Response | str:
    """The login page, naming the service of the pending authorization and filling in
    its ``login_hint`` when ``username`` is None."""
    # The service's name is looked up only for a page: a login that succeeds needs none.
    interaction_id = request.args.get("interaction")
    interaction = client = None
    if interaction_id is not None:
        interaction = services().interactions.load(interaction_id)
        if interaction is None:
            return refusal()
        client = services().provider.clients.get(interaction.client_id)
    if username is None:
        source = interaction.params if interaction else request.args
        username = source.get("login_hint", "")
    return render_template(
        "login.html",
        client_name=client.client_name if client else None,
        username=username,
        error=error,
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return _page(None, None)
    provider = services().provider
    settings = provider.settings
    username = (request.form.get("username") or "").strip().lower()[:64]
    password = request.form.get("password") or ""
    ip = request.remote_addr or ""
    # Issue 13: a browser this account signed in from before has failures of its own.
    cookie = request.cookies.get(login_devices.COOKIE)
    device = login_devices.trusted(settings, cookie, username)
    wait, failed_before = provider.login_throttle.check(username, ip, device)
    if wait:
        with provider.db.write() as s:
            audit.record(s, "login.throttled", subject=username, ip=ip)
        metrics.login("pwd", "throttled")
        message = translate(
            "Too many failed attempts. Try again in {minutes} minutes.",
            minutes=max(1, (wait + 59) // 60),
        )
        response = make_response(_page(username, message), 429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = provider.sign_in_record(username) if username else None
    ok = provider.passwords.verify(user.password_hash if user else None, password[:1024])
    if not ok or user is None or user.disabled:
        provider.login_throttle.failure(username, ip, device)
        metrics.login("pwd", "failure")
        with provider.db.write() as s:
            audit.record(
                s,
                "login.failure",
                subject=username,
                ip=ip,
                reason="disabled" if ok and user and user.disabled else "password",
            )
        return make_response(_page(username, translate("Wrong username or password.")), 401)
    if failed_before:
        provider.login_throttle.success(username, device)
    metrics.login("pwd", "success")
    if provider.passwords.needs_rehash(user.password_hash):
        rehashed = provider.passwords.hash(password)  # before the write: SQLite locks it all
        with provider.db.write() as s:
            s.get(User, user.id).password_hash = rehashed
    # Batched: a login changes no row. The account page flushes this process's batch
    # before it lists sign-ins; another node's lands within the batch delay (50 ms).
    provider.runtime.audit.record(
        "login.success", actor=user.username, subject=user.username, ip=ip, method="pwd"
    )
    # Issue 17: an authenticator app's code, or a new password in place of an
    # operator's temporary one, comes before the session (idp/login_steps.py).
    step = login_steps.continue_after_password(provider, user, needs_totp=bool(user.has_totp))
    if step is not None:
        return _remember_device(step, cookie, user.username)
    old = current_sso()
    if old is not None:
        logout_service.end_session(provider, old.sid, reason="new_login")
    rotate_browser_session()  # issue 13: new CSRF token and flow cookie
    secret, _ = provider.sso.create(
        user_id=user.id,
        username=user.username,
        amr=["pwd"],
        acr=PASSWORD_ACR,
        ip=ip,
        user_agent=request.headers.get("User-Agent"),
    )
    args = request.args.to_dict()
    mark_logged_in(args.get("interaction"))
    response = set_sso_cookie(redirect(login_steps.target(args)), secret)
    return _remember_device(response, cookie, user.username)


def _remember_device(response: Response, cookie: str | None, username: str) -> Response:
    settings = services().provider.settings
    response.set_cookie(
        login_devices.COOKIE,
        login_devices.remember(settings, cookie, username),
        max_age=login_devices.MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
        path="/login",
    )
    return response
