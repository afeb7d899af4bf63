"""The officer's workspace in a real browser (Chromium under Playwright, checked with
axe-core), on a live ``onetrip serve``: a route through three departments approved and
rejected by their officers, a batch signed with a stamp placed by a click, every page at
390 px and 1280 px in zh-CN and en, and bad input answered on the page in the officer's
language. Cross-department refusals are in ``test_workspace_access.py``.

With ``ONETRIP_SCREENSHOTS=docs/screenshots`` the tests also take the README's tour.
"""

from __future__ import annotations

import secrets
from io import BytesIO

import pytest
import requests
from pades_checks import changed_pixels, pdfsig
from playwright.sync_api import expect
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from workspace_support import (
    departments_of,
    live_server,
    make_officer,
    officer_page,
    start_route,
)

from signing.pdfs import make_pdf
from tests.browser import DESKTOP, PHONE, assert_accessible, assert_fits, new_context, screenshot
from tests.idp.oidc_browser import PASSWORD, create_user


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url, pytestconfig):
    yield from live_server(tmp_path_factory, redis_url, pytestconfig)


@pytest.fixture
def desktop(chromium):
    context = new_context(chromium, width=DESKTOP["width"])
    yield context
    context.close()


def _download(page, locator) -> bytes:
    with page.expect_download() as info:
        page.locator(locator).first.click()
    return info.value.path().read_bytes()


def test_three_departments_approve_a_route_in_turn_and_the_final_pdf_verifies(
    server, desktop, tmp_path
):
    a, b, c = departments_of(server, 3)
    sender = make_officer(server, a)
    page = officer_page(desktop, server, sender, "/workspace/routes/new")
    pdf = tmp_path / "permit.pdf"
    pdf.write_bytes(make_pdf(2, "Business permit of Zhang San"))
    page.set_input_files("#file", str(pdf))
    page.fill("#subject", "Business permit, Zhang San")
    for n, code in enumerate((a, b, c), start=1):
        page.select_option(f"#step{n}", code)
    citizen = create_user(server, name="Zhang San")
    page.fill("#citizen", citizen)
    page.fill("#deadline", "2099-12-31")
    page.fill("#note", "Urgent: the shop opens next month.")
    page.click("main button[type=submit]")
    page.wait_for_url("**/workspace/routes/*")
    assert "流转" not in page.content()  # the officer's language (en) throughout
    assert page.locator("#route-state").inner_text() == "routing"
    document_id = page.url.rsplit("/", 1)[1]
    page.context.clear_cookies()

    officers = {a: sender, b: make_officer(server, b), c: make_officer(server, c)}
    for n, code in enumerate((a, b, c), start=1):
        officer = officers[code]
        page = officer_page(desktop, server, officer, f"/workspace/{code}/")
        row = page.locator("tr", has_text="Business permit, Zhang San")
        assert f"{n} of 3" in row.inner_text()
        assert sender in row.inner_text() and "2099-12-31" in row.inner_text()
        if n == 2:
            screenshot(page, "workspace-inbox")
        row.get_by_role("link").click()
        expect(page.locator(".previews img")).to_have_count(2)
        if n == 2:
            screenshot(page, "workspace-route")
        page.fill("#approve-reason", f"checked by {code}")
        if n == 1:  # the first department places the route's stamps on the last page
            spot = page.locator("#spot")
            height = spot.bounding_box()["height"]
            spot.click(position={"x": 170, "y": 200})
        else:
            assert page.locator("#spot").count() == 0  # the stamps' places are laid out
            page.get_by_role("button", name="Approve and seal").click()
        assert "Approved and sealed" in page.locator("[role=status]").inner_text()
        steps = page.locator("ol.steps li").all_inner_texts()
        assert officer in steps[n - 1] and "signed" in steps[n - 1]
        page.context.clear_cookies()

    page = officer_page(desktop, server, sender, f"/workspace/routes/{document_id}")
    assert page.locator("#route-state").inner_text() == "completed"
    signed = _download(page, "text=Download the PDF")
    out = pdfsig(signed, tmp_path)
    assert out.count("Signature Validation: Signature is Valid.") == 3
    # pyHanko: the first stamp is centred where the click was (A4, 595 x 842), the next
    # departments' beneath it, one stamp (64 pt) and a gap (12 pt) apart.
    fields = PdfFileReader(BytesIO(signed)).embedded_regular_signatures
    centres = [
        ((x1 + x2) / 2, (y1 + y2) / 2)
        for x1, y1, x2, y2 in ([float(v) for v in f.sig_field["/Rect"]] for f in fields)
    ]
    want_x, want_y = 170 / 340 * 595, (1 - 200 / height) * 842
    for n, (x, y) in enumerate(centres):
        assert abs(x - want_x) < 3 and abs(y - (want_y - n * 76)) < 3, (n, x, y)
    report = _download(page, "text=Download the verification report (XML)")
    assert report.count(b"urn:etsi:019102:mainindication:total-passed") == 3

    page.context.clear_cookies()
    page = officer_page(desktop, server, officers[b], f"/workspace/{b}/history?q=Zhang")
    row = page.locator("tr", has_text="Business permit, Zhang San")
    assert "approved" in row.inner_text()
    assert row.get_by_role("link", name=f"/verify/{document_id[:8]}…").count() == 1
    screenshot(page, "workspace-history")
    page.context.clear_cookies()

    # The citizen it concerns follows it on the account page.
    page = desktop.new_page()
    page.goto(f"{server.url}/login")
    page.fill("input[name=username]", citizen)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/account")
    entry = page.locator("ul.routes li", has_text="Business permit, Zhang San")
    assert "completed" in entry.inner_text()
    assert_accessible(page)


def test_an_officer_rejects_with_a_reason_and_the_route_ends_there(server, desktop):
    from config.audit import AuditEvent  # the audit log's own table

    a, b, c = departments_of(server, 3)
    sender = make_officer(server, a)
    document_id = start_route(server, sender, [a, b, c], subject="Residence certificate")
    page = officer_page(desktop, server, sender, f"/workspace/routes/{document_id}")
    page.get_by_role("button", name="Approve and seal").click()
    page.context.clear_cookies()

    officer = make_officer(server, b)
    page = officer_page(desktop, server, officer, f"/workspace/routes/{document_id}")
    page.get_by_role("button", name="Reject").click()  # no reason yet
    assert "needs a reason" in page.locator("[role=alert]").inner_text()
    assert page.locator("#route-state").inner_text() == "routing"
    page.fill("#reject-reason", "The applicant's address is missing.")
    page.get_by_role("button", name="Reject").click()
    assert "Rejected" in page.locator("[role=status]").inner_text()
    assert page.locator("#route-state").inner_text() == "rejected"
    steps = page.locator("ol.steps li").all_inner_texts()
    assert "rejected" in steps[1] and "The applicant's address is missing." in steps[1]
    assert "pending" in steps[2]
    assert page.get_by_role("button", name="Approve and seal").count() == 0
    page.context.clear_cookies()

    # The third department never gets it; the rejection is in its department's history.
    page = officer_page(desktop, server, make_officer(server, c), f"/workspace/{c}/")
    assert page.locator("tr", has_text="Residence certificate").count() == 0
    page.goto(f"{server.url}/workspace/{b}/history")
    page.context.clear_cookies()
    runtime = server.runtime
    runtime.audit.flush()
    with runtime.db.read() as session:
        events = session.scalars(
            select(AuditEvent.event).where(AuditEvent.subject == document_id)
        ).all()
    assert "signing.route.approve" in events and "signing.route.reject" in events


def test_a_batch_is_signed_with_the_stamp_where_the_officer_clicked(server, desktop, tmp_path):
    (code,) = departments_of(server, 1)
    officer = make_officer(server, code)
    page = officer_page(desktop, server, officer, f"/workspace/{code}/sign")
    originals = [make_pdf(1, f"Certificate {n}") for n in range(3)]
    paths = []
    for n, data in enumerate(originals):
        paths.append(tmp_path / f"certificate-{n}.pdf")
        paths[-1].write_bytes(data)
    page.set_input_files("#files", [str(p) for p in paths])
    page.select_option("#level", "B-T")
    page.click("main button[type=submit]")
    page.wait_for_url("**/place")
    spot = page.locator("#spot")
    box = spot.bounding_box()
    assert round(box["width"]) == 340
    screenshot(page, "workspace-place")
    x, y = 85, 120  # a quarter across, a quarter down
    spot.click(position={"x": x, "y": y})
    page.wait_for_url("**/batches/*")
    expect(page.locator("#progress")).to_contain_text("3 of 3", timeout=60_000)
    assert "finished" in page.locator("#progress").inner_text()
    screenshot(page, "workspace-batch")
    links = page.get_by_role("link", name="Download certificate-")
    assert links.count() == 3
    for n in range(3):
        with page.expect_download() as info:
            links.nth(n).click()
        signed = info.value.path().read_bytes()
        assert pdfsig(signed, tmp_path).count("Signature Validation: Signature is Valid.") == 1
        # pyHanko: the stamp's field is centred where the click was, on a 595 x 842 page.
        sig = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
        x1, y1, x2, y2 = (float(v) for v in sig.sig_field["/Rect"])
        height = box["height"]
        assert abs((x1 + x2) / 2 - x / 340 * 595) < 3
        assert abs((y1 + y2) / 2 - (1 - y / height) * 842) < 3
        # And on the rendered page: the pixels that changed are around that point.
        (left, top, right, bottom), (width, tall) = changed_pixels(
            originals[n], signed, tmp_path, 36
        )
        assert left < x / 340 * width < right and top < y / height * tall < bottom


def test_bad_input_is_answered_on_the_page_in_the_officers_language(server, chromium, tmp_path):
    (code,) = departments_of(server, 1)
    officer = make_officer(server, code)
    context = new_context(chromium, width=PHONE["width"], locale="zh-CN")
    page = officer_page(context, server, officer, f"/workspace/{code}/sign")
    fake = tmp_path / "photo.pdf"
    fake.write_bytes(b"\x89PNG not a pdf at all")
    good = tmp_path / "good.pdf"
    good.write_bytes(make_pdf(1))
    page.set_input_files("#files", [str(good), str(fake)])
    page.click("main button[type=submit]")
    alert = page.locator("[role=alert]").inner_text()
    assert "photo.pdf" in alert and "此文件不是 PDF" in alert
    assert_accessible(page)

    page.goto(f"{server.url}/workspace/routes/new")
    page.set_input_files("#file", str(good))
    page.fill("#subject", "没有部门的流转")
    page.click("main button[type=submit]")
    assert "请至少选择一个部门" in page.locator("[role=alert]").inner_text()
    assert page.locator("#subject").input_value() == "没有部门的流转"  # kept as typed
    page.select_option("#step1", code)
    page.select_option("#step2", code)
    page.set_input_files("#file", str(good))
    page.click("main button[type=submit]")
    assert "同一部门在路线中出现了两次" in page.locator("[role=alert]").inner_text()
    page.select_option("#step2", "")
    page.fill("#citizen", "nobody-" + secrets.token_hex(3))
    page.set_input_files("#file", str(good))
    page.click("main button[type=submit]")
    assert "没有账户" in page.locator("[role=alert]").inner_text()
    context.close()

    from signing.models import Document

    with server.runtime.db.read() as session:
        made = session.scalars(select(Document.id).where(Document.created_by_name == officer))
        assert made.all() == []


def _pages(server, desktop, tmp_path) -> tuple[str, list[tuple[str, str]]]:
    """An officer, and (name, path) of every workspace page with real objects to show."""
    a, b = departments_of(server, 2)
    officer = make_officer(server, a, role="admin")
    make_officer(server, a)
    document_id = start_route(server, officer, [a, b], subject="Marriage registration")
    page = officer_page(desktop, server, officer, f"/workspace/{a}/sign")
    file = tmp_path / "pages.pdf"
    file.write_bytes(make_pdf(1))
    page.set_input_files("#files", str(file))
    page.click("main button[type=submit]")
    page.wait_for_url("**/place")
    place = page.url.removeprefix(server.url)
    page.get_by_role("button", name="Put it at the usual place").click()
    page.wait_for_url("**/batches/*")
    batch = page.url.removeprefix(server.url)
    page.context.clear_cookies()
    return officer, [
        ("inbox", f"/workspace/{a}/"),
        ("route", f"/workspace/routes/{document_id}"),
        ("history", f"/workspace/{a}/history"),
        ("sign", f"/workspace/{a}/sign"),
        ("place", place),
        ("batch", batch),
        ("start", "/workspace/routes/new"),
        ("sent", "/workspace/routes/"),
        ("members", f"/workspace/{a}/members"),
    ]


@pytest.mark.parametrize("width", [PHONE["width"], DESKTOP["width"]], ids=["phone", "desktop"])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_every_workspace_page_passes_axe_and_fits_the_screen(
    server, chromium, desktop, tmp_path, width, locale
):
    officer, pages = _pages(server, desktop, tmp_path)
    context = new_context(chromium, width=width, locale=locale)
    page = officer_page(context, server, officer, pages[0][1])
    for name, path in pages:
        answer = page.goto(f"{server.url}{path}")
        assert answer.status == 200, (path, answer.status)
        assert page.locator("html").get_attribute("lang") == locale
        assert_fits(page, width)
        assert_accessible(page)
        if locale == "zh-CN" and width == PHONE["width"] and name == "inbox":
            screenshot(page, "workspace-inbox-phone-zh")
    context.close()


def test_the_workspace_asks_for_the_ordinary_login_first(server, browser_context):
    page = browser_context.new_page()
    page.goto(f"{server.url}/workspace/")
    assert "/login" in page.url
    assert (
        requests.get(f"{server.url}/workspace/", allow_redirects=False, timeout=10).status_code
        == 302
    )
