"""The face step of a login (step-up to ``urn:onetrip:acr:face``) and face enrolment pages.

The biometric work is :mod:`biometrics`; this module only moves the citizen through it
and records the result in the SSO session (``amr`` gains ``face``, ``acr`` becomes the
face ACR), so every client of the session sees it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, redirect, render_template, request, url_for

from biometrics.errors import FaceError
from biometrics.service import FaceService
from config import audit
from idp.clients import FACE_ACR
from idp.i18n import current_locale
from idp.login_steps import safe_next
from idp.models import User
from idp.provider import Provider
from idp.security import check_csrf
from idp.sso import COOKIE

#: Largest number of frames one liveness answer may carry.
MAX_FRAMES = 12
ACTIONS = {
    "blink": "blink",
    "turn_left": "turn your head to your left",
    "turn_right": "turn your head to your right",
}


def face_message(exc: FaceError) -> str:
    return exc.message_zh if current_locale() == "zh-CN" else exc.message_en


def install(bp: Blueprint, provider: Provider, server, error_redirect: Callable) -> None:
    faces = FaceService(provider.runtime)

    def enroll_uploaded_photo(sso) -> None:
        photo = request.files.get("photo")
        faces.enroll(
            sso.user_id, photo.read() if photo else b"", actor=sso.username, ip=request.remote_addr
        )

    def authorize_params() -> dict:
        return dict(request.args.items())

    @bp.route("/login/face", methods=["GET", "POST"])
    def face_step():
        secret = request.cookies.get(COOKIE)
        sso = provider.sso.load(secret)
        params = authorize_params()
        if sso is None:
            return redirect(url_for("idp.login", **params))
        context = {
            "actor": sso.username,
            "ip": request.remote_addr,
            "client_id": params.get("client_id"),
        }
        error = None
        if request.method == "POST":
            check_csrf()
            step = request.form.get("step")
            if step == "cancel":
                try:
                    grant = server.get_consent_grant(end_user=None)
                except OAuth2Error:
                    return redirect(url_for("idp.account"))
                return error_redirect(
                    grant.redirect_uri,
                    "unmet_authentication_requirements",
                    "The citizen did not complete the face check.",
                    params.get("state"),
                )
            try:
                if step == "enroll":
                    enroll_uploaded_photo(sso)
                    return redirect(url_for("idp.face_step", **params))
                frames = [f.read() for f in request.files.getlist("frames")[:MAX_FRAMES]]
                verdict = faces.complete_challenge(
                    sso.user_id, request.form.get("challenge", ""), frames, **context
                )
                if verdict.match:
                    sso.amr = sorted(set(sso.amr) | {"face"})
                    sso.acr = FACE_ACR
                    sso.auth_time = int(time.time())
                    provider.sso.update(secret, sso)
                    with provider.db.write() as session:
                        audit.record(
                            session,
                            "login.success",
                            actor=sso.username,
                            subject=sso.username,
                            ip=request.remote_addr,
                            method="face",
                            client_id=params.get("client_id"),
                        )
                    if params.get("client_id"):
                        return redirect(url_for("idp.authorize", **params))
                    # Issue 17: back to the console page that asked for a fresh factor.
                    return redirect(safe_next(params.get("next")) or url_for("idp.account"))
                error = face_message(FaceError("challenge_failed"))
            except FaceError as exc:
                error = face_message(exc)
        if not faces.has_template(sso.user_id):
            return render_template(
                "face_enrol.html",
                params=params,
                error=error,
                in_login=bool(params.get("client_id")),
            ), (400 if error else 200)
        try:
            challenge = faces.start_challenge(sso.user_id, **context)
        except FaceError as exc:
            return render_template(
                "error.html", status=429, title="face", description=face_message(exc)
            ), 429
        return render_template(
            "face_step.html", params=params, challenge=challenge, actions=ACTIONS, error=error
        ), (400 if error else 200)

    @bp.post("/account/face")
    def account_face():
        check_csrf()
        sso = provider.sso.load(request.cookies.get(COOKIE))
        if sso is None:
            return redirect(url_for("idp.login"))
        step = request.form.get("step")
        try:
            if step == "enroll":
                enroll_uploaded_photo(sso)
            elif step == "delete":
                faces.delete(sso.user_id, actor=sso.username, ip=request.remote_addr)
            elif step in ("always", "never"):
                with provider.db.write() as session:
                    user = session.get(User, sso.user_id)
                    user.always_face = step == "always"
                    audit.record(
                        session,
                        "user.face_preference",
                        actor=sso.username,
                        subject=sso.username,
                        always_face=user.always_face,
                    )
        except FaceError as exc:
            return render_template(
                "error.html", status=400, title="face", description=face_message(exc)
            ), 400
        return redirect(url_for("idp.account"))

    bp.add_app_template_global(faces.has_template, "has_face_template")
