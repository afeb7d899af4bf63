"""RP-Initiated Logout 1.0's endpoint: the page a service sends the citizen to sign out
(the work itself is :mod:`idp.logout`)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, make_response, redirect, render_template, request

from idp import logout as logout_service
from idp.browser import clear_sso_cookie, current_sso, remember_language
from idp.context import services

bp = Blueprint("logout", __name__)


@bp.route("/oauth/logout", methods=["GET", "POST"])
def end_session():
    provider = services().provider
    params = request.values
    remember_language(params)
    sso = current_sso()
    ip = request.remote_addr or ""
    try:
        plan = logout_service.plan_logout(provider, params)
    except logout_service.LogoutError as exc:
        # The citizen asked to sign out: do that, but send them nowhere unchecked.
        if sso is not None:
            logout_service.end_session(
                provider, sso.sid, reason="rp_initiated_refused", actor=sso.username, ip=ip
            )
        page = render_template("logged_out.html", refused=str(exc), was_in=sso is not None)
        return clear_sso_cookie(make_response(page, 400))
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    if sso is not None and not plan.hint_matches(sso) and not confirmed:
        return render_template("logout.html", query=urlencode(params.to_dict()))
    if sso is not None:
        logout_service.end_session(
            provider, sso.sid, reason="rp_initiated", actor=sso.username, ip=ip
        )
    response = (
        redirect(plan.redirect_to)
        if plan.redirect_to
        else make_response(render_template("logged_out.html"))
    )
    return clear_sso_cookie(response)
