"""Routes: departments approve in order, the first certifies, the finished PDF is B-LTA."""

from __future__ import annotations

from io import BytesIO

import pytest
from pades_checks import add_officer, embedded_only_context, pdfsig, validate
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from sqlalchemy import select

from config.audit import AuditEvent
from signing import departments, routes, service
from signing.departments import DepartmentError


@pytest.fixture
def two_departments(runtime, psb, officer) -> tuple[str, str]:
    departments.create(runtime, "CUSTOMS", "上海海关", "Shanghai Customs")
    return officer, add_officer(runtime, "CUSTOMS", "zhang.min")


def test_two_departments_in_a_route_give_two_valid_signatures(
    runtime, two_departments, pdf, root, tmp_path
):
    psb_officer, customs_officer = two_departments
    route = routes.create(
        runtime, pdf, ["PSB", "CUSTOMS"], filename="permit.pdf", user_id=None, stamp=True
    )
    doc = route["id"]
    assert route["state"] == "routing"
    assert route["current_step"] == 0

    after_first = routes.approve(runtime, doc, psb_officer, reason="identity checked")
    assert after_first["current_step"] == 1
    final = routes.approve(runtime, doc, customs_officer)
    assert final["state"] == "completed"
    assert [s["state"] for s in final["steps"]] == ["signed", "signed"]
    assert [s["by"] for s in final["steps"]] == [psb_officer, customs_officer]

    signed = routes.document_bytes(runtime, doc)
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
    assert events == ["signing.route.create", "signing.route.approve", "signing.route.approve"]


def test_a_non_member_cannot_approve_and_nothing_changes(runtime, two_departments, pdf):
    _psb_officer, customs_officer = two_departments
    doc = routes.create(runtime, pdf, ["PSB", "CUSTOMS"], filename="a.pdf", user_id=None)["id"]
    before = routes.document_bytes(runtime, doc)

    with pytest.raises(DepartmentError) as refused:
        routes.approve(runtime, doc, customs_officer)
    assert refused.value.code == "not_a_member"
    status = routes.status(runtime, doc)
    assert status["current_step"] == 0
    assert [s["state"] for s in status["steps"]] == ["pending", "pending"]
    assert routes.document_bytes(runtime, doc) == before


def test_a_rejection_with_a_reason_ends_the_route(runtime, two_departments, pdf):
    psb_officer, _ = two_departments
    doc = routes.create(runtime, pdf, ["PSB", "CUSTOMS"], filename="a.pdf", user_id=None)["id"]

    with pytest.raises(DepartmentError):
        routes.reject(runtime, doc, psb_officer, "  ")
    status = routes.reject(runtime, doc, psb_officer, "photo does not match")
    assert status["state"] == "rejected"
    assert status["steps"][0]["reason"] == "photo does not match"
    with pytest.raises(DepartmentError) as closed:
        routes.approve(runtime, doc, psb_officer)
    assert closed.value.status == 409
