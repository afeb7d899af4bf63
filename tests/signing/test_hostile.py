"""Hostile input at the signing endpoints: a clear 4xx, quickly, never a 500 or a hang."""

from __future__ import annotations

from io import BytesIO

import pytest
from hostile_pdfs import bad_byte_range, many_pages, nested_arrays, without_root

from signing import service

HOSTILE = {
    "no-root": lambda signed: without_root(),
    "50000-nested-arrays": lambda signed: nested_arrays(),
    "20000-pages": lambda signed: many_pages(),
    "bad-byterange": bad_byte_range,
}


@pytest.fixture
def signed(runtime, psb, pdf) -> bytes:
    return service.sign(runtime, pdf, psb, level="B-B")[0]


def _post(client, url, data: bytes, token=None, **form):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    form["file"] = (BytesIO(data), "in.pdf")
    return client.post(url, data=form, headers=headers, content_type="multipart/form-data")


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_pdf_gets_a_clear_4xx_at_every_endpoint(client, token, signed, kind):
    data = HOSTILE[kind](signed)
    for url, extra in (
        ("/api/v1/verify", {}),
        ("/api/v1/sign", {"token": token, "department": "PSB"}),
    ):
        response = _post(client, url, data, **extra)
        assert response.status_code in (400, 413), (url, response.status_code)
        body = response.get_json()
        assert body["error"] in ("corrupt_pdf", "too_complex", "cannot_sign", "broken_signature")
        assert body["error_description"]
    page = _post(client, "/verify", data)
    assert page.status_code == 400
    assert page.mimetype == "text/html"
    assert 'role="alert"' in page.get_data(as_text=True)


def test_a_20000_page_pdf_is_refused_for_its_size_before_it_is_parsed(client):
    response = _post(client, "/api/v1/verify", many_pages())
    assert response.get_json() == {
        "error": "too_complex",
        "error_description": "the PDF has 20000 pages; the limit is 2000",
    }


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
    ids=["arrays", "objects"],
)
def test_deeply_nested_json_to_csc_gets_400(client, token, body):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = client.post("/csc/v1/credentials/info", data=body, headers=headers)
    expected = {400: "invalid_request", 413: "request_too_large"}
    assert response.status_code in expected
    assert response.get_json()["error"] == expected[response.status_code]


@pytest.mark.parametrize("hash_algo", ["1.2.3.4.5", "not an oid", "2.16.840.1.101.3.4.2.99"])
def test_an_unknown_hash_algorithm_gets_400(client, token, hash_algo):
    headers = {"Authorization": f"Bearer {token}"}
    authorized = client.post(
        "/csc/v1/credentials/authorize",
        json={"credentialID": "PSB", "numSignatures": 1},
        headers=headers,
    ).get_json()
    response = client.post(
        "/csc/v1/signatures/signHash",
        json={
            "credentialID": "PSB",
            "SAD": authorized["SAD"],
            "hash": ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="],
            "signAlgo": "1.2.840.10045.4.3.2",
            "hashAlgo": hash_algo,
        },
        headers=headers,
    )
    assert response.status_code == 400
    assert response.get_json()["error_description"] == "Invalid parameter hashAlgo"
