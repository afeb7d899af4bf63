"""SIGTERM to a node's parent process stops all of it: granian workers, the face pool's
processes that a face check started, the embedded Valkey; nothing is left behind.

Only the parent is signalled, as an operator's ``kill`` or a supervisor that signals its
main process does; what it started must follow by itself.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LiveServer, free_port, node_env, start_server, stop_process
from tests.idp.oidc_browser import Browser, create_user

pytestmark = pytest.mark.slow

#: The project's test photos, found as tests/biometrics/face_samples.py finds them.
FACES = Path(
    os.environ.get("ONETRIP_FACES_DIR") or Path(__file__).resolve().parents[3] / "shared" / "faces"
)


def _group(pgid: int) -> dict[int, str]:
    """Living processes of process group ``pgid``: pid to command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _check_a_face(server: LiveServer) -> None:
    browser = Browser(server)
    browser.sign_in(create_user(server))
    account = browser.navigate(f"{server.url}/account")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', account.text).group(1)
    answer = browser.http.post(
        f"{server.url}/account/face",
        data={"csrf_token": csrf, "step": "enroll"},
        files={"photo": ("me.jpg", (FACES / "obama_2.jpg").read_bytes())},
        allow_redirects=False,
        timeout=120,
    )
    assert answer.status_code < 500, answer.text


def test_sigterm_stops_a_node_with_its_face_pool_and_valkey_leaving_no_process(tmp_path):
    port = free_port()
    env = node_env(tmp_path / "node", port, None, None)  # the embedded Valkey
    process = start_server(env, port, workers=2)
    server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=process)
    try:
        _check_a_face(server)
        started = _group(process.pid)
        assert any("spawn_main" in cmd for cmd in started.values()), started  # the face pool
        assert any("valkey-server" in cmd for cmd in started.values()), started

        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10 s after SIGTERM: {_group(process.pid)}")
        assert _group(process.pid) == {}
    finally:
        stop_process(process)
