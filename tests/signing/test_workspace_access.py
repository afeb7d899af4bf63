"""Who may see and do what in the officer's workspace: an officer of one department sees
nothing of another's, acts only at the department's own step, and every form needs the
session's CSRF token. Driven over HTTP like a browser (cookies, forms, redirects), on a
live ``onetrip serve``; each refusal is checked to have changed nothing.
"""

from __future__ import annotations

import time
from io import BytesIO

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from workspace_support import departments_of, live_server, make_officer, start_route

from idp.users import find_user
from signing import departments, routes, service
from signing.models import Document, RouteStep
from signing.pdfs import make_pdf
from signing.routes import Caller
from tests.idp.oidc_browser import Browser, create_user
from tests.idp.operators import csrf_of


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_url, pytestconfig):
    yield from live_server(tmp_path_factory, redis_url, pytestconfig)


def _browser(server, username: str) -> Browser:
    browser = Browser(server)
    browser.sign_in(username)
    return browser


def _post(browser: Browser, path: str, data: dict, *, csrf_from: str | None = None, **kw):
    """POST a workspace form, with the CSRF token of page ``csrf_from`` (if named)."""
    body = dict(data)
    if csrf_from:
        body["csrf_token"] = csrf_of(browser.get(f"{browser.server.url}{csrf_from}").text)
    return browser.http.post(
        f"{browser.server.url}{path}", data=body, allow_redirects=False, timeout=60, **kw
    )


def _route_state(server, document_id: str) -> tuple:
    with server.runtime.db.read() as session:
        doc = session.get(Document, document_id)
        steps = session.scalars(
            select(RouteStep.state)
            .where(RouteStep.document_id == document_id)
            .order_by(RouteStep.position)
        ).all()
        return doc.state, doc.current_step, doc.blob_sha256, tuple(steps)


def test_an_officer_sees_nothing_of_another_departments_pages(server):
    a, b = departments_of(server, 2)
    mine = _browser(server, make_officer(server, a))
    for path in (f"/workspace/{b}/", f"/workspace/{b}/history", f"/workspace/{b}/sign"):
        answer = mine.get(f"{server.url}{path}")
        assert answer.status_code == 404, path
    inbox = mine.get(f"{server.url}/workspace/{a}/")
    assert inbox.status_code == 200
    assert "script-src" not in inbox.headers["Content-Security-Policy"]  # none at all
    assert "default-src 'none'" in inbox.headers["Content-Security-Policy"]
    files = {"files": ("x.pdf", make_pdf(1), "application/pdf")}
    answer = _post(mine, f"/workspace/{b}/sign", {}, csrf_from=f"/workspace/{a}/sign", files=files)
    assert answer.status_code == 404


def test_a_route_without_my_department_does_not_exist_for_me(server):
    a, b, c = departments_of(server, 3)
    mine = _browser(server, make_officer(server, a))
    theirs = make_officer(server, b)
    document_id = start_route(server, theirs, [b, c], subject="Adoption file of Wang Xiu")
    before = _route_state(server, document_id)
    base = f"/workspace/routes/{document_id}"
    for path in (base, f"{base}/pages/0.png", f"{base}/document.pdf", f"{base}/report.xml"):
        answer = mine.get(f"{server.url}{path}")
        assert answer.status_code == 404, path
        assert "Wang Xiu" not in answer.text
    for action in ("approve", "reject"):
        answer = _post(
            mine, f"{base}/{action}", {"reason": "mine now"}, csrf_from=f"/workspace/{a}/sign"
        )
        assert answer.status_code == 404, action
        assert "Wang Xiu" not in answer.text
    assert _route_state(server, document_id) == before
    # Its own officers see it in their inbox; mine does not.
    assert "Wang Xiu" in _browser(server, theirs).get(f"{server.url}/workspace/{b}/").text
    assert "Wang Xiu" not in mine.get(f"{server.url}/workspace/{a}/").text


def test_an_officer_acts_only_at_the_departments_own_step(server):
    a, b = departments_of(server, 2)
    first = make_officer(server, a)
    document_id = start_route(server, first, [a, b], subject="Land use permit")
    mine = _browser(server, first)
    base = f"/workspace/routes/{document_id}"
    answer = _post(mine, f"{base}/approve", {}, csrf_from=base)
    assert answer.status_code == 302
    before = _route_state(server, document_id)
    assert before[1] == 1  # now the second department's turn

    page = mine.get(f"{server.url}{base}")
    assert page.status_code == 200 and "Approve and seal" not in page.text
    for action in ("approve", "reject"):
        answer = _post(
            mine, f"{base}/{action}", {"reason": "again"}, csrf_from=f"/workspace/{a}/sign"
        )
        assert answer.status_code == 403, action
        assert "You are not a member of this department." in answer.text
    assert _route_state(server, document_id) == before


def test_every_workspace_form_needs_the_sessions_csrf_token(server):
    a, b = departments_of(server, 2)
    officer = make_officer(server, a)
    document_id = start_route(server, officer, [a, b], subject="Pension claim")
    before = _route_state(server, document_id)
    mine = _browser(server, officer)
    mine.get(f"{server.url}/workspace/{a}/")  # the session has a token; the forms omit it
    base = f"/workspace/routes/{document_id}"
    pdf = {"files": ("x.pdf", make_pdf(1), "application/pdf")}
    route_pdf = {"file": ("x.pdf", make_pdf(1), "application/pdf")}
    for path, data, files in (
        (f"{base}/approve", {}, None),
        (f"{base}/reject", {"reason": "no"}, None),
        (f"/workspace/{a}/sign", {}, pdf),
        ("/workspace/routes/new", {"step1": a}, route_pdf),
    ):
        answer = _post(mine, path, {**data, "csrf_token": "forged"}, files=files)
        assert answer.status_code == 400, path
    assert _route_state(server, document_id) == before
    with server.runtime.db.read() as session:
        made = session.scalars(select(Document.id).where(Document.created_by_name == officer))
        assert made.all() == [document_id]


def test_a_batch_is_its_officers_alone(server):
    (a,) = departments_of(server, 1)
    owner, colleague = make_officer(server, a), make_officer(server, a)
    mine = _browser(server, owner)
    files = {"files": ("leave.pdf", make_pdf(1), "application/pdf")}
    answer = _post(mine, f"/workspace/{a}/sign", {}, csrf_from=f"/workspace/{a}/sign", files=files)
    assert answer.status_code == 302
    batch_path = answer.headers["Location"].removeprefix(server.url)
    assert mine.get(f"{server.url}{batch_path}").status_code == 200
    other = _browser(server, colleague)
    assert other.get(f"{server.url}{batch_path}").status_code == 404
    assert other.get(f"{server.url}{batch_path}/0.pdf").status_code == 404


def test_history_lists_only_the_departments_own_signatures(server):
    a, b = departments_of(server, 2)
    theirs = make_officer(server, b)
    _signed, document_id = service.sign(
        server.runtime, make_pdf(1), b, level="B-B", filename="tax-return.pdf", actor=theirs
    )
    mine = _browser(server, make_officer(server, a))
    page = mine.get(f"{server.url}/workspace/{a}/history?q={document_id}")
    assert page.status_code == 200 and "tax-return" not in page.text
    assert "Entries: 0" in page.text
    page = _browser(server, theirs).get(f"{server.url}/workspace/{b}/history?q={document_id}")
    assert "tax-return" in page.text and f"/verify/{document_id}" in page.text


def test_an_account_without_a_membership_gets_no_workspace_and_a_removed_officer_loses_it(
    server,
):
    citizen = _browser(server, create_user(server))
    answer = citizen.get(f"{server.url}/workspace/")
    assert answer.status_code == 403
    assert "not an officer of any department" in answer.text

    (a,) = departments_of(server, 1)
    officer = make_officer(server, a)
    mine = _browser(server, officer)
    assert mine.get(f"{server.url}/workspace/{a}/").status_code == 200
    departments.remove_member(server.runtime, a, officer, actor="test")
    assert mine.get(f"{server.url}/workspace/{a}/").status_code == 403


def test_only_a_department_administrator_names_its_officers(server):
    (a,) = departments_of(server, 1)
    admin, officer = make_officer(server, a, role="admin"), make_officer(server, a)
    newcomer = create_user(server)
    plain = _browser(server, officer)
    members = f"/workspace/{a}/members"
    assert admin in plain.get(f"{server.url}{members}").text  # every member sees who
    for path, data in (
        (members, {"username": newcomer, "role": "officer"}),
        (f"{members}/{admin}/remove", {}),
    ):
        answer = _post(plain, path, data, csrf_from=f"/workspace/{a}/sign")
        assert answer.status_code == 403, path
        assert "Only a department administrator may do this." in answer.text
    names = {m["username"]: m["role"] for m in departments.members(server.runtime, a)}
    assert names == {admin: "admin", officer: "officer"}

    boss = _browser(server, admin)
    answer = _post(boss, members, {"username": newcomer, "role": "officer"}, csrf_from=members)
    assert answer.status_code == 302
    _post(boss, members, {"username": officer, "role": "admin"}, csrf_from=members)
    answer = _post(boss, f"{members}/{admin}/remove", {}, csrf_from=members)
    assert answer.status_code == 400 and "your own membership" in answer.text
    answer = _post(boss, members, {"username": "nobody-here", "role": "admin"}, csrf_from=members)
    assert answer.status_code == 400 and "There is no account nobody-here." in answer.text
    _post(boss, f"{members}/{newcomer}/remove", {}, csrf_from=members)
    names = {m["username"]: m["role"] for m in departments.members(server.runtime, a)}
    assert names == {admin: "admin", officer: "admin"}

    from config.audit import AuditEvent

    server.runtime.audit.flush()
    with server.runtime.db.read() as session:
        rows = session.execute(
            select(AuditEvent.event, AuditEvent.actor).where(AuditEvent.subject == a)
        ).all()
    assert ("signing.department.add_member", admin) in rows
    assert ("signing.department.set_role", admin) in rows
    assert ("signing.department.remove_member", admin) in rows


def _tampered(server, code: str) -> bytes:
    """A PDF signed by ``code`` whose signed bytes were changed afterwards."""
    signed, _ = service.sign(server.runtime, make_pdf(1), code, level="B-B")
    return signed.replace(b"page 1 of 1", b"page 7 of 1", 1)


def test_the_pages_refuse_to_sign_on_top_of_a_broken_signature(server):
    a, b = departments_of(server, 2)
    officer = make_officer(server, a)
    mine = _browser(server, officer)
    with server.runtime.db.read() as session:
        user_id = find_user(session, officer).id
    document_id = routes.create(
        server.runtime,
        _tampered(server, b),
        [a],
        filename="altered.pdf",
        caller=Caller(user_id, officer),
        subject="Altered deed",
    )["id"]
    before = _route_state(server, document_id)
    base = f"/workspace/routes/{document_id}"
    answer = _post(mine, f"{base}/approve", {}, csrf_from=base)
    assert answer.status_code == 400
    assert "A signature in this PDF is broken" in answer.text
    assert _route_state(server, document_id) == before

    # In a batch, the broken file is refused and reported; the good one is signed.
    files = [
        ("files", ("good.pdf", make_pdf(1), "application/pdf")),
        ("files", ("altered.pdf", _tampered(server, b), "application/pdf")),
    ]
    answer = _post(mine, f"/workspace/{a}/sign", {}, csrf_from=f"/workspace/{a}/sign", files=files)
    assert answer.status_code == 302
    batch = answer.headers["Location"]
    for _ in range(120):
        page = mine.get(f"{server.url}{batch.removeprefix(server.url)}").text
        if "2 of 2 files done" in page:
            break
        time.sleep(0.5)
    assert "2 of 2 files done" in page
    assert "A signature in this PDF is broken" in page
    assert page.count("Download good.pdf") == 1 and "Download altered.pdf" not in page


def test_a_stamp_can_be_placed_on_any_page_of_the_first_document(server):
    (a,) = departments_of(server, 1)
    mine = _browser(server, make_officer(server, a))
    files = {"files": ("three.pdf", make_pdf(3), "application/pdf")}
    data = {"stamp": "on"}
    answer = _post(
        mine, f"/workspace/{a}/sign", data, csrf_from=f"/workspace/{a}/sign", files=files
    )
    place = answer.headers["Location"].removeprefix(server.url)
    assert place.endswith("/place")
    page = mine.get(f"{server.url}{place}?page=1").text
    assert "Page 2 of 3" in page and "/pages/1.png" in page
    assert mine.get(f"{server.url}{place.removesuffix('place')}pages/1.png").status_code == 200
    assert mine.get(f"{server.url}{place.removesuffix('place')}pages/3.png").status_code == 404
    spot = {"page": "1", "spot.x": "170", "spot.y": "240"}
    answer = _post(mine, place, spot, csrf_from=place)
    assert answer.status_code == 302
    batch = answer.headers["Location"].removeprefix(server.url)
    for _ in range(120):
        if "1 of 1 files done" in mine.get(f"{server.url}{batch}").text:
            break
        time.sleep(0.5)
    signed = mine.get(f"{server.url}{batch}/0.pdf").content
    reader = PdfFileReader(BytesIO(signed))
    field = reader.embedded_signatures[0].sig_field
    second = reader.root["/Pages"]["/Kids"][1].get_object()
    assert field["/P"].get_object() == second
    # Placed again on the same batch: it signs once only.
    assert _post(mine, place, spot, csrf_from=f"/workspace/{a}/sign").status_code == 302
    assert "1 of 1 files done" in mine.get(f"{server.url}{batch}").text


def test_hostile_input_is_refused_with_a_4xx_and_changes_nothing(server):
    a, b = departments_of(server, 2)
    officer = make_officer(server, a)
    mine = _browser(server, officer)
    document_id = start_route(server, officer, [a, b], subject="Hostile")
    before = _route_state(server, document_id)
    base = f"/workspace/routes/{document_id}"
    sign = f"/workspace/{a}/sign"
    for path in (
        f"{base}/pages/99999999999999999999.png",
        f"{base}/pages/7.png",
        f"/workspace/routes/{'x' * 500}",
        f"/workspace/{a}/batches/../../etc/passwd",
        f"/workspace/{a}/batches/%00%ff/place",
        f"/workspace/{a}/history?q={'%' * 300}&page=-3",
        f"/workspace/{a}/?page=99999999999",
        f"/workspace/{'Ω' * 40}/",
    ):
        answer = mine.get(f"{server.url}{path}")
        assert 200 <= answer.status_code < 500 and answer.status_code != 500, path
    pdf = ("x.pdf", make_pdf(1), "application/pdf")
    for path, data, files in (
        (f"{base}/approve", {"spot.x": "99999999", "spot.y": "1"}, None),
        (f"{base}/approve", {"spot.x": "-1", "spot.y": "abc"}, None),
        (f"{base}/reject", {"reason": "x" * 5000}, None),
        (sign, {"level": "B-ZZ"}, {"files": pdf}),
        (sign, {}, {"files": ("empty.pdf", b"", "application/pdf")}),
        (sign, {}, {"files": ("x.pdf", b"%PDF-1.7\n" + b"[" * 100_000 + b"\n%%EOF", "x")}),
        ("/workspace/routes/new", {"step1": a, "deadline": "2026-13-45"}, {"file": pdf}),
        ("/workspace/routes/new", {"step1": a, "deadline": "1999-01-01"}, {"file": pdf}),
        ("/workspace/routes/new", {"step1": "NO-SUCH"}, {"file": pdf}),
        ("/workspace/routes/new", {"step1": a, "subject": "s" * 300}, {"file": pdf}),
        (f"/workspace/{a}/members", {"username": "x", "role": "root"}, None),
    ):
        answer = _post(mine, path, data, csrf_from=sign, files=files)
        assert 400 <= answer.status_code < 500, (path, data, answer.status_code)
        assert 'role="alert"' in answer.text or "Not possible" in answer.text, (path, data)
    assert _route_state(server, document_id) == before
    with server.runtime.db.read() as session:
        made = session.scalars(select(Document.id).where(Document.created_by_name == officer))
        assert made.all() == [document_id]
