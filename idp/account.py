"""The citizen's account page: the services linked to the account, recent sign-ins and
changes to how the citizen signs in; withdrawing a service; signing out everywhere."""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from config.audit import AuditEvent
from idp import logout as logout_service
from idp.authorize import SCOPE_LABELS
from idp.browser import clear_sso_cookie, current_sso
from idp.consents import list_consents, withdraw_consent
from idp.context import services
from idp.face_step import face_gate
from idp.models import User

bp = Blueprint("account", __name__)

#: Audit events that change how the citizen signs in, as the account page names them.
FACTOR_EVENTS = {
    "face.enroll": "Face registered",
    "face.delete": "Face deleted",
    "user.face_preference": "Face check at every sign-in changed",
    "totp.enroll": "Authenticator app added",
    "totp.remove": "Authenticator app removed",
    "user.password.change": "Password changed",
    "user.password.temporary": "Temporary password set",
}


@bp.get("/account")
def account():
    provider = services().provider
    sso = current_sso()
    if sso is None:
        return redirect(url_for("login.login"))
    if gate := face_gate(provider, sso):  # issue 13: "always check my face"
        return gate
    provider.runtime.audit.flush()  # this node's sign-ins still waiting in the batch
    with provider.db.read() as s:
        user = s.get(User, sso.user_id)
        services_linked = list_consents(s, user.id)
        signins = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject == user.username, AuditEvent.event == "login.success")
            .order_by(AuditEvent.seq.desc())
            .limit(10)
        ).all()
        changes = s.scalars(  # issue 13: every change to a factor, for the citizen
            select(AuditEvent)
            .where(AuditEvent.subject == user.username, AuditEvent.event.in_(FACTOR_EVENTS))
            .order_by(AuditEvent.seq.desc())
            .limit(20)
        ).all()
    return render_template(
        "account.html",
        user=user,
        services=services_linked,
        signins=signins,
        changes=changes,
        change_labels=FACTOR_EVENTS,
        labels=SCOPE_LABELS,
        sso=sso,
    )


@bp.post("/account/services/<client_id>/withdraw")
def withdraw(client_id: str):
    provider = services().provider
    sso = current_sso()
    if sso is None:
        return redirect(url_for("login.login"))
    with provider.db.write() as s:
        user = s.get(User, sso.user_id)
        withdraw_consent(s, provider.tokens, user, client_id, ip=request.remote_addr or "")
    return redirect(url_for("account.account"))


@bp.post("/account/logout-everywhere")
def logout_everywhere():
    sso = current_sso()
    if sso is None:
        return redirect(url_for("login.login"))
    logout_service.end_all_sessions(
        services().provider, sso.user_id, actor=sso.username, ip=request.remote_addr or ""
    )
    return clear_sso_cookie(make_response(render_template("logged_out.html")))


@bp.get("/")
def home():
    return redirect(url_for("account.account"))
