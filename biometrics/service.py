"""The face service: enrol, verify, liveness challenges, delete. Plain Python, no Flask.

A face matches when its distance to a template is at most
``settings.face_match_threshold``. The default (0.58) sits in the middle of the gap
between the worst same-person pair and the closest different-person pair that
``bench/faces.py`` finds over every pair of the photos in ``/work/shared/faces`` (it prints
the false non-match and false match rates around it; README, Speed), below dlib's
customary 0.6, which leaves almost nothing to the nearest impostor pair of even that small
set: this check unlocks tax records and personal signatures, so a false match costs more
than a retry. The set is small; operators with their own population should rerun the
benchmark's method on it.

Callers name the citizen: every method that writes an audit event takes ``subject`` (the
username, as every other event names its subject), because accounts are idp's and this
package reads no table but its own.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select

from biometrics import engine, liveness, replay
from biometrics.errors import FaceError
from biometrics.models import MODEL, PROOFED, PROVENANCES, SELF, FaceTemplate
from biometrics.pool import Runner, shared_runner
from config import audit, metrics
from config.runtime import Runtime
from config.sealing import seal, unseal
from config.throttle import Throttle

#: Templates one citizen may keep (several photos help with glasses, beard, lighting).
MAX_TEMPLATES = 10


@dataclass(frozen=True)
class EnrolmentResult:
    template_id: int
    templates: int  # how many the citizen now has
    provenance: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check. ``provenance`` is that of the templates the face matched:
    a proofed one when any proofed template matched, else ``self``; None without a match."""

    match: bool
    distance: float
    threshold: float
    provenance: str | None = None

    @property
    def proofed(self) -> bool:
        return self.provenance in PROOFED

    def as_dict(self) -> dict:
        return {
            "match": self.match,
            "distance": round(self.distance, 4),
            "threshold": self.threshold,
            "provenance": self.provenance,
        }


@dataclass(frozen=True)
class Challenge:
    id: str
    actions: tuple[str, ...]  # liveness.ACTIONS, in the order to perform them
    expires_at: float  # Unix time


@dataclass(frozen=True)
class _Template:
    id: int
    provenance: str
    encoding: np.ndarray


def _purpose(user_id: int) -> str:
    return f"face-template:{user_id}"


def _seal_encoding(settings, user_id: int, encoding: np.ndarray) -> tuple[bytes, bytes]:
    """(ciphertext, wrapped data key): the encoding under a fresh key of its own."""
    key, nonce = AESGCM.generate_key(256), os.urandom(12)
    aad = _purpose(user_id).encode()
    sealed = nonce + AESGCM(key).encrypt(nonce, encoding.astype("<f8").tobytes(), aad)
    return sealed, seal(settings, _purpose(user_id), key)


def _open_encoding(settings, user_id: int, sealed: bytes, wrapped: bytes | None) -> np.ndarray:
    if wrapped is None:  # a template stored before per-template keys
        return np.frombuffer(unseal(settings, _purpose(user_id), sealed), "<f8")
    key = unseal(settings, _purpose(user_id), wrapped)
    plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], _purpose(user_id).encode())
    return np.frombuffer(plain, "<f8")


class FaceService:
    """Face operations for one runtime. ``runner`` defaults to the shared process pool."""

    def __init__(self, runtime: Runtime, runner: Runner | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.runner = runner or shared_runner()

    @property
    def threshold(self) -> float:
        return self.settings.face_match_threshold

    @cached_property
    def throttle(self) -> Throttle:
        return Throttle(self.runtime.redis, self.settings, "face")

    # Templates -------------------------------------------------------------------------

    def enroll(
        self,
        user_id: int,
        image: bytes,
        *,
        subject: str,
        provenance: str = SELF,
        actor: str | None = None,
        ip: str | None = None,
        **details,
    ) -> EnrolmentResult:
        """Add the one face in ``image`` as a template of ``provenance``; nothing is
        stored on any refusal. Who may enrol which provenance is the caller's rule (an
        officer at a counter, the operator, the citizen after a fresh face check);
        ``subject`` (the citizen's username) and ``details`` (e.g. ``department``) go
        into the audit event."""
        if provenance not in PROVENANCES:
            raise ValueError(f"unknown provenance {provenance!r}")
        face = self.runner.run(engine.analyse, image, self.settings.max_image_pixels)
        sealed, wrapped = _seal_encoding(self.settings, user_id, face.encoding)
        with self.runtime.db.write() as session:
            count = session.scalar(select(func.count()).where(FaceTemplate.user_id == user_id))
            if count >= MAX_TEMPLATES:
                raise FaceError("too_many_templates")
            row = FaceTemplate(
                user_id=user_id,
                model=MODEL,
                provenance=provenance,
                sealed=sealed,
                wrapped_key=wrapped,
            )
            session.add(row)
            session.flush()
            audit.record(
                session,
                "face.enroll",
                actor=actor,
                subject=subject,
                ip=ip,
                template=row.id,
                provenance=provenance,
                **details,
            )
            return EnrolmentResult(row.id, count + 1, provenance)

    def has_template(self, user_id: int) -> bool:
        return self.count(user_id) > 0

    def count(self, user_id: int) -> int:
        with self.runtime.db.read() as session:
            return session.scalar(select(func.count()).where(FaceTemplate.user_id == user_id))

    def has_proofed(self, user_id: int) -> bool:
        """Whether a match can prove the citizen's identity (a counter or authoritative
        template is on file)."""
        with self.runtime.db.read() as session:
            return bool(
                session.scalar(
                    select(func.count()).where(
                        FaceTemplate.user_id == user_id, FaceTemplate.provenance.in_(PROOFED)
                    )
                )
            )

    def describe(self, user_id: int) -> list[dict]:
        """What is stored about the citizen's templates, never the templates themselves
        (for the citizen's data export and account page)."""
        with self.runtime.db.read() as session:
            rows = session.execute(
                select(
                    FaceTemplate.id,
                    FaceTemplate.model,
                    FaceTemplate.provenance,
                    FaceTemplate.created_at,
                )
                .where(FaceTemplate.user_id == user_id)
                .order_by(FaceTemplate.id)
            ).all()
        return [
            {"id": i, "model": model, "provenance": prov, "created_at": at.isoformat() + "Z"}
            for i, model, prov, at in rows
        ]

    def delete(
        self,
        user_id: int,
        *,
        subject: str,
        template_id: int | None = None,
        actor: str | None = None,
        ip: str | None = None,
    ) -> int:
        """Delete one template (``template_id``) or every template of the citizen; returns
        how many went. The rows take their data keys with them, and on SQLite the freed
        pages are zeroed (``secure_delete``) and the WAL is emptied into the database, so
        nothing of them stays in the files or in a backup taken afterwards."""
        where = [FaceTemplate.user_id == user_id]
        if template_id is not None:
            where.append(FaceTemplate.id == template_id)
        with self.runtime.db.write() as session:
            gone = session.execute(delete(FaceTemplate).where(*where)).rowcount
            if gone:
                audit.record(
                    session,
                    "face.delete",
                    actor=actor,
                    subject=subject,
                    ip=ip,
                    templates=gone,
                    template=template_id,
                )
        if gone and self.runtime.db.is_sqlite:
            with self.runtime.db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone

    def _templates(self, user_id: int, exclude: Collection[int] = ()) -> list[_Template]:
        with self.runtime.db.read() as session:
            rows = session.execute(
                select(
                    FaceTemplate.id,
                    FaceTemplate.provenance,
                    FaceTemplate.sealed,
                    FaceTemplate.wrapped_key,
                ).where(FaceTemplate.user_id == user_id, FaceTemplate.model == MODEL)
            ).all()
        found = [
            _Template(i, prov, _open_encoding(self.settings, user_id, sealed, wrapped))
            for i, prov, sealed, wrapped in rows
            if i not in exclude
        ]
        if not found:
            raise FaceError("no_template")
        return found

    # Verification ----------------------------------------------------------------------

    def retry_after(self, user_id: int, ip: str | None = None) -> int:
        """Seconds until face checks are allowed again for this account (0: now)."""
        return self.throttle.retry_after(str(user_id), ip)

    def _guard(self, user_id: int, subject: str, **context) -> None:
        if self.retry_after(user_id, context.get("ip")):
            with self.runtime.db.write() as session:
                audit.record(session, "face.throttled", subject=subject, **context)
            raise FaceError("throttled")

    def _decide(
        self,
        user_id: int,
        subject: str,
        templates: list[_Template],
        probes: Sequence[np.ndarray],
        how: str,
        **context,
    ) -> Verdict:
        """Every probe must match the same group of templates (proofed first, then self);
        audit and count the outcome."""
        scored = []
        for group in (PROOFED, {SELF}):  # a proofed match wins over a self one
            rows = [t.encoding for t in templates if t.provenance in group]
            if rows:
                stacked = np.stack(rows)
                distance = max(float(engine.distances(stacked, p).min()) for p in probes)
                scored.append((distance, group))
        matching = [(d, g) for d, g in scored if d <= self.threshold]
        distance, group = matching[0] if matching else min(scored, key=lambda s: s[0])
        match = bool(matching)
        provenance = None
        if match:
            provenance = next(t.provenance for t in templates if t.provenance in group)
        verdict = Verdict(match, distance, self.threshold, provenance)
        self._conclude(
            user_id,
            subject,
            match,
            how,
            distance=round(distance, 4),
            provenance=provenance,
            **context,
        )
        return verdict

    def _conclude(
        self, user_id: int, subject: str, success: bool, how: str, *, count=True, **details
    ):
        """Audit the outcome; a success clears the account's failures, a failure counts
        (unless the attempt was counted already, when its challenge was started)."""
        event = "face.verify.success" if success else "face.verify.failure"
        metrics.face_verification(how.partition(":")[0], success)
        actor, ip, client_id = (details.pop(k, None) for k in ("actor", "ip", "client_id"))
        with self.runtime.db.write() as session:
            audit.record(
                session,
                event,
                actor=actor,
                subject=subject,
                ip=ip,
                client_id=client_id,
                method=how,
                threshold=self.threshold,
                **details,
            )
        if success:
            self.throttle.success(str(user_id))
        elif count:
            self.throttle.failure(str(user_id), ip)

    def verify(self, user_id: int, image: bytes, *, subject: str, **context) -> Verdict:
        """Compare the one face in ``image`` with the citizen's templates (no liveness:
        the operator's CLI, never a login).

        ``subject`` (the citizen's username) and ``context`` (``actor``, ``ip``,
        ``client_id``) go into the audit log. A photo
        that cannot be used (no face, ...) raises :class:`FaceError` and counts as nothing;
        a face that does not match counts as a failure towards the throttle.
        """
        self._guard(user_id, subject, **context)
        templates = self._templates(user_id)  # no_template before spending CPU on the image
        face = self.runner.run(engine.analyse, image, self.settings.max_image_pixels)
        return self._decide(user_id, subject, templates, [face.encoding], "photo", **context)

    # Liveness --------------------------------------------------------------------------

    @staticmethod
    def _challenge_key(challenge_id: str) -> str:
        return f"face:challenge:{challenge_id}"

    def start_challenge(self, user_id: int, *, subject: str, **context) -> Challenge:
        """A random sequence of actions to perform within CHALLENGE_TTL seconds, usable
        once. Starting one counts as an attempt towards the throttle (a success clears
        it), so reloading until a convenient sequence comes up costs attempts. ``subject``
        (the citizen's username) names them in the audit log."""
        self._guard(user_id, subject, **context)
        if not self.has_template(user_id):
            raise FaceError("no_template")
        challenge = Challenge(
            id=secrets.token_urlsafe(24),
            actions=liveness.random_actions(),
            expires_at=time.time() + liveness.CHALLENGE_TTL,
        )
        self.runtime.redis.set(
            self._challenge_key(challenge.id),
            f"{user_id}:{' '.join(challenge.actions)}",
            ex=liveness.CHALLENGE_TTL,
        )
        self.throttle.failure(str(user_id), context.get("ip"))
        with self.runtime.db.write() as session:
            audit.record(
                session,
                "face.challenge",
                actor=context.get("actor"),
                subject=subject,
                ip=context.get("ip"),
                client_id=context.get("client_id"),
                actions=" ".join(challenge.actions),
            )
        return challenge

    def complete_challenge(
        self,
        user_id: int,
        challenge_id: str,
        frames: Sequence[bytes],
        *,
        subject: str,
        exclude: Collection[int] = (),
        **context,
    ) -> Verdict:
        """Check the frames against the challenge (consumed whatever the outcome).

        Every submission is audited. An unknown, used, expired or someone else's
        challenge raises ``challenge_expired`` and counts as a failure; the others were
        counted when their challenge started. Frames already seen in an earlier attempt
        raise ``replayed``; frames that are unusable, that do not show the actions in
        order, that a planar warp of one picture explains, or that cut to another face
        raise ``challenge_failed``. Otherwise the frames that face the camera are matched
        against the templates (less those in ``exclude``: the ones this session made).
        ``subject`` (the citizen's username) names them in the audit log.
        """
        self._guard(user_id, subject, **context)
        stored = self.runtime.redis.getdel(self._challenge_key(challenge_id or "-"))
        owner, _, wanted = (stored or b"").decode().partition(":")
        actions = tuple(wanted.split())
        if owner != str(user_id) or not actions:
            self._conclude(
                user_id, subject, False, "liveness", reason="challenge_expired", **context
            )
            raise FaceError("challenge_expired")
        how = f"liveness:{'+'.join(actions)}"
        if not liveness.MIN_FRAMES <= len(frames) <= liveness.MAX_FRAMES:
            self._conclude(
                user_id, subject, False, how, count=False, reason="bad_frames", **context
            )
            raise FaceError("bad_frames")
        try:
            templates = self._templates(user_id, exclude)
            seen = self.runner.run(
                liveness.observe,
                list(frames),
                self.settings.max_image_pixels,
                actions,
                self.threshold,
            )
        except FaceError as exc:
            self._conclude(user_id, subject, False, how, count=False, reason=exc.error, **context)
            raise
        cache = replay.Seen(self.runtime.redis, self.settings, user_id)
        attempt = replay.Attempt(seen.hashes, np.array(seen.encodings))
        replayed = replay.replayed(attempt, cache.earlier())
        cache.remember(attempt)
        if replayed:
            self._conclude(user_id, subject, False, how, count=False, reason="replayed", **context)
            raise FaceError("replayed")
        if not seen.live:
            self._conclude(user_id, subject, False, how, count=False, reason=seen.reason, **context)
            raise FaceError("challenge_failed")
        return self._decide(user_id, subject, templates, seen.frontal_encodings, how, **context)


def face_service(runtime: Runtime) -> FaceService:
    """The face service of ``runtime``, one per runtime
    (:meth:`~config.runtime.Sharing.shared`), over the process's shared face pool."""
    return runtime.shared(FaceService)
