"""PKI throughput on one worker: OCSP responses/s and time-stamps/s, certificate issuances/s.

OCSP and TSA figures come from a real ``onetrip serve --workers 1`` pinned to one core,
driven by wrk over loopback from the other core (see :mod:`bench.common`), so they include
granian, Flask, the app's hooks, the service and the socket: what a client gets from one
worker. Three OCSP shapes: a GET without nonce (what browsers and CDNs send; cacheable and
reused until the status changes), a POST without nonce, and a POST with a nonce (OpenSSL's
default; signed fresh every time). Issue 3's targets stand in the peer column, so the
ratio is ours / target: 2,000 OCSP responses/s and 500 time-stamps/s per worker. OpenSSL's
own ECDSA P-256 signatures/s on the same core (``openssl speed``), the ceiling of any
signing responder, is printed beside them on stderr, with the service alone (no HTTP)
and ``/healthz`` through the same server, which bracket the cost of the request path.
Issuance is measured in-process (only EST issues over HTTP, and it needs an OAuth token).
Run: ``.venv/bin/python -m bench.pki``.
"""

from __future__ import annotations

import base64
import re
import subprocess
import tempfile
import time
import urllib.parse

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from bench.common import (
    LOAD_CPU,
    SERVER_CPU,
    BenchError,
    main,
    note,
    onetrip_server,
    pinned,
    row,
    wrk,
)

#: (bound, its name): the ratio column reads ours / target, so 1.0 or more meets it.
OCSP_TARGET = (2000.0, "target >= 2,000/s/worker (issue 3)")
TSA_TARGET = (500.0, "target >= 500/s/worker (issue 3)")
DURATION = 5
CONNECTIONS = 8


def _lua_bytes(data: bytes) -> str:
    """A Lua string literal of arbitrary bytes (decimal escapes; JSON's \\u is not Lua)."""
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def _wrk_post(url: str, body: bytes, content_type: str) -> float:
    """Successful POSTs/s of a fixed binary body (bench.common's wrk sends text bodies only)."""
    script = (
        f'wrk.method = "POST"\nwrk.body = {_lua_bytes(body)}\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as fh:
        fh.write(script)
        fh.flush()
        cmd = ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{DURATION}s", "-s", fh.name, url]
        out = subprocess.run(
            pinned(cmd, LOAD_CPU), capture_output=True, text=True, timeout=DURATION + 30
        ).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if rate is None or "Non-2xx" in out or "Socket errors" in out:
        raise BenchError(f"wrk POST {url} failed: {out.strip()[-300:]}")
    return float(rate.group(1))


def _openssl_p256_signs() -> float:
    """ECDSA P-256 signatures/s of ``openssl speed`` on the server's core."""
    cmd = pinned(["openssl", "speed", "-seconds", "2", "ecdsap256"], SERVER_CPU)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", out)
    if found is None:
        raise BenchError(f"openssl speed printed no ECDSA P-256 line: {out[-300:]}")
    return float(found.group(1))


def _rate(action, seconds: float = 2.0) -> float:
    action()  # warm caches
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        action()
        count += 1
    return count / elapsed


def _requests(server) -> tuple[bytes, bytes, bytes]:
    """(OCSP request without nonce, OCSP request with nonce, TimeStampReq) for ``server``."""
    from asn1crypto import tsp

    pem = server.cli("ca", "issue", "--profile", "citizen", "--subject", "CN=Bench Citizen")
    certificate = x509.load_pem_x509_certificate(pem.encode())
    issuer = x509.load_pem_x509_certificates(server.cli("ca", "export", "--chain").encode())[0]
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    plain = builder.build().public_bytes(serialization.Encoding.DER)
    nonce = builder.add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False).build()
    query = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": b"\x07" * 32,
        },
        "nonce": 42,
        "cert_req": True,
    }
    tsq = tsp.TimeStampReq(query).dump()
    return plain, nonce.public_bytes(serialization.Encoding.DER), tsq


def _check_answers(url: str, plain: bytes, tsq: bytes) -> None:
    """One good OCSP answer and one granted token, so the rates count real answers."""
    answer = ocsp.load_der_ocsp_response(
        requests.post(f"{url}/pki/ocsp", data=plain, timeout=10).content
    )
    if answer.certificate_status != ocsp.OCSPCertStatus.GOOD:
        raise BenchError("the OCSP responder did not answer good for a fresh certificate")
    token = requests.post(f"{url}/pki/tsa", data=tsq, timeout=10).content
    if not token.startswith(b"\x30") or b"\x30\x03\x02\x01\x00" not in token[:16]:
        raise BenchError("the TSA did not grant a time-stamp")


def _service_alone(data_dir: str, nonce: bytes, tsq: bytes) -> dict[str, float]:
    """In-process rates of the same services (no HTTP) and of issuance, on a fresh CA."""
    from certs.authority import authority
    from certs.ocsp import responder
    from certs.tsa import time_stamp_authority
    from config.runtime import Runtime
    from config.settings import load_settings

    runtime = Runtime(load_settings(environ={}, data_dir=data_dir))
    runtime.migrate()
    ca = authority(runtime)
    ca.ensure()
    tsa = time_stamp_authority(ca)
    answer = responder(ca)
    rates = {
        "ocsp_nonce": _rate(lambda: answer.respond(nonce)),
        "tsa": _rate(lambda: tsa.respond(tsq)),
        "issue": _rate(lambda: ca.issue_for_custody_key("citizen", "CN=Bench")),
    }
    runtime.db.dispose()
    return rates


def run() -> list[dict]:
    with onetrip_server(workers=1) as server:
        plain, nonce, tsq = _requests(server)
        _check_answers(server.url, plain, tsq)
        path = urllib.parse.quote(base64.b64encode(plain).decode(), safe="")
        ocsp_get = wrk(f"{server.url}/pki/ocsp/{path}", connections=CONNECTIONS, duration=DURATION)
        ocsp_post = _wrk_post(f"{server.url}/pki/ocsp", plain, "application/ocsp-request")
        ocsp_nonce = _wrk_post(f"{server.url}/pki/ocsp", nonce, "application/ocsp-request")
        tsa = _wrk_post(f"{server.url}/pki/tsa", tsq, "application/timestamp-query")
        healthz = wrk(f"{server.url}/healthz", connections=CONNECTIONS, duration=3)
    openssl = _openssl_p256_signs()
    with tempfile.TemporaryDirectory(prefix="onetrip-bench-pki-") as tmp:
        alone = _service_alone(tmp, nonce, tsq)
    note(
        f"pki: one worker, same run: /healthz {healthz.rate:,.0f}/s (the HTTP floor); "
        f"service alone (no HTTP): OCSP with nonce {alone['ocsp_nonce']:,.0f}/s, "
        f"TSA {alone['tsa']:,.0f}/s; OCSP GET p50 {ocsp_get.p50_ms:.1f} ms"
    )
    note(f"pki: openssl speed ecdsap256 on the same core: {openssl:,.0f} signatures/s")
    return [
        row("pki.ocsp_get_cached (1 worker)", ocsp_get.rate, "responses/s", *OCSP_TARGET),
        row("pki.ocsp_post_no_nonce (1 worker)", ocsp_post, "responses/s", *OCSP_TARGET),
        row("pki.ocsp_post_nonce (1 worker)", ocsp_nonce, "responses/s", *OCSP_TARGET),
        row("pki.tsa (1 worker)", tsa, "tokens/s", *TSA_TARGET),
        row("pki.issue_custody_key (in-process)", alone["issue"], "certificates/s"),
    ]


if __name__ == "__main__":
    main(run)
