"""What must outlive a Redis that comes back empty: revocations.

The node runs on a redis-server of the test's own that keeps nothing on disk; the test
revokes tokens, restarts that server (empty), and checks that every revoked token is still
refused, by the resource endpoint and by introspection, while tokens never revoked work.
"""

from __future__ import annotations

import pytest
import redis as redis_lib
import requests

from tests.conftest import LiveServer, free_port, node_env, start_server, stop_process
from tests.idp.oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    introspect,
    log_in,
)
from tests.ops.ops_servers import RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture
def empty_on_restart(tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=False)
    server.start()
    yield server
    server.stop()


def _userinfo(rp: RelyingParty, access_token: str) -> int:
    return requests.get(
        rp.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    ).status_code


def _revoke(rp: RelyingParty, token: str, hint: str) -> None:
    requests.post(
        rp.meta["revocation_endpoint"],
        data={"token": token, "token_type_hint": hint},
        auth=(rp.client.client_id, rp.client.client_secret),
        timeout=30,
    ).raise_for_status()


def test_revoked_access_tokens_stay_revoked_after_redis_restarts_empty(
    tmp_path, empty_on_restart, database_url
):
    port = free_port()
    env = node_env(tmp_path / "node", port, empty_on_restart.url, database_url)
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
    try:
        rp = RelyingParty(server, create_client(server), scope="openid profile")
        alone, by_grant, kept = (log_in(Browser(server), rp, create_user(server)) for _ in "abc")
        _revoke(rp, alone["access_token"], "access_token")  # this token only (RFC 7009)
        _revoke(rp, by_grant["refresh_token"], "refresh_token")  # its grant, access included
        assert [_userinfo(rp, t["access_token"]) for t in (alone, by_grant, kept)] == [
            401,
            401,
            200,
        ]

        empty_on_restart.stop()
        empty_on_restart.start()
        assert redis_lib.Redis.from_url(empty_on_restart.url).dbsize() == 0

        assert [_userinfo(rp, t["access_token"]) for t in (alone, by_grant, kept)] == [
            401,
            401,
            200,
        ]
        for token in (alone, by_grant):
            assert introspect(server, rp.client, token["access_token"])["active"] is False
        # The copy in Redis was rebuilt from the database by the first check.
        assert redis_lib.Redis.from_url(empty_on_restart.url).exists("revocations:loaded")
    finally:
        stop_process(server.process)
