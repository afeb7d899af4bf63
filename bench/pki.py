"""PKI throughput on one worker: OCSP responses/s, time-stamps/s, certificate issuances/s.

In-process through the WSGI app with Flask's test client (one thread = one worker), so
each figure includes request parsing, routing, the service and response serialisation,
but not the socket. OCSP requests carry a nonce (as OpenSSL sends by default), so every
response is signed fresh; the cached no-nonce path is measured beside it.
Run: ``.venv/bin/python -m bench.pki``.
"""

from __future__ import annotations

import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

TARGETS = {"ocsp_nonce": 2000.0, "ocsp_cached": 2000.0, "tsa": 500.0}
SECONDS = 3.0


def _rate(action, seconds: float = SECONDS) -> float:
    action()  # warm caches
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        action()
        count += 1
    return count / elapsed


def run() -> list[dict]:
    from asn1crypto import tsp

    from certs.authority import authority
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.app import create_app

    data_dir = tempfile.mkdtemp(prefix="onetrip-bench-pki-")
    runtime = Runtime(load_settings(environ={}, data_dir=data_dir))
    runtime.migrate()
    client = create_app(runtime).test_client()
    ca = authority(runtime)
    issued = ca.issue_for_custody_key("citizen", "CN=Bench Citizen")

    def ocsp_request(nonce: bool) -> bytes:
        builder = ocsp.OCSPRequestBuilder().add_certificate(
            issued.certificate, ca.ca.certificate, hashes.SHA1()
        )
        if nonce:
            builder = builder.add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False)
        return builder.build().public_bytes(serialization.Encoding.DER)

    with_nonce, without_nonce = ocsp_request(True), ocsp_request(False)
    tsq = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"\x07" * 32,
            },
            "nonce": 42,
            "cert_req": True,
        }
    ).dump()

    def post(path: str, body: bytes, mimetype: str):
        def call() -> None:
            response = client.post(path, data=body, content_type=mimetype)
            assert response.status_code == 200

        return call

    ocsp_nonce = _rate(post("/pki/ocsp", with_nonce, "application/ocsp-request"))
    ocsp_cached = _rate(post("/pki/ocsp", without_nonce, "application/ocsp-request"))
    tsa = _rate(post("/pki/tsa", tsq, "application/timestamp-query"))
    issue = _rate(lambda: ca.issue_for_custody_key("citizen", "CN=Bench"), seconds=2.0)
    runtime.db.dispose()
    row = lambda name, ours, unit, bound: {  # noqa: E731
        "benchmark": name,
        "ours": round(ours, 1),
        "unit": unit,
        "peer": None,
        "peer_name": None,
        "bound": bound,
    }
    return [
        row("pki.ocsp_with_nonce", ocsp_nonce, "responses/s/worker", ">= 2000 (issue 3 target)"),
        row("pki.ocsp_cached", ocsp_cached, "responses/s/worker", ">= 2000 (issue 3 target)"),
        row("pki.tsa", tsa, "tokens/s/worker", ">= 500 (issue 3 target)"),
        row("pki.issue_custody_key", issue, "certificates/s", "EJBCA docs: 'hundreds' OCSP/s"),
    ]


def main() -> None:
    for r in run():
        print(f"{r['benchmark']:<24} {r['ours']:>10.1f} {r['unit']:<20} target {r['bound']}")


if __name__ == "__main__":
    main()
