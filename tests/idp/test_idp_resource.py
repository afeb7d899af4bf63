"""The access-token guard every API uses, seen from a client (RFC 6750, RFC 9068):
a missing, forged, expired or orphaned token gets 401 ``invalid_token`` and a token
without the scope 403 ``insufficient_scope``, each with its ``WWW-Authenticate``
challenge; a token in a form body counts as one in the header."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from sqlalchemy import select

from idp.keys import KeyRing
from idp.models import User
from idp.passwords import Passwords
from idp.tokens import ACCESS_TOKEN_TYPE, mint_access_token
from idp.users import create_user


@pytest.fixture
def citizen(runtime) -> str:
    with runtime.db.write() as session:
        create_user(
            session,
            Passwords(runtime.settings),
            "zhang.wei",
            name="Zhang Wei",
            email="zhang.wei@example.org",
            password="a long and unusual passphrase 42",
        )
    return "zhang.wei"


def _userinfo(client, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/oauth/userinfo", headers=headers)


def _refused(response, status: int, error: str, scope: str = "openid") -> None:
    assert response.status_code == status
    assert response.get_json()["error"] == error
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer error="{error}"')
    assert f'scope="{scope}"' in challenge
    assert response.headers["Cache-Control"] == "no-store"


def test_a_citizens_token_reads_userinfo(client, runtime, citizen):
    answer = _userinfo(client, mint_access_token(runtime, ["openid"], username=citizen))
    assert answer.status_code == 200
    assert answer.get_json()["sub"]


def test_a_token_in_a_form_body_counts_as_one_in_the_header(client, runtime, citizen):
    token = mint_access_token(runtime, ["openid"], username=citizen)
    answer = client.post("/oauth/userinfo", data={"access_token": token})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "token", [None, "not-a-token", "a.b.c", "x" * 5000], ids=["none", "junk", "dots", "huge"]
)
def test_no_valid_token_gets_401_with_a_challenge(client, token):
    _refused(_userinfo(client, token), 401, "invalid_token")


def test_a_token_without_the_scope_gets_403_naming_it(client, runtime, citizen):
    token = mint_access_token(runtime, ["sign"], username=citizen)
    _refused(_userinfo(client, token), 403, "insufficient_scope")


def test_the_token_of_a_disabled_account_gets_401(client, runtime, citizen):
    token = mint_access_token(runtime, ["openid"], username=citizen)
    with runtime.db.write() as session:
        session.scalar(select(User).where(User.username == citizen)).disabled = True
    _refused(_userinfo(client, token), 401, "invalid_token")


def _signed(runtime, header: dict, **claims) -> str:
    mint_access_token(runtime, ["openid"])  # the provider's keys exist from here
    key = KeyRing(runtime.db, runtime.settings).signing_key("ES256")
    now = int(time.time())
    body = {
        "iss": runtime.settings.issuer,
        "sub": "test",
        "aud": runtime.settings.issuer,
        "client_id": "test",
        "scope": "openid",
        "iat": now,
        "exp": now + 300,
        "jti": "j1",
        **claims,
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid, **header}, body, key.jwk)


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ({"typ": ACCESS_TOKEN_TYPE}, {"exp": int(time.time()) - 10}),
        ({"typ": ACCESS_TOKEN_TYPE}, {"iss": "https://elsewhere.example"}),
        ({"typ": ACCESS_TOKEN_TYPE}, {"aud": "https://elsewhere.example"}),
        ({"typ": "JWT"}, {}),
    ],
    ids=["expired", "other-issuer", "other-audience", "not-an-access-token"],
)
def test_a_token_the_provider_would_not_issue_gets_401(client, runtime, header, claims):
    _refused(_userinfo(client, _signed(runtime, header, **claims)), 401, "invalid_token")
