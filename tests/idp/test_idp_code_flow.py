"""The authorization code flow with PKCE, driven by Authlib's client against a live provider."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import quote

import pytest
import redis as redis_lib
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    discover,
    forms_of,
    introspect,
    log_in,
    redirect_params,
    sign_in_flow,
)


@pytest.fixture(scope="module")
def citizen(op) -> str:
    return create_user(
        op, "liwei", via_cli=True, name="Li Wei", email="liwei@example.cn", phone="+8613800138000"
    )


@pytest.fixture(scope="module")
def service(op):
    return create_client(op, name="Parking permits")


def test_discovery_names_every_endpoint_under_the_issuer(op):
    meta = discover(op)
    assert meta["issuer"] == op.url
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "registration_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ):
        assert meta[key].startswith(op.url + "/"), key
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )
    assert {"public", "pairwise"} == set(meta["subject_types_supported"])
    assert meta["backchannel_logout_supported"] is True
    rfc8414 = requests.get(f"{op.url}/.well-known/oauth-authorization-server", timeout=5).json()
    assert rfc8414["issuer"] == op.url


def test_jwks_publishes_es256_and_rs256_public_keys_only(op):
    keys = requests.get(discover(op)["jwks_uri"], timeout=5).json()["keys"]
    assert {k["alg"] for k in keys} >= {"ES256", "RS256"}
    for key in keys:
        assert key["kid"]
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private material in the JWKS"


def test_code_flow_with_pkce_gives_a_valid_id_token_with_every_claim(op, citizen, service):
    rp = RelyingParty(op, service)
    browser = Browser(op)
    before = int(time.time())
    back = sign_in_flow(browser, rp, citizen)
    params = redirect_params(back)
    assert params["iss"] == op.url  # RFC 9207
    assert params["state"] == rp.state
    token = rp.fetch_token(back.headers["Location"])
    claims = rp.validate_id_token(token)
    for name in (
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "at_hash",
    ):
        assert name in claims, name
    assert claims["iss"] == op.url
    assert claims["aud"] == service.client_id
    assert claims["nonce"] == rp.nonce
    assert claims["amr"] == ["pwd"]
    assert before - 1 <= claims["auth_time"] <= claims["iat"] <= int(time.time()) + 1
    assert claims["exp"] > claims["iat"]
    assert token["token_type"].lower() == "bearer"
    assert token["refresh_token"]
    access = jwt.decode(token["access_token"], rp.jwks(), algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"  # RFC 9068
    assert access.claims["client_id"] == service.client_id
    assert access.claims["sub"] == claims["sub"]


def test_authorization_request_carries_s256_challenge_of_the_verifier(op, service):
    rp = RelyingParty(op, service)
    url = rp.authorization_url()
    sent = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))
    expected = base64.urlsafe_b64encode(hashlib.sha256(rp.verifier.encode()).digest())
    assert sent["code_challenge"] == expected.rstrip(b"=").decode()
    assert sent["code_challenge_method"] == "S256"


def test_userinfo_answers_get_and_post_with_the_scoped_claims(op, citizen, service):
    rp = RelyingParty(op, service, scope="openid profile email phone")
    token = log_in(Browser(op), rp, citizen)
    claims = rp.validate_id_token(token)
    got = rp.session.get(rp.meta["userinfo_endpoint"]).json()
    assert got["sub"] == claims["sub"]
    assert got["name"] == "Li Wei"
    assert got["email"] == "liwei@example.cn"
    assert got["phone_number"] == "+8613800138000"
    posted = requests.post(
        rp.meta["userinfo_endpoint"], data={"access_token": token["access_token"]}, timeout=5
    )
    assert posted.status_code == 200
    assert posted.json() == got
    assert requests.get(rp.meta["userinfo_endpoint"], timeout=5).status_code == 401


def test_wrong_pkce_verifier_is_refused(op, citizen, service):
    rp = RelyingParty(op, service)
    back = sign_in_flow(Browser(op), rp, citizen)
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(back.headers["Location"], code_verifier=generate_token(48))
    assert refused.value.error == "invalid_grant"


def test_authorization_request_without_pkce_is_sent_back_with_an_error(op, citizen, service):
    rp = RelyingParty(op, service)
    rp.session.code_challenge_method = None
    browser = Browser(op)
    url, state = rp.session.create_authorization_url(rp.meta["authorization_endpoint"], nonce="n")
    back = browser.navigate(url, stop_at=service.redirect_uri)
    params = redirect_params(back)
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert params["iss"] == op.url
    assert params["state"] == state


def test_plain_pkce_method_is_refused(op, service):
    rp = RelyingParty(op, service)
    url = rp.authorization_url().replace(
        "code_challenge_method=S256", "code_challenge_method=plain"
    )
    back = Browser(op).navigate(url, stop_at=service.redirect_uri)
    params = redirect_params(back)
    assert params["error"] == "invalid_request"
    assert params["iss"] == op.url


def test_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(op, service):
    rp = RelyingParty(op, service)
    url = rp.authorization_url(redirect_uri="http://127.0.0.1:9/evil")
    response = Browser(op).get(url)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil" not in response.headers.get("Location", "")


@pytest.mark.parametrize("odd", ["\u00e9", '"', "'><script>", "\n", "\x01"])
def test_odd_characters_in_redirect_uri_or_response_type_get_an_error_never_a_500(
    op, citizen, service, odd
):
    """Authlib quotes both in its error_description, which RFC 6749 keeps to printable
    ASCII: it raised instead, and the caller got a 500."""
    browser = Browser(op)
    browser.sign_in(citizen)
    bad_redirect = browser.get(
        RelyingParty(op, service).authorization_url(redirect_uri=service.redirect_uri + odd)
    )
    assert bad_redirect.status_code == 400
    assert "Location" not in bad_redirect.headers  # an unregistered URI is never redirected to
    rp = RelyingParty(op, service)
    url = rp.authorization_url().replace("response_type=code", f"response_type=code{quote(odd)}")
    params = redirect_params(browser.get(url))
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == rp.state and params["iss"] == op.url
    account = browser.get(f"{op.url}/account")
    csrf = next(dict(f.fields)["csrf_token"] for f in forms_of(account.text))
    consent = browser.http.post(
        f"{op.url}/oauth/consent",
        params={
            "response_type": "code",
            "client_id": service.client_id,
            "redirect_uri": service.redirect_uri + odd,
        },
        data={"decision": "allow", "csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert consent.status_code == 400
    assert "Location" not in consent.headers


def test_a_missing_response_type_is_sent_back_as_invalid_request(op, service):
    rp = RelyingParty(op, service)
    url = rp.authorization_url().replace("response_type=code&", "")
    params = redirect_params(Browser(op).get(url))
    assert params["error"] == "invalid_request"
    assert "response_type" in params["error_description"]


def test_replayed_code_is_refused_and_revokes_the_first_redemption(op, citizen, service):
    rp = RelyingParty(op, service)
    back = sign_in_flow(Browser(op), rp, citizen)
    first = rp.fetch_token(back.headers["Location"])
    assert introspect(op, service, first["access_token"])["active"] is True
    with pytest.raises(OAuthError) as replay:
        rp.fetch_token(back.headers["Location"])
    assert replay.value.error == "invalid_grant"
    assert introspect(op, service, first["access_token"])["active"] is False
    assert introspect(op, service, first["refresh_token"])["active"] is False


def test_a_code_lives_sixty_seconds_and_an_expired_one_is_refused(op, citizen, service):
    store = redis_lib.Redis.from_url(op.env["REDIS_URL"])
    before = set(store.scan_iter("code:*"))
    rp = RelyingParty(op, service)
    back = sign_in_flow(Browser(op), rp, citizen)
    [key] = set(store.scan_iter("code:*")) - before
    assert 0 < store.pttl(key) <= 60_000
    store.pexpire(key, 1)  # what sixty seconds would do
    time.sleep(0.05)
    with pytest.raises(OAuthError) as expired:
        rp.fetch_token(back.headers["Location"])
    assert expired.value.error == "invalid_grant"


def test_refresh_rotates_and_reuse_revokes_the_whole_grant(op, citizen, service):
    rp = RelyingParty(op, service)
    first = log_in(Browser(op), rp, citizen)
    second = rp.session.refresh_token(
        rp.meta["token_endpoint"], refresh_token=first["refresh_token"]
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert introspect(op, service, second["access_token"])["active"] is True
    third = rp.session.refresh_token(
        rp.meta["token_endpoint"], refresh_token=second["refresh_token"]
    )
    # The first token's successor was used: this is no retry (test_idp_refresh_retry.py).
    with pytest.raises(OAuthError) as reuse:
        rp.session.refresh_token(rp.meta["token_endpoint"], refresh_token=first["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    for token in (third["access_token"], third["refresh_token"], first["access_token"]):
        assert introspect(op, service, token)["active"] is False
    with pytest.raises(OAuthError):
        rp.session.refresh_token(rp.meta["token_endpoint"], refresh_token=third["refresh_token"])


def test_introspection_describes_access_and_refresh_tokens(op, citizen, service):
    rp = RelyingParty(op, service)
    token = log_in(Browser(op), rp, citizen)
    sub = rp.validate_id_token(token)["sub"]
    access = introspect(op, service, token["access_token"])
    assert access["active"] is True
    assert access["client_id"] == service.client_id
    assert access["sub"] == sub
    assert "openid" in access["scope"].split()
    refresh = introspect(op, service, token["refresh_token"], hint="refresh_token")
    assert refresh["active"] is True
    assert refresh["client_id"] == service.client_id
    assert introspect(op, service, "not-a-token")["active"] is False
    unauthenticated = requests.post(
        rp.meta["introspection_endpoint"], data={"token": token["access_token"]}, timeout=5
    )
    assert unauthenticated.status_code == 401


def test_revoked_access_token_introspects_inactive_and_userinfo_refuses_it(op, citizen, service):
    rp = RelyingParty(op, service)
    token = log_in(Browser(op), rp, citizen)
    assert rp.session.get(rp.meta["userinfo_endpoint"]).status_code == 200
    rp.session.revoke_token(
        rp.meta["revocation_endpoint"], token["access_token"], token_type_hint="access_token"
    ).raise_for_status()
    assert introspect(op, service, token["access_token"])["active"] is False
    userinfo = requests.get(
        rp.meta["userinfo_endpoint"],
        timeout=5,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert userinfo.status_code == 401
    assert "invalid_token" in userinfo.headers["WWW-Authenticate"]
    # The refresh token of the grant still works: only the access token was revoked.
    assert introspect(op, service, token["refresh_token"])["active"] is True


def test_revoking_a_refresh_token_ends_its_grant(op, citizen, service):
    rp = RelyingParty(op, service)
    token = log_in(Browser(op), rp, citizen)
    rp.session.revoke_token(
        rp.meta["revocation_endpoint"], token["refresh_token"], token_type_hint="refresh_token"
    ).raise_for_status()
    assert introspect(op, service, token["refresh_token"])["active"] is False
    assert introspect(op, service, token["access_token"])["active"] is False
    with pytest.raises(OAuthError):
        rp.session.refresh_token(rp.meta["token_endpoint"], refresh_token=token["refresh_token"])


@pytest.mark.parametrize("registered", ["client_secret_basic", "client_secret_post"])
def test_a_secret_client_may_send_its_secret_by_basic_or_in_the_form(op, citizen, registered):
    client = create_client(op, "--auth-method", registered, name="Library")
    for sent in ("client_secret_basic", "client_secret_post"):
        rp = RelyingParty(op, client, auth_method=sent)
        token = log_in(Browser(op), rp, citizen)
        assert rp.validate_id_token(token)["aud"] == client.client_id


def test_wrong_client_secret_is_refused(op, citizen, service):
    rp = RelyingParty(op, service)
    back = sign_in_flow(Browser(op), rp, citizen)
    rp.session.client_secret = "wrong"
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(back.headers["Location"])
    assert refused.value.error == "invalid_client"


def test_a_client_deleted_by_another_process_stops_working_at_once(op):
    client = create_client(op, "--grant-type", "client_credentials", name="Retired kiosk")
    token_url = discover(op)["token_endpoint"]
    auth = (client.client_id, client.client_secret)
    form = {"grant_type": "client_credentials"}
    assert requests.post(token_url, data=form, auth=auth, timeout=10).status_code == 200
    op.cli("clients", "delete", client.client_id)
    time.sleep(0.2)  # other processes re-read the change stamp every 50 ms
    refused = requests.post(token_url, data=form, auth=auth, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_client_credentials_gives_a_token_for_the_clients_own_scopes(op):
    client = create_client(
        op, "--grant-type", "client_credentials", "--scope", "sign", name="Records office backend"
    )
    meta = discover(op)
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(client.client_id, client.client_secret, scope="sign")
    token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert token["scope"] == "sign"
    assert "refresh_token" not in token
    assert "id_token" not in token
    info = introspect(op, client, token["access_token"])
    assert info["active"] is True
    assert info["client_id"] == client.client_id
    greedy = OAuth2Session(client.client_id, client.client_secret, scope="admin")
    with pytest.raises(OAuthError) as refused:
        greedy.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_scope"


def test_public_client_logs_in_with_pkce_and_no_secret(op, citizen):
    client = create_client(op, "--public", name="Citizen app")
    assert client.client_secret is None
    rp = RelyingParty(op, client)
    token = log_in(Browser(op), rp, citizen)
    assert rp.validate_id_token(token)["aud"] == client.client_id


def test_private_key_jwt_client_authenticates_with_a_signed_assertion(op, citizen, tmp_path):
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(__import__("json").dumps({"keys": [public]}))
    client = create_client(
        op, "--auth-method", "private_key_jwt", "--jwks-file", str(jwks), name="Tax office"
    )
    assert client.client_secret is None
    meta = discover(op)
    rp = RelyingParty(op, client, auth_method=PrivateKeyJWT(meta["token_endpoint"], alg="ES256"))
    rp.session.client_secret = key  # Authlib signs with the client "secret"
    token = log_in(Browser(op), rp, citizen)
    assert rp.validate_id_token(token)["aud"] == client.client_id
    stranger = ECKey.generate_key("P-256")
    rp.session.client_secret = stranger
    back = sign_in_flow(Browser(op), rp, citizen)
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(back.headers["Location"])
    assert refused.value.error == "invalid_client"


def test_pairwise_subjects_differ_across_sectors_and_agree_within_one(op, citizen):
    a1 = create_client(
        op,
        "--subject-type",
        "pairwise",
        name="Health A",
        redirect_uri="http://127.0.0.1:9/health-a",
    )
    a2 = create_client(
        op,
        "--subject-type",
        "pairwise",
        name="Health B",
        redirect_uri="http://127.0.0.1:9/health-b",
    )
    b = create_client(
        op, "--subject-type", "pairwise", name="Police", redirect_uri="http://localhost:9/police"
    )
    browser = Browser(op)
    subs = {}
    for name, client in (("a1", a1), ("a2", a2), ("b", b)):
        rp = RelyingParty(op, client)
        subs[name] = rp.validate_id_token(log_in(browser, rp, citizen))["sub"]
    assert subs["a1"] == subs["a2"]
    assert subs["a1"] != subs["b"]
    public = RelyingParty(op, create_client(op, name="Public"))
    assert public.validate_id_token(log_in(browser, public, citizen))["sub"] not in subs.values()


def test_a_browser_app_redeems_its_code_reads_userinfo_and_revokes_from_its_own_origin(op, citizen):
    client = create_client(op, "--public", name="Citizen web app")
    meta = discover(op)
    origin = {"Origin": "https://citizen-app.example"}
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    for endpoint in ("token_endpoint", "userinfo_endpoint", "revocation_endpoint"):
        answer = requests.options(meta[endpoint], headers=preflight, timeout=5)
        assert answer.status_code == 204, endpoint
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in answer.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in answer.headers["Access-Control-Allow-Headers"]
    rp = RelyingParty(op, client)
    rp.session.headers.update(origin)
    answers = []
    rp.session.hooks["response"].append(lambda answer, *args, **kwargs: answers.append(answer))
    token = log_in(Browser(op), rp, citizen)
    assert rp.session.get(meta["userinfo_endpoint"]).status_code == 200
    revoked = requests.post(
        meta["revocation_endpoint"],
        data={"token": token["access_token"], "client_id": client.client_id},
        headers=origin,
        timeout=5,
    )
    assert revoked.status_code == 200
    lapsed = requests.get(
        meta["userinfo_endpoint"],
        headers={**origin, "Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert lapsed.status_code == 401  # and the app may read that its token has lapsed
    published = [requests.get(meta["jwks_uri"], headers=origin, timeout=5)]
    published.append(requests.get(f"{op.url}/.well-known/openid-configuration", timeout=5))
    assert len(answers) == 2  # the code redeemed, then UserInfo
    for answer in [*answers, revoked, lapsed, *published]:
        assert answer.headers.get("Access-Control-Allow-Origin") == "*", answer.url
    # Introspection is for resource servers: no browser gets to call it.
    introspection = requests.options(f"{op.url}/oauth/introspect", headers=preflight, timeout=5)
    assert introspection.status_code == 405
    assert "Access-Control-Allow-Origin" not in introspection.headers
