"""A live provider per test module, shared by its tests (each test makes its own users
and clients, so they do not interfere). Helpers live in ``oidc_browser``."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis as redis_lib

ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"
_redis_db = itertools.count(1)


def _root(pytestconfig):
    """tests/conftest.py as pytest loaded it (conftests are not importable by name)."""
    for plugin in pytestconfig.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) == str(ROOT_CONFTEST):
            return plugin
    raise LookupError("tests/conftest.py is not loaded")


# -- a module-scoped live server --------------------------------------------------------


def _redis_url_with_db(base: str, db: int) -> str:
    """The session's Redis on a database of its own, untouched by per-test flushes of db 0."""
    return f"{base}{'&' if '?' in base else '?'}db={db}"


@contextmanager
def live_provider(tmp_path_factory, redis_url, pytestconfig, **settings: str) -> Iterator:
    """An ``onetrip serve`` process on its own database and Redis database, with extra
    ``ONETRIP_*`` settings (``outbound_networks="public"``: ``ONETRIP_OUTBOUND_NETWORKS``)."""
    root = _root(pytestconfig)
    base = tmp_path_factory.mktemp("op")
    url = _redis_url_with_db(redis_url, 1 + next(_redis_db) % 15)
    redis_lib.Redis.from_url(url).flushdb()
    port = root.free_port()
    with root.fresh_database(base) as database_url:  # PostgreSQL in make test-postgres
        env = root.node_env(base / "live", port, url, database_url)
        env.update({f"ONETRIP_{name.upper()}": value for name, value in settings.items()})
        process = root.start_server(env, port)
        server = root.LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=process)
        try:
            yield server
        finally:
            root.stop_process(process)
            if runtime := getattr(server, "runtime", None):  # set by oidc_browser.create_user
                runtime.db.dispose()


@pytest.fixture(scope="module")
def op(tmp_path_factory, redis_url, pytestconfig) -> Iterator:
    """One ``onetrip serve`` process shared by the tests of a module, on its own database."""
    with live_provider(tmp_path_factory, redis_url, pytestconfig) as server:
        yield server


@pytest.fixture(scope="module")
def start_provider(tmp_path_factory, redis_url, pytestconfig):
    """:func:`live_provider` bound to this session's Redis: ``with start_provider(**settings)``."""
    return functools.partial(live_provider, tmp_path_factory, redis_url, pytestconfig)
