"""Throttling, CSRF, headers, languages, bad input, key rotation and the audit chain."""

from __future__ import annotations

import json
import time
from urllib.parse import urljoin

import requests
from argon2 import PasswordHasher
from joserfc import jws
from oidc_browser import (
    PASSWORD,
    Browser,
    RelyingParty,
    create_client,
    create_user,
    forms_of,
    log_in,
)
from sqlalchemy import create_engine, select, text, update

from idp.models import User


def test_repeated_wrong_passwords_are_throttled_with_retry_after_and_audited(op):
    username = create_user(op)
    browser = Browser(op)
    for _ in range(5):
        page = browser.navigate(f"{op.url}/login")
        assert browser.login(page, username, "wrong").status_code == 401
    page = browser.navigate(f"{op.url}/login")
    throttled = browser.login(page, username, PASSWORD)  # even the right password now waits
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert not browser.sso
    events = json.loads(op.cli("audit", "tail", "-n", "20", "--json").stdout)
    assert any(e["event"] == "login.throttled" and e["subject"] == username for e in events)
    assert sum(e["event"] == "login.failure" and e["subject"] == username for e in events) == 5


def test_the_login_page_names_the_service_asking_also_after_a_wrong_password(op):
    username = create_user(op)
    rp = RelyingParty(op, create_client(op, name="Harbour permits"))
    browser = Browser(op)
    page = browser.navigate(rp.authorization_url())
    assert "/login?" in page.url and "Harbour permits" in page.text
    refused = browser.login(page, username, "wrong")
    assert refused.status_code == 401 and "Harbour permits" in refused.text
    assert "Harbour permits" not in browser.navigate(f"{op.url}/login").text


def test_form_posts_without_csrf_token_are_refused(op):
    username = create_user(op)
    session = requests.Session()
    login = session.post(
        f"{op.url}/login",
        data={"username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=5,
    )
    assert login.status_code == 400
    assert "onetrip_sso" not in session.cookies
    browser = Browser(op)
    browser.sign_in(username)
    client = create_client(op, name="CSRF target")
    rp = RelyingParty(op, client)
    page = browser.navigate(rp.authorization_url(), stop_at=client.redirect_uri)
    assert 'name="consented"' in page.text
    consent = next(f for f in forms_of(page.text) if "/oauth/consent" in f.action)
    forged = browser.http.post(  # the page's own interaction, without the page's token
        urljoin(page.url, consent.action),
        data={"decision": "allow", "consented": "profile"},
        allow_redirects=False,
        timeout=5,
    )
    assert forged.status_code == 400
    assert "Location" not in forged.headers


def test_pages_send_strict_security_headers_and_cookies(op):
    browser = Browser(op)
    page = browser.navigate(f"{op.url}/login")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    browser.sign_in(create_user(op))
    sso = next(c for c in browser.http.cookies if c.name == "onetrip_sso")
    assert sso.has_nonstandard_attr("HttpOnly")
    assert sso.get_nonstandard_attr("SameSite") == "Lax"
    assert not sso.secure  # an http issuer; https issuers get Secure cookies
    flow = next(c for c in browser.http.cookies if c.name == "onetrip_flow")
    assert flow.has_nonstandard_attr("HttpOnly")


def test_pages_speak_chinese_by_ui_locales_and_by_accept_language(op):
    client = create_client(op, name="Chinese service")
    rp = RelyingParty(op, client)
    page = Browser(op).navigate(rp.authorization_url(ui_locales="zh-CN"))
    assert "登录" in page.text
    assert "用户名" in page.text
    by_header = Browser(op, **{"Accept-Language": "zh-CN,zh;q=0.9"}).navigate(f"{op.url}/login")
    assert "密码" in by_header.text
    english = Browser(op, **{"Accept-Language": "en-GB"}).navigate(f"{op.url}/login")
    assert "Password" in english.text
    assert "密码" not in english.text


def test_bad_inputs_get_clear_4xx_answers_never_500(op):
    token_url = f"{op.url}/oauth/token"
    cases = [
        requests.post(
            token_url,
            data=b"\xff\xfe garbage",
            timeout=5,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        requests.post(token_url, data={"grant_type": "password"}, timeout=5),
        requests.post(
            token_url, data={"grant_type": "authorization_code", "code": "x" * 5000}, timeout=5
        ),
        requests.post(token_url, data={"x": "y" * (1024 * 1024)}, timeout=10),
        requests.post(
            f"{op.url}/oauth/register",
            data="{",
            timeout=5,
            headers={"Content-Type": "application/json", "Authorization": "Bearer nothing"},
        ),
        requests.post(f"{op.url}/oauth/introspect", data={"token": "x"}, timeout=5),
        requests.get(f"{op.url}/oauth/authorize", params={"client_id": "nobody"}, timeout=5),
        requests.get(f"{op.url}/oauth/authorize", timeout=5),
        requests.post(f"{op.url}/oauth/revoke", data={}, timeout=5),
        requests.get(
            f"{op.url}/oauth/userinfo", headers={"Authorization": "Bearer a.b.c"}, timeout=5
        ),
    ]
    for answer in cases:
        assert 400 <= answer.status_code < 500, (
            answer.request.url,
            answer.status_code,
            answer.text[:200],
        )
        if answer.request.url.startswith(f"{op.url}/oauth/token"):
            assert answer.json()["error"]


def test_key_rotation_publishes_new_keys_that_then_sign_while_old_ones_stay(op):
    client = create_client(op, "--id-token-alg", "ES256", name="Rotation watcher")
    username = create_user(op)
    rp = RelyingParty(op, client)
    before = log_in(Browser(op), rp, username)
    old_kid = jws.extract_compact(before["id_token"].encode()).protected["kid"]
    new_kids = {k["kid"] for k in json.loads(op.cli("keys", "rotate", "--json").stdout)}
    # Each worker reloads its key ring every few seconds; poll until it has.
    deadline = time.monotonic() + 20
    while True:
        token = log_in(Browser(op), RelyingParty(op, client), username)
        kid = jws.extract_compact(token["id_token"].encode()).protected["kid"]
        if kid != old_kid or time.monotonic() > deadline:
            break
        time.sleep(1)
    published = {k["kid"] for k in requests.get(rp.meta["jwks_uri"], timeout=5).json()["keys"]}
    assert kid in new_kids
    assert new_kids <= published  # a key is in the JWKS by the time it signs
    assert old_kid in published  # and the old one stays, for the tokens it signed
    access_kid = jws.extract_compact(token["access_token"].encode()).protected["kid"]
    assert access_kid in new_kids


def test_audit_chain_verifies_and_names_a_tampered_row(op):
    intact = op.cli("audit", "verify", "--json")
    report = json.loads(intact.stdout)
    assert report["intact"] is True
    assert report["rows"] > 5
    engine = create_engine(op.env["DATABASE_URL"])
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        seq = conn.scalar(text("SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 3"))
        conn.execute(text("UPDATE audit_events SET subject = 'mallory' WHERE seq = :s"), {"s": seq})
    engine.dispose()
    broken = op.cli("audit", "verify", "--json", check=False)
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert report["intact"] is False
    assert report["first_broken"] == seq


def test_a_login_rehashes_a_password_stored_with_older_parameters(op):
    citizen = create_user(op)
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with op.runtime.db.write() as session:
        session.execute(update(User).where(User.username == citizen).values(password_hash=weaker))
    Browser(op).sign_in(citizen)
    with op.runtime.db.read() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == citizen))
    current = op.runtime.settings
    assert stored != weaker
    assert f"m={current.argon2_memory_cost},t={current.argon2_time_cost}," in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    Browser(op).sign_in(citizen)  # and the new hash signs in
