"""The replay cache: what the frames of a citizen's earlier face checks looked like.

A check is refused as a replay when at least half of its frames each nearly repeat a
frame of one earlier attempt: a live camera does not deliver the same pictures twice,
while a re-sent recording repeats nearly all of them, however it was re-encoded. "Nearly"
is either of two measures, per frame:

- the perceptual hash of the aligned face (:func:`biometrics.liveness.perceptual_hash`)
  within :data:`NEAR_BITS` of 256 bits (exact copies, re-encoded ones);
- the face encoding within :data:`NEAR_DISTANCE` of the earlier frame's (copies re-lit,
  moved, scaled, stretched or with noise added: the encoder sees the same face picture).

Measured on ``../shared/face-video``: such copies of a real burst sit at 0.06 to 0.22 from
the frames they copy, most under 0.15; real frames only 40 ms apart at 0.18 to 0.35, so
half a burst of new real frames does not come near. The half rule keeps an honest second
attempt (whose frames facing the camera may resemble the first's) from being refused.

Kept in Redis per citizen, each attempt sealed under the key-encryption key (the
encodings are biometric data) for :data:`KEEP_SECONDS`, the last :data:`KEEP_ATTEMPTS`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import redis

from config.sealing import seal, unseal
from config.settings import Settings

NEAR_BITS = 12
NEAR_DISTANCE = 0.2
KEEP_ATTEMPTS = 20
KEEP_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Attempt:
    """One attempt's frames as the cache compares them."""

    hashes: list[int]
    encodings: np.ndarray  # (frames, 128)

    def pack(self) -> bytes:
        head = struct.pack("B", len(self.hashes))
        hashes = b"".join(h.to_bytes(32, "big") for h in self.hashes)
        return head + hashes + np.asarray(self.encodings, "<f4").tobytes()

    @classmethod
    def unpack(cls, data: bytes) -> Attempt:
        n = data[0]
        hashes = [int.from_bytes(data[1 + 32 * i : 33 + 32 * i], "big") for i in range(n)]
        encodings = np.frombuffer(data[1 + 32 * n :], "<f4").reshape(n, -1)
        return cls(hashes, encodings)


def replayed(new: Attempt, earlier: list[Attempt]) -> bool:
    """Whether at least half of ``new``'s frames nearly repeat frames of one earlier attempt."""
    if not new.hashes:
        return False
    for old in earlier:
        if not old.hashes:
            continue
        near = sum(
            min((h ^ o).bit_count() for o in old.hashes) <= NEAR_BITS
            or float(np.linalg.norm(old.encodings - e, axis=1).min()) <= NEAR_DISTANCE
            for h, e in zip(new.hashes, new.encodings, strict=True)
        )
        if 2 * near >= len(new.hashes):
            return True
    return False


class Seen:
    def __init__(self, redis_client: redis.Redis, settings: Settings, user_id: int) -> None:
        self.r, self.settings = redis_client, settings
        self.key, self.purpose = f"face:seen:{user_id}", f"face-replay:{user_id}"

    def earlier(self) -> list[Attempt]:
        return [
            Attempt.unpack(unseal(self.settings, self.purpose, blob))
            for blob in self.r.lrange(self.key, 0, -1)
        ]

    def remember(self, attempt: Attempt) -> None:
        if not attempt.hashes:
            return
        pipe = self.r.pipeline()
        pipe.lpush(self.key, seal(self.settings, self.purpose, attempt.pack()))
        pipe.ltrim(self.key, 0, KEEP_ATTEMPTS - 1)
        pipe.expire(self.key, KEEP_SECONDS)
        pipe.execute()
