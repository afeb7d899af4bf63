"""Failed face checks per citizen, counted in Redis like failed passwords.

Uses the password settings (``login_max_failures_per_account`` within
``login_throttle_window`` seconds): a face check is a login factor, and a citizen should not
have to learn two different limits. The window starts at the first failure; a success
clears the count.
"""

from __future__ import annotations

import redis

from config.settings import Settings


class FaceThrottle:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.limit = settings.login_max_failures_per_account
        self.window = settings.login_throttle_window

    @staticmethod
    def _key(user_id: int) -> str:
        return f"face:failures:{user_id}"

    def blocked(self, user_id: int) -> bool:
        return int(self.redis.get(self._key(user_id)) or 0) >= self.limit

    def fail(self, user_id: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.incr(self._key(user_id))
            pipe.expire(self._key(user_id), self.window, nx=True)
            pipe.execute()

    def clear(self, user_id: int) -> None:
        self.redis.delete(self._key(user_id))
