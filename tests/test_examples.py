"""The integration kit works: two example municipal services share one OneTrip login."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "rp" / "app.py"


def _browser_helpers():
    """tests/idp/oidc_browser.py (the scripted citizen's browser), loaded by path."""
    if "oidc_browser" in sys.modules:
        return sys.modules["oidc_browser"]
    spec = importlib.util.spec_from_file_location(
        "oidc_browser", ROOT / "tests" / "idp" / "oidc_browser.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["oidc_browser"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _start_rp(live_server, client: dict, port: int, name: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "ISSUER": live_server.url,
        "CLIENT_ID": client["client_id"],
        "CLIENT_SECRET": client["client_secret"],
        "PORT": str(port),
        "SERVICE_NAME": name,
    }
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"example RP exited; see {log}")
        try:
            requests.get(f"http://127.0.0.1:{port}/whoami", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("example RP did not start")


@pytest.fixture
def free_port(pytestconfig):
    """``free_port`` of tests/conftest.py (conftest modules are not importable by name)."""
    root = str(ROOT / "tests" / "conftest.py")
    plugins = pytestconfig.pluginmanager.get_plugins()
    return next(p for p in plugins if getattr(p, "__file__", None) == root).free_port


def test_two_example_services_share_one_login_and_logout(live_server, tmp_path, free_port):
    helpers = _browser_helpers()
    live_server.cli(
        "users",
        "create",
        "wang",
        "--name",
        "Wang Fang",
        "--email",
        "wang@example.cn",
        input=helpers.PASSWORD + "\n",
    )
    rps, processes = [], []
    try:
        for name in ("Parking permits", "Library card"):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            client = json.loads(
                live_server.cli(
                    "clients",
                    "create",
                    "--name",
                    name,
                    "--redirect-uri",
                    f"{base}/callback",
                    "--post-logout-redirect-uri",
                    f"{base}/",
                    "--backchannel-logout-uri",
                    f"{base}/backchannel-logout",
                    "--json",
                ).stdout
            )
            processes.append(_start_rp(live_server, client, port, name, tmp_path / f"rp{port}.log"))
            rps.append(base)
        first, second = rps
        browser = helpers.Browser(live_server)

        login_page = browser.navigate(f"{first}/login")
        consent = browser.login(login_page, "wang")
        assert 'name="consented"' in consent.text  # first visit to this service
        home = browser.submit(consent, button="allow")
        assert home.url.startswith(first)
        assert "Wang Fang" in home.text

        at_second = browser.navigate(f"{second}/login")
        assert 'name="password"' not in at_second.text  # signed in already
        assert 'name="consented"' in at_second.text
        home = browser.submit(at_second, button="allow")
        assert home.url.startswith(second)
        assert "Wang Fang" in home.text
        assert browser.get(f"{second}/whoami").json()["signed_in"] is True

        signed_out = browser.navigate(f"{first}/logout")
        assert signed_out.url.startswith(first)
        assert "not signed in" in signed_out.text
        assert browser.get(f"{second}/whoami").json()["signed_in"] is False  # back channel
        again = browser.navigate(f"{second}/login")
        assert 'name="password"' in again.text  # the SSO session is gone too
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
