"""The provider's HTTP surface: discovery, authorize, login, consent, token, userinfo,
introspection, revocation, registration, logout and the citizen's account page."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import scope_to_list
from flask import (
    Blueprint,
    Response,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from config import audit, metrics
from config.audit import AuditEvent
from config.outbound import OutboundError, is_uri_text
from config.runtime import Runtime
from idp import face_counter, face_step, login_devices, login_steps, registration
from idp import logout as logout_service
from idp.client_metadata import PASSWORD_ACR, TOTP_ACR, localized
from idp.consents import grant_consent, list_consents, missing_scopes, withdraw_consent
from idp.discovery import metadata
from idp.errors import ApiError
from idp.i18n import current_locale, translate
from idp.models import User
from idp.oauth import EndUser, OneTripServer, user_claims
from idp.provider import Provider
from idp.resource import TokenGuard
from idp.security import CORS_ANSWER, CORS_PREFLIGHT, check_csrf
from idp.sso import COOKIE, SsoSession
from idp.token_endpoints import TokenEndpoints

SCOPE_LABELS = {
    "openid": "Sign in to this service",
    "profile": "Your name and username",
    "email": "Your email address",
    "phone": "Your phone number",
    "address": "Your postal address",
    "offline_access": "Stay signed in when you are away (refresh access)",
}


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


def create_blueprint(runtime: Runtime, require_token: TokenGuard) -> Blueprint:
    provider: Provider = require_token.provider
    server = OneTripServer(provider)
    settings = runtime.settings
    documents = provider.documents  # built now, so a bad outbound_networks stops the start
    bp = Blueprint(
        "idp",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static/idp",
    )

    @bp.app_context_processor
    def _template_globals():
        return {"_": translate, "locale": current_locale()}

    # -- helpers -------------------------------------------------------------------------

    def client_ip() -> str:
        return request.remote_addr or ""

    def current_sso() -> SsoSession | None:
        return provider.sso.load(request.cookies.get(COOKIE))

    def set_sso_cookie(response: Response, secret: str) -> Response:
        response.set_cookie(
            COOKIE, secret, httponly=True, samesite="Lax", secure=settings.secure_cookies, path="/"
        )
        return response

    def error_redirect(redirect_uri: str, error: str, description: str, state: str | None):
        params = {"error": error, "error_description": description, "iss": settings.issuer}
        if state:
            params["state"] = state
        sep = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{sep}{urlencode(params)}")

    def oauth_error_response(exc: OAuth2Error):
        if exc.redirect_uri:
            return error_redirect(
                exc.redirect_uri,
                exc.error,
                exc.description or exc.error,
                getattr(exc, "state", None),
            )
        return Response(
            render_template(
                "error.html", status=400, title=exc.error, description=exc.description or ""
            ),
            status=400,
        )

    def malformed_authorization(params) -> Response | None:
        """The answer to what Authlib cannot take: a ``redirect_uri`` that is no URI text
        (Authlib would quote it in an ``error_description`` that RFC 6749 keeps to
        printable ASCII, and fail), or a ``response_type`` other than ``code``."""
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is not None and not is_uri_text(redirect_uri):
            return oauth_error_response(
                OAuth2Error(
                    "redirect_uri is not registered for this client", error="invalid_request"
                )
            )
        response_type = params.get("response_type")
        if response_type == "code":
            return None
        error, description = (
            ("unsupported_response_type", "Only response_type=code is supported.")
            if response_type
            else ("invalid_request", "response_type is required.")
        )
        client = provider.clients.get(params.get("client_id"))
        target = None
        if client is not None and redirect_uri:
            target = redirect_uri if client.check_redirect_uri(redirect_uri) else None
        elif client is not None:
            target = client.get_default_redirect_uri()
        if target:
            return error_redirect(target, error, description, params.get("state"))
        return oauth_error_response(OAuth2Error(description, error=error))

    # -- discovery ---------------------------------------------------------------------

    browser_callable = {"idp.discovery", "idp.jwks", "idp.userinfo"}

    @bp.after_request
    def _cors(response: Response) -> Response:
        # Single-page apps call these from their own origin (see security.CORS_ANSWER);
        # refusals too, so that an app can read the 401 that says its token has lapsed.
        if request.endpoint in browser_callable:
            for header, value in CORS_ANSWER:
                response.headers.setdefault(header, value)
        return response

    @bp.get("/.well-known/openid-configuration")
    @bp.get("/.well-known/oauth-authorization-server")
    def discovery():
        response = jsonify(metadata(settings))
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @bp.get("/oauth/jwks")
    def jwks():
        response = jsonify(provider.keyring.jwks())
        response.headers["Cache-Control"] = f"public, max-age={settings.jwks_cache_ttl}"
        return response

    # -- authorization -----------------------------------------------------------------

    @bp.route("/oauth/authorize", methods=["GET", "POST"])
    def authorize():
        params = request.values
        if params.get("ui_locales"):
            session["ui_locales"] = params["ui_locales"][:64]
        if params.get("request") or params.get("request_uri"):
            return oauth_error_response(
                OAuth2Error("request objects are not supported", error="request_not_supported")
            )
        if refused := malformed_authorization(params):
            return refused
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as exc:
            return oauth_error_response(exc)
        client = grant.request.client
        redirect_uri = grant.redirect_uri
        state = params.get("state")
        prompts = set((params.get("prompt") or "").split())
        if "none" in prompts and len(prompts) > 1:
            return error_redirect(
                redirect_uri,
                "invalid_request",
                "prompt=none cannot be combined with other values",
                state,
            )
        sso = current_sso()
        user = None
        if sso is not None:
            with provider.db.read() as s:
                user = s.get(User, sso.user_id)
            if user is None or user.disabled:
                sso = None
        need_login = sso is None or "login" in prompts
        max_age = params.get("max_age")
        if max_age is not None and not _SECONDS.fullmatch(max_age):
            return error_redirect(
                redirect_uri, "invalid_request", "max_age must be a number of seconds", state
            )
        if max_age is None:  # OIDC Registration 2: the client's default_max_age
            max_age = client.metadata.get("default_max_age")
        if sso is not None and max_age is not None:
            need_login = need_login or time.time() - sso.auth_time > int(max_age)
        hint = params.get("login_hint")
        if sso is not None and hint and hint.lower() != sso.username:
            need_login = True
        if need_login:
            if "none" in prompts:
                return error_redirect(
                    redirect_uri, "login_required", "The citizen is not signed in.", state
                )
            return redirect(url_for("idp.login", **_without(params, "prompt", "login")))
        # Issue 13: each level the service (or the citizen's "always check my face") needs,
        # weakest first, through the step that proves it.
        for level in face_step.needed_levels(
            face_step.asked_levels(client, params), user.always_face
        ):
            if face_step.satisfies(sso, level):
                continue
            if "none" in prompts:
                what = "A one-time code" if level == TOTP_ACR else "A face check"
                return error_redirect(
                    redirect_uri, "interaction_required", f"{what} is needed.", state
                )
            step = "login_steps.totp" if level == TOTP_ACR else "idp.face_step"
            return redirect(url_for(step, **params.to_dict()))
        scopes = scope_to_list(grant.request.scope) or []
        missing = missing_scopes_for(user.id, client.client_id, scopes)
        if missing or "consent" in prompts:
            if "none" in prompts:
                return error_redirect(
                    redirect_uri, "consent_required", "The citizen has not allowed this yet.", state
                )
            return render_template(
                "consent.html",
                client=client,
                service=service_shown(client),
                scopes=scopes,
                labels=SCOPE_LABELS,
                user=user,
                query=urlencode(params.to_dict()),
            )
        return issue_code(grant, sso, scopes)

    def service_shown(client) -> dict:
        """What the consent page says of a service: its name in the page's language, its
        logo (served from here), and its https policy and terms links (OIDC Registration
        2 asks that they be shown; rows stored before the schema are checked again)."""
        locale = current_locale()
        meta = client.metadata
        links = {}
        for field in ("policy_uri", "tos_uri", "client_uri"):
            uri = localized(meta, field, locale)
            if uri and uri.startswith("https://") and is_uri_text(uri):
                links[field] = uri
        return {
            "name": localized(meta, "client_name", locale) or client.client_name,
            "logo": meta.get("logo_uri") is not None,
            **links,
        }

    @bp.get("/oauth/clients/<client_id>/logo")
    def client_logo(client_id: str):
        """A client's logo, fetched through config.outbound and served from this origin
        (the pages' CSP allows no other), as an image that can run nothing."""
        client = provider.clients.get(client_id)
        uri = client.metadata.get("logo_uri") if client else None
        try:
            logo = documents.get("logo", uri) if uri else None
        except OutboundError:
            logo = None
        if logo is None:
            raise ApiError("not_found", "This service has no logo.", 404)
        response = Response(logo.data, mimetype=logo.content_type)
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cache-Control"] = f"public, max-age={settings.outbound_cache_ttl}"
        return response

    def missing_scopes_for(user_id: int, client_id: str, scopes: list[str]) -> list[str]:
        with provider.db.read() as s:
            return missing_scopes(s, user_id, client_id, scopes)

    def issue_code(grant, sso: SsoSession, scopes: list[str]):
        end_user = EndUser.from_session(sso, scopes)
        # Issues 13, 17: the strongest level this service asked for that the session proves
        # (a face session that also gave a code answers an acr=totp request with totp).
        end_user.acr = face_step.strongest(
            sso, face_step.asked_levels(grant.request.client, request.values)
        )
        response = server.create_authorization_response(grant_user=end_user, grant=grant)
        location = response.headers.get("Location")
        if location:
            sep = "&" if ("?" in location) else "?"
            response.headers["Location"] = f"{location}{sep}iss={_quote(settings.issuer)}"
        return response

    @bp.post("/oauth/consent")
    def consent():
        check_csrf()
        sso = current_sso()
        if sso is None:
            return redirect(url_for("idp.login", **request.args.to_dict()))
        if refused := malformed_authorization(request.args):
            return refused
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as exc:
            return oauth_error_response(exc)
        client = grant.request.client
        requested = scope_to_list(grant.request.scope) or []
        if request.form.get("decision") != "allow":
            with provider.db.write() as s:
                audit.record(
                    s,
                    "consent.deny",
                    actor=sso.username,
                    subject=sso.username,
                    client_id=client.client_id,
                    ip=client_ip(),
                )
            return error_redirect(
                grant.redirect_uri,
                "access_denied",
                "The citizen did not allow access.",
                request.args.get("state"),
            )
        chosen = set(request.form.getlist("consented")) | {"openid"}
        scopes = [s for s in requested if s in chosen]
        with provider.db.write() as s:
            user = s.get(User, sso.user_id)
            grant_consent(s, user, client.client_id, scopes, ip=client_ip())
        return issue_code(grant, sso, scopes)

    # -- login -------------------------------------------------------------------------

    def login_page(username: str, error: str | None) -> str:
        # The service's name is looked up only for a page: a login that succeeds needs none.
        client_id = request.args.get("client_id")
        client = provider.clients.get(client_id) if client_id else None
        return render_template(
            "login.html",
            client_name=client.client_name if client else None,
            username=username,
            error=error,
        )

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "GET":
            return login_page(request.args.get("login_hint", ""), None)
        check_csrf()
        username = (request.form.get("username") or "").strip().lower()[:64]
        password = request.form.get("password") or ""
        ip = client_ip()
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
            response = make_response(login_page(username, message), 429)
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
            return login_page(username, translate("Wrong username or password.")), 401
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
            return remember_device(step, cookie, user.username)
        old = current_sso()
        if old is not None:
            logout_service.end_session(provider, old.sid, reason="new_login")
        login_steps.rotate_browser_session()  # issue 13: new CSRF token and flow cookie
        secret, _ = provider.sso.create(
            user_id=user.id,
            username=user.username,
            amr=["pwd"],
            acr=PASSWORD_ACR,
            ip=ip,
            user_agent=request.headers.get("User-Agent"),
        )
        args = request.args.to_dict()
        target = (
            url_for("idp.authorize", **args)
            if args.get("client_id")
            else login_steps.safe_next(args.get("next")) or url_for("idp.account")  # issue 17
        )
        return remember_device(set_sso_cookie(redirect(target), secret), cookie, user.username)

    def remember_device(response: Response, cookie: str | None, username: str) -> Response:
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

    face_step.install(bp, provider, server, error_redirect)
    face_counter.install(bp, provider, require_token)  # issue 13: officers at a counter

    # -- token endpoint and friends ----------------------------------------------------

    @bp.record_once
    def _token_endpoints(state) -> None:
        # Token, introspection, revocation: served ahead of Flask (see idp/token_endpoints.py).
        state.app.wsgi_app = TokenEndpoints(state.app.wsgi_app, server, settings)

    @bp.route("/oauth/userinfo", methods=["OPTIONS"], endpoint="userinfo_preflight")
    def userinfo_preflight():
        return Response(status=204, headers=CORS_PREFLIGHT)

    @bp.route("/oauth/userinfo", methods=["GET", "POST"], provide_automatic_options=False)
    @require_token("openid")
    def userinfo():
        from flask import g

        tok = g.token
        client = provider.clients.get(tok.client_id)
        with provider.db.read() as s:
            user = s.get(User, tok.user_id) if tok.user_id else None
        if user is None or client is None or user.disabled:
            raise ApiError("invalid_token", "The token's account is not active.", 401)
        response = jsonify(user_claims(provider, user, client, " ".join(tok.scopes)))
        response.headers["Cache-Control"] = "no-store"
        return response

    registration.install(bp, provider)

    # -- logout ------------------------------------------------------------------------

    @bp.route("/oauth/logout", methods=["GET", "POST"])
    def end_session():
        params = request.values
        if params.get("ui_locales"):
            session["ui_locales"] = params["ui_locales"][:64]
        sso = current_sso()
        try:
            plan = logout_service.plan_logout(provider, params)
        except logout_service.LogoutError as exc:
            # The citizen asked to sign out: do that, but send them nowhere unchecked.
            if sso is not None:
                logout_service.end_session(
                    provider,
                    sso.sid,
                    reason="rp_initiated_refused",
                    actor=sso.username,
                    ip=client_ip(),
                )
            page = render_template("logged_out.html", refused=str(exc), was_in=sso is not None)
            response = make_response(page, 400)
            response.delete_cookie(COOKIE, path="/")
            return response
        confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
        if request.method == "POST":
            check_csrf()
        if sso is not None and not plan.hint_matches(sso) and not confirmed:
            return render_template("logout.html", query=urlencode(params.to_dict()))
        if sso is not None:
            logout_service.end_session(
                provider, sso.sid, reason="rp_initiated", actor=sso.username, ip=client_ip()
            )
        response = (
            redirect(plan.redirect_to)
            if plan.redirect_to
            else make_response(render_template("logged_out.html"))
        )
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- the citizen's account ---------------------------------------------------------

    @bp.get("/account")
    def account():
        sso = current_sso()
        if sso is None:
            return redirect(url_for("idp.login"))
        if gate := face_step.face_gate(provider, sso):  # issue 13: "always check my face"
            return gate
        provider.runtime.audit.flush()  # this node's sign-ins still waiting in the batch
        with provider.db.read() as s:
            user = s.get(User, sso.user_id)
            services = list_consents(s, user.id)
            signins = s.scalars(
                select(AuditEvent)
                .where(AuditEvent.subject == user.username, AuditEvent.event == "login.success")
                .order_by(AuditEvent.seq.desc())
                .limit(10)
            ).all()
            changes = s.scalars(  # issue 13: every change to a factor, for the citizen
                select(AuditEvent)
                .where(
                    AuditEvent.subject == user.username,
                    AuditEvent.event.in_(FACTOR_EVENTS),
                )
                .order_by(AuditEvent.seq.desc())
                .limit(20)
            ).all()
        return render_template(
            "account.html",
            user=user,
            services=services,
            signins=signins,
            changes=changes,
            change_labels=FACTOR_EVENTS,
            labels=SCOPE_LABELS,
            sso=sso,
        )

    @bp.post("/account/services/<client_id>/withdraw")
    def withdraw(client_id: str):
        check_csrf()
        sso = current_sso()
        if sso is None:
            return redirect(url_for("idp.login"))
        with provider.db.write() as s:
            user = s.get(User, sso.user_id)
            withdraw_consent(s, provider.tokens, user, client_id, ip=client_ip())
        return redirect(url_for("idp.account"))

    @bp.post("/account/logout-everywhere")
    def logout_everywhere():
        check_csrf()
        sso = current_sso()
        if sso is None:
            return redirect(url_for("idp.login"))
        logout_service.end_all_sessions(provider, sso.user_id, actor=sso.username, ip=client_ip())
        response = make_response(render_template("logged_out.html"))
        response.delete_cookie(COOKIE, path="/")
        return response

    @bp.get("/")
    def home():
        return redirect(url_for("idp.account"))

    return bp


_SECONDS = re.compile(r"[0-9]{1,10}")


def _without(params, name: str, value: str) -> dict:
    """Request parameters with one value removed from a space-separated parameter."""
    out = params.to_dict()
    if name in out:
        rest = [v for v in out[name].split() if v != value]
        if rest:
            out[name] = " ".join(rest)
        else:
            del out[name]
    return out


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
