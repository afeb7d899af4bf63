"""The JSON APIs, the public verify page and bad input at the HTTP edge."""

from __future__ import annotations

from io import BytesIO

import pytest
from pades_checks import add_officer, encrypted_pdf
from sqlalchemy import func, select

from signing import departments
from signing.models import Document, Signature


def _post(client, url, data: bytes | None, token: str | None = None, **form):
    if data is not None:
        form["file"] = (BytesIO(data), "in.pdf")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(url, data=form, headers=headers, content_type="multipart/form-data")


def _counts(runtime) -> tuple[int, int]:
    with runtime.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Document)),
            session.scalar(select(func.count()).select_from(Signature)),
        )


def test_a_member_signs_through_the_api_and_anyone_verifies(client, runtime, token, pdf):
    response = _post(client, "/api/v1/sign", pdf, token, department="PSB", level="B-T", stamp="1")
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/pdf"
    document_id = response.headers["OneTrip-Document-Id"]
    assert response.headers["Location"].endswith(f"/verify/{document_id}")

    report = _post(client, "/api/v1/verify", response.data).get_json()
    assert report["ok"]
    assert report["signatures"][0]["level"] == "B-T"
    assert report["signatures"][0]["department"] == {"code": "PSB", "name": "上海市公安局"}
    assert report["onetrip_document"]["id"] == document_id

    page = client.get(f"/verify/{document_id}")
    assert page.status_code == 200
    assert "上海市公安局" in page.get_data(as_text=True)
    checked = _post(client, f"/verify/{document_id}", response.data)
    assert "Every signature is valid" in checked.get_data(as_text=True)


def test_the_public_verify_page_works_without_a_session(client):
    page = client.get("/verify")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.get_data(as_text=True)
    assert "Set-Cookie" not in page.headers


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"hello, not a pdf", "not_pdf"),
        (b"", "not_pdf"),
        ("truncated", "corrupt_pdf"),
        ("encrypted", "encrypted_pdf"),
    ],
)
def test_bad_pdfs_get_a_json_error_and_change_nothing(client, runtime, token, pdf, body, error):
    data = {"truncated": pdf[: len(pdf) // 2], "encrypted": None}.get(body, body)
    if body == "encrypted":
        data = encrypted_pdf(pdf)
    before = _counts(runtime)
    response = _post(client, "/api/v1/sign", data, token, department="PSB")
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert _post(client, "/api/v1/verify", data).get_json()["error"] == error
    assert _counts(runtime) == before


def test_a_pdf_over_the_size_limit_is_refused(client, runtime, token, pdf, monkeypatch):
    import dataclasses

    small = dataclasses.replace(runtime.settings, max_upload_bytes=len(pdf) - 1)
    monkeypatch.setattr(runtime, "settings", small)
    response = _post(client, "/api/v1/sign", pdf, token, department="PSB")
    assert response.status_code == 413
    assert response.get_json()["error"] in ("too_large", "request_too_large")


def test_unknown_department_non_member_and_missing_token_are_refused(client, runtime, token, pdf):
    assert _post(client, "/api/v1/sign", pdf, token, department="NOPE").status_code == 404
    departments.create(runtime, "CUSTOMS", "上海海关")
    refused = _post(client, "/api/v1/sign", pdf, token, department="CUSTOMS")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "not_a_member"
    assert _post(client, "/api/v1/sign", pdf, None, department="PSB").status_code == 401
    assert (
        _post(client, "/api/v1/sign", pdf, token, department="PSB", level="B-X").status_code == 400
    )
    assert _counts(client.application.extensions["onetrip"]) == (0, 0)


def test_a_route_runs_through_the_api(client, runtime, token, pdf):
    departments.create(runtime, "CUSTOMS", "上海海关")
    add_officer(runtime, "CUSTOMS", "zhang.min")
    from idp.tokens import mint_access_token

    customs = mint_access_token(runtime, ["sign"], username="zhang.min")
    created = _post(client, "/api/v1/routes", pdf, token, departments="PSB,CUSTOMS")
    assert created.status_code == 201
    doc = created.get_json()["id"]
    early = _post(client, f"/api/v1/routes/{doc}/approve", None, customs)
    assert early.status_code == 403
    assert _post(client, f"/api/v1/routes/{doc}/approve", None, token).status_code == 200
    done = _post(client, f"/api/v1/routes/{doc}/approve", None, customs).get_json()
    assert done["state"] == "completed"
    final = client.get(
        f"/api/v1/routes/{doc}/document", headers={"Authorization": f"Bearer {customs}"}
    )
    report = _post(client, "/api/v1/verify", final.data).get_json()
    assert report["ok"]
    assert report["signature_count"] == 2


def test_csc_sign_hash_needs_activation_data_for_each_signature(client, token):
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "credentialID": "PSB",
        "SAD": "made-up",
        "hash": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="],
        "signAlgo": "1.2.840.10045.4.3.2",
    }
    refused = client.post("/csc/v1/signatures/signHash", json=body, headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_request"
    authorized = client.post(
        "/csc/v1/credentials/authorize",
        json={"credentialID": "PSB", "numSignatures": 1},
        headers=headers,
    )
    body["SAD"] = authorized.get_json()["SAD"]
    first = client.post("/csc/v1/signatures/signHash", json=body, headers=headers)
    assert first.status_code == 200
    assert len(first.get_json()["signatures"]) == 1
    again = client.post("/csc/v1/signatures/signHash", json=body, headers=headers)
    assert again.status_code == 400  # the activation covered one signature only
    other = client.post(
        "/csc/v1/credentials/info", json={"credentialID": "CUSTOMS"}, headers=headers
    )
    assert other.status_code == 400


def test_another_departments_token_gets_404_for_a_route_it_is_not_on(client, runtime, token, pdf):
    from idp.tokens import mint_access_token

    departments.create(runtime, "TAX", "税务局")
    add_officer(runtime, "TAX", "wang.fang")
    outsider = {
        "Authorization": f"Bearer {mint_access_token(runtime, ['sign'], username='wang.fang')}"
    }
    doc = _post(client, "/api/v1/routes", pdf, token, departments="PSB").get_json()["id"]

    for url in (f"/api/v1/routes/{doc}", f"/api/v1/routes/{doc}/document"):
        hidden = client.get(url, headers=outsider)
        assert hidden.status_code == 404
        assert hidden.get_json()["error"] == "not_found"
    assert (
        client.get(
            f"/api/v1/routes/{doc}", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
