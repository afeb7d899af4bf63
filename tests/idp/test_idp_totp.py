"""Authenticator apps (RFC 6238): enrolment on the account page, the login step, the
``urn:onetrip:acr:totp`` level, and the attacks on them (replay, guessing, removal with a
password alone, a secret readable in the database)."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from idp.clients import TOTP_ACR
from idp.models import RecoveryCode, TotpCredential
from tests.idp.oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    discover,
    log_in,
)
from tests.idp.operators import csrf_of, enrol_totp, server_provider


def _step() -> int:
    return int(time.time()) // 30


def test_a_citizen_enrols_an_app_with_two_consecutive_codes_and_keeps_recovery_codes(op):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)
    page = browser.navigate(f"{op.url}/account/totp")
    assert "<svg" in page.text and 'role="img"' in page.text  # the QR code, inline
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    app = pyotp.TOTP(secret)
    now = _step()
    # Two codes that are not consecutive prove nothing about the app's clock.
    wrong = browser.submit(
        page, {"step": "confirm", "first": app.generate_otp(now), "second": app.generate_otp(now)}
    )
    assert wrong.status_code == 400 and "one after the other" in wrong.text
    done = browser.submit(
        wrong,
        {"step": "confirm", "first": app.generate_otp(now - 1), "second": app.generate_otp(now)},
    )
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert len(codes) == 10
    provider = server_provider(op)
    with provider.db.read() as session:
        row = session.scalar(select(TotpCredential))
        stored = [r.code_hash for r in session.scalars(select(RecoveryCode))]
    assert secret.encode() not in row.sealed  # sealed, not stored in the clear
    assert not any(c.replace("-", "") in h for c in codes for h in stored)


def test_the_login_asks_for_the_code_and_a_used_code_is_refused(op):
    username = create_user(op)
    _, (code, _) = enrol_totp(op, username)
    browser = Browser(op)
    page = browser.navigate(f"{op.url}/login")
    asked = browser.login(page, username)
    assert 'name="code"' in asked.text and not browser.sso  # no session before the code
    account = browser.submit(asked, {"code": code})
    assert account.url.endswith("/account") and browser.sso
    session = server_provider(op).sso.load(browser.sso)
    assert session.acr == TOTP_ACR and session.amr == ["otp", "pwd"]
    # The same code again, in another browser that knows the password: refused.
    thief = Browser(op)
    again = thief.login(thief.navigate(f"{op.url}/login"), username)
    replayed = thief.submit(again, {"code": code})
    assert replayed.status_code == 400 and "used already" in replayed.text
    assert not thief.sso


def test_the_code_step_cannot_be_skipped(op):
    username = create_user(op)
    enrol_totp(op, username)
    browser = Browser(op)
    browser.login(browser.navigate(f"{op.url}/login"), username)
    # Straight to the account page or an authorization: no session was made.
    assert browser.navigate(f"{op.url}/account").url.endswith("/login")
    assert not browser.sso


def test_wrong_codes_are_throttled_like_passwords(op):
    username = create_user(op)
    _, (code, _) = enrol_totp(op, username)
    browser = Browser(op)
    page = browser.login(browser.navigate(f"{op.url}/login"), username)
    limit = server_provider(op).settings.login_max_failures_per_account
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(limit):
        page = browser.submit(page, {"code": wrong})
        assert page.status_code == 400
    throttled = browser.submit(page, {"code": code})  # even the right code, now
    assert throttled.status_code == 429 and "Too many failed attempts" in throttled.text
    assert not browser.sso


def test_a_recovery_code_signs_in_once(op):
    username = create_user(op)
    provider = server_provider(op)
    from idp.users import find_user

    with provider.db.read() as session:
        user_id = find_user(session, username).id
    enrolment = provider.authenticators.begin(user_id, username)
    app = pyotp.TOTP(enrolment.secret)
    now = _step()
    codes = provider.authenticators.confirm(
        user_id, username, app.generate_otp(now - 2), app.generate_otp(now - 1)
    )
    first = Browser(op)
    page = first.login(first.navigate(f"{op.url}/login"), username)
    assert first.submit(page, {"code": codes[0].upper()}).url.endswith("/account")
    second = Browser(op)
    page = second.login(second.navigate(f"{op.url}/login"), username)
    assert second.submit(page, {"code": codes[0]}).status_code == 400
    assert provider.authenticators.recovery_codes_left(user_id) == 9


def test_removing_the_app_needs_one_of_its_codes(op):
    username = create_user(op)
    _, (login_code, next_code) = enrol_totp(op, username)
    browser = Browser(op)
    page = browser.login(browser.navigate(f"{op.url}/login"), username)
    browser.submit(page, {"code": login_code})
    settings = browser.navigate(f"{op.url}/account/totp")
    refused = browser.submit(settings, {"step": "remove", "code": "123456"})
    assert refused.status_code == 400
    assert server_provider(op).authenticators.enrolled(_user_id(op, username))
    removed = browser.submit(refused, {"step": "remove", "code": next_code})
    assert removed.url.endswith("/account")
    assert not server_provider(op).authenticators.enrolled(_user_id(op, username))


def _user_id(op, username: str) -> int:
    from idp.users import get_user

    with server_provider(op).db.read() as session:
        return get_user(session, username).id


def test_a_service_asks_for_the_totp_level_and_gets_acr_totp_with_amr_otp(op):
    assert TOTP_ACR in discover(op)["acr_values_supported"]
    username = create_user(op)
    _, (code, _) = enrol_totp(op, username)
    browser = Browser(op)
    browser.login(browser.navigate(f"{op.url}/login"), username)
    page = browser.navigate(f"{op.url}/login/totp")
    browser.submit(page, {"code": code})
    rp = RelyingParty(op, create_client(op))
    token = log_in(browser, rp, username, acr_values=TOTP_ACR)
    claims = rp.validate_id_token(token)
    assert claims["acr"] == TOTP_ACR and "otp" in claims["amr"]


def test_a_password_session_is_stepped_up_to_totp_when_a_service_asks(op):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)  # before the app exists: a password session
    _, (code, _) = enrol_totp(op, username)
    rp = RelyingParty(op, create_client(op))
    page = browser.navigate(
        rp.authorization_url(acr_values=TOTP_ACR), stop_at=rp.client.redirect_uri
    )
    assert 'name="code"' in page.text and "/login/totp" in page.url
    none = browser.get(rp.authorization_url(acr_values=TOTP_ACR, prompt="none"))
    assert "error=interaction_required" in none.headers["Location"]
    callback = browser.submit(page, {"code": code}, stop_at=rp.client.redirect_uri)
    if 'name="consented"' in callback.text:
        callback = browser.submit(callback, button="allow", stop_at=rp.client.redirect_uri)
    claims = rp.validate_id_token(rp.fetch_token(callback.headers["Location"]))
    assert claims["acr"] == TOTP_ACR and claims["amr"] == ["otp", "pwd"]


def test_the_account_page_links_the_security_settings(op):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)
    page = browser.navigate(f"{op.url}/account")
    assert "/account/password" in page.text and "/account/totp" in page.text
    assert csrf_of(page.text)


def test_a_login_inside_an_authorization_asks_for_the_code_then_returns_to_the_service(op):
    username = create_user(op)
    _, (code, _) = enrol_totp(op, username)
    browser = Browser(op)
    rp = RelyingParty(op, create_client(op))
    stop = rp.client.redirect_uri
    page = browser.navigate(rp.authorization_url(), stop_at=stop)
    asked = browser.login(page, username, stop_at=stop)
    assert "/login/totp" in asked.url and not browser.sso
    consent = browser.submit(asked, {"code": code}, stop_at=stop)
    callback = browser.submit(consent, button="allow", stop_at=stop)
    claims = rp.validate_id_token(rp.fetch_token(callback.headers["Location"]))
    assert claims["acr"] == TOTP_ACR and claims["amr"] == ["otp", "pwd"]
