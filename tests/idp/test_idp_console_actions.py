"""The console's other actions, driven over HTTP as a browser without script would: the
citizen's own password change, accounts created and erased from the console, services
edited, initial access tokens, departments and their members, key rotation, the audit
log's filters and pages."""

from __future__ import annotations

import json
import re

import requests
from sqlalchemy import select

from tests.idp.oidc_browser import PASSWORD, Browser, RelyingParty, create_client, create_user
from tests.idp.operators import console_browser, csrf_of, make_operator, server_provider


def _post(browser: Browser, page, path: str, **form) -> requests.Response:
    return browser.http.post(
        f"{browser.server.url}{path}",
        data={"csrf_token": csrf_of(page.text), **form},
        allow_redirects=False,
        timeout=30,
    )


def test_a_citizen_changes_the_password_after_giving_the_current_one(op):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)
    page = browser.navigate(f"{op.url}/account/password")
    wrong = browser.submit(page, {"current": "not it", "password": "x" * 12, "confirm": "x" * 12})
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    mismatch = browser.submit(
        wrong, {"current": PASSWORD, "password": "y" * 12, "confirm": "z" * 12}
    )
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    short = browser.submit(mismatch, {"current": PASSWORD, "password": "short", "confirm": "short"})
    assert short.status_code == 400 and "at least 8" in short.text
    done = browser.submit(
        short, {"current": PASSWORD, "password": "a brand new one", "confirm": "a brand new one"}
    )
    assert done.status_code == 200 and "is changed" in done.text
    fresh = Browser(op)
    assert fresh.login(fresh.navigate(f"{op.url}/login"), username).status_code == 401
    fresh.sign_in(username, "a brand new one")


def test_an_account_created_in_the_console_starts_with_a_password_to_replace(op):
    admin = console_browser(op, make_operator(op, "helpdesk"))
    form = admin.navigate(f"{op.url}/admin/citizens/new")
    made = _post(
        admin,
        form,
        "/admin/citizens/new",
        username="newcomer1",
        name="Sun Li",
        email="sunli@example.cn",
    )
    assert made.status_code == 200
    temporary = made.text.split('id="temporary-password">')[1].split("<")[0].strip()
    citizen = Browser(op)
    page = citizen.login(citizen.navigate(f"{op.url}/login"), "newcomer1", temporary)
    assert "/login/new-password" in page.url and not citizen.sso
    citizen.submit(page, {"password": "my own secret words", "confirm": "my own secret words"})
    assert citizen.sso


def test_the_console_exports_and_erases_an_account_only_when_confirmed(op):
    victim = create_user(op)
    admin = console_browser(op, make_operator(op, "administrator"))
    page = admin.navigate(f"{op.url}/admin/citizens/{victim}")
    exported = _post(admin, page, f"/admin/citizens/{victim}/export")
    assert exported.status_code == 200
    assert json.loads(exported.text)["profile"]["username"] == victim
    unconfirmed = _post(admin, page, f"/admin/citizens/{victim}/erase", confirm="someone")
    assert unconfirmed.status_code == 400 and "Type the username" in unconfirmed.text
    assert admin.get(f"{op.url}/admin/citizens/{victim}").status_code == 200
    erased = _post(admin, page, f"/admin/citizens/{victim}/erase", confirm=victim)
    assert erased.status_code == 302
    assert admin.get(f"{op.url}/admin/citizens/{victim}").status_code == 404


def test_an_edited_service_takes_effect_at_once(op):
    client = create_client(op, name="Old Name")
    rp = RelyingParty(op, client)
    new_uri = "https://new.example.cn/callback"
    admin = console_browser(op, make_operator(op, "administrator"))
    page = admin.navigate(f"{op.url}/admin/services/{client.client_id}")
    saved = admin.http.post(
        f"{op.url}/admin/services/{client.client_id}",
        data=[
            ("csrf_token", csrf_of(page.text)),
            ("name", "New Name"),
            ("redirect_uris", f"{client.redirect_uri}\n{new_uri}"),
            ("grant_types", "authorization_code"),
            ("scopes", "openid"),
            ("scopes", "email"),
            ("extra_scopes", "sign"),
            ("auth_method", "client_secret_basic"),
            ("subject_type", "public"),
            ("id_token_alg", "ES256"),
        ],
        allow_redirects=False,
        timeout=30,
    )
    assert saved.status_code == 302
    stored = server_provider(op).clients.get(client.client_id)
    assert stored.client_name == "New Name"
    assert stored.allowed_scopes == {"openid", "email", "sign"}
    assert stored.require_pkce is False  # the operator's policy, kept beside the metadata
    assert new_uri in stored.metadata["redirect_uris"]
    # The provider's own process sees the change: the new redirect URI is accepted.
    rp.session.redirect_uri = new_uri
    url = rp.authorization_url()
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    # Bad metadata changes nothing.
    refused = admin.http.post(
        f"{op.url}/admin/services/{client.client_id}",
        data={"csrf_token": csrf_of(page.text), "name": "", "grant_types": "authorization_code"},
        allow_redirects=False,
        timeout=30,
    )
    assert refused.status_code == 400
    assert server_provider(op).clients.get(client.client_id).client_name == "New Name"


def test_initial_access_tokens_are_made_and_revoked_in_the_console(op):
    admin = console_browser(op, make_operator(op, "administrator"))
    page = admin.navigate(f"{op.url}/admin/services/tokens")
    made = _post(admin, page, "/admin/services/tokens", days="2")
    token = made.text.split('id="initial-token">')[1].split("<")[0].strip()
    register = f"{op.url}/oauth/register"
    meta = {"client_name": "Self-registered", "redirect_uris": ["https://rp.example.cn/cb"]}
    from idp.tokens import digest

    revoked = _post(admin, page, f"/admin/services/tokens/{digest(token)[:12]}/revoke")
    assert revoked.status_code == 302
    answer = requests.post(
        register, json=meta, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 401
    bad = _post(admin, page, "/admin/services/tokens", days="9999")
    assert bad.status_code == 400


def test_departments_and_members_are_managed_in_the_console(op):
    member = create_user(op)
    admin = console_browser(op, make_operator(op, "administrator"))
    page = admin.navigate(f"{op.url}/admin/departments/")
    made = _post(
        admin,
        page,
        "/admin/departments/",
        code="WEBDEPT",
        name="交通局",
        name_en="Transport Bureau",
    )
    assert made.status_code == 302
    again = _post(admin, page, "/admin/departments/", code="WEBDEPT", name="交通局")
    assert again.status_code == 409 and "exists already" in again.text
    added = _post(admin, page, "/admin/departments/WEBDEPT/members", username=member)
    assert added.status_code == 302
    shown = admin.get(f"{op.url}/admin/departments/WEBDEPT")
    assert member in shown.text and "days left" in shown.text
    nobody = _post(admin, page, "/admin/departments/WEBDEPT/members", username="no-such-one")
    assert nobody.status_code == 400 and "There is no account" in nobody.text
    removed = _post(admin, page, f"/admin/departments/WEBDEPT/members/{member}/remove")
    assert removed.status_code == 302
    from signing import departments

    runtime = server_provider(op).runtime
    assert departments.get(runtime, "WEBDEPT")["members"] == []
    before = departments.get(runtime, "WEBDEPT")["certificate_serial"]
    renewed = _post(admin, page, "/admin/departments/WEBDEPT/renew-seal")
    assert renewed.status_code == 302
    after = departments.get(runtime, "WEBDEPT")["certificate_serial"]
    assert after != before
    assert after in admin.get(f"{op.url}/admin/departments/WEBDEPT").text


def test_keys_are_rotated_from_the_console(op):
    from idp.models import SigningKey

    admin = console_browser(op, make_operator(op, "administrator"))
    provider = server_provider(op)
    with provider.db.read() as session:
        before = set(session.scalars(select(SigningKey.kid)))
    page = admin.navigate(f"{op.url}/admin/pki/keys")
    assert _post(admin, page, "/admin/pki/keys/rotate").status_code == 302
    with provider.db.read() as session:
        after = set(session.scalars(select(SigningKey.kid)))
    assert len(after - before) == 2
    listed = admin.get(f"{op.url}/admin/pki/keys")
    assert "published" in listed.text or "active" in listed.text


def test_the_audit_log_filters_and_pages(op):
    from config import audit

    with server_provider(op).db.write() as session:
        for n in range(60):  # more than a page of events, whatever ran before
            audit.record(session, "test.filler", actor="test", n=n)
    auditor = make_operator(op, "auditor")
    browser = console_browser(op, auditor)
    page = browser.get(f"{op.url}/admin/audit/?event=login.&actor={auditor.username}")
    assert page.status_code == 200
    assert "login.success" in page.text and "operator.grant_role" not in page.text
    first = browser.get(f"{op.url}/admin/audit/")
    assert "Older events" in first.text  # more than one page of events by now
    older = first.text.split("/admin/audit/?before=")[1].split('"')[0]
    second = browser.get(f"{op.url}/admin/audit/?before={older}")
    assert second.status_code == 200
    bad = browser.get(f"{op.url}/admin/audit/?since=not-a-time")
    assert bad.status_code == 400


def test_the_overview_counts_ocsp_answers_and_sign_ins(op):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from certs import listing
    from certs.authority import authority
    from signing import departments

    runtime = server_provider(op).runtime
    dept = departments.create(runtime, "OCSPCOUNT", "统计局", actor="test")
    _, certificate = listing.get(authority(runtime), dept["certificate_serial"])
    issuer = x509.load_pem_x509_certificate(
        requests.get(f"{op.url}/pki/ca.pem", timeout=10).content
    )
    body = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    answer = requests.post(f"{op.url}/pki/ocsp", data=body, timeout=10)
    assert ocsp.load_der_ocsp_response(answer.content).certificate_status.name == "GOOD"
    browser = console_browser(op, make_operator(op, "auditor"))
    page = browser.get(f"{op.url}/admin/")
    labels = dict(re.findall(r'aria-label="([^:"]+): (\d+) in 24 hours', page.text))
    assert int(labels["OCSP answers"]) >= 1
    assert int(labels["Sign-ins"]) >= 1
    assert "<script" not in page.text and page.text.count("<svg") == 5


def test_an_operator_at_a_departments_counter_enrols_a_proofed_face(op):
    """The console's counter enrolment: only an operator who belongs to the department
    whose counter it is may enrol, a photo without one face is refused on the page, and
    what is enrolled is a proofed (counter) template, audited with the department."""
    import sys
    from pathlib import Path

    from biometrics.service import FaceService
    from config.audit import AuditEvent
    from idp.users import find_user
    from signing import departments
    from tests.idp.operators import add_officer

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "biometrics"))
    from face_samples import FACES

    citizen = create_user(op)
    operator = make_operator(op, "helpdesk")
    runtime = server_provider(op).runtime
    departments.create(runtime, "CTR", "户籍窗口", "Registry counter", actor="test")
    with runtime.db.read() as session:
        user_id = find_user(session, citizen).id
    faces = FaceService(runtime)
    browser = console_browser(op, operator)
    path = f"/admin/citizens/{citizen}"

    def enrol(photo: bytes):
        page = browser.navigate(f"{op.url}{path}")
        return browser.http.post(
            f"{op.url}{path}/counter-face",
            data={"csrf_token": csrf_of(page.text), "department": "CTR"},
            files={"photo": ("counter.jpg", photo, "image/jpeg")},
            allow_redirects=False,
            timeout=60,
        )

    assert "not a member of any department" in browser.navigate(f"{op.url}{path}").text
    outsider = enrol((FACES / "obama_1.jpg").read_bytes())
    assert outsider.status_code in (400, 403) and "is not a member of CTR" in outsider.text
    add_officer(op, "CTR", operator.username)
    not_a_face = enrol(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert not_a_face.status_code == 400 and 'role="alert"' in not_a_face.text
    assert not faces.has_proofed(user_id)
    enrolled = enrol((FACES / "obama_1.jpg").read_bytes())
    assert enrolled.status_code == 302, enrolled.text[:500]
    assert faces.has_proofed(user_id)
    runtime.audit.flush()
    with runtime.db.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.event == "face.enroll")).one()
    assert (event.actor, event.subject) == (operator.username, citizen)
    assert event.details["department"] == "CTR" and event.details["provenance"] == "counter"
