"""Login throttling in Redis, per account and per client IP, shared by every node.

Counting failures in a fixed window per key (INCR + EXPIRE) is enough here: the limits
exist to make online guessing slow, and the window resets on its own.
"""

from __future__ import annotations

import redis

from config.settings import Settings


class Throttle:
    def __init__(
        self,
        redis_client: redis.Redis,
        settings: Settings,
        kind: str = "login",
        per_account: int | None = None,
        per_ip: int | None = None,
    ) -> None:
        self.r, self.kind = redis_client, kind
        self.window = settings.login_throttle_window
        self.per_account = per_account or settings.login_max_failures_per_account
        self.per_ip = per_ip or settings.login_max_failures_per_ip

    def _keys(self, account: str, ip: str) -> tuple[str, str]:
        return f"throttle:{self.kind}:acct:{account.lower()}", f"throttle:{self.kind}:ip:{ip}"

    def retry_after(self, account: str, ip: str) -> int:
        """Seconds until another attempt is allowed, 0 when allowed now."""
        acct_key, ip_key = self._keys(account, ip)
        acct, by_ip = self.r.mget(acct_key, ip_key)
        wait = 0
        if acct and int(acct) >= self.per_account:
            wait = max(wait, self.r.ttl(acct_key))
        if by_ip and int(by_ip) >= self.per_ip:
            wait = max(wait, self.r.ttl(ip_key))
        return max(wait, 0)

    def failure(self, account: str, ip: str) -> None:
        pipe = self.r.pipeline()
        for key in self._keys(account, ip):
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
        pipe.execute()

    def success(self, account: str) -> None:
        self.r.delete(self._keys(account, "")[0])
