"""Change stamps over a real Redis: this process's bumps at once, others' after a recheck."""

from config.stamps import ChangeStamp


def test_a_bump_in_this_process_is_seen_at_once_even_between_rechecks(runtime):
    reader = ChangeStamp(lambda: runtime.redis, "test:stamp", recheck=3600)
    writer = ChangeStamp(lambda: runtime.redis, "test:stamp", recheck=3600)
    assert reader.changed() is False
    writer.bump()
    assert reader.changed() is True
    assert reader.changed() is False


def test_another_nodes_bump_is_seen_at_the_next_recheck(runtime):
    reader = ChangeStamp(lambda: runtime.redis, "test:stamp", recheck=3600)
    assert reader.changed() is False
    runtime.redis.set("test:stamp", "written by another node")
    assert reader.changed() is False  # not re-read yet: one GET per interval
    eager = ChangeStamp(lambda: runtime.redis, "test:stamp", recheck=0)
    assert eager.changed() is False
    runtime.redis.set("test:stamp", "written again")
    assert eager.changed() is True


def test_without_redis_every_check_says_changed_so_callers_read_the_database():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests.conftest import free_port

    unreachable = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    stamp = ChangeStamp(lambda: unreachable, "test:stamp", recheck=3600)
    assert stamp.changed() is True
    assert stamp.changed() is True
