"""Routes: departments approve in order, the first certifies, the finished PDF is B-LTA."""

from __future__ import annotations

from io import BytesIO

import pytest
from pades_checks import add_officer, add_user, caller, embedded_only_context, pdfsig, validate
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from sqlalchemy import select

from config.audit import AuditEvent
from signing import departments, routes, service
from signing.departments import DepartmentError
from signing.routes import Caller


@pytest.fixture
def two_departments(runtime, psb, officer) -> tuple[Caller, Caller]:
    departments.create(runtime, "CUSTOMS", "上海海关", "Shanghai Customs")
    add_officer(runtime, "CUSTOMS", "zhang.min")
    return caller(runtime, officer), caller(runtime, "zhang.min")


def test_two_departments_in_a_route_give_two_valid_signatures(
    runtime, two_departments, pdf, root, tmp_path
):
    psb_officer, customs_officer = two_departments
    route = routes.create(
        runtime, pdf, ["PSB", "CUSTOMS"], filename="permit.pdf", caller=psb_officer, stamp=True
    )
    doc = route["id"]
    assert route["state"] == "routing"
    assert route["current_step"] == 0

    after_first = routes.approve(runtime, doc, psb_officer, reason="identity checked")
    assert after_first["current_step"] == 1
    final = routes.approve(runtime, doc, customs_officer)
    assert final["state"] == "completed"
    assert [s["state"] for s in final["steps"]] == ["signed", "signed"]
    assert [s["by"] for s in final["steps"]] == ["li.wei", "zhang.min"]

    signed = routes.document_bytes(runtime, doc, customs_officer)
    widgets = {
        name: [float(v) for v in ref.get_object()["/Rect"]]
        for name, _, ref in fields.enumerate_sig_fields(PdfFileReader(BytesIO(signed)))
        if name.startswith("OneTrip_")
    }
    assert sorted(widgets) == ["OneTrip_step1_PSB", "OneTrip_step2_CUSTOMS"]
    assert all(rect[2] > rect[0] and rect[3] > rect[1] for rect in widgets.values())  # visible
    statuses = validate(signed, lambda reader: embedded_only_context(reader, root))
    assert len(statuses) == 3  # two signatures and the closing document time-stamp
    assert all(s.valid and s.intact and s.trusted for s in statuses)
    out = pdfsig(signed, tmp_path)
    assert out.count("Signature Validation: Signature is Valid.") == 2

    report = service.verify(runtime, signed)
    assert report["ok"]
    kinds = [(s["type"], s.get("level")) for s in report["signatures"]]
    assert kinds[:2] == [("certification", "B-LTA"), ("approval", "B-LTA")]
    assert [s["department"]["code"] for s in report["signatures"][:2]] == ["PSB", "CUSTOMS"]
    with runtime.db.read() as session:
        events = (
            session.execute(
                select(AuditEvent.event).where(AuditEvent.subject == doc).order_by(AuditEvent.seq)
            )
            .scalars()
            .all()
        )
    assert events == [
        "signing.route.create",
        "signing.route.approve",
        "signing.route.approve",
        "signing.route.read",
    ]


def test_a_non_member_cannot_approve_and_nothing_changes(runtime, two_departments, pdf):
    psb_officer, customs_officer = two_departments
    doc = routes.create(runtime, pdf, ["PSB", "CUSTOMS"], filename="a.pdf", caller=psb_officer)
    doc = doc["id"]
    before = routes.document_bytes(runtime, doc, psb_officer)

    with pytest.raises(DepartmentError) as refused:
        routes.approve(runtime, doc, customs_officer)
    assert refused.value.error == "not_a_member"
    status = routes.status(runtime, doc, customs_officer)
    assert status["current_step"] == 0
    assert [s["state"] for s in status["steps"]] == ["pending", "pending"]
    assert routes.document_bytes(runtime, doc, psb_officer) == before


def test_a_rejection_with_a_reason_ends_the_route(runtime, two_departments, pdf):
    psb_officer, _ = two_departments
    doc = routes.create(runtime, pdf, ["PSB", "CUSTOMS"], filename="a.pdf", caller=psb_officer)
    doc = doc["id"]

    with pytest.raises(DepartmentError):
        routes.reject(runtime, doc, psb_officer, "  ")
    status = routes.reject(runtime, doc, psb_officer, "photo does not match")
    assert status["state"] == "rejected"
    assert status["steps"][0]["reason"] == "photo does not match"
    with pytest.raises(DepartmentError) as closed:
        routes.approve(runtime, doc, psb_officer)
    assert closed.value.status == 409


def test_a_route_is_hidden_from_everyone_but_its_creator_members_and_citizen(
    runtime, two_departments, pdf
):
    psb_officer, customs_officer = two_departments
    departments.create(runtime, "TAX", "税务局")
    add_officer(runtime, "TAX", "wang.fang")  # a signing officer, but not of this route
    outsider = caller(runtime, "wang.fang")
    add_user(runtime, "clerk")
    add_user(runtime, "zhang.san")
    creator, citizen = caller(runtime, "clerk"), caller(runtime, "zhang.san")
    doc = routes.create(
        runtime, pdf, ["PSB", "CUSTOMS"], filename="zhang-san-permit.pdf",
        caller=creator, citizen_id=citizen.user_id,
    )["id"]  # fmt: skip

    for reader in (creator, citizen, psb_officer, customs_officer):
        assert routes.status(runtime, doc, reader)["id"] == doc
        assert routes.document_bytes(runtime, doc, reader) == pdf
    for stranger in (outsider, Caller(None, None, "a-client-without-a-user")):
        for attempt in (
            lambda s=stranger: routes.status(runtime, doc, s),
            lambda s=stranger: routes.document_bytes(runtime, doc, s),
            lambda s=stranger: routes.approve(runtime, doc, s),
            lambda s=stranger: routes.reject(runtime, doc, s, "no"),
        ):
            with pytest.raises(DepartmentError) as hidden:
                attempt()
            assert (hidden.value.status, hidden.value.error) == (404, "not_found")
    with runtime.db.read() as session:
        reads = session.execute(
            select(AuditEvent.actor, AuditEvent.details)
            .where(AuditEvent.subject == doc, AuditEvent.event == "signing.route.read")
            .order_by(AuditEvent.seq)
        ).all()
    assert [actor for actor, _ in reads] == [
        name for name in ("clerk", "zhang.san", "li.wei", "zhang.min") for _ in range(2)
    ]
