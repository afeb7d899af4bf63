"""Grants and the tokens they carry: JWT access tokens (RFC 9068), ID tokens, refresh tokens.

Access tokens are signed JWTs so the signing and PKI APIs (and any resource server) can
check them locally. A revoked one is recorded in the database until it would have expired,
and so is a revoked grant, which covers every access token issued under it; Redis holds a
copy of the recent revocations that the token check reads (:class:`RevocationCache`).

Refresh tokens are opaque, stored as SHA-256 digests, and rotate on every use: presenting a
used one is taken as theft and revokes the whole grant (RFC 9700 4.14.2), except within
``refresh_token_reuse_grace`` seconds of its use while the token that use issued is still
unused. That is the client retrying after the answer was lost (a dropped connection, a
proxy timeout): it gets a new pair and the unused one is revoked, so the grant never has
two live refresh tokens. Okta (grace period) and Auth0 (reuse interval) do the same.
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
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from config import audit
from config.db import utcnow
from config.errors import Refusal
from config.runtime import Runtime
from idp.clients import OAuthClient, sector_of
from idp.keys import KeyRing
from idp.models import Grant, RefreshToken, RevokedAccessToken, User

ACCESS_TOKEN_TYPE = "at+jwt"


class TokenRejected(Refusal):
    """A refresh token that must be refused; ``error`` is the OAuth error code to answer
    (``invalid_grant``, ``invalid_scope``)."""


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int


class RevocationCache:
    """The Redis copy of the revocations in the database, and the check that reads it.

    A check is one MGET of the token's two marks and a ``revocations:loaded`` mark. That
    mark is written (in the same MULTI as the copy) only when the copy was built from the
    database, so a Redis that restarted empty, or lost keys to a flush or a failover to a
    stale replica, is noticed on the next check: the database is consulted for that token
    and one process rebuilds the copy. Revocations are written to the database first and
    to Redis after, and the rebuild reads the database, so no revocation is ever missing
    from both.
    """

    LOADED = "revocations:loaded"
    _REBUILDING = "revocations:rebuilding"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.redis = runtime, runtime.redis
        self._grant_ttl = runtime.settings.access_token_ttl + 60

    def is_revoked(self, jti: str, grant_id: str | None) -> bool:
        keys = [self.LOADED, f"revoked:jti:{jti}"]
        if grant_id:
            keys.append(f"revoked:grant:{grant_id}")
        loaded, *marks = self.redis.mget(keys)
        if any(mark is not None for mark in marks):
            return True
        if loaded is not None:
            return False
        revoked = self._in_database(jti, grant_id)
        if self.redis.set(self._REBUILDING, 1, nx=True, ex=30):
            try:
                self.rebuild()
            finally:
                self.redis.delete(self._REBUILDING)
        return revoked

    def _in_database(self, jti: str, grant_id: str | None) -> bool:
        with self.runtime.db.read() as session:
            if session.get(RevokedAccessToken, jti) is not None:
                return True
            return (
                grant_id is not None
                and session.scalar(
                    select(Grant.revoked_at.is_not(None)).where(Grant.id == grant_id)
                )
                is True
            )

    def rebuild(self) -> None:
        """Copy every revocation that can still matter from the database into Redis."""
        now = utcnow()
        with self.runtime.db.read() as session:
            tokens = session.execute(
                select(RevokedAccessToken.jti, RevokedAccessToken.expires_at).where(
                    RevokedAccessToken.expires_at > now
                )
            ).all()
            grants = session.execute(
                select(Grant.id, Grant.revoked_at).where(
                    Grant.revoked_at > now - timedelta(seconds=self._grant_ttl)
                )
            ).all()
        pipe = self.redis.pipeline(transaction=True)
        for jti, expires_at in tokens:
            pipe.set(f"revoked:jti:{jti}", 1, ex=_seconds_until(expires_at, now))
        for gid, revoked_at in grants:
            until = revoked_at + timedelta(seconds=self._grant_ttl)
            pipe.set(f"revoked:grant:{gid}", 1, ex=_seconds_until(until, now))
        pipe.set(self.LOADED, 1)
        pipe.execute()

    def add(self, *, jtis: dict[str, int] | None = None, grant_ids: list[str] = ()) -> None:
        """Copy revocations just written to the database (``jtis``: jti to seconds left)."""
        pipe = self.redis.pipeline(transaction=False)
        for jti, ttl in (jtis or {}).items():
            pipe.set(f"revoked:jti:{jti}", 1, ex=max(ttl, 1))
        for gid in grant_ids:
            pipe.set(f"revoked:grant:{gid}", 1, ex=self._grant_ttl)
        pipe.execute()


def _seconds_until(moment, now) -> int:
    return max(int((moment - now).total_seconds()), 1)


class TokenService:
    def __init__(self, runtime: Runtime, keyring: KeyRing) -> None:
        self.runtime, self.settings, self.keyring = runtime, runtime.settings, keyring
        self.redis = runtime.redis
        self.revocations = RevocationCache(runtime)

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
        return self.revocations.is_revoked(str(claims.get("jti")), claims.get("gid"))

    def revoke_access_token(self, session: Session, claims: dict) -> None:
        """Record the revocation in the caller's transaction, then in Redis; rows of tokens
        that have expired since are dropped on the way."""
        now = utcnow()
        session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at <= now))
        ttl = max(int(claims["exp"] - time.time()), 1)
        session.merge(
            RevokedAccessToken(jti=claims["jti"], expires_at=now + timedelta(seconds=ttl))
        )
        session.flush()
        self.revocations.add(jtis={claims["jti"]: ttl})

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
        session.flush()
        self.revocations.add(grant_ids=grant_ids)
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
        tokens. A token presented again is a retry if it comes within the grace window
        and what its use issued is unused (that successor is revoked and a new one
        issued); otherwise the whole grant is revoked (committed before the refusal is
        raised).
        """
        reuse: TokenRejected | None = None
        with self.runtime.db.write() as session:
            row = self.find_refresh_token(session, raw)
            if row is None:
                raise TokenRejected("invalid_grant", "unknown refresh token")
            grant = session.get(Grant, row.grant_id)
            if grant.client_id != client_id:
                raise TokenRejected("invalid_grant", "refresh token was issued to another client")
            if grant.revoked_at is not None or row.revoked_at is not None:
                raise TokenRejected("invalid_grant", "refresh token has been revoked")
            if row.expires_at <= utcnow():
                raise TokenRejected("invalid_grant", "refresh token has expired")
            user = session.get(User, grant.user_id)
            if user is None or user.disabled:
                raise TokenRejected(
                    "invalid_grant", "the account behind this token is no longer active"
                )
            retried = row.used_at is not None and self._retry_within_grace(session, row)
            if row.used_at is None or retried:
                granted = set(row.scope.split())
                wanted = scope.split() if scope else row.scope.split()
                if not set(wanted) <= granted:
                    raise TokenRejected(
                        "invalid_scope", "requested scope exceeds the granted scope"
                    )
                row.used_at = row.used_at or utcnow()
                new_raw = self.issue_refresh_token(session, grant, row.scope)
                row.successor_hash = digest(new_raw)
                details = {"retry": True} if retried else {}
                audit.record(
                    session,
                    "token.refresh",
                    client_id=client_id,
                    subject=user.username,
                    grant_id=grant.id,
                    **details,
                )
                return grant, user, new_raw, " ".join(wanted)
            self.revoke_grants(session, [grant.id], reason="refresh_token_reuse", actor=client_id)
            reuse = TokenRejected(
                "invalid_grant", "refresh token was already used; the grant is revoked"
            )
        raise reuse

    def _retry_within_grace(self, session: Session, row: RefreshToken) -> bool:
        """Whether a used token presented again is a retry after a lost answer: within the
        grace window of its use, with the token that use issued never used. That one is
        revoked here, since its holder (the same client) is about to get a new one."""
        grace = timedelta(seconds=self.settings.refresh_token_reuse_grace)
        if utcnow() - row.used_at > grace or row.successor_hash is None:
            return False
        successor = session.get(RefreshToken, row.successor_hash, with_for_update=True)
        if successor is None or successor.used_at is not None or successor.revoked_at:
            return False
        successor.revoked_at = utcnow()
        return True

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
