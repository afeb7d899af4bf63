"""The operator's console in a real browser (Chromium under Playwright, checked with
axe-core): the operators' everyday jobs end to end, every page at 390 px and 1280 px in
zh-CN and en, and bad input answered on the page in the operator's language.

With ``ONETRIP_SCREENSHOTS=docs/screenshots`` the tests also take the README's tour.
"""

from __future__ import annotations

import subprocess

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tests.browser import DESKTOP, PHONE, assert_accessible, assert_fits, new_context, screenshot
from tests.idp.oidc_browser import PASSWORD, Browser, create_client, create_user
from tests.idp.operators import add_officer, make_operator, server_provider, sign_in_playwright

NEW_PASSWORD = "a new passphrase of mine"


@pytest.fixture
def desktop(chromium):
    context = new_context(chromium, width=DESKTOP["width"])
    yield context.new_page()
    context.close()


def _csr_pem(common_name: str = "kiosk-7") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_an_operator_resets_a_password_and_the_citizen_must_choose_a_new_one(op, chromium):
    citizen = create_user(op)
    operator = make_operator(op, "helpdesk")
    context = new_context(chromium, width=DESKTOP["width"])
    page = context.new_page()
    sign_in_playwright(page, op, operator)
    page.goto(f"{op.url}/admin/citizens/?q={citizen}")
    page.get_by_role("link", name=citizen).click()
    screenshot(page, "console-citizen")
    page.get_by_role("button", name="Set a temporary password").click()
    temporary = page.locator("#temporary-password").inner_text().strip()
    assert len(temporary) == 19
    context.close()

    # The old password no longer works; the temporary one leads to a new password first.
    old = Browser(op)
    assert old.login(old.navigate(f"{op.url}/login"), citizen, PASSWORD).status_code == 401
    context = new_context(chromium, width=PHONE["width"])
    page = context.new_page()
    page.goto(f"{op.url}/login")
    page.fill("input[name=username]", citizen)
    page.fill("input[name=password]", temporary)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/new-password*")
    assert not [c for c in context.cookies() if c["name"] == "onetrip_sso"]
    assert_accessible(page)
    page.fill("#password", temporary)
    page.fill("#confirm", temporary)
    page.click("button[type=submit]")
    assert "other than the temporary one" in page.locator("[role=alert]").inner_text()
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/account")
    context.close()
    fresh = Browser(op)
    fresh.login(fresh.navigate(f"{op.url}/login"), citizen, NEW_PASSWORD)
    assert fresh.sso, "the new password signs in"


def test_an_operator_unlocks_a_throttled_citizen(op, desktop):
    citizen = create_user(op)
    for _ in range(server_provider(op).settings.login_max_failures_per_account):
        guess = Browser(op)
        guess.login(guess.navigate(f"{op.url}/login"), citizen, "not the password")
    locked = Browser(op)
    assert locked.login(locked.navigate(f"{op.url}/login"), citizen).status_code == 429

    sign_in_playwright(desktop, op, make_operator(op, "helpdesk"))
    desktop.goto(f"{op.url}/admin/citizens/{citizen}")
    assert "throttled for" in desktop.locator("dl.facts").inner_text()
    desktop.get_by_role("button", name="Unlock").click()
    assert "may sign in again" in desktop.locator("[role=status]").inner_text()
    assert "throttled for" not in desktop.locator("dl.facts").inner_text()

    locked.sign_in(citizen)


def test_an_operator_rotates_a_client_secret_and_only_the_new_one_works(op, desktop):
    client = create_client(op, "--grant-type", "client_credentials", name="Tax Office")
    token_url = f"{op.url}/oauth/token"

    def grant(secret: str) -> int:
        return requests.post(
            token_url,
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, secret),
            timeout=10,
        ).status_code

    assert grant(client.client_secret) == 200
    sign_in_playwright(desktop, op, make_operator(op, "administrator"))
    desktop.goto(f"{op.url}/admin/services/{client.client_id}")
    desktop.get_by_role("button", name="Replace the secret").click()
    secret = desktop.locator("#client-secret").inner_text().strip()
    assert secret and secret != client.client_secret
    assert grant(client.client_secret) == 401
    assert grant(secret) == 200


def test_an_operator_issues_and_revokes_a_certificate_and_ocsp_says_revoked(op, desktop, tmp_path):
    sign_in_playwright(desktop, op, make_operator(op, "administrator"))
    desktop.goto(f"{op.url}/admin/pki/issue")
    desktop.select_option("#profile", "device")
    desktop.fill("#common_name", "kiosk-7")
    # A request that names the CA is refused on the page: the subject is who asked.
    desktop.fill("#csr", _csr_pem("OneTrip Issuing CA"))
    desktop.click("button[type=submit]")
    assert "not the authenticated identity" in desktop.get_by_role("alert").inner_text()
    assert desktop.url.endswith("/admin/pki/issue")
    desktop.fill("#common_name", "kiosk-7")
    desktop.fill("#csr", _csr_pem("kiosk-7"))
    desktop.click("button[type=submit]")
    desktop.wait_for_url("**/admin/pki/certificates/*")
    serial = desktop.locator("#serial").inner_text().strip()
    assert desktop.locator("#ocsp-status").inner_text() == "good"
    from certs import listing
    from certs.authority import authority

    row, certificate = listing.get(authority(server_provider(op).runtime), serial)
    assert row.subject == "CN=kiosk-7"
    desktop.select_option("#reason", "keyCompromise")
    # A browser without the date widget sends whatever was typed.
    desktop.evaluate("document.getElementById('compromised_at').type = 'text'")
    desktop.fill("#compromised_at", "not a time")
    desktop.get_by_role("button", name="Revoke the certificate").click()
    assert "not a date and time" in desktop.get_by_role("alert").inner_text()
    assert desktop.locator("#ocsp-status").inner_text() == "good"
    compromised = row.not_before.strftime("%Y-%m-%dT%H:%M:%S")
    desktop.evaluate(f"document.getElementById('compromised_at').value = '{compromised}'")
    desktop.select_option("#reason", "keyCompromise")
    desktop.get_by_role("button", name="Revoke the certificate").click()
    assert desktop.locator("#ocsp-status").inner_text() == "revoked"
    assert desktop.locator("#ocsp-compromised-at").inner_text() == (
        f"{row.not_before:%Y-%m-%d %H:%M:%S} UTC"
    )
    screenshot(desktop, "console-certificate")

    # Checked the way a relying party would: OpenSSL asks the responder over HTTP.
    cert_pem = tmp_path / "cert.pem"
    cert_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    issuer = tmp_path / "ca.pem"
    issuer.write_bytes(requests.get(f"{op.url}/pki/ca.pem", timeout=10).content)
    root = tmp_path / "chain.pem"  # trusted: the root, and the issuing CA beside it
    root.write_bytes(
        requests.get(f"{op.url}/pki/root.pem", timeout=10).content + issuer.read_bytes()
    )
    out = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            issuer,
            "-cert",
            cert_pem,
            "-url",
            f"{op.url}/pki/ocsp",
            "-CAfile",
            root,
            "-resp_text",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "Response verify OK" in out.stderr + out.stdout
    assert f"{cert_pem}: revoked" in out.stdout
    assert "Reason: keyCompromise" in out.stdout
    assert "Invalidity Date" in out.stdout
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(
            certificate, x509.load_pem_x509_certificate(issuer.read_bytes()), hashes.SHA256()
        )
        .build()
    )
    answer = ocsp.load_der_ocsp_response(
        requests.post(
            f"{op.url}/pki/ocsp",
            data=request.public_bytes(serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"},
            timeout=10,
        ).content
    )
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.key_compromise


def _console_pages(op) -> list[tuple[str, str]]:
    """(name, path) of every console page, with real objects to show."""
    from signing import departments

    citizen = create_user(op)
    client = create_client(op, name="Civil Registry")
    runtime = server_provider(op).runtime
    try:
        dept = departments.get(runtime, "PAGES")
    except departments.DepartmentError:
        dept = departments.create(runtime, "PAGES", "民政局", "Civil Affairs", actor="test")
        add_officer(op, "PAGES", citizen)
    return [
        ("overview", "/admin/"),
        ("step-up", "/admin/step-up"),
        ("citizens", f"/admin/citizens/?q={citizen[:7]}"),
        ("citizen", f"/admin/citizens/{citizen}"),
        ("citizen-new", "/admin/citizens/new"),
        ("services", "/admin/services/"),
        ("service", f"/admin/services/{client.client_id}"),
        ("service-new", "/admin/services/new"),
        ("tokens", "/admin/services/tokens"),
        ("departments", "/admin/departments/"),
        ("department", "/admin/departments/PAGES"),
        ("pki", "/admin/pki/"),
        ("certificate", f"/admin/pki/certificates/{dept['certificate_serial']}"),
        ("issue", "/admin/pki/issue"),
        ("keys", "/admin/pki/keys"),
        ("audit", "/admin/audit/"),
    ]


@pytest.mark.parametrize("width", [PHONE["width"], DESKTOP["width"]], ids=["phone", "desktop"])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_every_console_page_passes_axe_and_fits_the_screen(op, chromium, width, locale):
    pages = _console_pages(op)
    context = new_context(chromium, width=width, locale=locale)
    page = context.new_page()
    sign_in_playwright(page, op, make_operator(op, "administrator"))
    for name, path in pages:
        answer = page.goto(f"{op.url}{path}")
        assert answer.status == 200, (path, answer.status)
        assert page.locator("html").get_attribute("lang") == locale
        assert_fits(page, width)
        assert_accessible(page)
        if locale == "en" and width == DESKTOP["width"] and name == "overview":
            screenshot(page, "console-overview")
    context.close()


@pytest.mark.parametrize("width", [PHONE["width"], DESKTOP["width"]], ids=["phone", "desktop"])
def test_the_citizens_security_pages_pass_axe(op, chromium, width):
    citizen = create_user(op)
    context = new_context(chromium, width=width, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{op.url}/login")
    page.fill("input[name=username]", citizen)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    for path in ("/account", "/account/totp", "/account/password"):
        page.goto(f"{op.url}{path}")
        assert_fits(page, width)
        assert_accessible(page)
    if width == PHONE["width"]:
        page.goto(f"{op.url}/account/totp")
        screenshot(page, "account-totp")
    context.close()


def test_bad_input_is_answered_in_the_operators_language_and_nothing_is_made(op, chromium):
    taken = create_user(op)
    context = new_context(chromium, width=DESKTOP["width"], locale="zh-CN")
    page = context.new_page()
    sign_in_playwright(page, op, make_operator(op, "administrator"))
    page.goto(f"{op.url}/admin/citizens/new")
    page.fill("#username", taken)
    page.fill("#name", "重复的人")
    page.fill("#email", "dup@example.cn")
    page.click("main button[type=submit]")
    assert f"用户名 {taken} 已被使用" in page.locator("[role=alert]").inner_text()
    assert page.locator("#name").input_value() == "重复的人"  # the form keeps what was typed

    page.goto(f"{op.url}/admin/services/new")
    page.fill("#name", "不安全的服务")
    page.fill("#redirect_uris", "http://insecure.example/cb")
    page.click("main form button[type=submit]")
    assert "https" in page.locator("[role=alert]").inner_text()
    assert "地址必须使用" in page.locator("[role=alert]").inner_text()

    page.goto(f"{op.url}/admin/pki/issue")
    page.fill("#common_name", "x")
    page.fill("#csr", "not a request")
    page.click("main button[type=submit]")
    assert "这不是证书请求" in page.locator("[role=alert]").inner_text()
    context.close()

    provider = server_provider(op)
    from sqlalchemy import func, select

    from idp.models import Client, User

    with provider.db.read() as session:
        assert session.scalar(select(func.count()).where(User.name == "重复的人")) == 0
        names = [c.metadata_.get("client_name") for c in session.scalars(select(Client))]
    assert "不安全的服务" not in names
