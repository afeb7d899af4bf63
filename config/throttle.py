"""Failed-attempt throttling in Redis, per account and per client IP, shared by every node.

Passwords and face checks both count failures here, against the same limits: a face check
is a login factor, and a citizen should not have to learn two different rules. Counting
failures in a fixed window per key (INCR + EXPIRE) is enough: the limits exist to make
online guessing slow, and the window resets on its own.
"""

from __future__ import annotations

import redis

from config.redis import HotCommands
from config.settings import Settings


class Throttle:
    def __init__(self, redis_client: redis.Redis, settings: Settings, kind: str) -> None:
        self.r, self.kind = redis_client, kind
        self._hot = HotCommands(redis_client)  # check() runs before every password hash
        self.window = settings.login_throttle_window
        self.per_account = settings.login_max_failures_per_account
        self.per_ip = settings.login_max_failures_per_ip

    def _keys(self, account: str, ip: str | None) -> list[tuple[str, int]]:
        keys = [(f"throttle:{self.kind}:acct:{account.lower()}", self.per_account)]
        if ip:
            keys.append((f"throttle:{self.kind}:ip:{ip}", self.per_ip))
        return keys

    def retry_after(self, account: str, ip: str | None = None) -> int:
        """Seconds until another attempt is allowed, 0 when allowed now."""
        return self.check(account, ip)[0]

    def check(self, account: str, ip: str | None = None) -> tuple[int, bool]:
        """:meth:`retry_after`, and whether the account has failures that a success clears
        (so a clean login skips the round trip of :meth:`success`)."""
        keys = self._keys(account, ip)
        counts = self._hot.execute("MGET", *(key for key, _ in keys))
        wait = 0
        for (key, limit), count in zip(keys, counts, strict=True):
            if count and int(count) >= limit:
                wait = max(wait, self.r.ttl(key))
        return max(wait, 0), bool(counts[0])

    def failure(self, account: str, ip: str | None = None) -> None:
        pipe = self.r.pipeline()
        for key, _ in self._keys(account, ip):
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
        pipe.execute()

    def success(self, account: str) -> None:
        self.r.delete(self._keys(account, None)[0][0])

    def unlock(self, account: str) -> None:
        """An operator's unlock: forget the account's failures at once. The per-address
        counters stay: an address that guessed at many accounts is not pardoned."""
        self.r.delete(self._keys(account, None)[0][0])
