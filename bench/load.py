"""The soak test of issue 6: minutes of mixed traffic against ``onetrip serve``, loopback only.

One wrk thread per connection, so each Lua state knows what its last request was: every
thread keeps its own refresh-token chain (each answer's tokens are its next requests'),
and picks each request by weight among password logins, refreshes, UserInfo calls, OCSP
requests (with a nonce, so every answer is signed fresh) and PDF verifications. The run
fails if any answer is a 5xx or not what that request should get, if the server logged
an error, or if the audit log is not one intact chain holding at least an event per login
afterwards; it prints p50/p99 latency over all requests and the rate of each kind.

Not part of ``make bench`` (it runs for minutes): ``make load`` or
``.venv/bin/python -m bench.load [--seconds 300] [--connections 8] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from bench.common import ONETRIP, BenchError, onetrip_server
from bench.oidc import PASSWORD, REDIRECT_URI, CodeFlow, _csrf

#: Relative weights of the request kinds in the mix.
MIX = {"userinfo": 40, "refresh": 25, "ocsp": 25, "login": 5, "verify": 5}

_SCRIPT = r"""
local threads = {}
local cfg = %(config)s
local kinds = {}
for kind, weight in pairs(cfg.mix) do
  for _ = 1, weight do table.insert(kinds, kind) end
end

local function slurp(path)
  local f = assert(io.open(path, "rb")); local data = f:read("*a"); f:close(); return data
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", cfg.seeds[#threads])
end

local last, refresh, access = nil, nil, nil
local ocsp_body, pdf_body
local counts = {}
stats = ""  -- done() reads it through thread:get

function init(args)
  refresh = seed
  ocsp_body = slurp(cfg.ocsp_file)
  pdf_body = slurp(cfg.pdf_file)
  math.randomseed(os.time() + #tostring({}))
end

local function form(extra)
  local h = {["Content-Type"] = "application/x-www-form-urlencoded"}
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function request()
  local kind = kinds[math.random(#kinds)]
  if kind == "userinfo" and access == nil then kind = "refresh" end
  last = kind
  if kind == "refresh" then
    return wrk.format("POST", "/oauth/token", form({Authorization = cfg.basic}),
      "grant_type=refresh_token&refresh_token=" .. refresh)
  elseif kind == "userinfo" then
    return wrk.format("GET", "/oauth/userinfo", {Authorization = "Bearer " .. access})
  elseif kind == "ocsp" then
    return wrk.format("POST", "/pki/ocsp", {["Content-Type"] = "application/ocsp-request"},
      ocsp_body)
  elseif kind == "login" then
    return wrk.format("POST", "/login", form({Cookie = cfg.login_cookie}), cfg.login_form)
  else
    return wrk.format("POST", "/api/v1/verify", {["Content-Type"] = cfg.pdf_type}, pdf_body)
  end
end

local expected = {refresh = 200, userinfo = 200, ocsp = 200, login = 302, verify = 200}

function response(status, headers, body)
  local c = counts[last] or {ok = 0, bad = 0, e5 = 0}
  counts[last] = c
  if status == expected[last] then c.ok = c.ok + 1 else c.bad = c.bad + 1 end
  if status >= 500 then c.e5 = c.e5 + 1 end
  if last == "refresh" and status == 200 then
    refresh = string.match(body, '"refresh_token"%%s*:%%s*"([^"]+)"') or refresh
    access = string.match(body, '"access_token"%%s*:%%s*"([^"]+)"') or access
  end
  local parts = {}
  for kind, k in pairs(counts) do
    table.insert(parts, string.format('"%%s":[%%d,%%d,%%d]', kind, k.ok, k.bad, k.e5))
  end
  stats = "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do table.insert(all, t:get("stats")) end
  io.write(string.format(
    'LOAD_RESULT {"duration_us": %%d, "requests": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"socket_errors": %%d, "threads": [%%s]}\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout,
    table.concat(all, ",")))
end
"""


def _lua_table(value) -> str:
    """A Lua literal for JSON-like ``value`` (JSON strings are valid Lua strings)."""
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"[{json.dumps(k)}] = {_lua_table(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "{" + ", ".join(_lua_table(v) for v in value) + "}"
    return json.dumps(value)


def _prepare(server, workdir: Path, connections: int) -> dict:
    """A user, a client, refresh chains, a login form, an OCSP request and a signed PDF."""
    client = server.create_client("authorization_code", "refresh_token", redirect_uri=REDIRECT_URI)
    server.create_user("bench", PASSWORD)
    flow = CodeFlow(server, client)
    seeds = flow.refresh_tokens(connections, time.monotonic() + 120)
    if len(seeds) < connections:
        raise BenchError("could not seed a refresh-token chain per connection")

    browser = requests.Session()
    csrf = _csrf(browser.get(f"{server.url}/login").text)
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    login_form = urlencode({"csrf_token": csrf, "username": "bench", "password": PASSWORD})

    issued = json.loads(
        server.cli("ca", "issue", "--profile", "citizen", "--subject", "CN=Load Citizen", "--json")
    )
    cert = x509.load_pem_x509_certificate(issued["certificate"].encode())
    chain = [
        x509.load_pem_x509_certificate(p.encode())
        for p in _pems(server.cli("ca", "export", "--chain"))
    ]
    ocsp_der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, chain[0], hashes.SHA1())
        .add_extension(x509.OCSPNonce(secrets.token_bytes(16)), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    (workdir / "ocsp.der").write_bytes(ocsp_der)

    from signing.pdfs import make_pdf

    (workdir / "in.pdf").write_bytes(make_pdf(1))
    server.cli("departments", "create", "LOAD", "--name", "负载测试处", "--name-en", "Load Office")
    server.cli(
        "sign",
        str(workdir / "in.pdf"),
        "-o",
        str(workdir / "signed.pdf"),
        "--department",
        "LOAD",
        "--level",
        "b-lt",
    )
    boundary = secrets.token_hex(12)
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="signed.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + (workdir / "signed.pdf").read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    (workdir / "verify.body").write_bytes(body)
    return {
        "mix": MIX,
        "seeds": seeds,
        "basic": client.basic,
        "login_cookie": cookie,
        "login_form": login_form,
        "ocsp_file": str(workdir / "ocsp.der"),
        "pdf_file": str(workdir / "verify.body"),
        "pdf_type": f"multipart/form-data; boundary={boundary}",
    }


def _pems(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [part + end for part in text.split(end) if "BEGIN CERTIFICATE" in part]


def soak(seconds: int, connections: int) -> dict:
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    with onetrip_server(workers=2, pin=False) as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = _prepare(server, workdir, connections)
        script = workdir / "load.lua"
        script.write_text(_SCRIPT % {"config": _lua_table(config)})
        cmd = [
            "wrk",
            "-t",
            str(connections),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            server.url,
        ]
        print(
            f"load: {seconds} s of mixed traffic over {connections} connections ...",
            file=sys.stderr,
            flush=True,
        )
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("LOAD_RESULT ")), None)
        if line is None:
            raise BenchError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
        raw = json.loads(line.removeprefix("LOAD_RESULT "))
        log = Path(server.env["ONETRIP_DATA_DIR"]).parent / "serve.log"
        errors = [ln for ln in log.read_text(errors="replace").splitlines() if _is_error(ln)]
        chain = _audit_chain(server.env)
    kinds: dict[str, list[int]] = {}
    for thread in raw["threads"]:
        for kind, counts in thread.items():
            kinds[kind] = [a + b for a, b in zip(kinds.get(kind, [0, 0, 0]), counts, strict=True)]
    duration = raw["duration_us"] / 1e6
    return {
        "seconds": round(duration, 1),
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "socket_errors": raw["socket_errors"],
        "kinds": {
            kind: {"per_s": round(ok / duration, 1), "ok": ok, "unexpected": bad, "5xx": e5}
            for kind, (ok, bad, e5) in sorted(kinds.items())
        },
        "server_errors_logged": len(errors),
        "first_error": errors[0][:300] if errors else None,
        "audit": chain,
    }


def _audit_chain(env: dict[str, str]) -> dict:
    """``onetrip audit verify`` once the last batch of events has landed: both workers
    appended to one chain throughout, most events in batches of their own."""
    time.sleep(0.5)  # ten times the batch delay
    result = subprocess.run(
        [ONETRIP, "audit", "verify", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise BenchError(f"onetrip audit verify: {result.stderr.strip()}") from exc


def _is_error(line: str) -> bool:
    if line.startswith("{"):
        try:
            return json.loads(line).get("level") in ("ERROR", "CRITICAL")
        except ValueError:
            return False
    return "Traceback" in line or " ERROR " in line


def passed(report: dict) -> bool:
    kinds = report["kinds"].values()
    logins = report["kinds"].get("login", {}).get("ok", 0)
    return (
        not report["server_errors_logged"]
        and not report["socket_errors"]
        and all(k["5xx"] == 0 and k["unexpected"] == 0 for k in kinds)
        and report["audit"]["intact"]
        and report["audit"]["rows"] >= logins  # every login left its event
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=int, default=300, help="how long to load [300]")
    parser.add_argument("--connections", type=int, default=8, help="connections [8]")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = soak(args.seconds, args.connections)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['requests']:,} requests in {report['seconds']} s; "
            f"latency p50 {report['p50_ms']:.1f} ms, p99 {report['p99_ms']:.1f} ms"
        )
        for kind, k in report["kinds"].items():
            print(
                f"  {kind:<9} {k['per_s']:>8.1f}/s  ok {k['ok']:>7,}  "
                f"unexpected {k['unexpected']}  5xx {k['5xx']}"
            )
        print(
            f"  server errors logged: {report['server_errors_logged']}"
            + (f" (first: {report['first_error']})" if report["first_error"] else "")
        )
        chain = report["audit"]
        print(
            f"  audit log: {chain['rows']:,} rows, "
            + ("chain intact" if chain["intact"] else f"BROKEN at row {chain['first_broken']}")
        )
        print("PASS" if passed(report) else "FAIL")
    return 0 if passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())
