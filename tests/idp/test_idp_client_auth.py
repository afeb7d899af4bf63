"""How clients authenticate and who decides PKCE: a secret may travel by Basic or in the
form, but never stands in for an assertion (or an assertion for a secret); PKCE is
required of public clients always, and of confidential ones as the operator decides."""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import pytest
import requests
from joserfc.jwk import ECKey
from oidc_browser import Browser, create_client, create_user, discover, redirect_params


def _code_flow_without_pkce(server, client, username: str, **extra: str) -> requests.Response:
    """The code flow as the OpenID conformance suite runs it: no PKCE at all."""
    meta = discover(server)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    browser = Browser(server)
    browser.sign_in(username)
    page = browser.navigate(
        f"{meta['authorization_endpoint']}?{urlencode(query)}", stop_at=client.redirect_uri
    )
    if not page.is_redirect:
        page = browser.submit(page, button="allow", stop_at=client.redirect_uri)
    params = redirect_params(page)
    if "code" not in params:
        return params
    return requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": client.redirect_uri,
            **extra,
        },
        auth=(client.client_id, client.client_secret),
        timeout=10,
    )


def test_a_private_key_jwt_client_cannot_authenticate_with_a_secret(op, tmp_path):
    key = ECKey.generate_key("P-256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**key.as_dict(private=False), "kid": "k1"}]}))
    keyed = create_client(
        op,
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(jwks),
        "--grant-type",
        "client_credentials",
        name="Keyed",
    )
    token_url = discover(op)["token_endpoint"]
    for guess in ("", "secret", keyed.client_id):
        basic = requests.post(
            token_url,
            data={"grant_type": "client_credentials"},
            auth=(keyed.client_id, guess),
            timeout=5,
        )
        form = requests.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": keyed.client_id,
                "client_secret": guess,
            },
            timeout=5,
        )
        for answer in (basic, form):
            assert answer.status_code in (400, 401)
            assert answer.json()["error"] == "invalid_client"


def test_pkce_is_required_of_a_confidential_client_by_default(op):
    client = create_client(op, name="Default policy")
    params = _code_flow_without_pkce(op, client, create_user(op))
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]


def test_the_operator_exempts_one_confidential_client_from_pkce_and_may_take_it_back(op):
    username = create_user(op)
    exempt = create_client(op, "--no-require-pkce", name="Conformance suite")
    answer = _code_flow_without_pkce(op, exempt, username)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id_token"]
    # A verifier without a challenge is refused (RFC 9700 4.8.2): PKCE is not half used.
    mixed = _code_flow_without_pkce(op, exempt, username, code_verifier="v" * 43)
    assert mixed.status_code == 400
    op.cli("clients", "update", exempt.client_id, "--require-pkce")
    assert _code_flow_without_pkce(op, exempt, username)["error"] == "invalid_request"
    op.cli("clients", "update", exempt.client_id, "--no-require-pkce")
    assert _code_flow_without_pkce(op, exempt, username).status_code == 200


def test_pkce_is_required_of_public_clients_whatever_the_operator_asks(op):
    refused = op.cli(
        "clients",
        "create",
        "--name",
        "App",
        "--redirect-uri",
        "http://127.0.0.1:9/app",
        "--public",
        "--no-require-pkce",
        check=False,
    )
    assert refused.returncode != 0
    assert "RFC 9700" in refused.stderr
    public = create_client(op, "--public", name="Public app")
    again = op.cli("clients", "update", public.client_id, "--no-require-pkce", check=False)
    assert again.returncode != 0 and "RFC 9700" in again.stderr


@pytest.fixture(scope="module")
def lenient(start_provider):
    """A provider whose operator turned PKCE off for confidential clients (the setting)."""
    with start_provider(require_pkce="false") as server:
        yield server


def test_the_require_pkce_setting_exempts_confidential_clients_but_never_public_ones(lenient):
    username = create_user(lenient)
    confidential = create_client(lenient, name="Confidential")
    assert _code_flow_without_pkce(lenient, confidential, username).status_code == 200
    public = create_client(lenient, "--public", name="Public")
    params = _code_flow_without_pkce(lenient, public, username)
    assert params["error"] == "invalid_request"
    strict = create_client(lenient, "--require-pkce", name="Asked to use PKCE")
    assert _code_flow_without_pkce(lenient, strict, username)["error"] == "invalid_request"
