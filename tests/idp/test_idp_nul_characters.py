"""NUL characters, which PostgreSQL's text refuses and SQLite's stores: whichever database
is behind it, a parameter, path or JSON string with one gets a 400 and changes nothing,
never a 500 (found by the fuzzer on PostgreSQL: ``client_id=\\x00...`` at /oauth/authorize)."""

from __future__ import annotations

import json

import requests
from oidc_browser import create_client, discover

from idp.clients import new_client_id


def test_a_client_id_with_a_nul_is_no_client_at_the_authorization_endpoint(op):
    client = create_client(op)
    for client_id in ("\x00", f"{client.client_id}\x00", "a\x00b"):
        answer = requests.get(
            discover(op)["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": client.redirect_uri,
                "scope": "openid",
            },
            headers={"Accept": "application/json"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_request"


def test_a_nul_in_a_form_or_a_path_is_refused_before_any_view(op):
    login = requests.post(
        f"{op.url}/login",
        data={"username": "li\x00wei", "password": "x"},
        headers={"Accept": "application/json"},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 400 and login.json()["error"] == "invalid_request"
    page = requests.get(f"{op.url}/admin/citizens/li%00wei", timeout=10)
    assert page.status_code == 400 and "text/html" in page.headers["Content-Type"]
    token = requests.post(
        discover(op)["token_endpoint"],
        data={"grant_type": "client_credentials", "client_id": "\x00", "client_secret": "x"},
        timeout=10,
    )
    assert token.status_code in (400, 401) and token.json()["error"] in (
        "invalid_request",
        "invalid_client",
    )


def test_a_json_string_with_a_nul_is_malformed_json(op):
    out = op.cli("clients", "initial-token", "--json")
    initial = json.loads(out.stdout)["initial_access_token"]
    answer = requests.post(
        discover(op)["registration_endpoint"],
        data='{"redirect_uris": ["https://a.example/cb"], "client_name": "a\\u0000b"}',
        headers={"Authorization": f"Bearer {initial}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("invalid_request", "invalid_client_metadata")
    assert "a\x00b" not in answer.text


def test_client_ids_never_read_as_command_line_options():
    assert not [c for c in (new_client_id() for _ in range(5000)) if c.startswith("-")]


def test_a_multipart_part_without_a_name_is_no_server_error(op):
    body = b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n"
    for path in ("/login", "/pki/tsa"):
        answer = requests.post(
            f"{op.url}{path}",
            data=body,
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            timeout=10,
        )
        assert answer.status_code < 500, (path, answer.status_code, answer.text[:200])
