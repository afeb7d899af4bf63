"""HotCommands: a thread's own Redis connection for the calls on a login's path, on the
embedded Valkey or the configured Redis alike."""

import os

import pytest
import redis

from config.outage import unavailable_service
from config.redis import HotCommands


def test_hot_commands_answer_as_the_client_does(runtime):
    client = runtime.redis
    hot = HotCommands(client)
    client.set("hot:a", "1")
    assert hot.execute("MGET", "hot:a", "hot:missing") == client.mget("hot:a", "hot:missing")
    assert hot.execute("GET", "hot:a") == b"1"
    assert hot.execute("INCR", "hot:a") == 2


def test_a_refused_command_leaves_the_connection_in_step(runtime):
    hot = HotCommands(runtime.redis)
    connection_id = hot.execute("CLIENT", "ID")
    runtime.redis.set("hot:text", "not a number")
    with pytest.raises(redis.ResponseError):
        hot.execute("INCR", "hot:text")
    assert hot.execute("GET", "hot:text") == b"not a number"
    assert hot.execute("CLIENT", "ID") == connection_id


def test_a_killed_connection_is_replaced_by_the_next_command(runtime):
    hot = HotCommands(runtime.redis)
    killed = hot.execute("CLIENT", "ID")
    runtime.redis.client_kill_filter(_id=killed)
    assert hot.execute("PING") in (b"PONG", True)
    assert hot.execute("CLIENT", "ID") != killed


def test_a_script_the_server_forgot_is_loaded_again(runtime):
    script = runtime.redis.register_script("return redis.call('SET', KEYS[1], ARGV[1])")
    hot = HotCommands(runtime.redis)
    hot.run_script(script, ["hot:script"], ["one"])
    runtime.redis.script_flush()  # as after a restart of the embedded Valkey
    hot.run_script(script, ["hot:script"], ["two"])
    assert runtime.redis.get("hot:script") == b"two"


def test_a_forked_child_uses_a_connection_of_its_own(runtime):
    hot = HotCommands(runtime.redis)
    parent_id = hot.execute("CLIENT", "ID")
    child = os.fork()
    if child == 0:  # the child reports through its exit status
        os._exit(0 if hot.execute("CLIENT", "ID") != parent_id else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert hot.execute("CLIENT", "ID") == parent_id  # the parent's stream was not touched


def test_an_unreachable_redis_reads_as_unavailable():
    hot = HotCommands(redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=1))
    with pytest.raises(redis.ConnectionError) as raised:
        hot.execute("GET", "anything")
    assert unavailable_service(raised.value) == "redis"
