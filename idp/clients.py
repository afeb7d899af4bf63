"""Relying parties: their rows, secrets and policy, the documents their URLs lead to, and
the Authlib client view.

Client secrets are 256-bit random strings, so a keyed SHA-256 (HMAC under a key derived
from the server secret) protects them at rest as well as a slow hash would, while keeping
the token endpoint fast; a leaked table does not reveal them.

What a client registers is its metadata (:mod:`idp.client_metadata`). What it may do is
the operator's: the scopes it may ever get (``allowed_scopes``), and whether a
confidential client must use PKCE (``require_pkce``: ``None`` follows the
``require_pkce`` setting; public clients always must, RFC 9700 2.1.1). Neither is read
from metadata, so no registration can switch either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import audit, jsonbody
from config.db import epoch
from config.outbound import Answer, Documents, OutboundError
from config.settings import Settings
from config.stamps import ChangeStamp

# The ACRs, the vocabularies and sector_of are imported from here by other modules.
from idp.client_metadata import (  # noqa: F401
    ACR_VALUES,
    AUTH_METHODS,
    FACE_ACR,
    FACE_SELF_ACR,
    GRANT_TYPES,
    ID_TOKEN_ALGS,
    PASSWORD_ACR,
    SECRET_METHODS,
    STANDARD_SCOPES,
    TOTP_ACR,
    ClientError,
    check_jwks,
    normalise_metadata,
    requested_scopes,
    sector_of,
    stored_fields,
)
from idp.models import Client

if TYPE_CHECKING:
    from redis import Redis

#: A scope as RFC 6749 3.3 allows it, narrowed to what an operator would type.
SCOPE_TOKEN = re.compile(r"^[A-Za-z0-9:._-]{1,64}$")


def secret_digest(settings: Settings, secret: str) -> str:
    return hmac.new(settings.key_bytes("secret_key"), secret.encode(), hashlib.sha256).hexdigest()


def _is_public(meta: dict) -> bool:
    return meta.get("token_endpoint_auth_method") == "none"


def _check_pkce_policy(meta: dict, require_pkce: bool | None) -> None:
    if require_pkce is False and _is_public(meta):
        raise ClientError(
            "invalid_client_metadata", "PKCE is always required of public clients (RFC 9700)"
        )


_ISSUED_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_client_id() -> str:
    """A client id: 24 URL-safe characters that never begin with ``-``, so that it reads
    as an argument, not an option, wherever an operator types it (``onetrip clients ...``)."""
    while True:
        client_id = secrets.token_urlsafe(18)
        if not client_id.startswith("-"):
            return client_id


def create_client(
    session: Session,
    settings: Settings,
    metadata: dict,
    *,
    allowed_scopes: list[str] | None = None,
    actor: str = "cli",
    with_registration_token: bool = False,
    require_pkce: bool | None = None,
) -> tuple[Client, str | None, str | None]:
    """Register a client; returns it with its secret and registration token, shown once.

    ``allowed_scopes`` (the operator's choice) bounds the scopes asked for in the
    metadata; without it, the client may get what it asked for, or the OIDC scopes.
    """
    meta = normalise_metadata(metadata)
    _check_pkce_policy(meta, require_pkce)
    requested = requested_scopes(meta) or list(STANDARD_SCOPES)
    allowed = (
        [s for s in allowed_scopes if not meta.get("scope") or s in requested]
        if allowed_scopes is not None
        else requested
    )
    if "openid" not in allowed and "authorization_code" in meta["grant_types"]:
        allowed = ["openid", *allowed]
    meta["scope"] = list_to_scope(allowed)
    client_id = new_client_id()
    secret = (
        secrets.token_urlsafe(32) if meta["token_endpoint_auth_method"] in SECRET_METHODS else None
    )
    reg_token = secrets.token_urlsafe(32) if with_registration_token else None
    row = Client(
        client_id=client_id,
        metadata_=meta,
        allowed_scopes=meta["scope"],
        secret_hash=secret_digest(settings, secret) if secret else None,
        registration_token_hash=secret_digest(settings, reg_token) if reg_token else None,
        secret_expires_at=0,
        require_pkce=require_pkce,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "client.create",
        actor=actor,
        client_id=client_id,
        name=meta["client_name"],
        grant_types=meta["grant_types"],
        require_pkce=require_pkce,
    )
    return row, secret, reg_token


def update_client(
    session: Session,
    settings: Settings,
    row: Client,
    metadata: dict,
    *,
    actor: str,
    allowed_scopes: list[str] | None = None,
) -> Client:
    """Replace a client's metadata. The scopes it may get stay within those it had (a
    client may only narrow them, RFC 7592), unless the operator gives ``allowed_scopes``."""
    meta = normalise_metadata(metadata)
    _check_pkce_policy(meta, row.require_pkce)
    if allowed_scopes is not None:
        if not all(isinstance(s, str) and SCOPE_TOKEN.match(s) for s in allowed_scopes):
            raise ClientError(
                "invalid_client_metadata", "scopes are words of letters, digits and ':._-'"
            )
        allowed = list(dict.fromkeys(allowed_scopes))
        if "openid" not in allowed and "authorization_code" in meta["grant_types"]:
            allowed = ["openid", *allowed]
    else:
        requested = set(requested_scopes(meta) or row.allowed_scopes.split())
        allowed = [s for s in row.allowed_scopes.split() if s in requested]
    meta["scope"] = list_to_scope(allowed)
    if allowed_scopes is not None:
        row.allowed_scopes = meta["scope"]
    method_was = row.metadata_.get("token_endpoint_auth_method")
    if (method_was in SECRET_METHODS) != (meta["token_endpoint_auth_method"] in SECRET_METHODS):
        raise ClientError(
            "invalid_client_metadata",
            "token_endpoint_auth_method cannot change between secret and no secret",
        )
    row.metadata_ = meta
    audit.record(
        session, "client.update", actor=actor, client_id=row.client_id, scope=meta["scope"]
    )
    return row


def rotate_secret(session: Session, settings: Settings, row: Client, *, actor: str) -> str:
    """A new secret for a confidential client, returned once; the old one stops working
    as soon as the change commits and :func:`clients_changed` is called."""
    if row.metadata_.get("token_endpoint_auth_method") in ("none", "private_key_jwt"):
        raise ClientError("invalid_client_metadata", "this client authenticates without a secret")
    secret = secrets.token_urlsafe(32)
    row.secret_hash = secret_digest(settings, secret)
    audit.record(session, "client.rotate_secret", actor=actor, client_id=row.client_id)
    return secret


def set_pkce_policy(session: Session, row: Client, require_pkce: bool, *, actor: str) -> None:
    """The operator's choice of PKCE for one confidential client."""
    _check_pkce_policy(row.metadata_, require_pkce)
    row.require_pkce = require_pkce
    audit.record(
        session, "client.policy", actor=actor, client_id=row.client_id, require_pkce=require_pkce
    )


def delete_client(session: Session, client_id: str, *, actor: str) -> bool:
    row = session.scalar(select(Client).where(Client.client_id == client_id))
    if row is None:
        return False
    session.delete(row)
    audit.record(session, "client.delete", actor=actor, client_id=client_id)
    return True


def client_info(
    row: Client, secret: str | None = None, reg_token: str | None = None, issuer: str = ""
) -> dict:
    """The RFC 7591 client information response: the metadata, then the server's fields
    (which metadata can never override)."""
    info = {
        **stored_fields(row.metadata_),
        "client_id": row.client_id,
        "client_id_issued_at": epoch(row.created_at) if row.created_at else None,
    }
    if secret:
        info["client_secret"] = secret
        info["client_secret_expires_at"] = row.secret_expires_at
    if reg_token:
        info["registration_access_token"] = reg_token
        info["registration_client_uri"] = f"{issuer}/oauth/register/{row.client_id}"
    return info


@dataclass(frozen=True)
class OAuthClient(ClientMixin):
    """An immutable snapshot of a client row, as Authlib's grants and endpoints see it."""

    client_id: str
    secret_hash: str | None
    metadata: dict
    allowed_scopes: frozenset[str]
    require_pkce: bool
    settings: Settings = field(repr=False, compare=False)

    @classmethod
    def from_row(cls, row: Client, settings: Settings) -> OAuthClient:
        meta = dict(row.metadata_)
        policy = settings.require_pkce if row.require_pkce is None else row.require_pkce
        return cls(
            row.client_id,
            row.secret_hash,
            meta,
            frozenset(row.allowed_scopes.split()),
            _is_public(meta) or policy,
            settings,
        )

    @property
    def client_name(self) -> str:
        return self.metadata.get("client_name", self.client_id)

    @property
    def auth_method(self) -> str:
        return self.metadata.get("token_endpoint_auth_method", "client_secret_basic")

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.metadata.get("id_token_signed_response_alg", "RS256")

    @property
    def client_metadata(self) -> dict:
        return self.metadata

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.metadata.get("redirect_uris") or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        return list_to_scope([s for s in scope_to_list(scope) if s in self.allowed_scopes])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.metadata.get("redirect_uris") or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.secret_hash or not client_secret:
            return False
        return hmac.compare_digest(self.secret_hash, secret_digest(self.settings, client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The registered method, or the other way of sending the same secret: Basic and
        the form body are one family (as node-oidc-provider and Keycloak accept), and
        openid-client sends the form by default. A secret never stands in for an
        assertion, nor an assertion for a secret."""
        registered = self.auth_method
        return method == registered or (method in SECRET_METHODS and registered in SECRET_METHODS)

    def check_response_type(self, response_type: str) -> bool:
        return response_type in (self.metadata.get("response_types") or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.metadata.get("grant_types") or [])


#: Bumped after any change to a stored client (see :func:`clients_changed`).
CHANGE_STAMP = "clients:change-stamp"


def clients_changed(redis: Callable[[], Redis]) -> None:
    """Make every process drop its cached clients: call after an update or delete commits."""
    ChangeStamp(redis, CHANGE_STAMP).bump()


class ClientCache:
    """Clients looked up by id, kept in this process for the token endpoint's sake.

    A change to a client anywhere bumps a change stamp (:mod:`config.stamps`): this
    process drops its copies at once, every other process and node within 50 ms, so a
    deleted client or a replaced secret stops working everywhere almost at once. A copy
    is also never older than ``max_age``, in case a bump was lost (Redis unreachable from
    the process that made the change, but not from this one).
    """

    def __init__(
        self, db, settings: Settings, redis: Callable[[], Redis], max_age: float = 60.0
    ) -> None:
        self.db, self.settings, self.max_age = db, settings, max_age
        self._stamp = ChangeStamp(redis, CHANGE_STAMP)
        self._cache: dict[str, tuple[float, OAuthClient]] = {}

    def get(self, client_id: str | None) -> OAuthClient | None:
        """The client, or None; an id OneTrip could not have issued (see
        :func:`new_client_id`) is none, asked of no database (PostgreSQL refuses NUL)."""
        if not client_id or not _ISSUED_ID.fullmatch(client_id):
            return None
        if self._stamp.changed():
            self._cache = {}
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit is not None and now - hit[0] < self.max_age:
            return hit[1]
        with self.db.read() as session:
            row = session.scalar(select(Client).where(Client.client_id == client_id))
            client = OAuthClient.from_row(row, self.settings) if row else None
        if client is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[client_id] = (now, client)
        return client


# -- what clients' URLs lead to ------------------------------------------------------------

_IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


@dataclass(frozen=True)
class Logo:
    content_type: str
    data: bytes


def _json(answer: Answer) -> object:
    if answer.content_type not in ("application/json", "application/jwk-set+json"):
        raise ValueError(f"the answer is {answer.content_type or 'untyped'}, not JSON")
    return jsonbody.loads(answer.body)


def parse_jwks(answer: Answer) -> dict:
    """A JWK Set of public keys (RFC 7517 5)."""
    document = _json(answer)
    if not isinstance(document, dict):
        raise ValueError("a JWK Set is a JSON object")
    return check_jwks(document)


def parse_sector(answer: Answer) -> list[str]:
    """A sector identifier document: a JSON array of redirect URIs (OIDC Registration 5)."""
    document = _json(answer)
    if not isinstance(document, list) or not all(isinstance(u, str) for u in document):
        raise ValueError("a sector identifier document is a JSON array of URIs")
    return document


def parse_logo(answer: Answer) -> Logo:
    """A PNG, JPEG, GIF or WebP image, known by its first bytes (never SVG, which is a
    document that can run script)."""
    data = answer.body
    for magic, content_type in _IMAGE_TYPES.items():
        if data.startswith(magic):
            return Logo(content_type, data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Logo("image/webp", data)
    raise ValueError("a logo must be a PNG, JPEG, GIF or WebP image")


def client_documents(settings: Settings, redis: Callable[[], Redis]) -> Documents:
    """The cache of what clients' URLs lead to: JWK Sets, sector identifiers, logos."""
    documents = Documents.from_settings(settings, redis)
    documents.kind("jwks", "application/jwk-set+json, application/json", parse_jwks)
    documents.kind("sector", "application/json", parse_sector)
    documents.kind("logo", "image/png, image/jpeg, image/gif, image/webp", parse_logo)
    return documents


#: The metadata fields whose URLs OneTrip fetches or calls.
_FETCHED = ("jwks_uri", "sector_identifier_uri", "logo_uri", "backchannel_logout_uri")


def check_urls(meta: dict, documents: Documents) -> None:
    """Refuse metadata whose URLs OneTrip could not or must not use (registration).

    Every fetched or called URL must lead to an allowed address; the JWK Set is fetched
    (and so cached for the token endpoint); the sector identifier document is fetched
    and must list every redirect URI, so a client cannot borrow another's sector, and
    with it the pairwise ``sub`` of every citizen there (OIDC Core 8.1).
    """
    for name in _FETCHED:
        if uri := meta.get(name):
            try:
                documents.fetcher.check(uri)
            except OutboundError as exc:
                raise ClientError("invalid_client_metadata", f"{name}: {exc}") from None
    if uri := meta.get("jwks_uri"):
        try:
            documents.fetch("jwks", uri)
        except OutboundError as exc:
            raise ClientError(
                "invalid_client_metadata", f"jwks_uri: no JWK Set there ({exc})"
            ) from None
    if uri := meta.get("sector_identifier_uri"):
        try:
            listed = documents.fetch("sector", uri)
        except OutboundError as exc:
            raise ClientError(
                "invalid_client_metadata",
                f"sector_identifier_uri: no sector document there ({exc})",
            ) from None
        missing = [u for u in meta.get("redirect_uris", []) if u not in listed]
        if missing:
            raise ClientError(
                "invalid_client_metadata",
                "sector_identifier_uri: the document there does not list every redirect URI",
            )


def client_keys(client: OAuthClient, documents: Documents, kid: str | None) -> KeySet:
    """The client's public keys, holding ``kid`` if it can: from its registered ``jwks``,
    else the cached JWK Set of its ``jwks_uri``, fetched once more (rate-limited, see
    :meth:`~config.outbound.Documents.refetch`) when that lacks ``kid``: a client that
    rotated its key is not locked out until the cache expires.

    Raises :class:`~config.outbound.OutboundError` when the set cannot be had.
    """
    if inline := client.metadata.get("jwks"):
        return KeySet.import_key_set(inline)
    uri = client.metadata.get("jwks_uri")
    if not uri:
        raise OutboundError("no_keys", "the client registered no keys")
    keys = KeySet.import_key_set(documents.get("jwks", uri))
    if kid is not None and all(key.kid != kid for key in keys.keys):
        fresher = documents.refetch("jwks", uri)
        if fresher is not None:
            keys = KeySet.import_key_set(fresher)
    return keys
