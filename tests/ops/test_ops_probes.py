"""Probes, request ids, JSON logs, trusted proxies, and which failures mean "unavailable"."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from config import logs
from config.outage import unavailable_service
from config.runtime import Runtime
from config.settings import load_settings
from tests.conftest import free_port


@pytest.fixture
def log_lines(capsys):
    """Configure logs as ``onetrip serve`` does; hand back a reader of the lines written."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def configure(fmt: str):
        logs.configure(fmt)
        return lambda: capsys.readouterr().err.splitlines()

    yield configure
    root.handlers[:], root.level = saved


def test_liveness_and_readiness_answer_with_each_check(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "keys": "ok", "storage": "ok"},
        "failed": [],
    }


def test_readiness_names_redis_when_it_cannot_be_reached(settings):
    runtime = Runtime(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}"))
    runtime.migrate()
    from idp.app import create_app

    ready = create_app(runtime).test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["failed"] == ["redis"]
    assert ready.get_json()["checks"]["redis"] == "unavailable: ConnectionError"
    assert ready.headers["Retry-After"] == "5"


def test_a_sane_request_id_is_echoed_and_any_other_replaced(client):
    assert client.get("/healthz", headers={"X-Request-Id": "lb-42.a"}).headers["X-Request-Id"] == (
        "lb-42.a"
    )
    for bad in ("has space", "x" * 200, "<script>"):
        given = client.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert given != bad
        assert len(given) == 16
        int(given, 16)
    first, second = (client.get("/healthz").headers["X-Request-Id"] for _ in range(2))
    assert first != second


def test_the_500_reference_is_the_request_id(app):
    @app.get("/api/boom")
    def boom():
        raise RuntimeError("a bug")

    answer = app.test_client().get("/api/boom", headers={"X-Request-Id": "trace-7"})
    assert answer.status_code == 500
    assert answer.get_json()["error_description"].endswith("(reference trace-7).")


def test_every_request_is_one_json_log_line_and_app_records_carry_its_id(app, log_lines):
    @app.get("/api/noisy")
    def noisy():
        logging.getLogger("onetrip.test").warning("inside the request")
        return {"ok": True}

    read = log_lines("json")
    app.test_client().get("/api/noisy", headers={"X-Request-Id": "req-1"})
    record, access = (json.loads(line) for line in read())
    assert record["message"] == "inside the request"
    assert record["request_id"] == "req-1"
    assert record["level"] == "WARNING"
    assert access["request_id"] == "req-1"
    assert access["logger"] == "onetrip.access"
    assert {k: access[k] for k in ("method", "path", "endpoint", "status", "client_ip")} == {
        "method": "GET",
        "path": "/api/noisy",
        "endpoint": "noisy",
        "status": 200,
        "client_ip": "127.0.0.1",
    }
    assert access["duration_ms"] >= 0


def test_text_logs_carry_the_request_id_too(client, log_lines):
    read = log_lines("text")
    client.get("/healthz", headers={"X-Request-Id": "req-2"})
    (line,) = read()
    assert "[req-2]" in line
    assert "GET /healthz 200" in line


def test_log_format_and_trusted_proxies_come_from_the_environment(tmp_path):
    settings = load_settings(
        environ={"ONETRIP_LOG_FORMAT": "text", "ONETRIP_TRUSTED_PROXIES": "1"},
        data_dir=str(tmp_path),
    )
    assert (settings.log_format, settings.trusted_proxies) == ("text", 1)
    assert load_settings(environ={}, data_dir=str(tmp_path)).log_format == "json"


@pytest.mark.parametrize(("proxies", "seen"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(settings, log_lines, proxies, seen):
    from idp.app import create_app

    runtime = Runtime(dataclasses.replace(settings, trusted_proxies=proxies))
    runtime.migrate()
    client = create_app(runtime).test_client()
    read = log_lines("json")
    client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
    assert json.loads(read()[-1])["client_ip"] == seen


def test_connection_failures_mean_unavailable_and_bugs_do_not(tmp_path):
    dead_redis = redis_lib.Redis(port=free_port(), socket_connect_timeout=1, retry=None)
    with pytest.raises(redis_lib.ConnectionError) as refused:
        dead_redis.ping()
    assert unavailable_service(refused.value) == "redis"

    dead_pg = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    with pytest.raises(OperationalError) as pg_refused:
        dead_pg.connect()
    assert unavailable_service(pg_refused.value) == "database"

    missing = create_engine(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite")
    with pytest.raises(OperationalError) as unreachable:
        missing.connect()
    assert unavailable_service(unreachable.value) == "database"

    engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(IntegrityError) as duplicate, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert unavailable_service(duplicate.value) is None
    with pytest.raises(OperationalError) as typo, engine.begin() as conn:
        conn.execute(text("SELECT nope FROM t"))
    assert isinstance(typo.value.orig, sqlite3.OperationalError)
    assert unavailable_service(typo.value) is None
    assert unavailable_service(ValueError("anything else")) is None
