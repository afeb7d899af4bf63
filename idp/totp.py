"""Authenticator apps: time-based one-time passwords (RFC 6238, with pyotp), recovery codes.

Enrolment: a fresh 160-bit secret waits in Redis (sealed, ten minutes) while the citizen
scans it; two consecutive codes confirm that the app holds it and its clock agrees. Only
then is the secret stored, sealed with :mod:`config.sealing` under a purpose bound to the
account, and ten recovery codes are shown once and kept as keyed hashes.

Verification accepts the code of the current 30-second step or of either neighbour (clock
drift, RFC 6238 5.2), and never a code of a step at or before the newest one accepted:
the row's ``last_step`` moves forward in the same conditional UPDATE that accepts a code,
so a code read over a shoulder or replayed by a proxy fails on every node. Wrong codes
count against the account in a throttle of their own with the password limits, so six
digits get at most ``login_max_failures_per_account`` guesses per window.

An app opens the operator's console only if it was enrolled *for operators*: with a
single-use invitation that an administrator made with the CLI (``onetrip users
grant-role`` or ``users totp-invite``), or from a session with a fresh face check.
Anyone who learns a password could otherwise enrol an app of their own on an
operator's account and pass the console's second-factor check with it.

Recovery codes are 10 characters from a 31-letter alphabet (49 bits), HMAC-SHA256 under
the server secret like client secrets: a leaked table does not reveal them, and their
entropy with the throttle makes a slow hash unnecessary.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import NoReturn

import pyotp
import redis
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from config import audit
from config.db import Database, utcnow
from config.errors import Refusal
from config.sealing import seal, unseal
from config.settings import Settings
from config.throttle import Throttle
from idp.clients import secret_digest
from idp.models import RecoveryCode, TotpCredential

INTERVAL = 30
DIGITS = 6
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_PENDING_TTL = 600
INVITATION_TTL = 24 * 3600
ISSUER_NAME = "OneTrip"


class TotpError(Refusal):
    """A refused code or enrolment; ``error`` names why, the description is the page's
    message (a template with ``{minutes}`` for ``throttled``), ``status`` 429 when
    throttled."""

    MESSAGES = {
        "wrong_code": "That code is not right. Enter the code your app shows now.",
        "replayed": "That code was used already. Wait for the next one.",
        "throttled": "Too many failed attempts. Try again in {minutes} minutes.",
        "not_enrolled": "No authenticator app is set up for this account.",
        "already_enrolled": "An authenticator app is already set up for this account.",
        "expired": "The set-up took too long. Start again.",
        "not_consecutive": "Enter two codes that your app shows one after the other.",
    }

    def __init__(self, error: str, retry_after: int = 0) -> None:
        super().__init__(error, self.MESSAGES[error], 429 if error == "throttled" else 400)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Enrolment:
    """A secret waiting to be confirmed, with its ``otpauth://`` URI for the QR code."""

    secret: str
    uri: str


def _purpose(user_id: int) -> str:
    return f"totp-secret:{user_id}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _digits(code: str) -> str | None:
    cleaned = "".join((code or "").split())
    return cleaned if len(cleaned) == DIGITS and cleaned.isdigit() else None


def normalise_recovery_code(code: str) -> str:
    return "".join(c for c in (code or "").lower() if c.isalnum())[:32]


class Authenticators:
    """Enrolment, verification and removal of one authenticator app per account."""

    def __init__(self, db: Database, redis_client: redis.Redis, settings: Settings) -> None:
        self.db, self.r, self.settings = db, redis_client, settings
        self.throttle = Throttle(redis_client, settings, "otp")

    # -- enrolment ------------------------------------------------------------------------

    def enrolled(self, user_id: int) -> bool:
        with self.db.read() as session:
            return session.get(TotpCredential, user_id) is not None

    def recovery_codes_left(self, user_id: int) -> int:
        with self.db.read() as session:
            return session.scalar(
                select(func.count()).where(
                    RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                )
            )

    def begin(self, user_id: int, username: str) -> Enrolment:
        """A new secret for the app to scan (replacing any unconfirmed one)."""
        if self.enrolled(user_id):
            raise TotpError("already_enrolled")
        secret = pyotp.random_base32(32)
        blob = seal(self.settings, _purpose(user_id), secret.encode())
        self.r.set(f"totp:pending:{user_id}", blob, ex=_PENDING_TTL)
        return self._enrolment(secret, username)

    def pending(self, user_id: int, username: str) -> Enrolment | None:
        blob = self.r.get(f"totp:pending:{user_id}")
        if blob is None:
            return None
        return self._enrolment(unseal(self.settings, _purpose(user_id), blob).decode(), username)

    def _enrolment(self, secret: str, username: str) -> Enrolment:
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
            name=username, issuer_name=ISSUER_NAME
        )
        return Enrolment(secret, uri)

    def for_operators(self, user_id: int) -> bool:
        """Whether the account's app was enrolled for operators (see the module doc)."""
        with self.db.read() as session:
            row = session.get(TotpCredential, user_id)
            return bool(row and row.for_operators)

    def invite(self, user_id: int) -> str:
        """A single-use invitation to enrol an app for operators, valid a day."""
        token = secrets.token_urlsafe(24)
        self.r.set(f"totp:invite:{_digest(token)}", user_id, ex=INVITATION_TTL)
        return token

    def invitation_valid(self, user_id: int, token: str | None) -> bool:
        if not token or len(token) > 64:
            return False
        found = self.r.get(f"totp:invite:{_digest(token)}")
        return found is not None and found.decode() == str(user_id)

    def confirm(
        self,
        user_id: int,
        username: str,
        first: str,
        second: str,
        *,
        ip: str | None = None,
        invitation: str | None = None,
        strong_session: bool = False,
    ) -> list[str]:
        """Store the pending secret if ``first`` and ``second`` are the codes of two
        consecutive steps; returns the recovery codes, the only time they are shown.

        The app is enrolled for operators with a valid ``invitation`` (used up here) or
        from a ``strong_session`` (a fresh face check)."""
        pending = self.pending(user_id, username)
        if pending is None:
            raise TotpError("expired")
        totp = pyotp.TOTP(pending.secret, digits=DIGITS, interval=INTERVAL)
        a, b = _digits(first), _digits(second)
        now = int(time.time()) // INTERVAL
        step = next(
            (
                s
                for s in range(now - 2, now + 1)
                if a
                and b
                and secrets.compare_digest(totp.generate_otp(s), a)
                and secrets.compare_digest(totp.generate_otp(s + 1), b)
            ),
            None,
        )
        if step is None:
            raise TotpError("not_consecutive")
        codes = [
            "".join(secrets.choice(_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)
        ]
        invited = self.invitation_valid(user_id, invitation) and bool(
            self.r.delete(f"totp:invite:{_digest(invitation)}")
        )
        with self.db.write() as session:
            if session.get(TotpCredential, user_id) is not None:
                raise TotpError("already_enrolled")
            session.add(
                TotpCredential(
                    user_id=user_id,
                    sealed=seal(self.settings, _purpose(user_id), pending.secret.encode()),
                    last_step=step + 1,
                    for_operators=invited or strong_session,
                )
            )
            session.add_all(
                RecoveryCode(code_hash=self._code_hash(user_id, c), user_id=user_id) for c in codes
            )
            audit.record(
                session,
                "totp.enroll",
                actor=username,
                subject=username,
                ip=ip,
                for_operators=invited or strong_session,
            )
        self.r.delete(f"totp:pending:{user_id}")
        return [f"{c[:5]}-{c[5:]}" for c in codes]

    # -- verification ---------------------------------------------------------------------

    def verify(self, user_id: int, username: str, code: str, *, ip: str | None = None) -> str:
        """Accept a current code (``"otp"``) or an unused recovery code
        (``"recovery_code"``), once; else raise :class:`TotpError`, counted and audited."""
        wait = self.throttle.retry_after(username, ip)
        if wait:
            with self.db.write() as session:
                audit.record(session, "totp.throttled", subject=username, ip=ip)
            raise TotpError("throttled", wait)
        with self.db.read() as session:
            row = session.get(TotpCredential, user_id)
            sealed = row.sealed if row else None
        if sealed is None:
            raise TotpError("not_enrolled")
        digits = _digits(code)
        if digits is None:
            return self._recovery(user_id, username, code, ip)
        secret = unseal(self.settings, _purpose(user_id), sealed).decode()
        totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
        now = int(time.time()) // INTERVAL
        step = next(
            (
                s
                for s in (now, now - 1, now + 1)
                if secrets.compare_digest(totp.generate_otp(s), digits)
            ),
            None,
        )
        if step is None:
            self._failed(username, ip, "wrong_code")
        with self.db.write() as session:
            accepted = session.execute(
                update(TotpCredential)
                .where(TotpCredential.user_id == user_id, TotpCredential.last_step < step)
                .values(last_step=step)
            ).rowcount
            if not accepted:
                audit.record(session, "totp.replay", subject=username, ip=ip, step=step)
        if not accepted:
            self.throttle.failure(username, ip)
            raise TotpError("replayed")
        self.throttle.success(username)
        return "otp"

    def _recovery(self, user_id: int, username: str, code: str, ip: str | None) -> str:
        cleaned = normalise_recovery_code(code)
        if len(cleaned) != 10:
            self._failed(username, ip, "wrong_code")
        with self.db.write() as session:
            used = session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.code_hash == self._code_hash(user_id, cleaned),
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=utcnow())
            ).rowcount
            if used:
                audit.record(session, "totp.recovery_code", actor=username, subject=username, ip=ip)
        if not used:
            self._failed(username, ip, "wrong_code")
        self.throttle.success(username)
        return "recovery_code"

    def _failed(self, username: str, ip: str | None, reason: str) -> NoReturn:
        self.throttle.failure(username, ip)
        with self.db.write() as session:
            audit.record(session, "totp.failure", subject=username, ip=ip, reason=reason)
        raise TotpError(reason)

    def _code_hash(self, user_id: int, code: str) -> str:
        return secret_digest(self.settings, f"recovery:{user_id}:{code}")

    # -- removal --------------------------------------------------------------------------

    def remove(self, user_id: int, username: str, code: str, *, ip: str | None = None) -> None:
        """Remove the app, on the strength of one of its codes (or a recovery code): a
        password alone never takes a factor away."""
        self.verify(user_id, username, code, ip=ip)
        with self.db.write() as session:
            self.forget(session, user_id)
            audit.record(session, "totp.remove", actor=username, subject=username, ip=ip)

    def forget(self, session: Session, user_id: int) -> None:
        """Delete the account's secret and recovery codes in the caller's transaction."""
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
        self.r.delete(f"totp:pending:{user_id}")
