"""Shared machinery of the benchmarks: a real server, a real load generator, one table.

Every figure comes from a real ``onetrip serve`` process (or a peer's real server) driven by
``wrk`` over loopback. When the machine has two or more CPUs the server under test is pinned
to CPU 0 and wrk to CPU 1, so "per core" means one core and the load generator never steals
the server's CPU. wrk's Lua scripting covers what we need beyond a fixed GET: POST bodies,
counting only the statuses that mean success, and consuming single-use tokens from a file.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ONETRIP = str(Path(sys.executable).parent / "onetrip")
SERVER_CPU, LOAD_CPU = 0, 1
COLUMNS = ("benchmark", "ours", "unit", "peer", "peer_name", "ratio")


class BenchError(RuntimeError):
    """A benchmark could not run (missing tool, server failed to start, ...)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(cmd: Sequence[str], cpu: int) -> list[str]:
    """``cmd`` restricted to one CPU when there are at least two and taskset exists."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu), *cmd]
    return list(cmd)


@contextmanager
def pinned_self(cpu: int) -> Iterator[None]:
    """Run the body with this process pinned to ``cpu`` (when there are at least two)."""
    before = os.sched_getaffinity(0)
    if len(before) >= 2 and cpu in before:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def note(message: str) -> None:
    """Context for a figure, on stderr so that ``--json`` output stays clean."""
    print(message, file=sys.stderr)


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise BenchError(f"server at {url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class OneTrip:
    """A running ``onetrip serve --workers 1`` and the environment its CLI needs."""

    url: str
    env: dict
    process: subprocess.Popen

    def cli(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [ONETRIP, *args], input=input, env=self.env, capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise BenchError(f"onetrip {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def create_client(
        self, *grant_types: str, redirect_uri: str | None = None
    ) -> ClientCredentials:
        """Register a confidential client (``client_secret_basic``) for a benchmark."""
        args = [arg for grant in grant_types for arg in ("--grant-type", grant)]
        if redirect_uri:
            args += ["--redirect-uri", redirect_uri]
        info = json.loads(self.cli("clients", "create", "--name", "bench", *args, "--json"))
        return ClientCredentials(info["client_id"], info["client_secret"])

    def create_user(self, username: str, password: str) -> None:
        self.cli(
            "users", "create", username, "--name", username.title(),
            "--email", f"{username}@example.org", input=password + "\n",
        )  # fmt: skip


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secret: str

    @property
    def basic(self) -> str:
        """The ``Authorization`` header value of ``client_secret_basic`` (RFC 6749 2.3.1)."""
        pair = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()


@contextmanager
def onetrip_server(workers: int = 1, pin: bool = True) -> Iterator[OneTrip]:
    """A fresh OneTrip on a free loopback port with its own data directory.

    ``pin`` keeps the whole server on ``SERVER_CPU`` (per-core figures); without it the
    workers may use every CPU (scaling figures).

    SQLite and the embedded Valkey by default; ``DATABASE_URL`` / ``REDIS_URL`` from the
    environment are passed through, so the same figures can be taken on PostgreSQL/Redis.
    """
    with tempfile.TemporaryDirectory(prefix="onetrip-bench-") as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONETRIP_")}
        env.update(
            ONETRIP_DATA_DIR=str(Path(tmp) / "var"),
            ONETRIP_ISSUER=f"http://127.0.0.1:{port}",
            ONETRIP_KEY_PUBLISH_DELAY="0",
        )
        log = Path(tmp) / "serve.log"
        cmd = [ONETRIP, "serve", "--host", "127.0.0.1", "--port", str(port)]
        cmd_w = [*cmd, "--workers", str(workers)]
        with log.open("ab") as out:
            process = subprocess.Popen(
                pinned(cmd_w, SERVER_CPU) if pin else cmd_w,
                env=env,
                stdout=out,
                stderr=out,
                cwd=tmp,
            )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log)
            yield OneTrip(url=f"http://127.0.0.1:{port}", env=env, process=process)
        finally:
            stop(process)


# -- wrk -------------------------------------------------------------------------------------

_WRK_SCRIPT = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

ok, bad = 0, 0  -- globals: done() reads them through thread:get
local tokens, next_token = nil, 0
local method, body_prefix, expect = %(method)s, %(body)s, %(expect)d
local headers = %(headers)s

function init(args)
  if %(token_file)s ~= nil then
    tokens = {}
    local n = 0
    for line in io.lines(%(token_file)s) do
      n = n + 1
      if n %% %(threads)d == id - 1 then table.insert(tokens, line) end
    end
  end
end

local chain = %(chain)s

function request()
  local body = body_prefix
  if chain then
    body = body .. (table.remove(tokens, 1) or "spent")
  elseif tokens ~= nil then
    next_token = next_token + 1
    body = body .. tokens[math.min(next_token, #tokens)]
  end
  return wrk.format(method, nil, headers, body)
end

function response(status, hdrs, resp_body)
  if status == expect then ok = ok + 1 else bad = bad + 1 end
  if chain then
    local successor = string.match(resp_body, '"refresh_token"%%s*:%%s*"([^"]+)"')
    if successor then table.insert(tokens, successor) end
  elseif tokens ~= nil and ok + bad >= #tokens then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_bad = total_bad + t:get("bad")
  end
  io.write(string.format(
    "WRK_RESULT {\\"duration_us\\": %%d, \\"requests\\": %%d, \\"ok\\": %%d, \\"bad\\": %%d, "
    .. "\\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"socket_errors\\": %%d}\\n",
    summary.duration, summary.requests, total_ok, total_bad,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _lua(value: str | None) -> str:
    return "nil" if value is None else json.dumps(value)  # JSON strings are valid Lua strings


def _lua_headers(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()) + "}"


@dataclass
class WrkResult:
    duration_s: float
    requests: int
    ok: int
    bad: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Successful answers per second (only the expected status counts)."""
        return self.ok / self.duration_s if self.duration_s else 0.0


def wrk(
    url: str,
    *,
    method: str = "GET",
    body: str = "",
    headers: dict[str, str] | None = None,
    expect: int = 200,
    token_file: Path | None = None,
    chain: bool = False,
    connections: int = 8,
    threads: int = 1,
    duration: float = 6,
    pin: bool = True,
) -> WrkResult:
    """Drive ``url`` with wrk; with ``token_file`` each request appends a fresh line to ``body``.

    A token-consuming run stops by itself when the tokens run out; its rate is taken over the
    time it actually ran. With ``chain`` the file only seeds the run (one token per
    connection is enough): each answer's ``refresh_token`` is the next request's, so a
    rotating token is spent exactly as a real client spends it, for as long as the run lasts.
    """
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    script = _WRK_SCRIPT % {
        "method": _lua(method),
        "body": _lua(body),
        "expect": expect,
        "headers": _lua_headers(all_headers),
        "token_file": _lua(str(token_file) if token_file else None),
        "chain": "true" if chain else "false",
        "threads": threads,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s"]
        result = subprocess.run(
            pinned([*cmd, "-s", fh.name, url], LOAD_CPU) if pin else [*cmd, "-s", fh.name, url],
            capture_output=True,
            text=True,
            timeout=duration + 30,
        )
    finally:
        os.unlink(fh.name)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if line is None:
        raise BenchError(f"wrk failed: {result.stderr.strip() or result.stdout.strip()}")
    data = json.loads(line.removeprefix("WRK_RESULT "))
    return WrkResult(
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        ok=data["ok"],
        bad=data["bad"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


# -- rows and the table ----------------------------------------------------------------------


def row(
    benchmark: str,
    ours: float,
    unit: str,
    peer: float | None = None,
    peer_name: str = "",
    bound: str | None = None,
    ratio: float | None = None,
) -> dict:
    """One result row; ``ratio`` is ours / peer (higher is better for rates) unless the
    caller gives one measured otherwise (such as the median of paired rounds)."""
    if ratio is None and peer:
        ratio = ours / peer
    return {
        "benchmark": benchmark,
        "ours": round(ours, 1),
        "unit": unit,
        "peer": None if peer is None else round(peer, 1),
        "peer_name": peer_name,
        "ratio": None if ratio is None else round(ratio, 2),
        "bound": bound,
    }


def _cell(value, column: str) -> str:
    if value is None:
        return "-"
    if column == "ratio" and value < 10:  # 0.9 would hide which side of a 0.9 bound it is
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def table(rows: Sequence[dict]) -> str:
    """The rows as one aligned text table (benchmark | ours | unit | peer | peer name | ratio)."""
    heads = ("benchmark", "ours", "unit", "peer", "peer name", "ratio")
    cells = [[_cell(r.get(c), c) for c in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    right = {1, 3, 5}

    def fmt(values) -> str:
        return " | ".join(
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    lines = [fmt(heads), "-+-".join("-" * w for w in widths), *(fmt(c) for c in cells)]
    return "\n".join(lines)


def main(run, argv: Sequence[str] | None = None) -> None:
    """Entry point shared by ``python -m bench.<name>``: run, then print the table or JSON."""
    argv = sys.argv[1:] if argv is None else argv
    rows = run()
    if "--json" in argv:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
