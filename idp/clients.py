"""Relying parties: registration metadata checks, secrets, and the Authlib client view.

Client secrets are 256-bit random strings, so a keyed SHA-256 (HMAC under a key derived
from the server secret) protects them at rest as well as a slow hash would, while keeping
the token endpoint fast; a leaked table does not reveal them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import audit
from config.db import epoch
from config.settings import Settings
from config.stamps import ChangeStamp
from idp.models import Client

if TYPE_CHECKING:
    from redis import Redis

STANDARD_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ID_TOKEN_ALGS = ("RS256", "ES256")
FACE_ACR = "urn:onetrip:acr:face"
PASSWORD_ACR = "urn:onetrip:acr:pwd"
TOTP_ACR = "urn:onetrip:acr:totp"  # password and an authenticator app's code (issue 17)
ACR_VALUES = (PASSWORD_ACR, TOTP_ACR, FACE_ACR)
#: A scope as RFC 6749 3.3 allows it, narrowed to what an operator would type.
SCOPE_TOKEN = re.compile(r"^[A-Za-z0-9:._-]{1,64}$")


class ClientError(ValueError):
    """Invalid client metadata; ``error`` is the RFC 7591 error code."""

    def __init__(self, description: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(description)
        self.error = error


def secret_digest(settings: Settings, secret: str) -> str:
    return hmac.new(settings.key_bytes("secret_key"), secret.encode(), hashlib.sha256).hexdigest()


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_uri(uri: str, what: str) -> str:
    """An absolute https URI without fragment; http only for loopback (RFC 8252 7.3)."""
    if not isinstance(uri, str) or len(uri) > 2000:
        raise ClientError(
            f"{what} must be a string of at most 2000 characters",
            "invalid_redirect_uri" if what == "redirect_uri" else "invalid_client_metadata",
        )
    parts = urlsplit(uri)
    error = "invalid_redirect_uri" if what == "redirect_uri" else "invalid_client_metadata"
    if parts.fragment or not parts.netloc:
        raise ClientError(f"{what} must be absolute and have no fragment: {uri}", error)
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise ClientError(f"{what} must use https (http only on loopback): {uri}", error)
    return uri


def normalise_metadata(raw: dict) -> dict:
    """Check RFC 7591 / OIDC Registration metadata and fill in the defaults."""
    if not isinstance(raw, dict):
        raise ClientError("client metadata must be a JSON object")
    meta = dict(raw)
    name = meta.get("client_name", "")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ClientError("client_name is required (at most 200 characters)")
    grant_types = meta.setdefault("grant_types", ["authorization_code", "refresh_token"])
    if not isinstance(grant_types, list) or not set(grant_types) <= set(GRANT_TYPES):
        raise ClientError(f"grant_types must be a subset of {list(GRANT_TYPES)}")
    response_types = meta.setdefault(
        "response_types", ["code"] if "authorization_code" in grant_types else []
    )
    if response_types not in ([], ["code"]):
        raise ClientError("only the 'code' response type is supported")
    redirect_uris = meta.setdefault("redirect_uris", [])
    if not isinstance(redirect_uris, list):
        raise ClientError("redirect_uris must be a list", "invalid_redirect_uri")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError(
            "redirect_uris are required for the authorization_code grant", "invalid_redirect_uri"
        )
    for uri in redirect_uris:
        check_uri(uri, "redirect_uri")
    for uri in meta.setdefault("post_logout_redirect_uris", []):
        check_uri(uri, "post_logout_redirect_uri")
    for key in ("backchannel_logout_uri", "jwks_uri", "sector_identifier_uri"):
        if meta.get(key):
            check_uri(meta[key], key)
    method = meta.setdefault("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientError(f"token_endpoint_auth_method must be one of {list(AUTH_METHODS)}")
    if method == "none" and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use the client_credentials grant")
    if method == "private_key_jwt" and not (meta.get("jwks") or meta.get("jwks_uri")):
        raise ClientError("private_key_jwt needs jwks or jwks_uri")
    if meta.get("jwks") is not None and not (
        isinstance(meta["jwks"], dict) and isinstance(meta["jwks"].get("keys"), list)
    ):
        raise ClientError("jwks must be a JSON Web Key Set")
    subject_type = meta.setdefault("subject_type", "public")
    if subject_type not in ("public", "pairwise"):
        raise ClientError("subject_type must be public or pairwise")
    alg = meta.setdefault("id_token_signed_response_alg", "RS256")
    if alg not in ID_TOKEN_ALGS:
        raise ClientError(f"id_token_signed_response_alg must be one of {list(ID_TOKEN_ALGS)}")
    acrs = meta.setdefault("default_acr_values", [])
    if not isinstance(acrs, list) or not set(acrs) <= set(ACR_VALUES):
        raise ClientError(f"default_acr_values must be a subset of {list(ACR_VALUES)}")
    meta.setdefault("backchannel_logout_session_required", bool(meta.get("backchannel_logout_uri")))
    if subject_type == "pairwise":
        sector_hosts = {urlsplit(u).hostname for u in redirect_uris}
        if not meta.get("sector_identifier_uri") and len(sector_hosts) > 1:
            raise ClientError(
                "pairwise clients with redirect URIs on several hosts need a sector_identifier_uri"
            )
    return meta


def sector_of(meta: dict) -> str:
    """The pairwise sector: the sector identifier's host, else the redirect URIs' host."""
    source = meta.get("sector_identifier_uri") or (meta.get("redirect_uris") or [""])[0]
    return urlsplit(source).hostname or ""


def create_client(
    session: Session,
    settings: Settings,
    metadata: dict,
    *,
    allowed_scopes: list[str] | None = None,
    actor: str = "cli",
    with_registration_token: bool = False,
) -> tuple[Client, str | None, str | None]:
    """Register a client; returns it with its secret and registration token, shown once."""
    meta = normalise_metadata(metadata)
    requested = scope_to_list(meta.get("scope") or "") or list(STANDARD_SCOPES)
    allowed = allowed_scopes if allowed_scopes is not None else requested
    if "openid" not in allowed and "authorization_code" in meta["grant_types"]:
        allowed = ["openid", *allowed]
    meta["scope"] = list_to_scope(allowed)
    client_id = secrets.token_urlsafe(18)
    secret = (
        None
        if meta["token_endpoint_auth_method"] in ("none", "private_key_jwt")
        else secrets.token_urlsafe(32)
    )
    reg_token = secrets.token_urlsafe(32) if with_registration_token else None
    row = Client(
        client_id=client_id,
        metadata_=meta,
        allowed_scopes=meta["scope"],
        secret_hash=secret_digest(settings, secret) if secret else None,
        registration_token_hash=secret_digest(settings, reg_token) if reg_token else None,
        secret_expires_at=0,
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
    """Replace a client's metadata. A client (RFC 7592) may only narrow its scopes; an
    operator passes ``allowed_scopes`` to set what the client may ever get."""
    meta = normalise_metadata(metadata)
    if allowed_scopes is not None:
        if not all(isinstance(s, str) and SCOPE_TOKEN.match(s) for s in allowed_scopes):
            raise ClientError("scopes are words of letters, digits and ':._-'")
        allowed = list(dict.fromkeys(allowed_scopes))
        if "openid" not in allowed and "authorization_code" in meta["grant_types"]:
            allowed = ["openid", *allowed]
        row.allowed_scopes = list_to_scope(allowed)
    else:
        requested = set(scope_to_list(meta.get("scope") or "") or row.allowed_scopes.split())
        allowed = [s for s in row.allowed_scopes.split() if s in requested]
    meta["scope"] = list_to_scope(allowed)
    row.metadata_ = meta
    audit.record(
        session, "client.update", actor=actor, client_id=row.client_id, scope=meta["scope"]
    )
    return row


def rotate_secret(session: Session, settings: Settings, row: Client, *, actor: str) -> str:
    """A new secret for a confidential client, returned once; the old one stops working
    as soon as the change commits and :func:`clients_changed` is called."""
    if row.metadata_.get("token_endpoint_auth_method") in ("none", "private_key_jwt"):
        raise ClientError("this client authenticates without a secret")
    secret = secrets.token_urlsafe(32)
    row.secret_hash = secret_digest(settings, secret)
    audit.record(session, "client.rotate_secret", actor=actor, client_id=row.client_id)
    return secret


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
    """The RFC 7591 client information response."""
    info = {
        "client_id": row.client_id,
        "client_id_issued_at": epoch(row.created_at) if row.created_at else None,
        **row.metadata_,
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
    settings: Settings = field(repr=False, compare=False)

    @classmethod
    def from_row(cls, row: Client, settings: Settings) -> OAuthClient:
        return cls(
            row.client_id,
            row.secret_hash,
            dict(row.metadata_),
            frozenset(row.allowed_scopes.split()),
            settings,
        )

    @property
    def client_name(self) -> str:
        return self.metadata.get("client_name", self.client_id)

    @property
    def is_public(self) -> bool:
        return self.metadata.get("token_endpoint_auth_method") == "none"

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
        return method == self.metadata.get("token_endpoint_auth_method")

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
        if not client_id or len(client_id) > 64:
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


_jwks_cache: dict[str, tuple[float, dict]] = {}


def client_jwks(meta: dict) -> dict:
    """A client's public keys: inline ``jwks``, or ``jwks_uri`` fetched and kept 5 minutes."""
    if meta.get("jwks"):
        return meta["jwks"]
    uri = meta.get("jwks_uri")
    if not uri:
        return {"keys": []}
    hit = _jwks_cache.get(uri)
    if hit and time.monotonic() - hit[0] < 300:
        return hit[1]
    response = requests.get(uri, timeout=3)
    response.raise_for_status()
    keys = response.json()
    _jwks_cache[uri] = (time.monotonic(), keys)
    return keys
