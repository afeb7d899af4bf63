"""The replay cache: perceptual hashes of every frame a citizen's face checks received.

A check whose frames are the same as, or nearly the same as (within :data:`NEAR_BITS` of
256 bits: a copy re-encoded or re-lit), a frame of an earlier attempt is refused: a live
camera does not deliver the same picture twice. Kept in Redis per citizen for
:data:`KEEP_SECONDS`, at most :data:`KEEP_FRAMES` hashes.

Measured on ``../shared/face-video``: neighbouring frames of a real head turn differ by
16 to 100 bits; copies re-encoded or re-lit mostly by under 12. Copies with noise added,
moved or scaled are not reliably near at the video's 320x240 (up to 60 bits), so they are
not caught here.
"""

from __future__ import annotations

import redis

NEAR_BITS = 12
KEEP_FRAMES = 480
KEEP_SECONDS = 30 * 24 * 3600


def near(hashes: list[int], earlier: list[int]) -> bool:
    """Whether any of ``hashes`` is within :data:`NEAR_BITS` of any of ``earlier``."""
    return any((new ^ old).bit_count() <= NEAR_BITS for new in hashes for old in earlier)


class Seen:
    def __init__(self, redis_client: redis.Redis, user_id: int) -> None:
        self.r, self.key = redis_client, f"face:seen:{user_id}"

    def any_seen(self, hashes: list[int]) -> bool:
        return near(hashes, [int(h, 16) for h in self.r.lrange(self.key, 0, -1)])

    def remember(self, hashes: list[int]) -> None:
        if not hashes:
            return
        pipe = self.r.pipeline()
        pipe.lpush(self.key, *(format(h, "x") for h in hashes))
        pipe.ltrim(self.key, 0, KEEP_FRAMES - 1)
        pipe.expire(self.key, KEEP_SECONDS)
        pipe.execute()
