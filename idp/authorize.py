"""The authorization endpoint, its resumption after the citizen's pages, and consent.

``/oauth/authorize`` has Authlib validate the request once, then :func:`_next_step`
decides what stands between the citizen and a code: a login, a step (TOTP, face), the
consent page, or nothing. When something does, the validated request is stored as an
interaction (:mod:`idp.interactions`) and the pages carry only its id; they send the
browser back to ``/oauth/authorize/resume``, which runs the same decision on the stored
record, and the code is issued from it without a second validation.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request, scope_to_list
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Blueprint, Response, redirect, render_template, request, url_for

from config import audit
from config.outbound import OutboundError, is_uri_text
from idp import face_step
from idp.browser import current_sso, remember_language
from idp.client_metadata import TOTP_ACR, localized
from idp.consents import grant_consent, missing_scopes
from idp.context import services
from idp.errors import ApiError
from idp.i18n import current_locale
from idp.interactions import Interaction, error_redirect, logged_in_for, refusal
from idp.models import User
from idp.oauth import EndUser
from idp.sso import SsoSession

bp = Blueprint("authorize", __name__)

SCOPE_LABELS = {
    "openid": "Sign in to this service",
    "profile": "Your name and username",
    "email": "Your email address",
    "phone": "Your phone number",
    "address": "Your postal address",
    "offline_access": "Stay signed in when you are away (refresh access)",
}


def oauth_error_response(exc: OAuth2Error) -> Response:
    """An error Authlib found: to the client when it has a checked redirect URI, else a
    page (an unchecked URI is never redirected to)."""
    if exc.redirect_uri:
        return error_redirect(
            exc.redirect_uri,
            exc.error,
            exc.description or exc.error,
            getattr(exc, "state", None),
            services().provider.settings.issuer,
        )
    page = render_template(
        "error.html", status=400, title=exc.error, description=exc.description or ""
    )
    return Response(page, status=400)


def _malformed(params) -> Response | None:
    """The answer to what Authlib cannot take: a ``redirect_uri`` that is no URI text
    (Authlib would quote it in an ``error_description`` that RFC 6749 keeps to
    printable ASCII, and fail), or a ``response_type`` other than ``code``."""
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is not None and not is_uri_text(redirect_uri):
        return oauth_error_response(
            OAuth2Error("redirect_uri is not registered for this client", error="invalid_request")
        )
    response_type = params.get("response_type")
    if response_type == "code":
        return None
    error, description = (
        ("unsupported_response_type", "Only response_type=code is supported.")
        if response_type
        else ("invalid_request", "response_type is required.")
    )
    client = services().provider.clients.get(params.get("client_id"))
    target = None
    if client is not None and redirect_uri:
        target = redirect_uri if client.check_redirect_uri(redirect_uri) else None
    elif client is not None:
        target = client.get_default_redirect_uri()
    if target:
        issuer = services().provider.settings.issuer
        return error_redirect(target, error, description, params.get("state"), issuer)
    return oauth_error_response(OAuth2Error(description, error=error))


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    """Validate an authorization request (once), then :func:`_next_step`."""
    params = request.values
    remember_language(params)
    if params.get("request") or params.get("request_uri"):
        return oauth_error_response(
            OAuth2Error("request objects are not supported", error="request_not_supported")
        )
    if refused := _malformed(params):
        return refused
    try:
        grant = services().server.get_consent_grant(end_user=None)
    except OAuth2Error as exc:
        return oauth_error_response(exc)
    interaction = Interaction(
        client_id=grant.request.client.client_id,
        redirect_uri=grant.redirect_uri,
        params=params.to_dict(),
    )
    issuer = services().provider.settings.issuer
    prompts = interaction.prompts
    if "none" in prompts and len(prompts) > 1:
        return interaction.refuse(
            "invalid_request", "prompt=none cannot be combined with other values", issuer
        )
    if "max_age" in params and interaction.max_age is None:
        return interaction.refuse("invalid_request", "max_age must be a number of seconds", issuer)
    return _next_step(interaction, grant.request.client, fresh_login=False)


@bp.get("/oauth/authorize/resume")
def resume():
    """Where the login, step and consent pages send the browser back to."""
    interaction = services().interactions.load(request.args.get("interaction"))
    client = services().provider.clients.get(interaction.client_id) if interaction else None
    if client is None:
        return refusal()
    return _next_step(interaction, client, fresh_login=logged_in_for(interaction))


def _next_step(interaction: Interaction, client, *, fresh_login: bool) -> Response:
    """The login, step or consent page the request still needs (or, with ``prompt=none``,
    the error that says so), else the code. ``fresh_login``: the citizen signed in for
    this interaction, which answers ``prompt=login`` and ``max_age``."""
    provider = services().provider
    issuer = provider.settings.issuer
    prompts = interaction.prompts
    sso = current_sso()
    user = None
    if sso is not None:
        with provider.db.read() as s:
            user = s.get(User, sso.user_id)
        if user is None or user.disabled:
            sso = None
    if _needs_login(interaction, client, sso, fresh_login):
        if "none" in prompts:
            return interaction.refuse("login_required", "The citizen is not signed in.", issuer)
        return redirect(url_for("login.login", interaction=_saved(interaction)))
    # Issue 13: each level the service (or the citizen's "always check my face") needs,
    # weakest first, through the step that proves it.
    asked = face_step.asked_levels(client, interaction.params)
    for level in face_step.needed_levels(asked, user.always_face):
        if face_step.satisfies(sso, level):
            continue
        if "none" in prompts:
            what = "A one-time code" if level == TOTP_ACR else "A face check"
            return interaction.refuse("interaction_required", f"{what} is needed.", issuer)
        step = "login_steps.totp" if level == TOTP_ACR else "face_step.face_step"
        return redirect(url_for(step, interaction=_saved(interaction)))
    scopes = scope_to_list(interaction.params.get("scope")) or []
    with provider.db.read() as s:
        missing = missing_scopes(s, user.id, client.client_id, scopes)
    if missing or "consent" in prompts:
        if "none" in prompts:
            return interaction.refuse(
                "consent_required", "The citizen has not allowed this yet.", issuer
            )
        return render_template(
            "consent.html",
            client=client,
            service=_service_shown(client),
            scopes=scopes,
            labels=SCOPE_LABELS,
            user=user,
            interaction=_saved(interaction),
        )
    if interaction.id and not services().interactions.consume(interaction):
        return refusal()  # another request of this browser resumed it first
    return _issue(interaction, client, sso, scopes)


def _needs_login(interaction: Interaction, client, sso: SsoSession | None, fresh: bool) -> bool:
    if sso is None:
        return True
    hint = interaction.params.get("login_hint")
    if hint and hint.lower() != sso.username:
        return True
    if fresh:
        return False
    if "login" in interaction.prompts:
        return True
    max_age = interaction.max_age
    if max_age is None:  # OIDC Registration 2: the client's default_max_age
        max_age = client.metadata.get("default_max_age")
    return max_age is not None and time.time() - sso.auth_time > int(max_age)


def _saved(interaction: Interaction) -> str:
    return services().interactions.save(interaction)


def _issue(interaction: Interaction, client, sso: SsoSession, scopes: list[str]) -> Response:
    """The code, issued from the validated request in ``interaction`` (Authlib's grant
    runs again only to make and store the code), with RFC 9207's ``iss``."""
    end_user = EndUser.from_session(sso, scopes)
    # Issues 13, 17: the strongest level this service asked for that the session proves
    # (a face session that also gave a code answers an acr=totp request with totp).
    end_user.acr = face_step.strongest(sso, face_step.asked_levels(client, interaction.params))
    server = services().server
    validated = OAuth2Request("GET", request.base_url)
    validated.payload = BasicOAuth2Payload(interaction.params)
    validated.client = client
    grant = server.get_authorization_grant(validated)
    response = server.handle_response(
        *grant.create_authorization_response(interaction.redirect_uri, end_user)
    )
    location = response.headers["Location"]
    sep = "&" if "?" in location else "?"
    issuer = services().provider.settings.issuer
    response.headers["Location"] = f"{location}{sep}iss={quote(issuer, safe='')}"
    return response


def _service_shown(client) -> dict:
    """What the consent page says of a service: its name in the page's language, its
    logo (served from here), and its https policy and terms links (OIDC Registration
    2 asks that they be shown; rows stored before the schema are checked again)."""
    locale = current_locale()
    meta = client.metadata
    links = {}
    for name in ("policy_uri", "tos_uri", "client_uri"):
        uri = localized(meta, name, locale)
        if uri and uri.startswith("https://") and is_uri_text(uri):
            links[name] = uri
    return {
        "name": localized(meta, "client_name", locale) or client.client_name,
        "logo": meta.get("logo_uri") is not None,
        **links,
    }


@bp.post("/oauth/consent")
def consent():
    """The citizen's answer on the consent page: a code, or ``access_denied``."""
    provider = services().provider
    interaction = services().interactions.load(request.args.get("interaction"))
    client = provider.clients.get(interaction.client_id) if interaction else None
    if client is None:
        return refusal()
    sso = current_sso()
    if sso is None:
        return redirect(url_for("login.login", interaction=interaction.id))
    if not services().interactions.consume(interaction):
        return refusal()
    ip = request.remote_addr or ""
    if request.form.get("decision") != "allow":
        with provider.db.write() as s:
            audit.record(
                s,
                "consent.deny",
                actor=sso.username,
                subject=sso.username,
                client_id=client.client_id,
                ip=ip,
            )
        return interaction.refuse(
            "access_denied", "The citizen did not allow access.", provider.settings.issuer
        )
    requested = scope_to_list(interaction.params.get("scope")) or []
    chosen = set(request.form.getlist("consented")) | {"openid"}
    scopes = [s for s in requested if s in chosen]
    with provider.db.write() as s:
        grant_consent(s, s.get(User, sso.user_id), client.client_id, scopes, ip=ip)
    return _issue(interaction, client, sso, scopes)


@bp.get("/oauth/clients/<client_id>/logo")
def client_logo(client_id: str):
    """A client's logo, fetched through config.outbound and served from this origin
    (the pages' CSP allows no other), as an image that can run nothing."""
    provider = services().provider
    client = provider.clients.get(client_id)
    uri = client.metadata.get("logo_uri") if client else None
    try:
        logo = provider.documents.get("logo", uri) if uri else None
    except OutboundError:
        logo = None
    if logo is None:
        raise ApiError("not_found", "This service has no logo.", 404)
    response = Response(logo.data, mimetype=logo.content_type)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = f"public, max-age={provider.settings.outbound_cache_ttl}"
    return response
