"""Assurance levels and the face step of a login; the citizen's face settings.

The biometric work is :mod:`biometrics`; this module moves the citizen through it and
records the result in the SSO session (``amr`` gains ``face``; ``face`` says whether the
template matched was proofed or self-registered), so every client of the session sees it.

Rules (issue 13), each enforced here and nowhere else:

- :func:`satisfies` decides what a session proves: ``acr=face`` only after a match against
  a proofed template (counter or authoritative), ``acr=face-self`` after any face match,
  ``acr=totp`` after an authenticator code.
- A login never registers a face: the face step only checks one. A citizen without a
  usable template is told where to get one and may cancel.
- On the account page, adding, replacing or deleting a template and turning "always
  check my face" off need a face match from the last :data:`FRESH_FACE_SECONDS`; the first
  self-registration is allowed only when there is no template, and the session that made
  it cannot match it (its id goes into ``enrolled_here``).
- "Always check my face" gates the account pages as it gates logins (:func:`face_gate`).
- The capture's actions are shown only after the citizen presses Start, which starts
  (and counts) an attempt.
"""

from __future__ import annotations

import time

from flask import Blueprint, make_response, redirect, render_template, request, url_for

from biometrics import liveness
from biometrics.errors import FaceError
from config import audit
from idp.clients import ACR_VALUES, FACE_ACR, FACE_SELF_ACR, PASSWORD_ACR, TOTP_ACR
from idp.context import services
from idp.interactions import Interaction
from idp.login_steps import target
from idp.models import User
from idp.provider import Provider
from idp.sso import COOKIE, SsoSession

bp = Blueprint("face_step", __name__)

#: How recent a face match must be to change a factor.
FRESH_FACE_SECONDS = 300
ACTIONS = {
    "turn_left": "turn your head to your left",
    "turn_right": "turn your head to your right",
}
_FACE_LEVELS = (FACE_SELF_ACR, FACE_ACR)


def face_message(exc: FaceError) -> str:
    return exc.message


def asked_levels(client, params) -> list[str]:
    """The levels a service asks for: the request's ``acr_values``, else the client's
    registered ``default_acr_values``."""
    asked = (params.get("acr_values") or "").split()
    if not asked and client is not None:
        asked = list(client.metadata.get("default_acr_values", []))
    return asked


def satisfies(sso: SsoSession, level: str) -> bool:
    """Whether the session proves ``level`` (see the module's rules)."""
    if level == FACE_ACR:
        return "face" in sso.amr and sso.face == "proofed"
    if level == FACE_SELF_ACR:
        return "face" in sso.amr and sso.face in ("proofed", "self")
    if level == TOTP_ACR:
        return "otp" in sso.amr
    return level == PASSWORD_ACR


def strongest(sso: SsoSession, asked: list[str]) -> str:
    """The strongest level among those a service asked for (all, when none) that the
    session proves: what its ID token's ``acr`` names."""
    candidates = [a for a in ACR_VALUES if a in asked] or list(ACR_VALUES)
    proved = [a for a in candidates if satisfies(sso, a)]
    return proved[-1] if proved else PASSWORD_ACR


def needed_levels(asked: list[str], always_face: bool) -> list[str]:
    """The levels a session must prove before a code is issued, weakest first: the
    strongest one asked for, and a face when the citizen wants one at every sign-in."""
    known = [a for a in ACR_VALUES if a in asked]
    needed = {known[-1]} if known else set()
    if always_face and FACE_ACR not in needed:
        needed.add(FACE_SELF_ACR)
    return [a for a in ACR_VALUES if a in needed and a != PASSWORD_ACR]


def fresh_face(sso: SsoSession) -> bool:
    return "face" in sso.amr and time.time() - sso.face_at <= FRESH_FACE_SECONDS


def face_gate(provider: Provider, sso: SsoSession):
    """None when the account page may be shown; else the redirect to the face step (a
    citizen who asked for a face check at every sign-in gets one before their settings)."""
    with provider.db.read() as session:
        user = session.get(User, sso.user_id)
    if user is None or not user.always_face or satisfies(sso, FACE_SELF_ACR):
        return None
    return redirect(url_for("face_step.face_step", next=request.full_path.rstrip("?")))


def _page(template: str, code: int = 200, **values):
    response = make_response(render_template(template, **values), code)
    if code == 429:
        response.headers["Retry-After"] = str(values.get("retry_after") or 60)
    return response


def _throttled(sso: SsoSession, in_login: bool):
    wait = max(services().faces.retry_after(sso.user_id, request.remote_addr), 1)
    return _page(
        "face_step.html",
        429,
        in_login=in_login,
        challenge=None,
        error=face_message(FaceError("throttled")),
        retry_after=wait,
    )


def _record_match(secret: str, sso: SsoSession, proofed: bool, client_id: str | None) -> None:
    provider = services().provider
    sso.amr = sorted(set(sso.amr) | {"face"})
    if sso.face != "proofed":
        sso.face = "proofed" if proofed else "self"
    sso.acr = FACE_ACR if sso.face == "proofed" else FACE_SELF_ACR
    sso.auth_time = sso.face_at = int(time.time())
    provider.sso.update(secret, sso)
    with provider.db.write() as session:
        audit.record(
            session,
            "login.success",
            actor=sso.username,
            subject=sso.username,
            ip=request.remote_addr,
            method="face" if proofed else "face-self",
            client_id=client_id,
        )


def _cancel(interaction: Interaction | None):
    """The citizen gave up the face check: the service hears so, once."""
    if interaction is None or not services().interactions.consume(interaction):
        return redirect(url_for("account.account"))
    return interaction.refuse(
        "unmet_authentication_requirements",
        "The citizen did not complete the face check.",
        services().provider.settings.issuer,
    )


@bp.route("/login/face", methods=["GET", "POST"])
def face_step():
    """The face check of a login (``?interaction=``) or before a page (``?next=``)."""
    provider, faces = services().provider, services().faces
    secret = request.cookies.get(COOKIE)
    sso = provider.sso.load(secret)
    args = request.args.to_dict()
    if sso is None:
        return redirect(url_for("login.login", **args))
    interaction = services().interactions.load(args.get("interaction"))
    client_id = interaction.client_id if interaction else None
    context = {
        "subject": sso.username,
        "actor": sso.username,
        "ip": request.remote_addr,
        "client_id": client_id,
    }
    client = provider.clients.get(client_id) if client_id else None
    asked = asked_levels(client, interaction.params) if interaction else []
    wants_proofed = FACE_ACR in asked
    usable = faces.has_proofed(sso.user_id) if wants_proofed else faces.has_template(sso.user_id)
    in_login = interaction is not None
    error, status, challenge = None, 200, None
    if request.method == "POST":
        step = request.form.get("step")
        if step == "cancel":
            return _cancel(interaction)
        if not usable:
            status = 400
        elif step == "start":
            try:
                challenge = faces.start_challenge(sso.user_id, **context)
            except FaceError as exc:
                if exc.error == "throttled":
                    return _throttled(sso, in_login)
                error, status = face_message(exc), 400
        elif step == "verify":
            frames = [f.read() for f in request.files.getlist("frames")[: liveness.MAX_FRAMES + 1]]
            try:
                verdict = faces.complete_challenge(
                    sso.user_id,
                    request.form.get("challenge", "")[:64],
                    frames,
                    exclude=sso.enrolled_here,
                    **context,
                )
            except FaceError as exc:
                if exc.error == "throttled":
                    return _throttled(sso, in_login)
                error, status = face_message(exc), 400
            else:
                if verdict.match:
                    _record_match(secret, sso, verdict.proofed, client_id)
                    return redirect(target(args))
                error, status = face_message(FaceError("challenge_failed")), 400
        else:
            error, status = face_message(FaceError("bad_frames")), 400
    if not usable:
        reason = "proofed_needed" if wants_proofed else "no_template"
        return _page(
            "face_enrol.html", status, error=face_message(FaceError(reason)), in_login=in_login
        )
    return _page(
        "face_step.html",
        status,
        in_login=in_login,
        challenge=challenge,
        actions=ACTIONS,
        error=error,
        ttl=liveness.CHALLENGE_TTL,
    )


def _refuse(code: str, status: int = 403):
    return _page(
        "error.html",
        status,
        status=status,
        title="face",
        description=face_message(FaceError(code)),
    )


def _set_always_face(sso: SsoSession, value: bool) -> None:
    with services().provider.db.write() as session:
        user = session.get(User, sso.user_id)
        if user.always_face == value:
            return
        user.always_face = value
        audit.record(
            session,
            "user.face_preference",
            actor=sso.username,
            subject=sso.username,
            ip=request.remote_addr,
            always_face=value,
        )


@bp.post("/account/face")
def account_face():
    """The account page's face settings (see the module's rules)."""
    provider, faces = services().provider, services().faces
    secret = request.cookies.get(COOKIE)
    sso = provider.sso.load(secret)
    if sso is None:
        return redirect(url_for("login.login"))
    if gate := face_gate(provider, sso):
        return gate
    step = request.form.get("step")
    has_template = faces.has_template(sso.user_id)
    who = {"subject": sso.username, "actor": sso.username, "ip": request.remote_addr}
    if step not in ("enroll", "replace", "delete", "always", "never"):
        return _refuse("bad_frames", 400)
    if step != "always" and has_template and not fresh_face(sso):
        return _refuse("fresh_face_needed")
    if step != "enroll" and not has_template:  # "always" too: it would lock them out
        return _refuse("no_template", 400)
    try:
        if step in ("enroll", "replace"):
            photo = request.files.get("photo")
            old = [t["id"] for t in faces.describe(sso.user_id)] if step == "replace" else []
            result = faces.enroll(sso.user_id, photo.read() if photo else b"", **who)
            for template_id in old:  # only once the new one is stored
                faces.delete(sso.user_id, template_id=template_id, **who)
            sso.enrolled_here = [*sso.enrolled_here, result.template_id]
            provider.sso.update(secret, sso)
        elif step == "delete":
            faces.delete(sso.user_id, **who)
            _set_always_face(sso, False)  # no face left to check at every sign-in
        else:
            _set_always_face(sso, step == "always")
    except FaceError as exc:
        return _refuse(exc.error, 400)
    return redirect(url_for("account.account"))


@bp.app_template_global("has_face_template")
def has_face_template(user_id: int) -> bool:
    return services().faces.has_template(user_id)


@bp.app_template_global("face_templates")
def face_templates(user_id: int) -> list[dict]:
    return services().faces.describe(user_id)


bp.add_app_template_global(fresh_face, "fresh_face")
