"""Three ``onetrip serve`` nodes with the same settings, one database, one Redis, and nginx
round-robin in front: whatever one node does, the others see.

Runs on the suite's database (PostgreSQL in ``make test-postgres``, one SQLite file in WAL
mode otherwise) and the suite's Redis. Each node has its own data directory, so nothing is
shared through files: the secrets are set explicitly, as the README says to do for many
nodes. Steps are pinned to chosen nodes through the proxy (see ``cluster``) and the proxy's
``X-Upstream`` header proves where each one ran.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from io import BytesIO

import pytest
import redis as redis_lib
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from pyhanko.pdf_utils.reader import PdfFileReader

from config.runtime import Runtime
from config.settings import load_settings
from idp.tokens import mint_access_token
from signing import departments
from signing.authority import ca_authority
from signing.pdfs import make_pdf
from tests.conftest import ONETRIP, free_port, fresh_database, start_servers, stop_process
from tests.deploy.cluster import Cluster, nginx_binary, pin, record_nodes, start_nginx
from tests.idp.oidc_browser import (
    PASSWORD,
    Browser,
    RelyingParty,
    create_client,
    create_user,
    redirect_params,
    sign_in_flow,
)
from tests.signing.pades_checks import add_officer, embedded_only_context, pdfsig, validate

NODES = ("n1", "n2", "n3")


def _secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_url) -> Iterator[Cluster]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    base = tmp_path_factory.mktemp("cluster")
    redis_lib.Redis.from_url(redis_url).flushdb()
    proxy_port = free_port()
    with fresh_database(base) as database_url:
        shared = {
            "ONETRIP_ISSUER": f"http://127.0.0.1:{proxy_port}",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ONETRIP_SECRET_KEY": _secret(),
            "ONETRIP_KEY_ENCRYPTION_KEY": _secret(),
            "ONETRIP_PAIRWISE_SALT": _secret(),
            "ONETRIP_AUDIT_KEY": _secret(),
            "ONETRIP_KEY_PUBLISH_DELAY": "0",
            "ONETRIP_TRUSTED_PROXIES": "1",  # nginx
        }
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ONETRIP_")}

        def env_for(name: str) -> dict:
            (base / name).mkdir(exist_ok=True)
            return {**clean, **shared, "ONETRIP_DATA_DIR": str(base / name)}

        ports = {name: free_port() for name in NODES}
        processes, running = [], None
        try:
            processes += start_servers({port: env_for(name) for name, port in ports.items()})
            processes.append(start_nginx(binary, base / "nginx", proxy_port, ports))
            cli_env = env_for("cli")

            def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
                result = subprocess.run(
                    [ONETRIP, *args],
                    input=input,
                    env=cli_env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert result.returncode == 0, f"onetrip {' '.join(args)}: {result.stderr}"
                return result

            running = Cluster(url=shared["ONETRIP_ISSUER"], env=cli_env, nodes=ports, cli=cli)
            yield running
        finally:
            for process in reversed(processes):
                stop_process(process)
            if runtime := getattr(running, "runtime", None):
                runtime.db.dispose()


def _on(node: str) -> dict:
    return {"X-OneTrip-Node": node}


def _wait_for(check, what: str, seconds: float = 30.0):
    """Poll ``check`` until it returns something truthy (nodes reload keys every few s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"not seen within {seconds:.0f} s: {what}")


def _header(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def _jwks(cluster: Cluster, node: str) -> KeySet:
    response = requests.get(f"{cluster.url}/oauth/jwks", headers=_on(node), timeout=10)
    assert cluster.node_of(response) == node
    return KeySet.import_key_set(response.json())


def _service(cluster: Cluster, *extra: str):
    redirect = f"http://127.0.0.1:9/cb/{secrets.token_hex(4)}"
    return create_client(
        cluster, "--post-logout-redirect-uri", redirect + "/bye", *extra, redirect_uri=redirect
    )


def test_requests_through_the_proxy_take_turns_over_every_node(cluster):
    served = {cluster.node_of(requests.get(f"{cluster.url}/healthz", timeout=5)) for _ in range(6)}
    assert served == set(NODES)


def test_log_in_on_one_node_redeem_on_another_and_log_out_on_a_third_ends_it_everywhere(
    cluster,
):
    user = create_user(cluster)
    client = _service(cluster)
    browser, rp = Browser(cluster), RelyingParty(cluster, client)
    browser_log, rp_log = record_nodes(browser.http, cluster), record_nodes(rp.session, cluster)

    pin(browser.http, "n1")
    callback = sign_in_flow(browser, rp, user)  # login and consent on n1
    pin(rp.session, "n2")
    token = rp.fetch_token(callback.headers["Location"])  # the code redeemed on n2
    claims = rp.validate_id_token(token)

    pin(rp.session, "n3")
    info = rp.session.get(rp.meta["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]

    pin(rp.session, "n1")
    refreshed = rp.session.refresh_token(rp.meta["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]

    # The SSO session and the consent are known on n2: straight back with a code.
    pin(browser.http, "n2")
    again = browser.navigate(rp.authorization_url(), stop_at=client.redirect_uri)
    assert "code" in redirect_params(again)

    pin(browser.http, "n3")
    bye = browser.navigate(
        f"{rp.meta['end_session_endpoint']}?id_token_hint={token['id_token']}"
        f"&post_logout_redirect_uri={client.redirect_uri}/bye&state=s1",
        stop_at=client.redirect_uri,
    )
    assert redirect_params(bye) == {"state": "s1"}

    assert ("POST", "/login", "n1") in browser_log
    assert ("POST", "/oauth/token", "n2") in rp_log
    assert ("GET", "/oauth/userinfo", "n3") in rp_log
    assert ("GET", "/oauth/logout", "n3") in browser_log

    for node in ("n1", "n2"):
        pin(browser.http, node)
        page = browser.navigate(rp.authorization_url(), stop_at=client.redirect_uri)
        assert page.status_code == 200 and 'name="password"' in page.text, node
        assert browser.last is not None and cluster.node_of(browser.last) == node
        pin(rp.session, node)
        gone = rp.session.get(rp.meta["userinfo_endpoint"], timeout=10)
        assert gone.status_code == 401, node
    stale = requests.post(
        rp.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(client.client_id, client.client_secret),
        headers=_on("n3"),
        timeout=10,
    )
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"


def test_keys_rotated_by_the_cli_sign_on_every_node_and_verify_against_every_jwks(cluster):
    client = _service(cluster, "--grant-type", "client_credentials", "--scope", "openid")
    before = {key["kid"] for key in _jwks(cluster, "n1").as_dict()["keys"]}
    rotated = json.loads(cluster.cli("keys", "rotate", "--now", "--json").stdout)
    new = {row["kid"] for row in rotated}
    assert new and not new & before

    for node in NODES:
        _wait_for(
            lambda node=node: new <= {k["kid"] for k in _jwks(cluster, node).as_dict()["keys"]},
            f"the rotated keys in {node}'s JWKS",
        )

    def token_from(node: str) -> str | None:
        response = requests.post(
            f"{cluster.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, client.client_secret),
            headers=_on(node),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        access = response.json()["access_token"]
        return access if _header(access)["kid"] in new else None

    for index, node in enumerate(NODES):
        access = _wait_for(lambda node=node: token_from(node), f"{node} signing with a new key")
        other = NODES[(index + 1) % len(NODES)]
        assert jwt.decode(access, _jwks(cluster, other)).claims["client_id"] == client.client_id

    # An ID token from a login on n2, checked by Authlib's client against the JWKS.
    browser, rp = Browser(cluster), RelyingParty(cluster, _service(cluster))
    pin(browser.http, "n2")
    pin(rp.session, "n2")
    callback = sign_in_flow(browser, rp, create_user(cluster))
    token = rp.fetch_token(callback.headers["Location"])
    assert _header(token["id_token"])["kid"] in new
    rp.validate_id_token(token)


def test_a_token_revoked_on_one_node_is_refused_by_every_node(cluster):
    client = _service(cluster)
    browser, rp = Browser(cluster), RelyingParty(cluster, client)
    token = rp.fetch_token(sign_in_flow(browser, rp, create_user(cluster)).headers["Location"])

    def introspect(node: str) -> dict:
        response = requests.post(
            f"{cluster.url}/oauth/introspect",
            data={"token": token["access_token"]},
            auth=(client.client_id, client.client_secret),
            headers=_on(node),
            timeout=10,
        )
        assert response.status_code == 200 and cluster.node_of(response) == node
        return response.json()

    assert all(introspect(node)["active"] for node in NODES)
    revoked = requests.post(
        f"{cluster.url}/oauth/revoke",
        data={"token": token["access_token"], "token_type_hint": "access_token"},
        auth=(client.client_id, client.client_secret),
        headers=_on("n1"),
        timeout=10,
    )
    assert revoked.status_code == 200
    for node in ("n2", "n3"):
        assert introspect(node) == {"active": False}
        pin(rp.session, node)
        assert rp.session.get(rp.meta["userinfo_endpoint"], timeout=10).status_code == 401


def test_failed_logins_on_different_nodes_count_against_one_limit(cluster):
    user = create_user(cluster)
    browser = Browser(cluster)
    limit = load_settings(environ=cluster.env).login_max_failures_per_account
    for attempt in range(limit):
        pin(browser.http, NODES[attempt % len(NODES)])
        page = browser.navigate(f"{cluster.url}/login")
        wrong = browser.login(page, user, "not the password")
        assert wrong.status_code == 401
    pin(browser.http, NODES[limit % len(NODES)])
    page = browser.navigate(f"{cluster.url}/login")
    throttled = browser.login(page, user, PASSWORD)
    assert throttled.status_code == 429
    assert "Too many failed attempts" in throttled.text
    assert browser.sso is None


def test_a_route_through_two_departments_is_signed_through_the_proxy(cluster, tmp_path):
    if not hasattr(cluster, "runtime"):  # oidc_browser.create_user may have made one
        cluster.runtime = Runtime(load_settings(environ=cluster.env))
    runtime = cluster.runtime
    departments.create(runtime, "PSB", "上海市公安局", "Shanghai Public Security Bureau")
    departments.create(runtime, "CUSTOMS", "上海海关", "Shanghai Customs")
    tokens = {
        code: mint_access_token(runtime, ["sign"], username=add_officer(runtime, code, officer))
        for code, officer in (("PSB", "li.wei"), ("CUSTOMS", "zhang.min"))
    }

    def call(node: str, path: str, code: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {tokens[code]}", **_on(node)}
        response = requests.request(
            kw.pop("method", "POST"), f"{cluster.url}{path}", headers=headers, timeout=120, **kw
        )
        assert cluster.node_of(response) == node
        return response

    created = call(
        "n1",
        "/api/v1/routes",
        "PSB",
        files={"file": ("permit.pdf", make_pdf(1), "application/pdf")},
        data={"departments": "PSB,CUSTOMS", "stamp": "1"},
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    assert call("n2", f"/api/v1/routes/{doc}/approve", "PSB").status_code == 200
    final = call("n3", f"/api/v1/routes/{doc}/approve", "CUSTOMS", data={"reason": "cleared"})
    assert final.status_code == 200, final.text
    assert final.json()["state"] == "completed"

    signed = call("n1", f"/api/v1/routes/{doc}/document", "CUSTOMS", method="GET").content
    reader = PdfFileReader(BytesIO(signed))
    assert len(reader.embedded_signatures) == 3  # two departments and the closing time-stamp
    root = ca_authority(runtime).root()
    statuses = validate(signed, lambda r: embedded_only_context(r, root))
    assert all(s.valid and s.intact and s.trusted for s in statuses)
    assert pdfsig(signed, tmp_path).count("Signature Validation: Signature is Valid.") == 2
