"""Several ``onetrip serve`` nodes over one database and one Redis, behind nginx.

nginx balances round-robin over the nodes, and names the node that answered in an
``X-Upstream`` response header. A request with ``X-OneTrip-Node: n1`` (or ``n2``, ...) goes
to that node only, still through the proxy, so a test can put each step of a flow on a
chosen node and check from the header that it really ran there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.conftest import wait_until_healthy

NODE_HEADER = "X-OneTrip-Node"

_CONFIG = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 60m;
    upstream pool {{
{pool}
    }}
{singles}
    map $http_x_onetrip_node $backend {{
        default pool;
{routes}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://$backend;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream off;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_config(tmp: Path, port: int, node_ports: dict[str, int]) -> str:
    """A round-robin proxy on ``port`` over ``node_ports`` (name -> port)."""
    return _CONFIG.format(
        user="user root;" if os.geteuid() == 0 else "",  # workers write temp files in tmp
        tmp=tmp,
        port=port,
        pool="\n".join(f"        server 127.0.0.1:{p};" for p in node_ports.values()),
        singles="\n".join(
            f"    upstream {name} {{ server 127.0.0.1:{p}; }}" for name, p in node_ports.items()
        ),
        routes="\n".join(f"        {name} {name};" for name in node_ports),
    )


def start_nginx(binary: str, tmp: Path, port: int, node_ports: dict[str, int]) -> subprocess.Popen:
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_config(tmp, port, node_ports))
    log = open(tmp / "nginx.out", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(tmp)], stdout=log, stderr=subprocess.STDOUT
    )
    wait_until_healthy(process, f"http://127.0.0.1:{port}/healthz", f"{tmp}/error.log")
    return process


@dataclass
class Cluster:
    """What a test sees: the proxy's URL, the nodes' names and ports, the CLI environment.

    ``url``, ``env`` and ``cli`` make it usable wherever the helpers expect a live server."""

    url: str
    env: dict
    nodes: dict[str, int]
    cli: object = field(repr=False)

    def node_of(self, response: requests.Response) -> str:
        """The name of the node that answered ``response`` (from nginx's header)."""
        upstream = response.headers["X-Upstream"]
        by_port = {f"127.0.0.1:{port}": name for name, port in self.nodes.items()}
        return by_port[upstream]


def pin(session: requests.Session, node: str | None) -> None:
    """Send the session's next requests to ``node`` (None: round-robin again)."""
    if node is None:
        session.headers.pop(NODE_HEADER, None)
    else:
        session.headers[NODE_HEADER] = node


def record_nodes(session: requests.Session, cluster: Cluster) -> list[tuple[str, str, str]]:
    """A log, filled as the session goes, of (method, path, node) for every response."""
    log: list[tuple[str, str, str]] = []

    def hook(response, *args, **kwargs):
        path = requests.utils.urlparse(response.request.url).path
        log.append((response.request.method, path, cluster.node_of(response)))

    session.hooks["response"].append(hook)
    return log
