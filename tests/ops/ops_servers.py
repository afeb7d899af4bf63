"""Real Redis and PostgreSQL servers that a test owns, so it can stop and restart them.

The machine's shared servers must not be stopped by one test: these run on free ports in
temporary directories. PostgreSQL refuses to run as root, so when the tests run as root the
private cluster runs as the ``postgres`` system user (``setpriv``); where PostgreSQL's
binaries or that user are missing, :func:`postgres_bin` says why and the test skips.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port


def _wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


class RedisServer:
    """``redis-server`` on a free port with an append-only file, so data outlives a restart
    the way it does in production; with ``persistent=False``, none: every start is empty,
    as a cache-only Redis (or a failover to an empty replica) comes back."""

    def __init__(self, directory: Path, *, persistent: bool = True) -> None:
        self.directory, self.port = directory, free_port()
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.persistent:
            cmd += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            cmd += ["--appendonly", "no"]
        cmd += ["--dir", str(self.directory)]
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(cmd, stdout=log, stderr=log)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def postgres_bin() -> tuple[Path | None, str]:
    """PostgreSQL's binary directory, or ``None`` and the reason it cannot be used."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        return None, "no initdb under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return None, "running as root and setpriv is missing (initdb refuses root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no postgres user to run initdb as"
    return Path(found[-1]).parent, ""


class PostgresCluster:
    """A private PostgreSQL cluster (initdb, pg_ctl) on a free port, trust authentication."""

    def __init__(self, bindir: Path) -> None:
        self.bindir, self.port = bindir, free_port()
        # Under /tmp, not pytest's 0700 tmp_path: the postgres user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="onetrip-pg-"))
        self.data = self.directory / "data"
        self._as = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            self._as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            self._as += ["--clear-groups"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            cwd=self.directory,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "pg.log"), "-w",
                  "-o", options, "start")  # fmt: skip
        _wait_port(self.port)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
