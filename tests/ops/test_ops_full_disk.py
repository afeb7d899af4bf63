"""A live node whose data disk fills up, then gets space back.

The data directory (SQLite database, secrets, anchors) is a small tmpfs of the test's own,
filled to the last byte by a file. The node must stay up, answer 503
``temporarily_unavailable`` (JSON for APIs, a page in the browser's language), fail
``/readyz`` naming storage, never answer a login that is not in the audit log, and
recover by itself once the file is removed.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import LiveServer, free_port, node_env, start_server, stop_process
from tests.idp.oidc_browser import PASSWORD, Browser, create_client, create_user
from tests.ops.ops_servers import PostgresCluster, postgres_bin

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as out, pytest.raises(OSError) as full:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    assert full.value.errno == errno.ENOSPC
    return filler


def _login(server: LiveServer, username: str, **headers: str) -> requests.Response:
    browser = Browser(server, **headers)
    page = browser.navigate(f"{server.url}/login")
    return browser.http.post(
        f"{server.url}/login",
        data={"username": username, "password": PASSWORD, **_hidden(page.text)},
        allow_redirects=False,
        timeout=30,
    )


def _hidden(html: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def _logged(database: Path, username: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT count(*) FROM audit_events WHERE event = 'login.success' AND subject = ?",
            (username,),
        ).fetchone()[0]


def _ready(server: LiveServer, seconds: float = 30) -> requests.Response:
    deadline = time.monotonic() + seconds
    while True:
        answer = requests.get(f"{server.url}/readyz", timeout=10)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_full_data_disk_answers_503_audits_every_answered_login_and_recovers(
    small_disk, redis_url
):
    port = free_port()
    env = node_env(small_disk / "data", port, redis_url, None)  # SQLite on the small disk
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
    database = small_disk / "data" / "onetrip.db"
    try:
        username = create_user(server)
        client = create_client(server, "--grant-type", "client_credentials", name="Batch")
        assert _login(server, username).status_code == 302
        filler = _fill(small_disk)

        ready = requests.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["storage"]
        answered = [_login(server, username).status_code for _ in range(6)]
        assert 503 in answered, answered
        assert set(answered) <= {302, 503}
        page = _login(server, username, **{"Accept-Language": "zh-CN"})
        assert page.status_code == 503
        assert "服务暂时不可用" in page.text
        grant = requests.post(
            f"{server.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, client.client_secret),
            timeout=30,
        )
        assert grant.status_code == 503, grant.text
        assert grant.json()["error"] == "temporarily_unavailable"
        assert server.process.poll() is None

        filler.unlink()
        assert _ready(server).status_code == 200
        assert _login(server, username).status_code == 302
        time.sleep(1)  # the batch of the last login lands within its delay
        # Every login that was answered 302 is in the log, and none that got 503.
        assert _logged(database, username) == 2 + answered.count(302)
        assert "audit log intact" in server.cli("audit", "verify").stdout
    finally:
        stop_process(server.process)


@pytest.fixture
def postgres_on_a_small_disk():
    """A private PostgreSQL cluster whose database lives in a tablespace on a 16 MB tmpfs
    (its WAL stays on the normal disk, as when a data volume fills)."""
    bindir, reason = postgres_bin()
    if bindir is None:
        pytest.skip(f"private PostgreSQL cluster unavailable: {reason}")
    cluster = PostgresCluster(bindir)
    cluster.start()
    small = cluster.directory / "small"
    small.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(small)], capture_output=True
    )
    if made.returncode != 0:
        cluster.remove()
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    owner = pwd.getpwnam("postgres")
    os.chown(small, owner.pw_uid, owner.pw_gid)
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE TABLESPACE small LOCATION '{small}'"))
        conn.execute(text("CREATE DATABASE onetrip TABLESPACE small"))
    admin.dispose()
    try:
        yield cluster.url.rsplit("/", 1)[0] + "/onetrip", small
    finally:
        cluster.remove()
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_a_full_postgresql_disk_answers_503_names_storage_and_recovers(
    tmp_path, redis_url, postgres_on_a_small_disk
):
    database_url, small = postgres_on_a_small_disk
    port = free_port()
    env = node_env(tmp_path / "node", port, redis_url, database_url)
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=start_server(env, port))
    try:
        username = create_user(server)
        filler = _fill(small)
        answered = []
        for _ in range(150):  # until the audit table needs a page the disk cannot give
            answered.append(_login(server, username).status_code)
            if answered[-1] == 503:
                break
        assert answered[-1] == 503, answered
        ready = requests.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["storage"]
        assert server.process.poll() is None

        filler.unlink()
        assert _ready(server).status_code == 200
        assert _login(server, username).status_code == 302
        assert "audit log intact" in server.cli("audit", "verify").stdout
    finally:
        stop_process(server.process)
