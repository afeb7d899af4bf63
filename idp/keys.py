"""The provider's JWS signing keys: ES256 for access tokens, RS256 and ES256 for ID tokens.

A rotation publishes the new keys in the JWKS ``key_publish_delay`` seconds before they
sign anything, so relying parties that cache the JWKS know them in time; the old keys sign
until then, and stay published until every token they signed has expired. Private keys are
stored as PKCS#8 encrypted under the key-encryption key.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import audit
from config.db import Database, utcnow
from config.sealing import encrypt_private_key, load_private_key
from config.settings import Settings
from idp.models import SigningKey

ALGORITHMS = ("ES256", "RS256")
_RELOAD_SECONDS = 5.0


def _generate(alg: str):
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _new_key(settings: Settings, alg: str, activates_at: datetime) -> SigningKey:
    private = _generate(alg)
    jwk = (ECKey if alg == "ES256" else RSAKey).import_key(private.public_key())
    kid = jwk.thumbprint()
    public = {**jwk.as_dict(private=False), "kid": kid, "use": "sig", "alg": alg}
    return SigningKey(
        kid=kid,
        alg=alg,
        private_pem=encrypt_private_key(settings, private),
        public_jwk=public,
        activates_at=activates_at,
        created_at=utcnow(),
    )


def ensure_keys(session: Session, settings: Settings) -> None:
    """First start: one key per algorithm, signing at once (nobody can have cached a JWKS)."""
    existing = set(session.scalars(select(SigningKey.alg)).all())
    for alg in ALGORITHMS:
        if alg not in existing:
            session.add(_new_key(settings, alg, utcnow()))
            audit.record(session, "keys.create", actor="system", alg=alg)


def rotate(
    session: Session, settings: Settings, *, immediately: bool = False, actor: str = "cli"
) -> list[SigningKey]:
    """New keys for every algorithm; they sign after the publish delay (or now, if told)."""
    now = utcnow()
    activates = now if immediately else now + timedelta(seconds=settings.key_publish_delay)
    created = []
    for alg in ALGORITHMS:
        for old in session.scalars(
            select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        ):
            old.retired_at = activates
        key = _new_key(settings, alg, activates)
        session.add(key)
        created.append(key)
        audit.record(
            session,
            "keys.rotate",
            actor=actor,
            alg=alg,
            kid=key.kid,
            activates_at=activates.isoformat(),
        )
    return created


def max_token_lifetime(settings: Settings) -> int:
    return max(settings.access_token_ttl, settings.id_token_ttl)


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    jwk: ECKey | RSAKey


class KeyRing:
    """This process's view of the keys, reloaded from the database every few seconds."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._rows: list[SigningKey] = []
        self._private: dict[str, ECKey | RSAKey] = {}
        self._public: dict[str, ECKey | RSAKey] = {}

    def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < _RELOAD_SECONDS:
            return
        with self._lock:
            if time.monotonic() - self._loaded_at < _RELOAD_SECONDS:
                return
            with self.db.read() as session:
                rows = list(session.scalars(select(SigningKey).order_by(SigningKey.activates_at)))
            for row in rows:
                if row.kid not in self._public:
                    cls = ECKey if row.alg == "ES256" else RSAKey
                    self._public[row.kid] = cls.import_key(row.public_jwk)
            self._rows = rows
            self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    def signing_key(self, alg: str) -> ActiveKey:
        """The newest key of ``alg`` that has been published long enough to sign."""
        self._refresh()
        now = utcnow()
        candidates = [r for r in self._rows if r.alg == alg and r.activates_at <= now]
        if not candidates:
            raise LookupError(f"no active {alg} signing key; run 'onetrip keys rotate'")
        row = candidates[-1]
        if row.kid not in self._private:
            private = load_private_key(self.settings, row.private_pem)
            self._private[row.kid] = (ECKey if alg == "ES256" else RSAKey).import_key(private)
        return ActiveKey(row.kid, alg, self._private[row.kid])

    def public_key(self, kid: str) -> ECKey | RSAKey | None:
        self._refresh()
        if kid not in self._public and time.monotonic() - self._loaded_at > 1.0:
            self._loaded_at = 0.0  # an unknown kid may be a key rotated in on another node
            self._refresh()
        return self._public.get(kid) if self.is_published(kid) else None

    def is_published(self, kid: str) -> bool:
        return any(r.kid == kid for r in self.published())

    def published(self) -> list[SigningKey]:
        """Keys in the JWKS: not yet signing, signing, or retired less than a token life ago."""
        self._refresh()
        cutoff = utcnow() - timedelta(seconds=max_token_lifetime(self.settings))
        return [r for r in self._rows if r.retired_at is None or r.retired_at > cutoff]

    def jwks(self) -> dict:
        return {"keys": [r.public_jwk for r in self.published()]}
