"""What a citizen's browser sees when a request is refused: a page in their language, with
a real title, never raw JSON; and a refused sign-out still signs them out of OneTrip."""

from __future__ import annotations

import re

from oidc_browser import Browser, create_client, create_user

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _browser(op, language: str) -> Browser:
    return Browser(op, Accept=HTML, **{"Accept-Language": language})


def test_a_refused_logout_still_ends_the_onetrip_session_and_says_so_in_chinese(op):
    browser = _browser(op, "zh-CN,zh;q=0.9")
    browser.sign_in(create_user(op))
    service = create_client(op, name="Tax office")
    refused = browser.get(
        f"{op.url}/oauth/logout?client_id={service.client_id}"
        "&post_logout_redirect_uri=https://attacker.example/landing"
    )
    assert refused.status_code == 400
    assert refused.headers["Content-Type"].startswith("text/html")
    assert "您已退出 OneTrip。" in refused.text
    assert "not registered for this client" in refused.text
    assert "attacker.example" not in refused.headers.get("Location", "")
    # The session is over: the account page sends the browser to sign in again.
    account = browser.get(f"{op.url}/account")
    assert account.status_code == 302 and "/login" in account.headers["Location"]


def test_a_bad_id_token_hint_is_refused_on_a_page_that_says_the_citizen_is_signed_out(op):
    browser = _browser(op, "en")
    browser.sign_in(create_user(op))
    refused = browser.get(f"{op.url}/oauth/logout?id_token_hint=not.a.token")
    assert refused.status_code == 400
    assert "You are signed out of OneTrip." in refused.text
    assert "id_token_hint is not a valid ID token" in refused.text


def test_a_stale_consent_form_gets_a_localized_page_with_a_real_title(op):
    browser = _browser(op, "zh-CN")
    browser.sign_in(create_user(op))
    stale = browser.http.post(
        f"{op.url}/oauth/consent", data={"csrf_token": "stale"}, allow_redirects=False, timeout=20
    )
    assert stale.status_code == 400
    assert stale.headers["Content-Type"].startswith("text/html")
    assert "请求无效" in stale.text and "表单已过期" in stale.text
    assert "<property object" not in stale.text
    title = re.search(r"<title>(.*?)</title>", stale.text, re.S).group(1)
    assert title.strip() and "object at" not in title
