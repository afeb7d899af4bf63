"""Failed-attempt throttling in Redis, per account, per known device and per client IP,
shared by every node.

Passwords and face checks both count failures here, against the same limits: a face check
is a login factor, and a citizen should not have to learn two different rules. Counting
failures in a fixed window per key (INCR + EXPIRE) is enough: the limits exist to make
online guessing slow, and the window resets on its own.

Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"; issue 13):
an attempt that comes with a ``device`` (a browser the account signed in from before,
named by a signed cookie, see :mod:`idp.login_devices`) is counted against that device
alone, so failures from unknown browsers, from however many addresses, lock out unknown
browsers only and never the owner's own. Guessing stays bounded: unknown browsers share
the account's limit, each known device has its own, and every address has its limit
whatever it claims to be.
"""

from __future__ import annotations

import redis

from config.settings import Settings


class Throttle:
    def __init__(self, redis_client: redis.Redis, settings: Settings, kind: str) -> None:
        self.r, self.kind = redis_client, kind
        self.window = settings.login_throttle_window
        self.per_account = settings.login_max_failures_per_account
        self.per_ip = settings.login_max_failures_per_ip

    def _account_key(self, account: str, device: str | None) -> str:
        if device:
            return f"throttle:{self.kind}:dev:{account.lower()}:{device}"
        return f"throttle:{self.kind}:acct:{account.lower()}"

    def _keys(self, account: str, ip: str | None, device: str | None) -> list[tuple[str, int]]:
        keys = [(self._account_key(account, device), self.per_account)]
        if ip:
            keys.append((f"throttle:{self.kind}:ip:{ip}", self.per_ip))
        return keys

    def retry_after(self, account: str, ip: str | None = None, device: str | None = None) -> int:
        """Seconds until another attempt is allowed, 0 when allowed now."""
        return self.check(account, ip, device)[0]

    def check(
        self, account: str, ip: str | None = None, device: str | None = None
    ) -> tuple[int, bool]:
        """:meth:`retry_after`, and whether the account (or device) has failures that a
        success clears (so a clean login skips the round trip of :meth:`success`)."""
        keys = self._keys(account, ip, device)
        counts = self.r.mget([key for key, _ in keys])
        wait = 0
        for (key, limit), count in zip(keys, counts, strict=True):
            if count and int(count) >= limit:
                wait = max(wait, self.r.ttl(key))
        return max(wait, 0), bool(counts[0])

    def failure(self, account: str, ip: str | None = None, device: str | None = None) -> None:
        pipe = self.r.pipeline()
        for key, _ in self._keys(account, ip, device):
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
        pipe.execute()

    def success(self, account: str, device: str | None = None) -> None:
        """Forget the failures of the channel that just succeeded: a known device's own,
        or those of unknown browsers (a success on a known device does not pardon them)."""
        self.r.delete(self._account_key(account, device))

    def unlock(self, account: str) -> None:
        """An operator's unlock: forget the account's failures at once. The per-address
        counters stay: an address that guessed at many accounts is not pardoned."""
        self.r.delete(self._account_key(account, None))
        for key in self.r.scan_iter(f"throttle:{self.kind}:dev:{account.lower()}:*", count=100):
            self.r.delete(key)
