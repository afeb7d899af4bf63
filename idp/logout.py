"""Ending sessions: RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

Ending an SSO session sends a logout token to every client of that session that
registered a ``backchannel_logout_uri`` (in parallel, each bounded by a timeout), and
revokes the session's grants except those the citizen granted ``offline_access``.
Logout tokens go through :mod:`config.outbound` like every request to a client-supplied
URL: to allowed addresses only, no redirect followed, the whole exchange within
``backchannel_logout_timeout``.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlencode

from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import select

from config import audit
from config.errors import Refusal
from config.outbound import Fetcher, OutboundError
from idp.models import Grant, User
from idp.provider import Provider
from idp.sso import SsoSession

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="backchannel")


class LogoutError(Refusal):
    """A logout request the OP must refuse (bad hint, unregistered redirect)."""


@dataclass
class LogoutPlan:
    redirect_to: str | None
    hint_sid: str | None
    hint_sub: str | None

    def hint_matches(self, sso: SsoSession) -> bool:
        return self.hint_sid is not None and self.hint_sid == sso.sid


def _decode_hint(provider: Provider, hint: str) -> dict:
    """Claims of an ID token we issued; expiry is no reason to refuse it as a hint."""
    try:
        header = jws.extract_compact(hint.encode()).protected
        key = provider.keyring.public_key(header.get("kid", ""))
        if key is None or header.get("alg") not in ("RS256", "ES256"):
            raise LogoutError(
                "invalid_request", "id_token_hint was not signed by a key of this provider"
            )
        claims = jwt.decode(hint, key, algorithms=[header["alg"]]).claims
    except (JoseError, ValueError, TypeError):
        raise LogoutError(
            "invalid_request", "id_token_hint is not a valid ID token of this provider"
        ) from None
    if claims.get("iss") != provider.settings.issuer:
        raise LogoutError("invalid_request", "id_token_hint was issued by another provider")
    return claims


def plan_logout(provider: Provider, params) -> LogoutPlan:
    hint = params.get("id_token_hint")
    claims = _decode_hint(provider, hint) if hint else {}
    aud = claims.get("aud")
    hinted_client = aud[0] if isinstance(aud, list) and aud else aud
    client_id = params.get("client_id") or hinted_client
    if params.get("client_id") and hinted_client and params["client_id"] != hinted_client:
        raise LogoutError(
            "invalid_request", "client_id does not match the id_token_hint's audience"
        )
    target = params.get("post_logout_redirect_uri")
    redirect_to = None
    if target:
        client = provider.clients.get(client_id) if client_id else None
        if client is None:
            raise LogoutError(
                "invalid_request", "post_logout_redirect_uri needs id_token_hint or client_id"
            )
        if target not in client.metadata.get("post_logout_redirect_uris", []):
            raise LogoutError(
                "invalid_request", "post_logout_redirect_uri is not registered for this client"
            )
        redirect_to = target
        if params.get("state"):
            redirect_to += ("&" if "?" in target else "?") + urlencode({"state": params["state"]})
    return LogoutPlan(redirect_to, claims.get("sid"), claims.get("sub"))


def logout_token(provider: Provider, client, user: User | None, sid: str) -> str:
    key = provider.keyring.signing_key(client.id_token_signed_response_alg)
    now = int(time.time())
    claims = {
        "iss": provider.settings.issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if user is not None:
        claims["sub"] = provider.tokens.subject_for(user, client)
    return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}, claims, key.jwk)


def _post(fetcher: Fetcher, uri: str, token: str, timeout: float) -> int | str:
    """The service's answer: its status, or why none came (``address``, ``timeout``, ...)."""
    try:
        return fetcher.request(
            "POST",
            uri,
            body=urlencode({"logout_token": token}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            max_bytes=4096,
            timeout=timeout,
        ).status
    except OutboundError as exc:
        return exc.reason


def end_session(
    provider: Provider, sid: str, *, reason: str, actor: str | None = None, ip: str | None = None
) -> dict[str, int | str]:
    """End one SSO session everywhere; returns each notified client's answer."""
    sess, client_ids = provider.sso.end(sid)
    if sess is None:
        return {}
    with provider.db.write() as session:
        user = session.get(User, sess.user_id)
        grants = session.scalars(
            select(Grant).where(Grant.sid == sid, Grant.revoked_at.is_(None))
        ).all()
        ended = [g.id for g in grants if "offline_access" not in g.scope.split()]
        provider.tokens.revoke_grants(session, ended, reason="logout", actor=actor)
        audit.record(
            session,
            "logout",
            actor=actor or sess.username,
            subject=sess.username,
            ip=ip,
            sid=sid,
            reason=reason,
            clients=sorted(client_ids),
        )
    jobs = {}
    for client_id in client_ids:
        client = provider.clients.get(client_id)
        uri = client.metadata.get("backchannel_logout_uri") if client else None
        if uri:
            token = logout_token(provider, client, user, sid)
            jobs[client_id] = _pool.submit(
                _post,
                provider.documents.fetcher,
                uri,
                token,
                provider.settings.backchannel_logout_timeout,
            )
    wait(jobs.values(), timeout=provider.settings.backchannel_logout_timeout + 1)
    results = {cid: (f.result() if f.done() else "timeout") for cid, f in jobs.items()}
    if results:
        with provider.db.write() as session:
            audit.record(
                session, "logout.backchannel", subject=sess.username, sid=sid, results=results
            )
    return results


def end_all_sessions(
    provider: Provider, user_id: int, *, actor: str | None = None, ip: str | None = None
) -> int:
    sids = provider.sso.sids_of_user(user_id)
    for sid in sids:
        end_session(provider, sid, reason="everywhere", actor=actor, ip=ip)
    return len(sids)
