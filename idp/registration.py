"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592).

Written here rather than on Authlib's registration endpoints because the decisions are
ours: registration needs an operator's initial access token, metadata is checked by
:func:`idp.clients.normalise_metadata` (OIDC fields included), and which scopes a client
may ever get is the operator's choice: a registered client gets the standard OIDC scopes
only, whatever it asks for.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from config import audit
from config.db import utcnow
from idp.clients import (
    STANDARD_SCOPES,
    ClientError,
    client_info,
    clients_changed,
    create_client,
    delete_client,
    secret_digest,
    update_client,
)
from idp.errors import ApiError
from idp.models import Client, InitialAccessToken
from idp.provider import Provider
from idp.tokens import digest


def create_initial_token(session, days: int = 7, *, actor: str = "cli") -> str:
    raw = secrets.token_urlsafe(32)
    session.add(
        InitialAccessToken(
            token_hash=digest(raw), created_at=utcnow(), expires_at=utcnow() + timedelta(days=days)
        )
    )
    audit.record(session, "client.initial_token", actor=actor, days=days, token=digest(raw)[:12])
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
        raise ApiError("invalid_client_metadata", "The body must be a JSON object.", 400)
    return data


def install(bp: Blueprint, provider: Provider) -> None:
    settings = provider.settings

    @bp.post("/oauth/register")
    def register():
        raw = _bearer()
        with provider.db.write() as session:
            token = session.get(InitialAccessToken, digest(raw))
            if token is None or token.expires_at <= utcnow():
                raise ApiError("invalid_token", "The initial access token is not valid.", 401)
            metadata = _metadata_from_request()
            wanted = set((metadata.get("scope") or "").split()) or set(STANDARD_SCOPES)
            allowed = [s for s in STANDARD_SCOPES if s in wanted]
            try:
                row, secret, reg_token = create_client(
                    session,
                    settings,
                    metadata,
                    allowed_scopes=allowed,
                    actor="registration",
                    with_registration_token=True,
                )
            except ClientError as exc:
                raise ApiError(exc.error, str(exc), 400) from None
            body = client_info(row, secret, reg_token, settings.issuer)
        response = jsonify(body)
        response.status_code = 201
        response.headers["Cache-Control"] = "no-store"
        return response

    def _client_for_token(client_id: str, session) -> Client:
        raw = _bearer()
        row = session.scalar(select(Client).where(Client.client_id == client_id))
        if (
            row is None
            or not row.registration_token_hash
            or not hmac.compare_digest(row.registration_token_hash, secret_digest(settings, raw))
        ):
            raise ApiError("invalid_token", "The registration access token is not valid.", 401)
        return row

    @bp.get("/oauth/register/<client_id>")
    def read_client(client_id: str):
        with provider.db.read() as session:
            row = _client_for_token(client_id, session)
            body = client_info(row, issuer=settings.issuer)
        body["registration_client_uri"] = f"{settings.issuer}/oauth/register/{client_id}"
        return jsonify(body)

    @bp.put("/oauth/register/<client_id>")
    def update(client_id: str):
        with provider.db.write() as session:
            row = _client_for_token(client_id, session)
            metadata = _metadata_from_request()
            if metadata.pop("client_id", client_id) != client_id:
                raise ApiError("invalid_request", "client_id cannot change.", 400)
            for field in (
                "client_secret",
                "registration_access_token",
                "registration_client_uri",
                "client_id_issued_at",
                "client_secret_expires_at",
            ):
                metadata.pop(field, None)
            try:
                update_client(session, settings, row, metadata, actor="registration")
            except ClientError as exc:
                raise ApiError(exc.error, str(exc), 400) from None
            body = client_info(row, issuer=settings.issuer)
        clients_changed(lambda: provider.runtime.redis)
        body["registration_client_uri"] = f"{settings.issuer}/oauth/register/{client_id}"
        return jsonify(body)

    @bp.delete("/oauth/register/<client_id>")
    def delete(client_id: str):
        with provider.db.write() as session:
            _client_for_token(client_id, session)
            delete_client(session, client_id, actor="registration")
        clients_changed(lambda: provider.runtime.redis)
        return "", 204
