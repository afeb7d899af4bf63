"""Helpers for the console's tests: operators with an authenticator app, signed in.

An operator is an ordinary account (made like any citizen) with a role granted through
the same function ``onetrip users grant-role`` calls, and an authenticator app enrolled
through :class:`idp.totp.Authenticators` on the server's own database and Redis. The
enrolment is confirmed with the codes of the two steps before the current one, so the
current step's code and the next one's are both still unused: two sign-ins without
waiting for the clock.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pyotp

from tests.idp.oidc_browser import PASSWORD, Browser, create_user, forms_of


def server_provider(server):
    """A :class:`idp.provider.Provider` on the live server's database and Redis."""
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.provider import Provider

    if not hasattr(server, "provider"):
        if not hasattr(server, "runtime"):
            server.runtime = Runtime(load_settings(environ=server.env))
        server.provider = Provider(server.runtime)
    return server.provider


@dataclass
class Operator:
    username: str
    totp: pyotp.TOTP
    codes: list[str]  # the next unused codes, in the order they may be used

    def code(self) -> str:
        return self.codes.pop(0)


def enrol_totp(server, username: str, *, invited: bool = True) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol an authenticator for ``username`` (with an operator's invitation unless told
    otherwise); its app and its two next usable codes."""
    provider = server_provider(server)
    with provider.db.read() as session:
        from idp.users import get_user

        user_id = get_user(session, username).id
    enrolment = provider.authenticators.begin(user_id, username)
    totp = pyotp.TOTP(enrolment.secret)
    now = int(time.time()) // 30
    invitation = provider.authenticators.invite(user_id) if invited else None
    provider.authenticators.confirm(
        user_id,
        username,
        totp.generate_otp(now - 2),
        totp.generate_otp(now - 1),
        invitation=invitation,
    )
    return totp, [totp.generate_otp(now), totp.generate_otp(now + 1)]


def make_operator(server, role: str | None, *, totp: bool = True) -> Operator:
    """A new account with ``role`` (None: a plain citizen) and, if asked, an app."""
    from idp.operators import grant_role
    from idp.users import get_user

    username = create_user(server, f"op{secrets.token_hex(4)}", name="Wang Fang")
    if role:
        provider = server_provider(server)
        with provider.db.write() as session:
            grant_role(session, get_user(session, username), role, actor="test")
    app, codes = enrol_totp(server, username) if totp else (None, [])
    return Operator(username, app, codes)


def console_browser(server, operator: Operator) -> Browser:
    """A requests-based browser signed in as ``operator`` with a fresh TOTP code."""
    browser = Browser(server)
    page = browser.navigate(f"{server.url}/admin/")
    page = browser.login(page, operator.username, PASSWORD)
    assert 'name="code"' in page.text, f"no code asked at {page.url}"
    page = browser.submit(page, {"code": operator.code()})
    assert page.status_code == 200 and "/admin/" in page.url, (page.status_code, page.url)
    return browser


def csrf_of(html: str) -> str:
    for form in forms_of(html):
        for name, value in form.fields:
            if name == "csrf_token":
                return value
    raise AssertionError("no csrf_token on the page")


def sign_in_playwright(page, server, operator: Operator, path: str = "/admin/") -> None:
    """Sign in on a Playwright page as ``operator`` (password, then the app's code)."""
    page.goto(f"{server.url}{path}")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("input[name=code]", operator.code())
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}*")


def add_officer(server, code: str, username: str) -> None:
    """Make ``username`` a member of department ``code``, as ``onetrip departments
    add-member`` does: idp finds the account, signing records the membership."""
    from idp.users import find_user
    from signing import departments

    provider = server_provider(server)
    with provider.db.read() as session:
        user = find_user(session, username)
    departments.add_member(provider.runtime, code, user.id, user.username, actor="test")
