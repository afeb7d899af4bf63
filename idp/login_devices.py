"""Device cookies: the browsers an account signed in from before (OWASP's "Slow Down
Online Guessing Attacks with Device Cookies"; issue 13).

After a right password the browser gets ``onetrip_device``: one random device id and, for
each account that signed in from it (at most :data:`MAX_ACCOUNTS`), a tag, the HMAC of
(account, device id) under the server's secret key. A later login attempt that carries a
tag valid for the account it names is counted against that device
(:class:`config.throttle.Throttle`), so an attacker's failures from elsewhere never lock
the owner out of their own browser. The cookie proves nothing by itself: the password is
still checked, and a stolen cookie only gives one more device's worth of guesses.
"""

from __future__ import annotations

import hmac
import secrets

from config.settings import Settings
from idp.clients import secret_digest

COOKIE = "onetrip_device"
MAX_ACCOUNTS = 5
MAX_AGE = 365 * 24 * 3600
_TAG = 24  # hex characters of the HMAC kept per account


def _parse(cookie: str | None) -> tuple[str | None, list[str]]:
    if not cookie or len(cookie) > 300:
        return None, []
    device, _, tags = cookie.partition(".")
    if len(device) != 22 or not device.replace("-", "").replace("_", "").isalnum():
        return None, []
    return device, [t for t in tags.split(".") if len(t) == _TAG][:MAX_ACCOUNTS]


def _tag(settings: Settings, account: str, device: str) -> str:
    return secret_digest(settings, f"login-device:{account.lower()}:{device}")[:_TAG]


def trusted(settings: Settings, cookie: str | None, account: str) -> str | None:
    """The device id when ``cookie`` names a browser ``account`` signed in from, else None."""
    device, tags = _parse(cookie)
    if device is None or not account:
        return None
    expected = _tag(settings, account, device)
    return device if any(hmac.compare_digest(expected, t) for t in tags) else None


def remember(settings: Settings, cookie: str | None, account: str) -> str:
    """The cookie's new value once ``account`` signed in from this browser."""
    device, tags = _parse(cookie)
    device = device or secrets.token_urlsafe(16)
    tag = _tag(settings, account, device)
    tags = [tag, *(t for t in tags if t != tag)][:MAX_ACCOUNTS]
    return ".".join([device, *tags])
