"""Single sign-on sessions in Redis: one per browser, shared by every client and node.

The browser holds a random secret; Redis holds the session under the secret's SHA-256, so
a Redis dump does not yield usable cookies. The session's public ``sid`` (the ID token's
``sid`` claim, used by logout) is a different random value.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field

import redis

from config.settings import Settings

COOKIE = "onetrip_sso"


@dataclass
class SsoSession:
    sid: str
    user_id: int
    username: str
    auth_time: int
    amr: list[str]
    acr: str
    created_at: int = field(default_factory=lambda: int(time.time()))
    ip: str | None = None
    user_agent: str | None = None
    #: Issue 13: the provenance class of the last face match ("proofed" or "self"), when
    #: it happened, and the templates this session registered (which it cannot match).
    face: str | None = None
    face_at: int = 0
    enrolled_here: list[int] = field(default_factory=list)


# The session, its sid's pointer and the citizen's set of sids, in one round trip: a login
# paid for a four-command MULTI/EXEC pipeline about twice what this costs.
_CREATE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
"""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SsoStore:
    def __init__(self, redis_client: redis.Redis, settings: Settings) -> None:
        self.r, self.ttl = redis_client, settings.session_ttl
        self._create = redis_client.register_script(_CREATE)

    def create(
        self,
        *,
        user_id: int,
        username: str,
        amr: list[str],
        acr: str,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, SsoSession]:
        secret = secrets.token_urlsafe(32)
        sess = SsoSession(
            sid=secrets.token_urlsafe(16),
            user_id=user_id,
            username=username,
            auth_time=int(time.time()),
            amr=amr,
            acr=acr,
            ip=ip,
            user_agent=(user_agent or "")[:200],
        )
        digest = _digest(secret)
        self._create(
            keys=[f"sso:{digest}", f"sso:sid:{sess.sid}", f"sso:user:{user_id}"],
            args=[json.dumps(vars(sess)), digest, sess.sid, self.ttl],
        )
        return secret, sess

    def load(self, secret: str | None) -> SsoSession | None:
        if not secret or len(secret) > 100:
            return None
        raw = self.r.get(f"sso:{_digest(secret)}")
        return SsoSession(**json.loads(raw)) if raw else None

    def update(self, secret: str, sess: SsoSession) -> None:
        self.r.set(f"sso:{_digest(secret)}", json.dumps(vars(sess)), keepttl=True)

    def add_client(self, sid: str, client_id: str) -> None:
        pipe = self.r.pipeline()
        pipe.sadd(f"sso:clients:{sid}", client_id)
        pipe.expire(f"sso:clients:{sid}", self.ttl)
        pipe.execute()

    def clients(self, sid: str) -> set[str]:
        return {c.decode() for c in self.r.smembers(f"sso:clients:{sid}")}

    def by_sid(self, sid: str) -> SsoSession | None:
        digest = self.r.get(f"sso:sid:{sid}")
        raw = self.r.get(f"sso:{digest.decode()}") if digest else None
        return SsoSession(**json.loads(raw)) if raw else None

    def end(self, sid: str) -> tuple[SsoSession | None, set[str]]:
        """End one session; returns it and the clients it served (for back-channel logout)."""
        sess = self.by_sid(sid)
        clients = self.clients(sid)
        digest = self.r.get(f"sso:sid:{sid}")
        pipe = self.r.pipeline()
        if digest:
            pipe.delete(f"sso:{digest.decode()}")
        pipe.delete(f"sso:sid:{sid}", f"sso:clients:{sid}")
        if sess:
            pipe.srem(f"sso:user:{sess.user_id}", sid)
        pipe.execute()
        return sess, clients

    def sids_of_user(self, user_id: int) -> list[str]:
        return [s.decode() for s in self.r.smembers(f"sso:user:{user_id}")]
