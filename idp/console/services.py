"""Console pages for services (OIDC clients): list, create, edit, rotate the secret,
delete; and the initial access tokens of dynamic registration (RFC 7591).

Writes go through :mod:`idp.clients` and :mod:`idp.registration`, the functions the CLI
and the registration endpoint use; after each change every process drops its cached copy
of the client (:func:`idp.clients.clients_changed`), so an old secret stops working at once.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from config.db import utcnow
from idp.clients import (
    AUTH_METHODS,
    GRANT_TYPES,
    ID_TOKEN_ALGS,
    STANDARD_SCOPES,
    ClientError,
    clients_changed,
    create_client,
    delete_client,
    rotate_secret,
    set_pkce_policy,
    update_client,
)
from idp.console.gate import console_blueprint, provider, refusal, requires, who
from idp.i18n import translate
from idp.models import Client
from idp.registration import create_initial_token, initial_tokens, revoke_initial_token

bp = console_blueprint("console_services", __name__, "/admin/services")

#: Scopes an operator may grant beyond the OIDC ones (the APIs OneTrip serves).
API_SCOPES = ("sign", "pki:enroll", "introspect")
_LINES = 20


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()][
        :_LINES
    ]


def _metadata_from_form(base: dict | None = None) -> tuple[dict, list[str]]:
    """Client metadata and allowed scopes as the operator filled them in."""
    form = request.form
    meta = dict(base or {})
    meta.update(
        client_name=form.get("name", "").strip()[:200],
        redirect_uris=_lines("redirect_uris"),
        post_logout_redirect_uris=_lines("post_logout_redirect_uris"),
        grant_types=[g for g in form.getlist("grant_types") if g in GRANT_TYPES],
        token_endpoint_auth_method=form.get("auth_method", "client_secret_basic"),
        subject_type=form.get("subject_type", "public"),
        id_token_signed_response_alg=form.get("id_token_alg", "RS256"),
    )
    meta.pop("response_types", None)  # follows the grant types (normalise_metadata)
    backchannel = form.get("backchannel_logout_uri", "").strip()
    if backchannel:
        meta["backchannel_logout_uri"] = backchannel
    else:
        meta.pop("backchannel_logout_uri", None)
        meta.pop("backchannel_logout_session_required", None)
    scopes = form.getlist("scopes") + form.get("extra_scopes", "").split()
    return meta, scopes[:50]


def _pkce_choice() -> bool:
    """The form's PKCE box: the operator's policy for a confidential client."""
    return request.form.get("require_pkce") == "on"


def _form_page(
    row: Client | None, meta: dict, scopes: list[str], error: str | None, pkce: bool | None = None
):
    if pkce is None:
        pkce = (
            provider().settings.require_pkce
            if row is None or row.require_pkce is None
            else (row.require_pkce)
        )
    page = render_template(
        "console/service_form.html",
        row=row,
        meta=meta,
        pkce=pkce,
        scopes=scopes,
        error=error,
        grant_types=GRANT_TYPES,
        auth_methods=AUTH_METHODS,
        algs=ID_TOKEN_ALGS,
        standard_scopes=STANDARD_SCOPES,
        api_scopes=API_SCOPES,
    )
    return page, 400 if error else 200


def _row(session, client_id: str) -> Client:
    row = session.scalar(select(Client).where(Client.client_id == client_id))
    if row is None:
        abort(404)
    return row


@bp.get("/")
@requires("services.read")
def index():
    with provider().db.read() as session:
        rows = session.scalars(select(Client).order_by(Client.id)).all()
    return render_template("console/services.html", rows=rows)


@bp.route("/new", methods=["GET", "POST"])
@requires("services.write")
def new():
    if request.method == "GET":
        defaults = {"grant_types": ["authorization_code", "refresh_token"]}
        return _form_page(None, defaults, list(STANDARD_SCOPES), None)
    meta, scopes = _metadata_from_form()
    p = provider()
    try:
        with p.db.write() as session:
            row, secret, _ = create_client(
                session,
                p.settings,
                meta,
                allowed_scopes=scopes,
                actor=who()["actor"],
                require_pkce=_pkce_choice(),
            )
            client_id = row.client_id
    except ClientError as exc:
        return _form_page(None, meta, scopes, refusal(exc), _pkce_choice())
    return render_template("console/service_secret.html", client_id=client_id, secret=secret)


@bp.route("/<client_id>", methods=["GET", "POST"])
@requires("services.read")
def edit(client_id: str):
    p = provider()
    if request.method == "GET":
        with p.db.read() as session:
            row = _row(session, client_id)
        return _form_page(row, row.metadata_, row.allowed_scopes.split(), None)
    return _save(client_id)


@requires("services.write")
def _save(client_id: str):
    """The edit form's POST: an operator who may read services may not change them."""
    p = provider()
    with p.db.read() as session:
        row = _row(session, client_id)
    meta, scopes = _metadata_from_form(row.metadata_)
    try:
        with p.db.write() as session:
            editing = _row(session, client_id)
            update_client(
                session, p.settings, editing, meta, actor=who()["actor"], allowed_scopes=scopes
            )
            if editing.require_pkce is not _pkce_choice():
                set_pkce_policy(session, editing, _pkce_choice(), actor=who()["actor"])
    except ClientError as exc:
        return _form_page(row, meta, scopes, refusal(exc), _pkce_choice())
    clients_changed(lambda: p.runtime.redis)
    flash(translate("The service is saved."))
    return redirect(url_for("console_services.edit", client_id=client_id))


@bp.post("/<client_id>/secret")
@requires("services.write")
def new_secret(client_id: str):
    p = provider()
    try:
        with p.db.write() as session:
            secret = rotate_secret(session, p.settings, _row(session, client_id), **_actor())
    except ClientError as exc:
        with p.db.read() as session:
            row = _row(session, client_id)
        return _form_page(row, row.metadata_, row.allowed_scopes.split(), refusal(exc))
    clients_changed(lambda: p.runtime.redis)
    return render_template("console/service_secret.html", client_id=client_id, secret=secret)


@bp.post("/<client_id>/delete")
@requires("services.write")
def delete(client_id: str):
    p = provider()
    with p.db.write() as session:
        if not delete_client(session, client_id, **_actor()):
            abort(404)
    clients_changed(lambda: p.runtime.redis)
    flash(translate("The service is deleted; its grants and tokens went with it."))
    return redirect(url_for("console_services.index"))


def _actor() -> dict:
    return {"actor": who()["actor"]}


@bp.get("/tokens")
@requires("services.read")
def tokens():
    with provider().db.read() as session:
        rows = initial_tokens(session)
    return render_template(
        "console/initial_tokens.html", rows=rows, token=None, error=None, now=utcnow()
    )


@bp.post("/tokens")
@requires("services.write")
def create_token():
    raw, raw_uses = request.form.get("days", "7"), request.form.get("uses", "1")
    days = int(raw) if raw.isdigit() and 1 <= int(raw) <= 365 else None
    uses = int(raw_uses) if raw_uses.isdigit() and 1 <= int(raw_uses) <= 1000 else None
    p = provider()
    if days is None or uses is None:
        with p.db.read() as session:
            rows = initial_tokens(session)
        error = (
            translate("A token lives 1 to 365 days.")
            if days is None
            else translate("A token registers 1 to 1000 services.")
        )
        return render_template(
            "console/initial_tokens.html", rows=rows, token=None, error=error, now=utcnow()
        ), 400
    with p.db.write() as session:
        token = create_initial_token(session, days, uses, **_actor())
    with p.db.read() as session:
        rows = initial_tokens(session)
    return render_template(
        "console/initial_tokens.html", rows=rows, token=token, error=None, now=utcnow()
    )


@bp.post("/tokens/<token_id>/revoke")
@requires("services.write")
def revoke_token(token_id: str):
    with provider().db.write() as session:
        if not revoke_initial_token(session, token_id, **_actor()):
            abort(404)
    flash(translate("The initial access token is revoked."))
    return redirect(url_for("console_services.tokens"))
