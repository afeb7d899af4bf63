"""An installation's issuer and data directory, as operators meet them from the CLI.

The issuer is fixed at the first start and stored; the CLI uses it from any terminal; an
ONETRIP_ISSUER that names another is refused, and moving is a command of its own. A CLI
run where there is no data directory says where it looked instead of making a new one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests

from tests.conftest import ONETRIP, free_port, start_server, stop_process


def _onetrip(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ONETRIP_")}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    return subprocess.run(
        [ONETRIP, *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_cli_in_another_directory_makes_no_installation_and_says_where_it_looked(tmp_path):
    refused = _onetrip(tmp_path, "users", "list")
    assert refused.returncode == 2
    assert f"no OneTrip data directory at {tmp_path / 'var'}" in refused.stderr
    assert "ONETRIP_DATA_DIR" in refused.stderr
    assert not (tmp_path / "var").exists()


def test_a_first_start_on_a_port_fixes_that_issuer_and_the_cli_uses_it(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ONETRIP_") and k not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(ONETRIP_DATA_DIR=str(tmp_path / "var"), ONETRIP_KEY_PUBLISH_DELAY="0")
    (tmp_path / "var").mkdir()
    process = start_server(env, port)  # as `make run PORT=...`: no ONETRIP_ISSUER
    try:
        issuer = f"http://127.0.0.1:{port}"
        discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
        assert discovery.json()["issuer"] == issuer
        data = str(tmp_path / "var")
        shown = _onetrip(Path("/"), "issuer", "show", ONETRIP_DATA_DIR=data)
        assert shown.stdout.strip() == issuer, shown.stderr
    finally:
        stop_process(process)

    other = f"http://127.0.0.1:{free_port()}"
    refused = _onetrip(tmp_path, "users", "list", ONETRIP_ISSUER=other, ONETRIP_DATA_DIR=data)
    assert refused.returncode == 2
    assert f"ONETRIP_ISSUER is {other}, but this installation's issuer is {issuer}" in (
        refused.stderr
    )
    assert f"onetrip issuer move {other}" in refused.stderr

    moved = _onetrip(tmp_path, "issuer", "move", "https://id.example.gov/", ONETRIP_DATA_DIR=data)
    assert moved.returncode == 0, moved.stderr
    assert f"issuer moved: {issuer} -> https://id.example.gov" in moved.stdout
    assert "tokens and sessions issued under the old one are refused" in moved.stdout
    shown = _onetrip(tmp_path, "issuer", "show", ONETRIP_DATA_DIR=data)
    assert shown.stdout.strip() == "https://id.example.gov"
    audit = _onetrip(tmp_path, "audit", "tail", "-n", "3", ONETRIP_DATA_DIR=data)
    assert "installation.issuer_move" in audit.stdout
