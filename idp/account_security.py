"""The citizen's own security settings on the account page: an authenticator app (TOTP)
and the password.

Setting up an app shows its secret as a QR code (an inline SVG made by ``qrcode``) and as
text, and asks for two consecutive codes; the recovery codes are shown once, on the page
that confirms it. Removing the app needs one of its codes (or a recovery code): a
password alone never takes a factor away. Changing the password asks for the current one,
and wrong ones count against the account like failed logins.
"""

from __future__ import annotations

import qrcode
from flask import Blueprint, make_response, redirect, render_template, request, url_for
from markupsafe import Markup
from qrcode.image.svg import SvgPathImage

from idp.clients import FACE_ACR
from idp.console.gate import fresh
from idp.context import services
from idp.face_step import face_gate
from idp.i18n import translate
from idp.login_steps import password_message, safe_next, totp_message
from idp.models import User
from idp.provider import Provider
from idp.sso import COOKIE
from idp.totp import TotpError
from idp.users import UserError, set_password

bp = Blueprint("account_security", __name__, template_folder="templates")


def qr_svg(uri: str) -> Markup:
    """The ``otpauth://`` URI as an SVG QR code to put in the page (no image request)."""
    image = qrcode.make(uri, image_factory=SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    svg = svg.replace("<svg ", '<svg class="qr" role="img" aria-labelledby="qr-title" ', 1)
    title = translate("QR code of the authenticator app's secret")
    svg = svg.replace(">", f'><title id="qr-title">{Markup.escape(title)}</title>', 1)
    return Markup(svg)  # noqa: S704 - qrcode's own SVG, and our escaped title


def _signed_in(provider: Provider):
    """The browser's SSO session, or None (the view then sends it to the login page)."""
    return provider.sso.load(request.cookies.get(COOKIE))


def _guarded(provider: Provider):
    """(session, None) when these pages may be used; (None, redirect) otherwise: to the
    login page, or to the face step when the citizen wants a face at every sign-in
    (issue 13: a password alone does not reach the settings of the other factors)."""
    if (sso := _signed_in(provider)) is None:
        return None, _to_login()
    return (None, gate) if (gate := face_gate(provider, sso)) else (sso, None)


def _to_login():
    return redirect(url_for("login.login", next=url_for(request.endpoint)))


@bp.route("/account/totp", methods=["GET", "POST"])
def totp():
    provider = services().provider
    sso, elsewhere = _guarded(provider)
    if elsewhere:
        return elsewhere
    apps = provider.authenticators
    error = None
    next_page = safe_next(request.args.get("next"))
    invitation = request.args.get("invite")
    if request.method == "POST":
        step = request.form.get("step")
        try:
            if step == "confirm":
                codes = apps.confirm(
                    sso.user_id,
                    sso.username,
                    request.form.get("first", "")[:32],
                    request.form.get("second", "")[:32],
                    ip=request.remote_addr,
                    invitation=invitation,
                    strong_session=fresh(sso, provider.settings.console_step_up_max_age)
                    and sso.acr == FACE_ACR,
                )
                return render_template("account_recovery_codes.html", codes=codes, next=next_page)
            if step == "remove":
                apps.remove(
                    sso.user_id,
                    sso.username,
                    request.form.get("code", "")[:64],
                    ip=request.remote_addr,
                )
                return redirect(url_for("account.account"))
            if step == "restart":
                apps.begin(sso.user_id, sso.username)
        except TotpError as exc:
            error = totp_message(exc)
    if apps.enrolled(sso.user_id):
        page = render_template(
            "account_totp.html",
            enrolled=True,
            error=error,
            codes_left=apps.recovery_codes_left(sso.user_id),
        )
        return make_response(page, 400 if error else 200)
    enrolment = apps.pending(sso.user_id, sso.username) or apps.begin(sso.user_id, sso.username)
    page = render_template(
        "account_totp.html",
        enrolled=False,
        error=error,
        secret=enrolment.secret,
        qr=qr_svg(enrolment.uri),
        next=next_page,
        invited=apps.invitation_valid(sso.user_id, invitation),
    )
    return make_response(page, 400 if error else 200)


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    provider = services().provider
    sso, elsewhere = _guarded(provider)
    if elsewhere:
        return elsewhere
    error = None
    if request.method == "POST":
        current = request.form.get("current", "")[:1024]
        new = request.form.get("password", "")[:2048]
        ip = request.remote_addr
        if wait := provider.login_throttle.retry_after(sso.username, ip):
            error = translate(
                "Too many failed attempts. Try again in {minutes} minutes.",
                minutes=max(1, (wait + 59) // 60),
            )
        elif new != request.form.get("confirm", "")[:2048]:
            error = translate("The two passwords are not the same.")
        else:
            with provider.db.read() as db:
                stored = db.get(User, sso.user_id).password_hash
            if not provider.passwords.verify(stored, current):
                provider.login_throttle.failure(sso.username, ip)
                error = translate("Your current password is not right.")
            else:
                try:
                    with provider.db.write() as db:
                        set_password(
                            db,
                            provider.passwords,
                            db.get(User, sso.user_id),
                            new,
                            actor=sso.username,
                            ip=ip,
                        )
                except UserError as exc:
                    error = translate(password_message(exc))
                else:
                    return render_template("account_password.html", done=True, error=None)
    page = render_template("account_password.html", done=False, error=error)
    return make_response(page, 400 if error else 200)


@bp.app_template_global("totp_enrolled")
def totp_enrolled(user_id: int) -> bool:
    return services().provider.authenticators.enrolled(user_id)
