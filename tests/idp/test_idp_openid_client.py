"""A second, independent RP library: panva's openid-client (OpenID Certified) on Node.js.

It runs discovery, PKCE, state, nonce and RFC 9207 ``iss`` checks, ID token validation,
UserInfo, refresh, introspection and revocation exactly as an integrator's service would,
with openid-client's defaults: it sends the client secret in the form
(``client_secret_post``) to a client registered with the default ``client_secret_basic``,
and registers itself through RFC 7591 as an integrator following its README would. The
citizen's part (login and consent) is the test browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from oidc_browser import Browser, create_client, create_user

NODE_RP = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
def openid_client() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("Node.js and npm are needed to run openid-client")
    if not (NODE_RP / "node_modules" / "openid-client").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_RP,
            check=True,
            timeout=180,
        )
    return NODE_RP / "rp.mjs"


def _node(script: Path, *args: str) -> str:
    result = subprocess.run(
        ["node", str(script), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _sign_in(op, url: str, redirect_uri: str, username: str) -> str:
    browser = Browser(op)
    page = browser.navigate(url, stop_at=redirect_uri)
    page = browser.login(page, username, stop_at=redirect_uri)
    page = browser.submit(page, button="allow", stop_at=redirect_uri)
    return page.headers["Location"]


def test_openid_client_logs_in_refreshes_introspects_and_revokes(op, openid_client, tmp_path):
    username = create_user(op, name="Zhang Min", email="zhangmin@example.cn")
    service = create_client(op, name="Library card")  # registered client_secret_basic
    state = str(tmp_path / "rp-state.json")
    url = _node(
        openid_client,
        "authorize",
        state,
        op.url,
        service.client_id,
        service.client_secret,
        service.redirect_uri,
    )
    callback = _sign_in(op, url, service.redirect_uri, username)

    report = json.loads(_node(openid_client, "callback", state, callback))

    claims = report["claims"]
    assert claims["iss"] == op.url and claims["aud"] == service.client_id
    assert claims["acr"] and claims["amr"] == ["pwd"] and claims["sid"]
    assert report["userinfo"]["sub"] == claims["sub"]
    assert report["userinfo"]["email"] == "zhangmin@example.cn"
    assert report["refreshed"] == {"rotated": True, "id_token_sub": claims["sub"]}
    assert report["introspection"] == {"active": True, "sub": claims["sub"]}
    assert report["after_revocation"] == {"active": False}


def test_openid_client_registers_itself_and_logs_in_with_its_defaults(op, openid_client, tmp_path):
    username = create_user(op, email="registered@example.cn")
    token = json.loads(op.cli("clients", "initial-token", "--json").stdout)["initial_access_token"]
    redirect_uri = "http://127.0.0.1:9/openid-client/cb"
    state = str(tmp_path / "registered-state.json")
    url = _node(openid_client, "register", state, op.url, token, redirect_uri)
    callback = _sign_in(op, url, redirect_uri, username)

    report = json.loads(_node(openid_client, "callback", state, callback))

    assert report["claims"]["aud"] == report["client_id"]
    assert report["userinfo"]["email"] == "registered@example.cn"
    assert report["refreshed"]["rotated"] is True
    assert report["after_revocation"] == {"active": False}
