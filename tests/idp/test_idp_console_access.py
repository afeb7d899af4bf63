"""Who may reach the console and do what: roles, a fresh second factor, CSRF, the CSP.

Every action of the console is listed in :data:`EXPECTED` with the roles that may do it;
a test fails when the app has a console endpoint the table does not list, so a new action
cannot ship without its role check being tested here.
"""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests

from config.audit import AuditEvent
from idp.clients import FACE_ACR, PASSWORD_ACR
from tests.idp.oidc_browser import Browser, create_client, create_user
from tests.idp.operators import (
    add_officer,
    console_browser,
    csrf_of,
    make_operator,
    server_provider,
)

ADMIN, HELP, AUDIT = "administrator", "helpdesk", "auditor"
ALL = {ADMIN, HELP, AUDIT}

#: Every console endpoint: its method, and the roles that may use it.
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "console.home": ("GET", ALL),
    "console.step_up": ("GET", ALL),
    "console_citizens.index": ("GET", ALL),
    "console_citizens.show": ("GET", ALL),
    "console_citizens.new": ("POST", {ADMIN, HELP}),
    "console_citizens.disable": ("POST", {ADMIN, HELP}),
    "console_citizens.enable": ("POST", {ADMIN, HELP}),
    "console_citizens.unlock": ("POST", {ADMIN, HELP}),
    "console_citizens.end_sessions": ("POST", {ADMIN, HELP}),
    "console_citizens.temporary_password": ("POST", {ADMIN, HELP}),
    "console_citizens.export": ("POST", {ADMIN}),
    "console_citizens.erase": ("POST", {ADMIN}),
    "console_services.index": ("GET", ALL),
    "console_services.new": ("POST", {ADMIN}),
    "console_services.edit": ("POST", {ADMIN}),
    "console_services.new_secret": ("POST", {ADMIN}),
    "console_services.delete": ("POST", {ADMIN}),
    "console_services.tokens": ("GET", ALL),
    "console_services.create_token": ("POST", {ADMIN}),
    "console_services.revoke_token": ("POST", {ADMIN}),
    "console_departments.index": ("GET", ALL),
    "console_departments.create": ("POST", {ADMIN}),
    "console_departments.show": ("GET", ALL),
    "console_departments.add_member": ("POST", {ADMIN}),
    "console_departments.remove_member": ("POST", {ADMIN}),
    "console_departments.renew_seal": ("POST", {ADMIN}),
    "console_citizens.counter_face": ("POST", {ADMIN, HELP}),
    "console_pki.index": ("GET", ALL),
    "console_pki.show": ("GET", ALL),
    "console_pki.revoke": ("POST", {ADMIN}),
    "console_pki.issue_form": ("GET", {ADMIN}),
    "console_pki.issue": ("POST", {ADMIN}),
    "console_pki.keys": ("GET", ALL),
    "console_pki.rotate_keys": ("POST", {ADMIN}),
    "console_audit.index": ("GET", {ADMIN, AUDIT}),
    "console_audit.verify": ("POST", {ADMIN, AUDIT}),
    "console_audit.export": ("GET", {ADMIN, AUDIT}),
}


def test_every_console_endpoint_is_in_the_role_table(app):
    endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")
    }
    assert endpoints == set(EXPECTED)


@pytest.fixture(scope="module")
def targets(op):
    """A citizen, a service, a department with its seal and a token to act upon."""
    from idp.registration import create_initial_token
    from signing import departments

    provider = server_provider(op)
    victim = create_user(op)
    client = create_client(op)
    dept = departments.create(provider.runtime, "ACCESS", "测试局", "Test Office", actor="test")
    add_officer(op, "ACCESS", victim)
    with provider.db.write() as session:
        token = create_initial_token(session, 1, actor="test")
    from idp.tokens import digest

    return {
        "username": victim,
        "client_id": client.client_id,
        "code": "ACCESS",
        "serial": dept["certificate_serial"],
        "token_id": digest(token)[:12],
    }


def _url(op, endpoint: str, t: dict) -> str:
    paths = {
        "console.home": "/admin/",
        "console.step_up": "/admin/step-up",
        "console_citizens.index": "/admin/citizens/",
        "console_citizens.show": f"/admin/citizens/{t['username']}",
        "console_citizens.new": "/admin/citizens/new",
        "console_citizens.disable": f"/admin/citizens/{t['username']}/disable",
        "console_citizens.enable": f"/admin/citizens/{t['username']}/enable",
        "console_citizens.unlock": f"/admin/citizens/{t['username']}/unlock",
        "console_citizens.end_sessions": f"/admin/citizens/{t['username']}/sessions",
        "console_citizens.temporary_password": f"/admin/citizens/{t['username']}/password",
        "console_citizens.export": f"/admin/citizens/{t['username']}/export",
        "console_citizens.erase": f"/admin/citizens/{t['username']}/erase",
        "console_services.index": "/admin/services/",
        "console_services.new": "/admin/services/new",
        "console_services.edit": f"/admin/services/{t['client_id']}",
        "console_services.new_secret": f"/admin/services/{t['client_id']}/secret",
        "console_services.delete": f"/admin/services/{t['client_id']}/delete",
        "console_services.tokens": "/admin/services/tokens",
        "console_services.create_token": "/admin/services/tokens",
        "console_services.revoke_token": f"/admin/services/tokens/{t['token_id']}/revoke",
        "console_departments.index": "/admin/departments/",
        "console_departments.create": "/admin/departments/",
        "console_departments.show": f"/admin/departments/{t['code']}",
        "console_departments.add_member": f"/admin/departments/{t['code']}/members",
        "console_departments.remove_member": (
            f"/admin/departments/{t['code']}/members/{t['username']}/remove"
        ),
        "console_departments.renew_seal": f"/admin/departments/{t['code']}/renew-seal",
        "console_citizens.counter_face": f"/admin/citizens/{t['username']}/counter-face",
        "console_pki.index": "/admin/pki/",
        "console_pki.show": f"/admin/pki/certificates/{t['serial']}",
        "console_pki.revoke": f"/admin/pki/certificates/{t['serial']}/revoke",
        "console_pki.issue_form": "/admin/pki/issue",
        "console_pki.issue": "/admin/pki/issue",
        "console_pki.keys": "/admin/pki/keys",
        "console_pki.rotate_keys": "/admin/pki/keys/rotate",
        "console_audit.index": "/admin/audit/",
        "console_audit.verify": "/admin/audit/verify",
        "console_audit.export": "/admin/audit/export?format=json",
    }
    return op.url + paths[endpoint]


#: What a refused action would have changed, if it had gone through: each form is one
#: that the action accepts (so a 403 is the role check, not bad input).
_FORMS = {
    "console_citizens.new": {"username": "madebyrole", "name": "X", "email": "x@example.cn"},
    "console_citizens.erase": {"confirm": "{username}"},
    "console_services.new": {"name": "Rogue", "redirect_uris": "https://rogue.example/cb"},
    "console_services.edit": {"name": "Renamed", "redirect_uris": "https://a.example/cb"},
    "console_services.create_token": {"days": "3"},
    "console_departments.create": {"code": "ROGUE", "name": "Rogue"},
    "console_departments.add_member": {"username": "{username}"},
    "console_pki.revoke": {"reason": "keyCompromise"},
    "console_pki.issue": {"profile": "device", "common_name": "x", "csr": "junk"},
}


def _actions_by(op, actor: str) -> list[str]:
    provider = server_provider(op)
    provider.runtime.audit.flush()
    from sqlalchemy import select

    with provider.db.read() as session:
        events = session.scalars(select(AuditEvent.event).where(AuditEvent.actor == actor))
        return [e for e in events if not e.startswith(("login.", "logout", "totp."))]


@pytest.mark.parametrize("role", [HELP, AUDIT])
def test_a_role_cannot_do_what_it_does_not_hold_and_nothing_changes(op, targets, role):
    operator = make_operator(op, role)
    browser = console_browser(op, operator)
    token = csrf_of(browser.get(f"{op.url}/admin/step-up").text)
    refused = []
    for endpoint, (method, roles) in EXPECTED.items():
        if role in roles:
            continue
        url = _url(op, endpoint, targets)
        if method == "GET":
            answer = browser.get(url)
        else:
            form = {k: v.format(**targets) for k, v in _FORMS.get(endpoint, {}).items()}
            answer = browser.http.post(
                url, data={"csrf_token": token, **form}, allow_redirects=False, timeout=20
            )
        refused.append((endpoint, answer.status_code))
    assert {code for _, code in refused} == {403}, refused
    assert _actions_by(op, operator.username) == [], "a refused action left an audit row"
    provider = server_provider(op)
    with provider.db.read() as session:
        from idp.users import find_user

        assert find_user(session, "madebyrole") is None
        assert find_user(session, targets["username"]) is not None
    assert provider.clients.get(targets["client_id"]).client_name == "Municipal service"


def test_a_helpdesk_operator_looks_after_citizens_but_cannot_revoke_or_edit(op, targets):
    operator = make_operator(op, HELP)
    browser = console_browser(op, operator)
    page = browser.get(_url(op, "console_citizens.show", targets))
    assert page.status_code == 200
    assert "/unlock" in page.text and "/erase" not in page.text
    unlocked = browser.http.post(
        _url(op, "console_citizens.unlock", targets),
        data={"csrf_token": csrf_of(page.text)},
        allow_redirects=False,
        timeout=20,
    )
    assert unlocked.status_code == 302
    assert _actions_by(op, operator.username) == ["user.unlock"]
    cert = browser.get(_url(op, "console_pki.show", targets))
    assert cert.status_code == 200 and "/revoke" not in cert.text


def test_a_citizen_without_a_role_finds_no_console(op, targets):
    citizen = make_operator(op, None, totp=False)
    browser = Browser(op)
    browser.sign_in(citizen.username)
    for endpoint, (method, _) in EXPECTED.items():
        url = _url(op, endpoint, targets)
        answer = (
            browser.get(url)
            if method == "GET"
            else browser.http.post(url, data={}, allow_redirects=False, timeout=20)
        )
        assert answer.status_code == 404, (endpoint, answer.status_code)


def test_no_session_is_sent_to_the_login_page_and_back(op):
    page = requests.get(f"{op.url}/admin/citizens/?q=li", allow_redirects=False, timeout=10)
    assert page.status_code == 302
    location = urlsplit(page.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/admin/citizens/?q=li"]}


def test_a_password_only_session_is_sent_to_the_step_up(op, targets):
    operator = make_operator(op, ADMIN, totp=False)
    browser = Browser(op)
    browser.sign_in(operator.username)
    page = browser.get(f"{op.url}/admin/citizens/")
    assert page.status_code == 302 and "/admin/step-up?next=" in page.headers["Location"]
    step_up = browser.navigate(f"{op.url}/admin/step-up")
    assert "/account/totp" in step_up.text  # nothing enrolled yet: set up an app first
    # A change posted anyway changes nothing.
    account = browser.navigate(f"{op.url}/account")
    answer = browser.http.post(
        _url(op, "console_citizens.disable", targets),
        data={"csrf_token": csrf_of(account.text)},
        allow_redirects=False,
        timeout=20,
    )
    assert answer.status_code == 302 and "/admin/step-up" in answer.headers["Location"]
    assert _actions_by(op, operator.username) == []


def test_a_second_factor_older_than_the_limit_is_asked_again(op):
    operator = make_operator(op, ADMIN)
    browser = console_browser(op, operator)
    assert browser.get(f"{op.url}/admin/").status_code == 200
    provider = server_provider(op)
    session = provider.sso.load(browser.sso)
    session.auth_time -= provider.settings.console_step_up_max_age + 1
    provider.sso.update(browser.sso, session)
    page = browser.get(f"{op.url}/admin/")
    assert page.status_code == 302 and "/admin/step-up" in page.headers["Location"]
    # A fresh code opens it again and goes back where the operator was going.
    step_up = browser.navigate(f"{op.url}/admin/step-up?next=/admin/pki/")
    back = browser.submit(step_up, {"code": operator.code()})
    assert back.status_code == 200 and back.url.endswith("/admin/pki/")


def test_a_proofed_face_session_opens_the_console_and_a_password_session_does_not(op):
    operator = make_operator(op, AUDIT, totp=False)
    provider = server_provider(op)
    with provider.db.read() as session:
        from idp.users import get_user

        user_id = get_user(session, operator.username).id
    for acr, amr, expected in ((FACE_ACR, ["face", "pwd"], 200), (PASSWORD_ACR, ["pwd"], 302)):
        secret, _ = provider.sso.create(
            user_id=user_id, username=operator.username, amr=amr, acr=acr
        )
        answer = requests.get(
            f"{op.url}/admin/", cookies={"onetrip_sso": secret}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == expected, acr


def test_a_disabled_operator_is_shut_out_at_once(op):
    operator = make_operator(op, ADMIN)
    browser = console_browser(op, operator)
    from idp import citizens

    citizens.set_disabled(server_provider(op), operator.username, True, actor="test")
    assert browser.get(f"{op.url}/admin/").status_code in (302, 404)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(op, targets):
    operator = make_operator(op, ADMIN)
    browser = console_browser(op, operator)
    for token in ({}, {"csrf_token": "forged"}):
        answer = browser.http.post(
            _url(op, "console_citizens.disable", targets),
            data=token,
            allow_redirects=False,
            timeout=20,
        )
        assert answer.status_code == 400
    provider = server_provider(op)
    with provider.db.read() as session:
        from idp.users import get_user

        assert not get_user(session, targets["username"]).disabled
    assert _actions_by(op, operator.username) == []


def test_console_pages_send_a_strict_content_security_policy(op):
    operator = make_operator(op, AUDIT)
    browser = console_browser(op, operator)
    page = browser.get(f"{op.url}/admin/")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["style-src"] == "'self'"
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "style=" not in page.text and "<script" not in page.text


def test_an_audit_export_is_bounded_streamed_and_audited(op):
    operator = make_operator(op, AUDIT)
    browser = console_browser(op, operator)
    answer = browser.get(f"{op.url}/admin/audit/export?format=json&event=operator.")
    assert answer.status_code == 200
    rows = json.loads(answer.text)
    assert rows and {r["event"] for r in rows} <= {"operator.grant_role", "operator.revoke_role"}
    assert answer.headers["Content-Disposition"].startswith("attachment")
    csv_answer = browser.get(f"{op.url}/admin/audit/export?format=csv&event=operator.")
    assert csv_answer.text.splitlines()[0].startswith("seq,at,event,actor,subject")
    assert _actions_by(op, operator.username).count("audit.export") == 2
    bad = browser.get(f"{op.url}/admin/audit/export?format=csv&since=yesterday")
    assert bad.status_code == 400 and "2026-12-01T08:30" in bad.text


def test_the_chain_verification_shows_its_result(op):
    operator = make_operator(op, AUDIT)
    browser = console_browser(op, operator)
    page = browser.get(f"{op.url}/admin/audit/")
    result = browser.http.post(
        f"{op.url}/admin/audit/verify", data={"csrf_token": csrf_of(page.text)}, timeout=20
    )
    assert result.status_code == 200
    found = re.search(r'id="chain-result">([^<]+)<', result.text)
    assert found and found.group(1).startswith("The chain is intact")


def _enrol_on_the_account_page(browser: Browser, path: str = "/account/totp") -> pyotp.TOTP:
    page = browser.navigate(f"{browser.server.url}{path}")
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    app = pyotp.TOTP(secret)
    now = int(time.time()) // 30
    done = browser.submit(
        page,
        {
            "step": "confirm",
            "first": app.generate_otp(now - 2),
            "second": app.generate_otp(now - 1),
        },
    )
    assert "Recovery codes" in done.text
    return app


def test_a_stolen_password_cannot_enrol_its_own_app_into_the_console(op):
    victim = make_operator(op, ADMIN, totp=False)
    attacker = Browser(op)
    attacker.sign_in(victim.username)  # the password is all the attacker has
    app = _enrol_on_the_account_page(attacker)
    step_up = attacker.navigate(f"{op.url}/admin/step-up")
    assert "without an operator&#39;s invitation" in step_up.text
    account = attacker.navigate(f"{op.url}/account")
    coded = attacker.http.post(
        f"{op.url}/login/totp?next=/admin/",
        data={
            "csrf_token": csrf_of(account.text),
            "code": app.generate_otp(int(time.time()) // 30),
        },
        allow_redirects=False,
        timeout=20,
    )
    assert coded.status_code == 302  # the code is right: the session has otp now ...
    page = attacker.get(f"{op.url}/admin/")
    assert page.status_code == 302 and "/admin/step-up" in page.headers["Location"]  # ... no way in


def test_an_invitation_from_the_cli_enrols_an_app_that_opens_the_console(op):
    operator = create_user(op)
    granted = json.loads(op.cli("users", "grant-role", operator, "auditor", "--json").stdout)
    invitation = urlsplit(granted["totp_invitation"])
    browser = Browser(op)
    browser.sign_in(operator)
    app = _enrol_on_the_account_page(browser, f"{invitation.path}?{invitation.query}")
    step_up = browser.navigate(f"{op.url}/admin/step-up")
    opened = browser.submit(step_up, {"code": app.generate_otp(int(time.time()) // 30)})
    assert opened.status_code == 200 and opened.url.endswith("/admin/")
    # Used once: a second account cannot use the same link, and the CLI says there is an app.
    again = op.cli("users", "totp-invite", operator, check=False)
    assert again.returncode == 1 and "already" in again.stderr
