"""The deployment examples in deploy/ are valid, and slow clients cannot starve a node."""

from __future__ import annotations

import os
import re
import runpy
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, free_port, stop_process
from tests.deploy.cluster import nginx_binary

DEPLOY = ROOT / "deploy"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    key_type = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=id.example.gov", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", *key_type, *subject],
        check=True,
        capture_output=True,
    )
    return cert, key


def _nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed")
    return binary


def _example_nginx_conf(tmp: Path, node_port: int, http_port: int, https_port: int) -> Path:
    """deploy/nginx.conf with a self-signed certificate, loopback ports, files under ``tmp``
    and the node at ``node_port`` as its whole upstream."""
    cert, key = _self_signed(tmp)
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.findall(r"^ +server 10\.0\.0\.\d+:8000 .*\n", conf, re.MULTILINE)
    assert len(upstream) >= 2  # the example balances over several nodes
    conf = conf.replace("".join(upstream), f"        server 127.0.0.1:{node_port};\n")
    for placeholder, real in {
        "/etc/ssl/onetrip/fullchain.pem": str(cert),
        "/etc/ssl/onetrip/privkey.pem": str(key),
        "/run/nginx-onetrip.pid": str(tmp / "nginx.pid"),
        "/var/log/nginx/onetrip-error.log": str(tmp / "error.log"),
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
    }.items():
        assert placeholder in conf, placeholder
        conf = conf.replace(placeholder, real)
    if os.geteuid() == 0:
        conf = "user root;  # workers write temp files under the test's private tmp\n" + conf
    path = tmp / "nginx.conf"
    path.write_text(conf)
    return path


def test_the_nginx_example_passes_nginx_t_with_a_real_certificate(tmp_path):
    conf = _example_nginx_conf(tmp_path, free_port(), free_port(), free_port())
    result = subprocess.run(
        [_nginx(), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def _wait_until_answers(process: subprocess.Popen, url: str) -> None:
    """Like conftest's wait_until_healthy, but over TLS with our self-signed certificate and
    patient with a server that accepts before its workers are up."""
    for _ in range(300):
        assert process.poll() is None, f"{process.args[0]} exited; see its log"
        try:
            if requests.get(url, timeout=5, verify=False).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_the_gunicorn_configuration_sets_what_the_readme_promises(tmp_path, monkeypatch):
    monkeypatch.setenv("ONETRIP_DATA_DIR", str(tmp_path))
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert conf["wsgi_app"] == "idp.wsgi:create_wsgi_app()"
    assert conf["worker_class"] == "gthread"
    assert conf["timeout"] > 0
    assert conf["forwarded_allow_ips"] == "127.0.0.1"


@pytest.mark.slow
def test_gunicorn_with_the_example_configuration_serves_a_fresh_data_directory(live_env):
    """First start in the master (schema, keys), two workers, node-wide metrics."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed (pip install -e '.[dev]')")
    port = int(live_env["ONETRIP_PORT"])
    env = {**live_env, "ONETRIP_BIND": f"127.0.0.1:{port}", "ONETRIP_WORKERS": "2"}
    log = Path(env["ONETRIP_DATA_DIR"]) / "gunicorn.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(gunicorn), "-c", str(DEPLOY / "gunicorn.conf.py")],
            env=env,
            cwd=env["ONETRIP_DATA_DIR"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answers(process, f"{url}/readyz")
        for _ in range(10):
            assert requests.get(f"{url}/healthz", timeout=10, headers={"Connection": "close"}).ok
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        assert (
            'onetrip_http_request_duration_seconds_count{endpoint="ops.healthz",method="GET",'
            'status="200"} 10.0' in metrics
        )
    finally:
        stop_process(process)


def _trickler(port: int, declared: int) -> ssl.SSLSocket:
    """A TLS client that announces a large body and then sends one byte of it."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    sock.sendall(
        b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {declared}\r\n\r\ng".encode()
    )
    return sock


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_behind_the_nginx_example_slow_clients_do_not_block_other_requests(tmp_path, live_server):
    """granian hands a request to a worker thread before its body has arrived, so clients
    trickling bodies straight at a node can hold all its threads (4 per worker). nginx, as
    deploy/nginx.conf sets it up, reads whole bodies first: here more tricklers than the
    one-worker node has threads leave it free for everyone else."""
    node_port, https_port = int(live_server.env["ONETRIP_PORT"]), free_port()
    conf = _example_nginx_conf(tmp_path, node_port, free_port(), https_port)
    log = open(tmp_path / "nginx.out", "ab")  # noqa: SIM115
    nginx = subprocess.Popen(
        [_nginx(), "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    front = f"https://127.0.0.1:{https_port}"
    slow: list[ssl.SSLSocket] = []
    try:
        _wait_until_answers(nginx, f"{front}/healthz")
        slow = [_trickler(https_port, 1_000_000) for _ in range(12)]
        for _ in range(5):
            assert requests.get(f"{front}/healthz", timeout=10, verify=False).status_code == 200
        answer = requests.post(
            f"{front}/oauth/token",
            data={"grant_type": "client_credentials"},
            timeout=10,
            verify=False,
        )
        assert answer.status_code == 401  # answered (no client credentials), not queued
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        for sock in slow:
            sock.close()
        stop_process(nginx)
