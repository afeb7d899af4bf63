"""Grants and the tokens they carry: JWT access tokens (RFC 9068), ID tokens, refresh tokens.

Access tokens are signed JWTs so the signing and PKI APIs (and any resource server) can
check them locally; a revoked one is marked in Redis until it would have expired, and so is
a revoked grant, which covers every access token issued under it. Refresh tokens are
opaque, stored as SHA-256 digests, and rotate on every use: presenting a used one is taken
as theft and revokes the whole grant (RFC 9700 4.14.2).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from authlib.oidc.core.util import create_half_hash
from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config import audit
from config.db import utcnow
from config.runtime import Runtime
from idp.clients import OAuthClient, sector_of
from idp.keys import KeyRing
from idp.models import Grant, RefreshToken, User

ACCESS_TOKEN_TYPE = "at+jwt"


class TokenRejected(Exception):
    """A refresh token that must be refused; ``error`` is the OAuth error code to answer."""

    def __init__(self, description: str, error: str = "invalid_grant") -> None:
        super().__init__(description)
        self.error = error


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int


class TokenService:
    def __init__(self, runtime: Runtime, keyring: KeyRing) -> None:
        self.runtime, self.settings, self.keyring = runtime, runtime.settings, keyring
        self.redis = runtime.redis

    # -- subjects ----------------------------------------------------------------------

    def subject_for(self, user: User, client: OAuthClient) -> str:
        """The ``sub`` a client sees: per sector for pairwise clients (OIDC Core 8.1)."""
        if client.metadata.get("subject_type") != "pairwise":
            return user.public_sub
        material = f"{sector_of(client.metadata)}|{user.public_sub}".encode()
        mac = hashlib.sha256(self.settings.key_bytes("pairwise_salt") + material).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    # -- access tokens -----------------------------------------------------------------

    def issue_access_token(
        self,
        *,
        client_id: str,
        scope: str,
        sub: str,
        grant_id: str | None = None,
        auth_time: int | None = None,
        acr: str | None = None,
    ) -> AccessToken:
        key = self.keyring.signing_key("ES256")
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self.settings.issuer,
            "sub": sub,
            "aud": self.settings.issuer,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "exp": now + self.settings.access_token_ttl,
            "jti": jti,
        }
        if grant_id:
            claims["gid"] = grant_id
        if auth_time:
            claims["auth_time"] = auth_time
        if acr:
            claims["acr"] = acr
        header = {"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
        return AccessToken(jwt.encode(header, claims, key.jwk), jti, self.settings.access_token_ttl)

    def decode_access_token(self, token: str) -> dict | None:
        """Claims of a valid, unexpired, unrevoked access token of ours; else None."""
        if not token or len(token) > 4096 or token.count(".") != 2:
            return None
        try:
            header = jws.extract_compact(token.encode()).protected
            if header.get("typ") != ACCESS_TOKEN_TYPE or header.get("alg") != "ES256":
                return None
            key = self.keyring.public_key(header.get("kid", ""))
            if key is None:
                return None
            claims = jwt.decode(token, key, algorithms=["ES256"]).claims
        except (JoseError, ValueError, TypeError):
            return None
        now = time.time()
        if claims.get("iss") != self.settings.issuer or not isinstance(claims.get("exp"), int):
            return None
        if claims["exp"] <= now:
            return None
        if self.is_revoked(claims):
            return None
        return claims

    def is_revoked(self, claims: dict) -> bool:
        keys = [f"revoked:jti:{claims.get('jti')}"]
        if claims.get("gid"):
            keys.append(f"revoked:grant:{claims['gid']}")
        return any(v is not None for v in self.redis.mget(keys))

    def revoke_access_token(self, claims: dict) -> None:
        ttl = max(int(claims["exp"] - time.time()), 1)
        self.redis.set(f"revoked:jti:{claims['jti']}", 1, ex=ttl)

    # -- grants ------------------------------------------------------------------------

    def create_grant(
        self,
        session: Session,
        *,
        user_id: int,
        client_id: str,
        scope: str,
        sid: str | None,
        auth_time: int | None,
        acr: str | None,
        amr: list | None,
    ) -> Grant:
        grant = Grant(
            id=secrets.token_hex(16),
            user_id=user_id,
            client_id=client_id,
            scope=scope,
            sid=sid,
            auth_time=auth_time,
            acr=acr,
            amr=amr,
        )
        session.add(grant)
        session.flush()
        return grant

    def revoke_grants(
        self, session: Session, grant_ids: list[str], *, reason: str, actor: str | None = None
    ) -> int:
        """Revoke grants, their refresh tokens, and (through Redis) their access tokens."""
        if not grant_ids:
            return 0
        now = utcnow()
        session.execute(
            update(Grant)
            .where(Grant.id.in_(grant_ids), Grant.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.grant_id.in_(grant_ids), RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        pipe = self.redis.pipeline()
        for gid in grant_ids:
            pipe.set(f"revoked:grant:{gid}", reason, ex=self.settings.access_token_ttl + 60)
        pipe.execute()
        for gid in grant_ids:
            audit.record(session, "grant.revoke", actor=actor, grant_id=gid, reason=reason)
        return len(grant_ids)

    def grant_for(self, session: Session, grant_id: str | None) -> Grant | None:
        if not grant_id:
            return None
        grant = session.get(Grant, grant_id)
        return grant if grant is not None and grant.revoked_at is None else None

    # -- refresh tokens ----------------------------------------------------------------

    def issue_refresh_token(self, session: Session, grant: Grant, scope: str) -> str:
        raw = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                token_hash=digest(raw),
                grant_id=grant.id,
                scope=scope,
                issued_at=utcnow(),
                expires_at=utcnow() + timedelta(seconds=self.settings.refresh_token_ttl),
            )
        )
        return raw

    def find_refresh_token(self, session: Session, raw: str) -> RefreshToken | None:
        if not raw or len(raw) > 200:
            return None
        return session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest(raw)).with_for_update()
        )

    def rotate_refresh_token(
        self, raw: str, client_id: str, scope: str | None
    ) -> tuple[Grant, User, str, str]:
        """Spend a refresh token and issue its successor in one transaction.

        Returns the grant, its citizen, the new refresh token and the scope of the new
        tokens. A token
        presented twice revokes the whole grant (committed before the refusal is raised).
        """
        reuse: TokenRejected | None = None
        with self.runtime.db.write() as session:
            row = self.find_refresh_token(session, raw)
            if row is None:
                raise TokenRejected("unknown refresh token")
            grant = session.get(Grant, row.grant_id)
            if grant.client_id != client_id:
                raise TokenRejected("refresh token was issued to another client")
            if grant.revoked_at is not None or row.revoked_at is not None:
                raise TokenRejected("refresh token has been revoked")
            if row.expires_at <= utcnow():
                raise TokenRejected("refresh token has expired")
            user = session.get(User, grant.user_id)
            if user is None or user.disabled:
                raise TokenRejected("the account behind this token is no longer active")
            if row.used_at is None:
                granted = set(row.scope.split())
                wanted = scope.split() if scope else row.scope.split()
                if not set(wanted) <= granted:
                    raise TokenRejected(
                        "requested scope exceeds the granted scope", "invalid_scope"
                    )
                row.used_at = utcnow()
                new_raw = self.issue_refresh_token(session, grant, row.scope)
                audit.record(
                    session,
                    "token.refresh",
                    client_id=client_id,
                    subject=user.username,
                    grant_id=grant.id,
                )
                return grant, user, new_raw, " ".join(wanted)
            self.revoke_grants(session, [grant.id], reason="refresh_token_reuse", actor=client_id)
            reuse = TokenRejected("refresh token was already used; the grant is revoked")
        raise reuse

    # -- ID tokens ---------------------------------------------------------------------

    def issue_id_token(
        self, *, client: OAuthClient, sub: str, claims: dict, access_token: str | None
    ) -> str:
        alg = client.id_token_signed_response_alg
        key = self.keyring.signing_key(alg)
        now = int(time.time())
        payload = {
            "iss": self.settings.issuer,
            "sub": sub,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + self.settings.id_token_ttl,
            **{k: v for k, v in claims.items() if v is not None},
        }
        if access_token:
            payload["at_hash"] = create_half_hash(access_token, alg).decode()
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, payload, key.jwk)


def mint_access_token(
    runtime: Runtime, scopes: list[str] | str, username: str | None = None, client_id: str = "test"
) -> str:
    """An access token as the provider would issue it, for tests and operator scripts.

    With ``username``, the token speaks for that citizen through a fresh grant (so the
    guard resolves the user); without, it is a client-credentials token of ``client_id``.
    The client is registered on first use.
    """
    from idp.clients import create_client
    from idp.keys import ensure_keys
    from idp.models import Client

    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    keyring = KeyRing(runtime.db, runtime.settings)
    service = TokenService(runtime, keyring)
    with runtime.db.write() as session:
        ensure_keys(session, runtime.settings)
        if session.scalar(select(Client).where(Client.client_id == client_id)) is None:
            row, _, _ = create_client(
                session,
                runtime.settings,
                {
                    "client_name": client_id,
                    "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
                allowed_scopes=scope.split(),
            )
            row.client_id = client_id
            session.flush()
        if username is None:
            return service.issue_access_token(client_id=client_id, scope=scope, sub=client_id).token
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise LookupError(f"no user {username!r}")
        grant = service.create_grant(
            session,
            user_id=user.id,
            client_id=client_id,
            scope=scope,
            sid=None,
            auth_time=int(time.time()),
            acr=None,
            amr=["pwd"],
        )
        return service.issue_access_token(
            client_id=client_id, scope=scope, sub=user.public_sub, grant_id=grant.id
        ).token
