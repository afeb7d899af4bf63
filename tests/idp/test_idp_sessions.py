"""Single sign-on, prompt/max_age/login_hint, consent, the account page and logout."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from urllib.parse import parse_qs

import pytest
import redis as redis_lib
from joserfc import jwt
from oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    introspect,
    log_in,
    redirect_params,
    sign_in_flow,
)

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def services(op):
    return [create_client(op, name=f"Service {n}") for n in "AB"]


@pytest.fixture
def citizen(op) -> str:
    return create_user(op)


def _prompt_none(browser: Browser, rp: RelyingParty) -> dict:
    return redirect_params(
        browser.navigate(rp.authorization_url(prompt="none"), stop_at=rp.client.redirect_uri)
    )


def test_prompt_none_when_signed_out_answers_login_required_with_iss_and_state(op, services):
    rp = RelyingParty(op, services[0])
    params = _prompt_none(Browser(op), rp)
    assert params["error"] == "login_required"
    assert params["iss"] == op.url
    assert params["state"] == rp.state


def test_second_service_signs_in_without_a_password_prompt(op, services, citizen):
    browser = Browser(op)
    first = RelyingParty(op, services[0])
    sid = first.validate_id_token(log_in(browser, first, citizen))["sid"]
    second = RelyingParty(op, services[1])
    page = browser.navigate(second.authorization_url(), stop_at=services[1].redirect_uri)
    assert 'name="password"' not in page.text
    assert 'name="consented"' in page.text  # first visit: the citizen is asked
    back = browser.submit(page, button="allow", stop_at=services[1].redirect_uri)
    claims = second.validate_id_token(second.fetch_token(back.headers["Location"]))
    assert claims["sid"] == sid


def test_prompt_none_gives_a_code_once_signed_in_and_consented(op, services, citizen):
    browser = Browser(op)
    rp = RelyingParty(op, services[0])
    log_in(browser, rp, citizen)
    again = RelyingParty(op, services[0])
    params = _prompt_none(browser, again)
    assert params["code"]
    assert params["iss"] == op.url
    assert params["state"] == again.state
    again.validate_id_token(
        again.fetch_token(f"{services[0].redirect_uri}?code={params['code']}&state={again.state}")
    )


def test_prompt_none_without_consent_answers_consent_required(op, services, citizen):
    browser = Browser(op)
    browser.sign_in(citizen)
    params = _prompt_none(browser, RelyingParty(op, services[1]))
    assert params["error"] == "consent_required"


def test_prompt_login_asks_for_the_password_again_and_renews_auth_time(op, services, citizen):
    browser = Browser(op)
    rp = RelyingParty(op, services[0])
    first = rp.validate_id_token(log_in(browser, rp, citizen))
    time.sleep(1.1)
    again = RelyingParty(op, services[0])
    page = browser.navigate(again.authorization_url(prompt="login"), stop_at=rp.client.redirect_uri)
    assert 'name="password"' in page.text
    back = browser.login(page, citizen, stop_at=rp.client.redirect_uri)
    claims = again.validate_id_token(again.fetch_token(back.headers["Location"]))
    assert claims["auth_time"] > first["auth_time"]


def test_prompt_consent_asks_again_although_consent_was_given(op, services, citizen):
    browser = Browser(op)
    log_in(browser, RelyingParty(op, services[0]), citizen)
    rp = RelyingParty(op, services[0])
    page = browser.navigate(rp.authorization_url(prompt="consent"), stop_at=rp.client.redirect_uri)
    assert 'name="consented"' in page.text


def test_max_age_exceeded_sends_the_citizen_to_the_login_page(op, services, citizen):
    browser = Browser(op)
    log_in(browser, RelyingParty(op, services[0]), citizen)
    time.sleep(1.1)
    rp = RelyingParty(op, services[0])
    page = browser.navigate(rp.authorization_url(max_age="0"), stop_at=rp.client.redirect_uri)
    assert 'name="password"' in page.text
    fresh = RelyingParty(op, services[0])
    back = browser.navigate(fresh.authorization_url(max_age="3600"), stop_at=rp.client.redirect_uri)
    assert redirect_params(back)["code"]


def test_login_hint_fills_in_the_username_and_a_different_hint_asks_to_sign_in(
    op, services, citizen
):
    browser = Browser(op)
    rp = RelyingParty(op, services[0])
    page = browser.navigate(rp.authorization_url(login_hint=citizen))
    assert f'value="{citizen}"' in page.text
    browser.login(page, citizen, stop_at=rp.client.redirect_uri)
    other = RelyingParty(op, services[0])
    page = browser.navigate(other.authorization_url(login_hint="someone-else"))
    assert 'name="password"' in page.text
    assert 'value="someone-else"' in page.text


def test_consent_is_per_scope_and_an_unchecked_scope_gives_no_claims(op, services, citizen):
    browser = Browser(op)
    rp = RelyingParty(op, services[1], scope="openid profile email")
    back = sign_in_flow(browser, rp, citizen, uncheck=("email",))
    token = rp.fetch_token(back.headers["Location"])
    assert set(token["scope"].split()) == {"openid", "profile"}
    info = rp.session.get(rp.meta["userinfo_endpoint"]).json()
    assert "name" in info
    assert "email" not in info
    remembered = RelyingParty(op, services[1], scope="openid profile")
    assert _prompt_none(browser, remembered)["code"]
    wider = RelyingParty(op, services[1], scope="openid profile email")
    assert _prompt_none(browser, wider)["error"] == "consent_required"


def test_denying_consent_returns_access_denied_to_the_service(op, services, citizen):
    browser = Browser(op)
    browser.sign_in(citizen)
    rp = RelyingParty(op, services[0])
    page = browser.navigate(rp.authorization_url(), stop_at=rp.client.redirect_uri)
    back = browser.submit(page, button="deny", stop_at=rp.client.redirect_uri)
    params = redirect_params(back)
    assert params["error"] == "access_denied"
    assert params["iss"] == op.url
    assert params["state"] == rp.state


def test_account_page_lists_services_and_recent_sign_ins(op, services, citizen):
    browser = Browser(op)
    log_in(browser, RelyingParty(op, services[0]), citizen)
    page = browser.navigate(f"{op.url}/account")
    assert page.status_code == 200
    assert "Service A" in page.text
    assert "Service B" not in page.text
    assert page.text.count("127.0.0.1") >= 1  # the sign-in's address


def test_the_account_page_a_login_lands_on_already_lists_that_sign_in(op):
    # login.success goes through the batched audit log; the account page flushes it first.
    citizen = create_user(op)
    laptop, phone = Browser(op), Browser(op)
    laptop.sign_in(citizen)
    assert laptop.navigate(f"{op.url}/account").text.count("· pwd</li>") == 1
    landed = phone.login(phone.navigate(f"{op.url}/login"), citizen)
    assert landed.url == f"{op.url}/account"
    assert landed.text.count("· pwd</li>") == 2


def test_withdrawing_consent_revokes_that_services_tokens(op, services, citizen):
    browser = Browser(op)
    a, b = RelyingParty(op, services[0]), RelyingParty(op, services[1])
    token_a, token_b = log_in(browser, a, citizen), log_in(browser, b, citizen)
    page = browser.navigate(f"{op.url}/account")
    browser.http.post(
        f"{op.url}/account/services/{services[0].client_id}/withdraw",
        data={"csrf_token": _csrf(page.text)},
        allow_redirects=False,
        timeout=5,
    ).raise_for_status()
    assert a.session.get(a.meta["userinfo_endpoint"]).status_code == 401
    assert introspect(op, services[0], token_a["refresh_token"])["active"] is False
    assert b.session.get(b.meta["userinfo_endpoint"]).status_code == 200
    assert introspect(op, services[1], token_b["access_token"])["active"] is True
    assert _prompt_none(browser, RelyingParty(op, services[0]))["error"] == "consent_required"
    assert "Service A" not in browser.navigate(f"{op.url}/account").text


def test_sign_out_everywhere_ends_every_session_of_the_citizen(op, services, citizen):
    phone, laptop = Browser(op), Browser(op)
    rp = RelyingParty(op, services[0])
    token = log_in(phone, rp, citizen)
    laptop.sign_in(citizen)
    page = laptop.navigate(f"{op.url}/account")
    answer = laptop.http.post(
        f"{op.url}/account/logout-everywhere", data={"csrf_token": _csrf(page.text)}, timeout=5
    )
    assert answer.status_code == 200
    for browser in (phone, laptop):
        assert _prompt_none(browser, RelyingParty(op, services[0]))["error"] == "login_required"
    assert introspect(op, services[0], token["access_token"])["active"] is False


def test_expired_sso_session_asks_for_the_password_again(op, services, citizen):
    browser = Browser(op)
    log_in(browser, RelyingParty(op, services[0]), citizen)
    store = redis_lib.Redis.from_url(op.env["REDIS_URL"])
    key = f"sso:{hashlib.sha256(browser.sso.encode()).hexdigest()}"
    assert store.exists(key)
    store.pexpire(key, 1)
    time.sleep(0.05)
    assert _prompt_none(browser, RelyingParty(op, services[0]))["error"] == "login_required"
    account = browser.get(f"{op.url}/account")
    assert account.is_redirect
    assert "/login" in account.headers["Location"]


# -- logout ----------------------------------------------------------------------------


def test_rp_initiated_logout_redirects_with_state_and_ends_the_session(op, citizen):
    client = create_client(
        op, "--post-logout-redirect-uri", "http://127.0.0.1:9/bye", name="Logout service"
    )
    browser = Browser(op)
    rp = RelyingParty(op, client)
    token = log_in(browser, rp, citizen)
    answer = browser.get(
        rp.meta["end_session_endpoint"],
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:9/bye",
            "state": "s-123",
        },
    )
    assert answer.status_code in (302, 303)
    assert answer.headers["Location"] == "http://127.0.0.1:9/bye?state=s-123"
    assert _prompt_none(browser, RelyingParty(op, client))["error"] == "login_required"
    assert introspect(op, client, token["access_token"])["active"] is False


def test_unregistered_post_logout_redirect_uri_is_refused_without_redirect_yet_signs_out(
    op, citizen
):
    client = create_client(
        op, "--post-logout-redirect-uri", "http://127.0.0.1:9/bye", name="Careful service"
    )
    browser = Browser(op)
    rp = RelyingParty(op, client)
    token = log_in(browser, rp, citizen)
    answer = browser.get(
        rp.meta["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://evil/"},
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "You are signed out of OneTrip." in answer.text  # the citizen asked to leave
    assert _prompt_none(browser, RelyingParty(op, client))["error"] == "login_required"


class _LogoutReceiver(http.server.BaseHTTPRequestHandler):
    tokens: list[str]

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        self.server.tokens.extend(form.get("logout_token", []))
        self.send_response(200)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LogoutReceiver)
    server.tokens = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_logout_at_one_service_sends_a_backchannel_logout_token_to_the_other(op, citizen, receiver):
    uri = f"http://127.0.0.1:{receiver.server_address[1]}/backchannel"
    notified = create_client(op, "--backchannel-logout-uri", uri, name="Notified service")
    leaving = create_client(op, name="Leaving service")
    browser = Browser(op)
    rp_notified = RelyingParty(op, notified)
    id_claims = rp_notified.validate_id_token(log_in(browser, rp_notified, citizen))
    rp_leaving = RelyingParty(op, leaving)
    leaving_token = log_in(browser, rp_leaving, citizen)
    answer = browser.get(
        rp_leaving.meta["end_session_endpoint"], params={"id_token_hint": leaving_token["id_token"]}
    )
    assert answer.status_code == 200  # the "signed out" page
    assert len(receiver.tokens) == 1
    decoded = jwt.decode(receiver.tokens[0], rp_notified.jwks(), algorithms=["RS256", "ES256"])
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt"
    assert claims["iss"] == op.url
    assert claims["aud"] == notified.client_id
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sid"] == id_claims["sid"]
    assert claims["sub"] == id_claims["sub"]
    assert claims["jti"]
    assert "nonce" not in claims
    assert _prompt_none(browser, RelyingParty(op, notified))["error"] == "login_required"


def _csrf(html: str) -> str:
    from oidc_browser import forms_of

    return dict(forms_of(html)[-1].fields)["csrf_token"]
