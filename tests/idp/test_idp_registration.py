"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592), live."""

from __future__ import annotations

import json

import pytest
import requests
from oidc_browser import Browser, Client, RelyingParty, create_user, discover, log_in

REDIRECT = "http://127.0.0.1:9/registered/cb"


@pytest.fixture(scope="module")
def initial_token(op) -> str:
    out = op.cli("clients", "initial-token", "--json")
    return json.loads(out.stdout)["initial_access_token"]


def _register(op, token: str | None, body) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": body} if not isinstance(body, str) else {"data": body}
    return requests.post(
        discover(op)["registration_endpoint"], headers=headers, timeout=5, **kwargs
    )


def test_registered_client_logs_a_citizen_in(op, initial_token):
    answer = _register(
        op,
        initial_token,
        {
            "client_name": "Self-registered",
            "redirect_uris": [REDIRECT],
            "scope": "openid profile sign",
        },
    )
    assert answer.status_code == 201
    assert answer.headers["Cache-Control"] == "no-store"
    info = answer.json()
    assert info["client_id"] and info["client_secret"] and info["registration_access_token"]
    assert info["registration_client_uri"].endswith(f"/oauth/register/{info['client_id']}")
    assert "sign" not in info["scope"].split()  # the operator decides API scopes
    rp = RelyingParty(
        op, Client(info["client_id"], info["client_secret"], REDIRECT, info), scope="openid profile"
    )
    token = log_in(Browser(op), rp, create_user(op))
    assert rp.validate_id_token(token)["aud"] == info["client_id"]


def test_registration_without_or_with_a_bad_initial_token_is_refused(op):
    body = {"client_name": "Intruder", "redirect_uris": [REDIRECT]}
    for token in (None, "not-a-token"):
        answer = _register(op, token, body)
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"client_name": "x", "redirect_uris": ["http://example.com/cb"]}, "invalid_redirect_uri"),
        (
            {"client_name": "x", "redirect_uris": ["https://ok.example/cb#frag"]},
            "invalid_redirect_uri",
        ),
        ({"client_name": "x", "redirect_uris": []}, "invalid_redirect_uri"),
        ({"client_name": "", "redirect_uris": [REDIRECT]}, "invalid_client_metadata"),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT], "grant_types": ["implicit"]},
            "invalid_client_metadata",
        ),
        (
            {
                "client_name": "x",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "private_key_jwt",
            },
            "invalid_client_metadata",
        ),
        (["not", "an", "object"], "invalid_client_metadata"),
        ("{bad json", "invalid_client_metadata"),
    ],
)
def test_bad_metadata_is_refused_with_the_rfc7591_error(op, initial_token, metadata, error):
    answer = _register(op, initial_token, metadata)
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def test_client_configuration_reads_updates_and_deletes(op, initial_token):
    info = _register(
        op, initial_token, {"client_name": "Configurable", "redirect_uris": [REDIRECT]}
    ).json()
    uri = info["registration_client_uri"]
    auth = {"Authorization": f"Bearer {info['registration_access_token']}"}
    read = requests.get(uri, headers=auth, timeout=5)
    assert read.status_code == 200
    assert read.json()["client_name"] == "Configurable"
    assert "client_secret" not in read.json()
    assert (
        requests.get(uri, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    )
    changed = requests.put(
        uri,
        headers=auth,
        timeout=5,
        json={
            "client_id": info["client_id"],
            "client_name": "Renamed",
            "redirect_uris": [REDIRECT, "http://127.0.0.1:9/second"],
        },
    )
    assert changed.status_code == 200
    assert changed.json()["client_name"] == "Renamed"
    assert requests.get(uri, headers=auth, timeout=5).json()["redirect_uris"] == [
        REDIRECT,
        "http://127.0.0.1:9/second",
    ]
    bad = requests.put(
        uri, headers=auth, timeout=5, json={"client_name": "Renamed", "redirect_uris": ["ftp://x/"]}
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_redirect_uri"
    assert requests.delete(uri, headers=auth, timeout=5).status_code == 204
    assert requests.get(uri, headers=auth, timeout=5).status_code == 401
    token = requests.post(
        discover(op)["token_endpoint"],
        timeout=5,
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
    )
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"
