"""URLs that clients supply, attacked against a live provider: internal targets, slow,
trickling, huge, redirecting and failing JWK Set servers, key rotation, forged key ids,
borrowed pairwise sectors, and logos. Every outside server here is a real HTTP server on
loopback (tests/outside.py) that counts what reached it."""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey
from oidc_browser import Browser, Client, RelyingParty, create_client, create_user, discover, log_in

from tests.outside import Outside, wait_for

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def outside():
    with Outside() as server:
        yield server


@pytest.fixture(scope="module")
def strict(start_provider):
    """A provider as in production: client URLs may lead to public addresses only."""
    with start_provider(outbound_networks="public") as server:
        yield server


_tokens: dict[str, str] = {}


def _initial_token(server) -> str:
    """One initial access token per server, for the registrations of this module."""
    if server.url not in _tokens:
        out = server.cli("clients", "initial-token", "--uses", "100", "--json")
        _tokens[server.url] = json.loads(out.stdout)["initial_access_token"]
    return _tokens[server.url]


def _register(server, metadata: dict) -> requests.Response:
    return requests.post(
        discover(server)["registration_endpoint"],
        json=metadata,
        headers={"Authorization": f"Bearer {_initial_token(server)}"},
        timeout=20,
    )


def _key(kid: str | None = None) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": kid or secrets.token_hex(4)})
    return key


def _jwks(*keys: ECKey) -> dict:
    return {"keys": [{**k.as_dict(private=False), "alg": "ES256", "use": "sig"} for k in keys]}


def _assertion(server, client_id: str, key: ECKey, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": discover(server)["token_endpoint"],
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode({"alg": "ES256", "kid": kid or key.kid}, claims, key)


def _token_by_assertion(server, assertion: str) -> requests.Response:
    return requests.post(
        discover(server)["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=30,
    )


def _jwt_client(server, jwks_uri: str, name: str = "Keyed backend") -> str:
    """A private_key_jwt client created by the operator (the CLI fetches nothing)."""
    return create_client(
        server,
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        jwks_uri,
        "--grant-type",
        "client_credentials",
        name=name,
    ).client_id


# -- where a client's URLs may lead ------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["jwks_uri", "sector_identifier_uri", "logo_uri", "backchannel_logout_uri"]
)
def test_registration_refuses_urls_that_lead_to_internal_addresses(strict, outside, field):
    """As the attacker did: the Redis port, the provider's own /metrics, any internal host."""
    internal = outside.serve_json(f"/internal-{field}", {"keys": []})
    for url in (internal, internal.replace("127.0.0.1", "localhost"), f"{strict.url}/metrics"):
        metadata = {"client_name": "Prober", "redirect_uris": ["https://rp.example/cb"]}
        metadata[field] = url
        if field == "jwks_uri":
            metadata["token_endpoint_auth_method"] = "private_key_jwt"
        answer = _register(strict, metadata)
        assert answer.status_code == 400, (url, answer.text)
        assert answer.json()["error"] == "invalid_client_metadata"
        assert "may not reach" in answer.json()["error_description"]
    assert outside.hits[f"/internal-{field}"] == 0


def test_a_logout_token_is_never_posted_to_an_internal_address(strict, outside):
    receiver = outside.serve("/logout-receiver")
    noticed = create_client(strict, "--backchannel-logout-uri", receiver, name="Inside service")
    browser = Browser(strict)
    rp = RelyingParty(strict, noticed)
    token = log_in(browser, rp, create_user(strict))
    browser.get(rp.meta["end_session_endpoint"], params={"id_token_hint": token["id_token"]})
    events = json.loads(strict.cli("audit", "tail", "-n", "5", "--json").stdout)
    delivered = next(e for e in events if e["event"] == "logout.backchannel")
    assert delivered["details"]["results"] == {noticed.client_id: "address"}
    assert outside.posted == []


# -- a client's JWK Set, at the token endpoint ---------------------------------------------


def test_a_trickling_jwks_server_holds_no_token_request_past_the_deadline(op, outside):
    """Four token requests whose client's JWK Set arrives a byte every two seconds: each
    is refused within the outbound deadline, and the node keeps answering meanwhile."""
    url = outside.serve("/trickling-jwks", body=json.dumps(_jwks(_key())).encode(), drip=2.0)
    client_id = _jwt_client(op, url)
    key = _key()
    answers: list[requests.Response] = []
    callers = [
        threading.Thread(
            target=lambda: answers.append(_token_by_assertion(op, _assertion(op, client_id, key)))
        )
        for _ in range(4)
    ]
    for caller in callers:
        caller.start()
    assert wait_for(lambda: outside.hits["/trickling-jwks"] >= 1)
    assert requests.get(f"{op.url}/healthz", timeout=5).status_code == 200
    for caller in callers:
        caller.join(30)
    assert [a.status_code for a in answers] == [401] * 4
    assert {a.json()["error"] for a in answers} == {"invalid_client"}


def test_a_huge_jwks_is_refused_without_being_read(op, outside):
    url = outside.serve("/huge-jwks", size=100 * 1024 * 1024, chunked=True)
    client_id = _jwt_client(op, url)
    answer = _token_by_assertion(op, _assertion(op, client_id, _key()))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert outside.sent["/huge-jwks"] < 20 * 1024 * 1024


def test_a_redirecting_jwks_uri_is_not_followed(op, outside):
    key = _key()
    target = outside.serve_json("/redirect-target-jwks", _jwks(key))
    client_id = _jwt_client(
        op, outside.serve("/moved-jwks", status=302, headers={"Location": target})
    )
    answer = _token_by_assertion(op, _assertion(op, client_id, key))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert outside.hits["/redirect-target-jwks"] == 0


def test_a_failing_jwks_server_is_asked_once_and_its_failure_remembered(op, outside):
    client_id = _jwt_client(op, outside.serve("/broken-jwks", status=500))
    key = _key()
    for _ in range(3):
        answer = _token_by_assertion(op, _assertion(op, client_id, key))
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
    assert outside.hits["/broken-jwks"] == 1


def test_a_client_that_rotates_its_key_gets_in_at_once_and_forged_kids_refetch_once(op, outside):
    old, new = _key("old"), _key("new")
    url = outside.serve_json("/rotating-jwks", _jwks(old))
    client_id = _jwt_client(op, url)
    assert _token_by_assertion(op, _assertion(op, client_id, old)).status_code == 200
    outside.serve_json("/rotating-jwks", _jwks(new))  # the client rotates
    assert _token_by_assertion(op, _assertion(op, client_id, new)).status_code == 200
    assert outside.hits["/rotating-jwks"] == 2
    for _ in range(5):  # an attacker naming key ids the set lacks
        forged = _token_by_assertion(op, _assertion(op, client_id, new, kid=secrets.token_hex(4)))
        assert forged.status_code == 401
    assert outside.hits["/rotating-jwks"] == 2  # no refetch on demand within the interval


def test_an_assertion_naming_a_secret_based_client_is_refused_as_invalid_client(op):
    secret_client = create_client(op, "--grant-type", "client_credentials", name="Secret holder")
    answer = _token_by_assertion(op, _assertion(op, secret_client.client_id, _key()))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_registration_fetches_the_jwks_so_no_token_request_waits_for_it(op, outside):
    key = _key()
    url = outside.serve_json("/registered-jwks", _jwks(key))
    answer = _register(
        op,
        {
            "client_name": "Registered backend",
            "redirect_uris": ["http://127.0.0.1:9/keyed/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": url,
        },
    )
    assert answer.status_code == 201, answer.text
    assert outside.hits["/registered-jwks"] == 1
    assert "jwks" not in answer.json()
    bad = _register(
        op,
        {
            "client_name": "Keyless backend",
            "redirect_uris": ["http://127.0.0.1:9/keyless/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": outside.serve("/no-jwks-here", status=404),
        },
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client_metadata"


# -- pairwise sectors ------------------------------------------------------------------------


def test_a_client_cannot_borrow_another_clients_pairwise_sector(op, outside):
    """The victim's redirect URIs are on 127.0.0.1, so its sector is that host. A client
    naming a sector document there that does not list its own redirect URIs is refused:
    otherwise it would get the victim's pairwise ``sub`` for every citizen."""
    victim_uri = "http://127.0.0.1:9/victim/cb"
    sector = outside.serve_json("/victim-sector.json", [victim_uri])
    borrowed = _register(
        op,
        {
            "client_name": "Borrower",
            "redirect_uris": ["http://localhost:9/borrower/cb"],
            "subject_type": "pairwise",
            "sector_identifier_uri": sector,
        },
    )
    assert borrowed.status_code == 400
    assert borrowed.json()["error"] == "invalid_client_metadata"
    assert "sector_identifier_uri" in borrowed.json()["error_description"]


def test_clients_listed_in_one_sector_document_share_a_sub_and_others_do_not(op, outside):
    uris = ["http://127.0.0.1:9/sector-a/cb", "http://localhost:9/sector-b/cb"]
    sector = outside.serve_json("/shared-sector.json", uris)
    citizen = create_user(op)
    browser, subs = Browser(op), []
    for uri in uris:
        answer = _register(
            op,
            {
                "client_name": "Sector member",
                "redirect_uris": [uri],
                "subject_type": "pairwise",
                "sector_identifier_uri": sector,
            },
        )
        assert answer.status_code == 201, answer.text
        info = answer.json()
        rp = RelyingParty(op, Client(info["client_id"], info["client_secret"], uri, info))
        subs.append(rp.validate_id_token(log_in(browser, rp, citizen))["sub"])
    elsewhere = create_client(
        op, "--subject-type", "pairwise", name="Elsewhere", redirect_uri="http://[::1]:9/cb"
    )
    outsider = RelyingParty(op, elsewhere)
    other = outsider.validate_id_token(log_in(browser, outsider, citizen))["sub"]
    assert subs[0] == subs[1]
    assert other != subs[0]


# -- logos and links on the consent page ---------------------------------------------------


def test_the_consent_page_shows_the_logo_from_this_origin_and_the_https_links(op, outside):
    logo = outside.serve("/logo.png", body=PNG, content_type="image/png")
    answer = _register(
        op,
        {
            "client_name": "Harbour office",
            "client_name#zh-CN": "港务局",
            "redirect_uris": ["http://127.0.0.1:9/harbour/cb"],
            "logo_uri": logo,
            "policy_uri": "https://harbour.example/privacy",
            "tos_uri": "https://harbour.example/terms",
        },
    )
    assert answer.status_code == 201, answer.text
    info = answer.json()
    client = Client(info["client_id"], info["client_secret"], info["redirect_uris"][0], info)
    browser = Browser(op, **{"Accept-Language": "zh-CN"})
    browser.sign_in(create_user(op))
    page = browser.navigate(RelyingParty(op, client).authorization_url())
    assert "港务局" in page.text
    assert f'src="/oauth/clients/{client.client_id}/logo"' in page.text
    assert 'href="https://harbour.example/privacy"' in page.text
    assert "隐私政策" in page.text
    for _ in range(2):
        image = requests.get(f"{op.url}/oauth/clients/{client.client_id}/logo", timeout=10)
        assert image.status_code == 200
        assert image.content == PNG
        assert image.headers["Content-Type"] == "image/png"
        assert "sandbox" in image.headers["Content-Security-Policy"]
    assert outside.hits["/logo.png"] == 1


def test_a_logo_that_is_no_raster_image_is_never_served(op, outside):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    logo = outside.serve("/logo.svg", body=svg, content_type="image/svg+xml")
    answer = _register(
        op,
        {
            "client_name": "Scripted logo",
            "redirect_uris": ["http://127.0.0.1:9/svg/cb"],
            "logo_uri": logo,
        },
    )
    assert answer.status_code == 201
    image = requests.get(f"{op.url}/oauth/clients/{answer.json()['client_id']}/logo", timeout=10)
    assert image.status_code == 404
    assert b"<script>" not in image.content
