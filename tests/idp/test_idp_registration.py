"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592), live:
the declared schema, what the server and the operator own, initial tokens' limits, and
the metadata that the authorization and token endpoints honour."""

from __future__ import annotations

import json
import time

import pytest
import requests
from joserfc import jwt
from oidc_browser import (
    Browser,
    Client,
    RelyingParty,
    create_user,
    discover,
    log_in,
    redirect_params,
)

REDIRECT = "http://127.0.0.1:9/registered/cb"


def _token(op, *options: str) -> str:
    out = op.cli("clients", "initial-token", *options, "--json")
    return json.loads(out.stdout)["initial_access_token"]


@pytest.fixture(scope="module")
def initial_token(op) -> str:
    return _token(op, "--uses", "100")


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
        (
            {
                "client_name": "x",
                "redirect_uris": [REDIRECT],
                "jwks_uri": "https://rp.example/jwks",
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]},
            },
            "invalid_client_metadata",
        ),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT], "logo_uri": "javascript:alert(1)"},
            "invalid_client_metadata",
        ),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT], "policy_uri": "http://rp.example/p"},
            "invalid_client_metadata",
        ),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT], "tos_uri": "data:text/html,hi"},
            "invalid_client_metadata",
        ),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT], "default_max_age": "60"},
            "invalid_client_metadata",
        ),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT], "require_auth_time": "yes"},
            "invalid_client_metadata",
        ),
        (
            {"client_name": "x", "redirect_uris": [REDIRECT + '"><script>']},
            "invalid_redirect_uri",
        ),
        (
            {
                "client_name": "x",
                "redirect_uris": [REDIRECT],
                "id_token_encrypted_response_alg": "RSA-OAEP-256",
            },
            "invalid_client_metadata",
        ),
        (
            {
                "client_name": "x",
                "redirect_uris": [REDIRECT],
                "grant_types": ["client_credentials"],
            },
            "invalid_client_metadata",
        ),
        ("[" * 100_000 + "]" * 100_000, "invalid_client_metadata"),
    ],
)
def test_bad_metadata_is_refused_with_the_rfc7591_error(op, initial_token, metadata, error):
    answer = _register(op, initial_token, metadata)
    assert answer.status_code == 400
    assert answer.json()["error"] == error


def test_a_body_over_the_json_limit_is_refused_before_it_is_read(op, initial_token):
    metadata = {"client_name": "x", "redirect_uris": [REDIRECT], "padding": "x" * 300_000}
    answer = _register(op, initial_token, metadata)
    assert answer.status_code == 413
    assert answer.json()["error"] == "request_too_large"


def test_unknown_and_server_owned_fields_never_reach_the_answer(op, initial_token):
    answer = _register(
        op,
        initial_token,
        {
            "client_name": "Overreaching",
            "redirect_uris": [REDIRECT],
            "client_id": "chosen-by-me",
            "client_secret": "chosen-by-me",
            "registration_access_token": "chosen-by-me",
            "client_secret_expires_at": 1,
            "require_pkce": False,
            "x-junk": {"a": [1, 2, 3]},
        },
    )
    assert answer.status_code == 201
    info = answer.json()
    assert "chosen-by-me" not in {
        info["client_id"],
        info["client_secret"],
        info["registration_access_token"],
    }
    assert info["client_secret_expires_at"] == 0
    assert "x-junk" not in info and "require_pkce" not in info
    read = requests.get(
        info["registration_client_uri"],
        headers={"Authorization": f"Bearer {info['registration_access_token']}"},
        timeout=5,
    )
    assert read.json()["client_id"] == info["client_id"]
    # require_pkce: false was the client's own wish: PKCE stays required of it.
    rp = RelyingParty(op, Client(info["client_id"], info["client_secret"], REDIRECT, info))
    url = rp.authorization_url().replace("code_challenge", "ignored_challenge")
    browser = Browser(op)
    browser.sign_in(create_user(op))
    params = redirect_params(browser.navigate(url, stop_at=REDIRECT))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]


def test_an_initial_token_registers_as_many_clients_as_its_uses_and_a_refusal_spends_none(op):
    token = _token(op, "--uses", "2")
    good = {"client_name": "Counted", "redirect_uris": [REDIRECT]}
    assert _register(op, token, {"client_name": ""}).status_code == 400
    assert _register(op, token, good).status_code == 201
    assert _register(op, token, good).status_code == 201
    spent = _register(op, token, good)
    assert spent.status_code == 401
    assert spent.json()["error"] == "invalid_token"


def test_an_initial_tokens_scopes_bound_what_its_clients_get(op):
    token = _token(op, "--scope", "openid", "--scope", "profile")
    answer = _register(
        op,
        token,
        {
            "client_name": "Greedy",
            "redirect_uris": [REDIRECT],
            "scope": "openid profile email sign",
        },
    )
    assert answer.status_code == 201
    assert answer.json()["scope"] == "openid profile"


def test_the_client_credentials_grant_is_the_operators_to_give(op, initial_token):
    info = _register(
        op, initial_token, {"client_name": "Backend to be", "redirect_uris": [REDIRECT]}
    ).json()
    uri, auth = (
        info["registration_client_uri"],
        {"Authorization": f"Bearer {info['registration_access_token']}"},
    )
    wanted = {
        "client_id": info["client_id"],
        "client_name": "Backend to be",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "client_credentials"],
    }
    refused = requests.put(uri, headers=auth, json=wanted, timeout=5)
    assert refused.status_code == 400
    assert "operator" in refused.json()["error_description"]
    op.cli(
        "clients",
        "update",
        info["client_id"],
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "client_credentials",
    )
    kept = requests.put(uri, headers=auth, json={**wanted, "client_name": "Backend"}, timeout=5)
    assert kept.status_code == 200, kept.text
    assert kept.json()["grant_types"] == ["authorization_code", "client_credentials"]


def test_default_max_age_asks_for_the_password_again_and_id_tokens_carry_auth_time(
    op, initial_token
):
    info = _register(
        op,
        initial_token,
        {
            "client_name": "Short memory",
            "redirect_uris": [REDIRECT],
            "default_max_age": 1,
            "require_auth_time": True,
            "scope": "openid offline_access",
        },
    ).json()
    assert (info["default_max_age"], info["require_auth_time"]) == (1, True)
    client = Client(info["client_id"], info["client_secret"], REDIRECT, info)
    username, browser = create_user(op), Browser(op)
    rp = RelyingParty(op, client, scope="openid offline_access")
    token = log_in(browser, rp, username)
    claims = rp.validate_id_token(token)
    assert isinstance(claims["auth_time"], int)
    refreshed = rp.session.refresh_token(
        rp.meta["token_endpoint"], refresh_token=token["refresh_token"]
    )
    again = jwt.decode(refreshed["id_token"], rp.jwks(), algorithms=["RS256"]).claims
    assert again["auth_time"] == claims["auth_time"]  # a refresh is no new authentication
    time.sleep(1.5)  # past the client's default_max_age
    again_rp = RelyingParty(op, client, scope="openid offline_access")
    page = browser.navigate(again_rp.authorization_url(), stop_at=REDIRECT)
    assert 'name="password"' in page.text


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
    assert requests.get(uri, headers=auth, timeout=5).json()["client_name"] == "Renamed"
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
