"""Lockout that an attacker cannot turn on the owner (issue 13): device cookies, per OWASP.

The server sits behind one trusted proxy here, so each attempt can come from the address
its ``X-Forwarded-For`` names, as an attacker cycling addresses would."""

from __future__ import annotations

import pytest
from oidc_browser import Browser, create_user

from idp.login_devices import COOKIE


@pytest.fixture(scope="module")
def proxied(start_provider):
    with start_provider(trusted_proxies="1") as server:
        yield server


def _from(op, address: str) -> Browser:
    return Browser(op, **{"X-Forwarded-For": address})


def _sign_out_keeping_the_device(browser: Browser) -> None:
    for cookie in list(browser.http.cookies):
        if cookie.name == "onetrip_sso":
            browser.http.cookies.clear(cookie.domain, cookie.path, cookie.name)


def _try(browser: Browser, username: str, password: str):
    page = browser.navigate(f"{browser.server.url}/login")
    return browser.login(page, username, password)


def test_wrong_passwords_from_many_addresses_do_not_lock_the_owners_own_browser(proxied):
    username = create_user(proxied)
    owner = _from(proxied, "198.51.100.7")
    owner.sign_in(username)
    assert owner.http.cookies.get(COOKIE)
    _sign_out_keeping_the_device(owner)
    answers = [
        _try(_from(proxied, f"203.0.113.{n}"), username, "a wrong guess").status_code
        for n in range(1, 8)
    ]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    newcomer = _try(_from(proxied, "192.0.2.50"), username, "correct horse battery staple")
    assert newcomer.status_code == 429  # unknown browsers wait, even with the right password
    assert int(newcomer.headers["Retry-After"]) > 0
    assert "Try again in" in newcomer.text
    _try(owner, username, "correct horse battery staple")
    assert owner.sso, "the owner was locked out of a browser they signed in from before"


def test_a_known_device_has_its_own_bounded_count_of_guesses(proxied):
    username = create_user(proxied)
    owner = _from(proxied, "198.51.100.8")
    owner.sign_in(username)
    stolen = owner.http.cookies.get(COOKIE)
    thief = _from(proxied, "203.0.113.200")
    thief.http.cookies.set(COOKIE, stolen, path="/login")
    answers = [_try(thief, username, f"guess {n}").status_code for n in range(7)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}


def test_a_device_cookie_of_one_account_does_not_vouch_for_another(proxied):
    alice, bob = create_user(proxied), create_user(proxied)
    browser = _from(proxied, "198.51.100.9")
    browser.sign_in(alice)
    _sign_out_keeping_the_device(browser)
    for n in range(5):  # bob's unknown-browser count, from elsewhere
        assert _try(_from(proxied, f"203.0.114.{n}"), bob, "wrong").status_code == 401
    assert _try(browser, bob, "correct horse battery staple").status_code == 429


def test_the_csrf_token_and_session_cookie_change_at_login(proxied):
    """A token read (or a session cookie planted) before the login is worthless after."""
    username = create_user(proxied)
    browser = _from(proxied, "198.51.100.10")
    page = browser.navigate(f"{proxied.url}/login")
    before = browser.http.cookies.get("onetrip_flow")
    planted = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    browser.login(page, username, "correct horse battery staple")
    assert browser.sso and browser.http.cookies.get("onetrip_flow") != before
    stale = browser.http.post(
        f"{proxied.url}/account/logout-everywhere",
        data={"csrf_token": planted},
        allow_redirects=False,
    )
    assert stale.status_code == 400
    account = browser.navigate(f"{proxied.url}/account")
    fresh = account.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert fresh != planted
