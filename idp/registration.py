"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592).

Written here rather than on Authlib's registration endpoints because the decisions are
ours:

- registering needs an operator's initial access token, which registers a set number of
  clients and bounds the scopes they may get. Its use is counted down in the transaction
  that stores the client, so a refused registration spends none, and two registrations
  racing for a token's last use cannot both win;
- metadata goes through the declared schema (:func:`idp.client_metadata.normalise_metadata`)
  and its URLs through :func:`idp.clients.check_urls` (fetched with :mod:`config.outbound`)
  before any transaction opens, so a slow outside server never holds a database lock, and
  only a caller with a valid token makes OneTrip fetch anything;
- what a client may do is the operator's: the scopes (above), the ``client_credentials``
  grant (a client acting for itself, given with ``onetrip clients update``) and the PKCE
  policy are never taken from a registrant's metadata.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, jsonify, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config import audit
from config.db import utcnow
from idp.client_metadata import STANDARD_SCOPES, ClientError, normalise_metadata
from idp.clients import (
    check_urls,
    client_info,
    clients_changed,
    create_client,
    delete_client,
    secret_digest,
    update_client,
)
from idp.context import services
from idp.errors import ApiError
from idp.models import Client, InitialAccessToken
from idp.tokens import digest

#: Grants a registrant may ask for; the others are the operator's to give.
REGISTRABLE_GRANTS = frozenset({"authorization_code", "refresh_token"})


def create_initial_token(
    session: Session,
    days: int = 7,
    uses: int = 1,
    scopes: list[str] | None = None,
    *,
    actor: str = "cli",
) -> str:
    """A token that registers ``uses`` clients within ``days``, each getting no scope
    beyond ``scopes`` (default: the OIDC scopes)."""
    raw = secrets.token_urlsafe(32)
    granted = " ".join(scopes or STANDARD_SCOPES)
    session.add(
        InitialAccessToken(
            token_hash=digest(raw),
            created_at=utcnow(),
            expires_at=utcnow() + timedelta(days=days),
            uses_left=uses,
            scopes=granted,
        )
    )
    audit.record(
        session,
        "client.initial_token",
        actor=actor,
        days=days,
        uses=uses,
        scopes=granted,
        token=digest(raw)[:12],
    )
    return raw


def initial_tokens(session) -> list[InitialAccessToken]:
    """Every initial access token, newest first (only their hashes are stored)."""
    return list(
        session.scalars(select(InitialAccessToken).order_by(InitialAccessToken.created_at.desc()))
    )


def revoke_initial_token(session, token_id: str, *, actor: str) -> bool:
    """Expire the token whose hash starts with ``token_id`` (the 12 characters the console
    shows); False if there is none or it had expired."""
    if len(token_id) != 12 or not all(c in "0123456789abcdef" for c in token_id):
        return False
    row = session.scalar(
        select(InitialAccessToken).where(InitialAccessToken.token_hash.startswith(token_id))
    )
    if row is None or row.expires_at <= utcnow():
        return False
    row.expires_at = utcnow()
    audit.record(session, "client.initial_token.revoke", actor=actor, token=token_id)
    return True


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        raise ApiError("invalid_token", "An access token is required.", 401)
    return header[7:].strip()


def _metadata_from_request() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(
            "invalid_client_metadata",
            "The body must be a JSON object (application/json, nested 32 levels at most).",
            400,
        )
    return data


def _refused(exc: ClientError) -> ApiError:
    return ApiError(exc.error, str(exc), 400)


def _check_grants(meta: dict, given: list[str]) -> None:
    extra = sorted(set(meta["grant_types"]) - REGISTRABLE_GRANTS - set(given))
    if extra:
        raise ClientError(
            "invalid_client_metadata", f"the {', '.join(extra)} grant is given by the operator only"
        )


bp = Blueprint("registration", __name__)


def _usable(token_hash: str) -> InitialAccessToken:
    with services().provider.db.read() as session:
        token = session.get(InitialAccessToken, token_hash)
        if token is None or token.expires_at <= utcnow() or token.uses_left < 1:
            raise ApiError("invalid_token", "The initial access token is not valid.", 401)
        session.expunge(token)
        return token


def _spend(session: Session, token_hash: str) -> None:
    spent = session.execute(
        update(InitialAccessToken)
        .where(
            InitialAccessToken.token_hash == token_hash,
            InitialAccessToken.uses_left > 0,
            InitialAccessToken.expires_at > utcnow(),
        )
        .values(uses_left=InitialAccessToken.uses_left - 1, used_at=utcnow())
    )
    if spent.rowcount != 1:
        raise ApiError("invalid_token", "The initial access token is not valid.", 401)


def _checked(metadata: dict, grants_given: list[str]) -> dict:
    """The metadata normalised, its grants and URLs checked: before any transaction."""
    try:
        meta = normalise_metadata(metadata)
        _check_grants(meta, grants_given)
        check_urls(meta, services().provider.documents)
    except ClientError as exc:
        raise _refused(exc) from None
    return meta


@bp.post("/oauth/register")
def register():
    provider = services().provider
    settings = provider.settings
    token_hash = digest(_bearer())
    token = _usable(token_hash)
    meta = _checked(_metadata_from_request(), [])
    wanted = set(meta.get("scope", "").split()) or set(token.scopes.split())
    allowed = [s for s in token.scopes.split() if s in wanted]
    with provider.db.write() as session:
        _spend(session, token_hash)
        try:
            row, secret, reg_token = create_client(
                session,
                settings,
                meta,
                allowed_scopes=allowed,
                actor="registration",
                with_registration_token=True,
            )
        except ClientError as exc:
            raise _refused(exc) from None
        body = client_info(row, secret, reg_token, settings.issuer)
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _client_for_token(client_id: str, session) -> Client:
    raw = _bearer()
    row = session.scalar(select(Client).where(Client.client_id == client_id))
    settings = services().provider.settings
    if (
        row is None
        or not row.registration_token_hash
        or not hmac.compare_digest(row.registration_token_hash, secret_digest(settings, raw))
    ):
        raise ApiError("invalid_token", "The registration access token is not valid.", 401)
    return row


def _configuration(row: Client) -> dict:
    issuer = services().provider.settings.issuer
    body = client_info(row, issuer=issuer)
    body["registration_client_uri"] = f"{issuer}/oauth/register/{row.client_id}"
    return body


@bp.get("/oauth/register/<client_id>")
def read_client(client_id: str):
    with services().provider.db.read() as session:
        body = _configuration(_client_for_token(client_id, session))
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.put("/oauth/register/<client_id>")
def update_registration(client_id: str):
    provider = services().provider
    with provider.db.read() as session:
        given = list(_client_for_token(client_id, session).metadata_.get("grant_types", []))
    metadata = _metadata_from_request()
    if metadata.get("client_id", client_id) != client_id:
        raise ApiError("invalid_request", "client_id cannot change.", 400)
    meta = _checked(metadata, given)
    with provider.db.write() as session:
        row = _client_for_token(client_id, session)
        try:
            update_client(session, provider.settings, row, meta, actor="registration")
        except ClientError as exc:
            raise _refused(exc) from None
        body = _configuration(row)
    clients_changed(lambda: provider.runtime.redis)
    return jsonify(body)


@bp.delete("/oauth/register/<client_id>")
def delete(client_id: str):
    provider = services().provider
    with provider.db.write() as session:
        _client_for_token(client_id, session)
        delete_client(session, client_id, actor="registration")
    clients_changed(lambda: provider.runtime.redis)
    return "", 204
