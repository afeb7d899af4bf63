"""A live node while its Redis or its database goes away and comes back.

The test owns both servers (a redis-server and a private PostgreSQL cluster on free ports)
and stops them under a running ``onetrip serve``: callers get a clear 503 with Retry-After,
the readiness probe names what is missing, liveness stays up, nothing is half-written (the
audit chain verifies) and the same node process answers 200 again once the server is back.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
import requests

from tests.conftest import LiveServer, free_port, node_env, start_server, stop_process
from tests.idp.oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    log_in,
    refresh,
    sign_in_flow,
)
from tests.ops.ops_servers import PostgresCluster, RedisServer, postgres_bin

pytestmark = pytest.mark.slow


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres():
    bindir, reason = postgres_bin()
    if bindir is None:
        pytest.skip(f"private PostgreSQL cluster unavailable: {reason}")
    cluster = PostgresCluster(bindir)
    cluster.start()
    yield cluster
    cluster.remove()


def _node(tmp_path: Path, redis_url: str | None, database_url: str | None) -> LiveServer:
    port = free_port()
    env = node_env(tmp_path / "node", port, redis_url, database_url)
    return LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))


def _ready_again(server: LiveServer, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = requests.get(f"{server.url}/readyz", timeout=10)
        if answer.status_code == 200:
            return answer.json()
        time.sleep(0.2)
    raise AssertionError(f"/readyz still {answer.status_code} after {seconds:.0f} s: {answer.text}")


def _redeem(rp: RelyingParty, code: str) -> requests.Response:
    return requests.post(
        rp.meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.client.redirect_uri,
            "code_verifier": rp.verifier,
        },
        auth=(rp.client.client_id, rp.client.client_secret),
        timeout=30,
    )


def _assert_unavailable(answer: requests.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "temporarily_unavailable"
    assert "temporarily unavailable" in answer.json()["error_description"]
    assert answer.headers["Retry-After"].isdigit()
    assert answer.headers["X-Request-Id"] in answer.json()["error_description"]


def _signed_in(server: LiveServer) -> tuple[RelyingParty, dict]:
    username = create_user(server)
    rp = RelyingParty(server, create_client(server), scope="openid profile offline_access")
    return rp, log_in(Browser(server), rp, username, prompt="consent")


def test_a_node_answers_503_while_redis_is_down_and_recovers_by_itself(
    tmp_path, own_redis, database_url
):
    server = _node(tmp_path, own_redis.url, database_url)
    try:
        rp, tokens = _signed_in(server)
        browser = Browser(server)
        callback = sign_in_flow(browser, rp, create_user(server)).headers["Location"]
        code = parse_qs(urlsplit(callback).query)["code"][0]
        own_redis.stop()

        ready = requests.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["redis"]
        assert ready.json()["checks"]["database"] == "ok"
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        _assert_unavailable(_redeem(rp, code))  # codes live in Redis
        page = browser.get(rp.authorization_url(), headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert "Service temporarily unavailable" in page.text
        # Refresh tokens live in the database: refreshing needs no Redis.
        assert refresh(rp, tokens["refresh_token"]).status_code == 200

        own_redis.start()
        assert _ready_again(server)["checks"] == {
            "database": "ok",
            "redis": "ok",
            "keys": "ok",
            "storage": "ok",
        }
        redeemed = _redeem(rp, code)  # the code refused during the outage was not spent
        assert redeemed.status_code == 200, redeemed.text
        userinfo = requests.get(
            rp.meta["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {redeemed.json()['access_token']}"},
            timeout=30,
        )
        assert userinfo.status_code == 200
        assert server.process.poll() is None  # the same node, never restarted
        assert "audit log intact" in server.cli("audit", "verify").stdout
    finally:
        stop_process(server.process)


def test_a_node_answers_503_while_postgresql_is_down_and_recovers_by_itself(
    tmp_path, own_redis, own_postgres
):
    server = _node(tmp_path, own_redis.url, own_postgres.url)
    try:
        rp, tokens = _signed_in(server)
        own_postgres.stop()

        ready = requests.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["database"]
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        _assert_unavailable(refresh(rp, tokens["refresh_token"]))
        userinfo = requests.get(
            rp.meta["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
            timeout=30,
        )
        _assert_unavailable(userinfo)

        own_postgres.start()
        _ready_again(server)
        renewed = refresh(rp, tokens["refresh_token"])
        assert renewed.status_code == 200, renewed.text
        assert server.process.poll() is None
        assert "audit log intact" in server.cli("audit", "verify").stdout
    finally:
        stop_process(server.process)


def test_the_embedded_valkey_is_restarted_when_it_dies(tmp_path, database_url):
    server = _node(tmp_path, None, database_url)
    try:
        socket_path = Path(server.env["ONETRIP_DATA_DIR"]).resolve() / "valkey.sock"
        client = redis_lib.Redis(unix_socket_path=str(socket_path))
        first = client.info("server")["process_id"]
        os.kill(first, 9)

        _ready_again(server)
        assert client.info("server")["process_id"] != first
        assert server.process.poll() is None
    finally:
        stop_process(server.process)
