"""The Redis client every module shares: redis-py's own pool for one primary or for the
primary a Sentinel deployment names, with what a login's path relies on (a dropped
connection replaced, a forgotten script loaded again, a fork's own connections, an
outage read as 503)."""

import dataclasses
import os
import subprocess
import time
from pathlib import Path

import pytest
import redis

from config.outage import unavailable_service
from config.redis import connect
from config.throttle import Throttle
from idp.sso import SsoStore
from tests.conftest import free_port
from tests.ops.ops_servers import _wait_port


def test_a_killed_connection_is_replaced_by_the_next_command(runtime):
    client = runtime.redis
    killed = client.client_id()
    connect(runtime.settings).client_kill_filter(_id=killed)  # another client kills it
    assert client.ping()
    assert client.client_id() != killed


def test_a_script_the_server_forgot_is_loaded_again(runtime):
    script = runtime.redis.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
    script(keys=["script:key"], args=["one"])
    runtime.redis.script_flush()  # as after a restart of the embedded Valkey
    script(keys=["script:key"], args=["two"])
    assert runtime.redis.get("script:key") == b"two"


def test_a_forked_child_uses_a_connection_of_its_own(runtime):
    client = runtime.redis
    parent_id = client.client_id()
    child = os.fork()
    if child == 0:  # the child reports through its exit status
        os._exit(0 if client.client_id() != parent_id else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.client_id() == parent_id  # the parent's stream was not touched


def test_an_unreachable_redis_reads_as_unavailable(settings):
    client = connect(dataclasses.replace(settings, redis_url="redis://127.0.0.1:9/0"))
    with pytest.raises(redis.ConnectionError) as raised:
        client.get("anything")
    assert unavailable_service(raised.value) == "redis"


def test_no_sentinel_answering_reads_as_unavailable(settings):
    url = "redis+sentinel://127.0.0.1:9/onetrip"
    with pytest.raises(redis.ConnectionError) as raised:
        connect(dataclasses.replace(settings, redis_url=url)).get("anything")
    assert unavailable_service(raised.value) == "redis"


class _Sentinels:
    """A primary, its replica and one Sentinel watching them: redis-server processes of the
    test's own on free ports."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.primary, self.replica, self.sentinel = free_port(), free_port(), free_port()
        self.processes: list[subprocess.Popen] = []

    def _start(self, name: str, port: int, *args: str) -> None:
        (self.directory / name).mkdir()  # a replica's copy lands in its --dir, not in ours
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115
        self.processes.append(
            subprocess.Popen(["redis-server", *args], stdout=log, stderr=log, cwd=self.directory)
        )
        _wait_port(port)

    def start(self) -> None:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._start(
            "primary", self.primary, "--port", str(self.primary), *common, "--dir", "primary"
        )
        self._start(
            "replica",
            self.replica,
            *("--port", str(self.replica), *common, "--dir", "replica"),
            *("--replicaof", "127.0.0.1", str(self.primary)),
        )
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor onetrip 127.0.0.1 {self.primary} 1\n"
            "sentinel down-after-milliseconds onetrip 1000\n"
            "sentinel failover-timeout onetrip 3000\n"
        )
        self._start("sentinel", self.sentinel, str(config), "--sentinel")
        self.wait(lambda: self.watcher().sentinel_slaves("onetrip"), "the replica to be seen")

    def watcher(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel, decode_responses=True)

    def primary_port(self) -> int:
        return int(self.watcher().sentinel_get_master_addr_by_name("onetrip")[1])

    def wait(self, done, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if done():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gave up waiting for {what}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            process.wait(10)


@pytest.fixture
def sentinels(tmp_path):
    deployment = _Sentinels(tmp_path)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


def test_a_sentinel_url_reaches_the_primary_and_follows_it_through_a_failover(settings, sentinels):
    url = f"redis+sentinel://127.0.0.1:{sentinels.sentinel}/onetrip/2"
    client = connect(dataclasses.replace(settings, redis_url=url))
    client.set("before", "1")
    primary = redis.Redis(port=sentinels.primary, db=2)
    assert primary.get("before") == b"1"  # on the primary, in the URL's database
    sentinels.wait(lambda: redis.Redis(port=sentinels.replica, db=2).get("before"), "the copy")

    failover = ("SENTINEL", "FAILOVER", "onetrip")  # refused until it has seen the replica
    sentinels.wait(lambda: sentinels.watcher().execute_command(*failover), "a failover")
    sentinels.wait(lambda: sentinels.primary_port() == sentinels.replica, "the failover")
    old = redis.Redis(port=sentinels.primary)
    sentinels.wait(lambda: old.info("replication")["role"] == "slave", "the old one's demotion")
    assert client.set("after", "2")  # the pooled connection to the old primary is not used
    assert redis.Redis(port=sentinels.replica, db=2).get("after") == b"2"
    assert client.get("before") == b"1"


def test_sessions_and_throttles_work_through_a_sentinel_url(settings, sentinels):
    url = f"redis+sentinel://127.0.0.1:{sentinels.sentinel}/onetrip/1"
    client = connect(dataclasses.replace(settings, redis_url=url))
    store = SsoStore(client, settings)
    secret, session = store.create(user_id=7, username="alice", amr=["pwd"], acr="1")
    assert store.load(secret).sid == session.sid
    assert store.sids_of_user(7) == [session.sid]
    throttle = Throttle(client, settings, "login")
    for _ in range(settings.login_max_failures_per_account):
        throttle.failure("alice", "192.0.2.1")
    wait, failed_before = throttle.check("alice", "192.0.2.1")
    assert wait > 0 and failed_before
    assert redis.Redis(port=sentinels.primary, db=1).exists(f"sso:sid:{session.sid}")
