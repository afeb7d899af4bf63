"""The pending authorization lives on the server, bound to the browser that started it.

``/oauth/authorize`` validates a request once and, when the citizen has pages to go
through, stores it as an interaction; the pages carry only its id (idp/interactions.py).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import redis as redis_lib
from oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    forms_of,
    log_in,
    redirect_params,
)


@pytest.fixture(scope="module")
def service(op):
    return create_client(op, name="Interaction service")


@pytest.fixture
def citizen(op) -> str:
    return create_user(op)


def _interaction_of(page) -> str:
    """The interaction id a page carries (the login page's URL, the consent form's action)."""
    for url in (page.url, *(urljoin(page.url, f.action) for f in forms_of(page.text))):
        found = parse_qs(urlsplit(url).query).get("interaction")
        if found:
            return found[0]
    raise AssertionError(f"no interaction on {page.url}")


def _refused(response) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "started in another browser" in response.text


def test_the_login_page_carries_an_interaction_id_and_no_authorization_parameters(
    op, service, citizen
):
    rp = RelyingParty(op, service)
    page = Browser(op).navigate(rp.authorization_url())
    query = parse_qs(urlsplit(page.url).query)
    assert urlsplit(page.url).path == "/login"
    assert set(query) == {"interaction"}
    assert rp.state not in page.url and rp.nonce not in page.url


def test_another_browsers_interaction_id_is_refused_everywhere(op, service, citizen):
    rp = RelyingParty(op, service)
    victim = Browser(op)
    victim.sign_in(citizen)
    consent = victim.navigate(rp.authorization_url(), stop_at=service.redirect_uri)
    assert 'name="consented"' in consent.text
    stolen = _interaction_of(consent)
    thief = Browser(op)
    thief.sign_in(create_user(op))
    _refused(thief.get(f"{op.url}/oauth/authorize/resume?interaction={stolen}"))
    _refused(thief.get(f"{op.url}/login?interaction={stolen}"))
    account = thief.get(f"{op.url}/account")
    csrf = next(dict(f.fields)["csrf_token"] for f in forms_of(account.text))
    _refused(
        thief.http.post(
            f"{op.url}/oauth/consent?interaction={stolen}",
            data={"csrf_token": csrf, "decision": "allow"},
            allow_redirects=False,
            timeout=10,
        )
    )
    # The victim's own interaction is untouched by all that.
    back = victim.submit(consent, button="allow", stop_at=service.redirect_uri)
    assert redirect_params(back)["state"] == rp.state


@pytest.mark.parametrize("tamper", ["flip", "truncate", "unknown", "junk"])
def test_a_tampered_or_unknown_interaction_id_is_refused(op, service, citizen, tamper):
    browser = Browser(op)
    page = browser.navigate(RelyingParty(op, service).authorization_url())
    real = _interaction_of(page)
    forged = {
        "flip": real[:-1] + ("A" if real[-1] != "A" else "B"),
        "truncate": real[:-2],
        "unknown": "x" * len(real),
        "junk": "..%2F%3Cscript%3E",
    }[tamper]
    _refused(browser.get(f"{op.url}/login?interaction={forged}"))
    _refused(browser.get(f"{op.url}/oauth/authorize/resume?interaction={forged}"))


def test_an_interaction_ends_in_one_code_only(op, service, citizen):
    browser = Browser(op)
    rp = RelyingParty(op, service)
    consent = browser.navigate(rp.authorization_url(), stop_at=service.redirect_uri)
    consent = browser.login(consent, citizen, stop_at=service.redirect_uri)
    assert 'name="consented"' in consent.text
    first = browser.submit(consent, button="allow", stop_at=service.redirect_uri)
    assert redirect_params(first)["code"]
    _refused(browser.submit(consent, button="allow", stop_at=service.redirect_uri))
    # Consent now given: a prompt=login goes through the login page, and then its
    # resumption issues one code; the same resumption again gets nothing.
    again = RelyingParty(op, service)
    page = browser.navigate(again.authorization_url(prompt="login"), stop_at=service.redirect_uri)
    resumed = browser.login(page, citizen, stop_at=f"{op.url}/oauth/authorize/resume")
    resume_url = urljoin(page.url, resumed.headers["Location"])
    code = browser.navigate(resume_url, stop_at=service.redirect_uri)
    assert redirect_params(code)["state"] == again.state
    again.fetch_token(code.headers["Location"])
    _refused(browser.get(resume_url))


def test_an_expired_interaction_gets_the_page_that_says_so(op, service, citizen):
    browser = Browser(op)
    page = browser.navigate(RelyingParty(op, service).authorization_url())
    interaction = _interaction_of(page)
    store = redis_lib.Redis.from_url(op.env["REDIS_URL"])
    for key in store.scan_iter("interaction:*"):
        store.delete(key)
    expired = browser.login(page, citizen, stop_at="http://127.0.0.1:9/")
    _refused(expired)
    _refused(browser.get(f"{op.url}/login?interaction={interaction}"))


def test_max_age_zero_asks_for_one_login_and_then_issues_the_code(op, service, citizen):
    browser = Browser(op)
    log_in(browser, RelyingParty(op, service), citizen)
    time.sleep(1.1)
    rp = RelyingParty(op, service)
    page = browser.navigate(rp.authorization_url(max_age="0"), stop_at=service.redirect_uri)
    assert 'name="password"' in page.text
    back = browser.login(page, citizen, stop_at=service.redirect_uri)
    claims = rp.validate_id_token(rp.fetch_token(back.headers["Location"]))
    assert time.time() - claims["auth_time"] < 30


def test_authorization_parameters_sent_to_the_consent_endpoint_are_not_a_request(
    op, service, citizen
):
    """Only an interaction id is read there: the parameters of an authorization request
    in its query string (what the consent form used to carry) issue nothing."""
    browser = Browser(op)
    rp = RelyingParty(op, service)
    log_in(browser, rp, citizen)
    account = browser.get(f"{op.url}/account")
    csrf = next(dict(f.fields)["csrf_token"] for f in forms_of(account.text))
    forged = browser.http.post(
        f"{op.url}/oauth/consent?{urlsplit(RelyingParty(op, service).authorization_url()).query}",
        data={"csrf_token": csrf, "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    _refused(forged)


def test_an_authorization_request_may_be_posted_by_the_services_page(op, service, citizen):
    """OIDC Core 3.1.2.1 allows POST: it is the service's form, so it has no form token of
    ours, and it still leads to the login page."""
    rp = RelyingParty(op, service)
    url = urlsplit(rp.authorization_url())
    form = {k: v[0] for k, v in parse_qs(url.query).items()}
    browser = Browser(op)
    posted = browser.http.post(f"{op.url}{url.path}", data=form, allow_redirects=False, timeout=10)
    assert posted.status_code == 302
    assert urlsplit(posted.headers["Location"]).path == "/login"
