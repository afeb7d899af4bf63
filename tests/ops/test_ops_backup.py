"""``onetrip backup`` and the README's restore, end to end on real nodes.

A node serves a citizen and a service; the backup is taken while it runs; a new data
directory made from the backup alone (the README's restore steps) starts a node on which
the same service's secret and the same citizen's password still work and the audit log
verifies. The same restore without ``secrets.json`` is refused at start, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.conftest import (
    ONETRIP,
    LiveServer,
    free_port,
    fresh_database,
    node_env,
    start_server,
    stop_process,
)
from tests.idp.oidc_browser import Browser, create_client, create_user

pytestmark = pytest.mark.slow


def _grant(server: LiveServer, client) -> int:
    return requests.post(
        f"{server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret),
        timeout=30,
    ).status_code


def _restore(backup: Path, data_dir: Path, *, secrets: bool = True) -> None:
    """The README's restore of a SQLite installation: the files back into a data dir."""
    data_dir.mkdir(parents=True)
    names = ["onetrip.db", "audit-anchors.jsonl"] + (["secrets.json"] if secrets else [])
    for name in names:
        if (backup / name).exists():
            shutil.copy2(backup / name, data_dir / name)


def test_a_backup_restored_into_a_new_data_directory_serves_the_same_clients_and_citizens(
    tmp_path, redis_url
):
    port = free_port()
    env = node_env(tmp_path / "old", port, redis_url, None)
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
    try:
        username = create_user(server)
        client = create_client(server, "--grant-type", "client_credentials", name="Archive")
        assert _grant(server, client) == 200
        server.cli("audit", "anchor")
        made = server.cli("backup", str(tmp_path / "backup"), "--json")  # while serving
        manifest = json.loads(made.stdout)
    finally:
        stop_process(server.process)
    assert set(manifest["files"]) >= {"onetrip.db", "secrets.json", "manifest.json"}
    assert (tmp_path / "backup" / "secrets.json").stat().st_mode & 0o077 == 0

    _restore(tmp_path / "backup", tmp_path / "new")
    env = {**env, "ONETRIP_DATA_DIR": str(tmp_path / "new")}
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
    try:
        assert _grant(server, client) == 200
        Browser(server).sign_in(username)
        verified = server.cli("audit", "verify").stdout
        assert "audit log intact" in verified and "held against" in verified
    finally:
        stop_process(server.process)


def test_a_restore_without_its_secrets_is_refused_at_start_saying_why(tmp_path, redis_url):
    port = free_port()
    env = node_env(tmp_path / "old", port, redis_url, None)
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
    try:
        server.cli("backup", str(tmp_path / "backup"))
    finally:
        stop_process(server.process)

    _restore(tmp_path / "backup", tmp_path / "new", secrets=False)
    env = {**env, "ONETRIP_DATA_DIR": str(tmp_path / "new")}
    started = subprocess.run(
        [ONETRIP, "serve", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 2
    assert "the secrets do not open this database's keys" in started.stderr
    assert "put back the secrets.json of the backup" in started.stderr


def test_a_postgresql_backup_restores_with_pg_restore_into_a_new_database(tmp_path, redis_url):
    if not os.environ.get("ONETRIP_TEST_DATABASE_URL"):
        pytest.skip("PostgreSQL only (make test-postgres sets ONETRIP_TEST_DATABASE_URL)")
    port = free_port()
    with fresh_database(tmp_path) as old_url, fresh_database(tmp_path) as new_url:
        env = node_env(tmp_path / "old", port, redis_url, old_url)
        server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
        try:
            client = create_client(server, "--grant-type", "client_credentials", name="Archive")
            server.cli("backup", str(tmp_path / "backup"))
        finally:
            stop_process(server.process)
        dump = tmp_path / "backup" / "onetrip.pgdump"
        target = make_url(new_url).set(drivername="postgresql").render_as_string(False)
        restored = subprocess.run(
            ["pg_restore", "--no-owner", "-d", target, str(dump)], capture_output=True, text=True
        )
        assert restored.returncode == 0, restored.stderr
        (tmp_path / "new").mkdir()
        shutil.copy2(tmp_path / "backup" / "secrets.json", tmp_path / "new" / "secrets.json")
        env = {**env, "ONETRIP_DATA_DIR": str(tmp_path / "new"), "DATABASE_URL": new_url}
        server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
        try:
            assert _grant(server, client) == 200
            assert "audit log intact" in server.cli("audit", "verify").stdout
        finally:
            stop_process(server.process)
