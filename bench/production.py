"""Production figures of issue 6: session memory, worker scaling, raw signatures vs OpenSSL.

- memory per 10,000 active SSO sessions: what Redis (the embedded Valkey) holds for them,
  each made by the provider's own :class:`idp.sso.SsoStore` with two services signed in,
  beside Keycloak's documented ~5 KB per session;
- client-credentials grants/s on ``onetrip serve --workers 1`` and ``--workers 2``, wrk on
  the same machine: how throughput grows with a second worker (2.0 would be perfect; on a
  2-vCPU machine wrk takes part of the second core, so expect less);
- raw signature operations as our key custody and token signing perform them (through
  ``cryptography``), beside ``openssl speed`` on the same core in the same run.

Run: ``.venv/bin/python -m bench.production [--json]``.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import tempfile
import time

from bench.common import (
    SERVER_CPU,
    BenchError,
    main,
    note,
    onetrip_server,
    pinned,
    pinned_self,
    row,
    wrk,
)

SESSIONS = 10_000
KEYCLOAK_SESSION_BYTES = 5 * 1024  # Keycloak's sizing guide: about 5 KB per active session
USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
SECONDS = 5


def _rate(action, seconds: float = 2.0) -> float:
    action()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        action()
        count += 1
    return count / elapsed


def session_memory() -> float:
    """Bytes of Redis memory per active SSO session (two client sign-ins each)."""
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.sso import SsoStore

    with tempfile.TemporaryDirectory(prefix="onetrip-bench-sso-") as tmp:
        runtime = Runtime(load_settings(environ={}, data_dir=tmp))
        store = SsoStore(runtime.redis, runtime.settings)
        runtime.redis.flushdb()
        before = runtime.redis.info("memory")["used_memory"]
        for i in range(SESSIONS):
            _, sess = store.create(
                user_id=i,
                username=f"citizen{i:05d}",
                amr=["pwd"],
                acr="urn:onetrip:acr:pwd",
                ip=f"10.0.{i // 256 % 256}.{i % 256}",
                user_agent=USER_AGENT,
            )
            store.add_client(sess.sid, secrets.token_urlsafe(18))
            store.add_client(sess.sid, secrets.token_urlsafe(18))
        after = runtime.redis.info("memory")["used_memory"]
        runtime.redis.flushdb()
    return (after - before) / SESSIONS


def worker_scaling() -> tuple[float, float]:
    """Client-credentials grants/s with one worker, then two (neither pinned)."""
    rates = []
    for workers in (1, 2):
        with onetrip_server(workers=workers, pin=False) as server:
            client = server.create_client("client_credentials")
            result = wrk(
                f"{server.url}/oauth/token",
                method="POST",
                body="grant_type=client_credentials",
                headers={"Authorization": client.basic},
                connections=8 * workers,
                threads=1,
                duration=SECONDS,
                pin=False,
            )
            if result.bad:
                note(f"{workers} worker(s): {result.bad} answers were not 200")
            rates.append(result.rate)
    return rates[0], rates[1]


_OPENSSL_FIELDS = {"+F2": "rsa", "+F4": "ecdsa"}


def openssl_speed() -> dict[str, float]:
    """Signatures/s of ``openssl speed`` for P-256 ECDSA and RSA-3072, one core."""
    if not shutil.which("openssl"):
        raise BenchError("openssl is not installed")
    out = subprocess.run(
        pinned(["openssl", "speed", "-seconds", "2", "-mr", "ecdsap256", "rsa3072"], SERVER_CPU),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rates = {}
    for line in out.splitlines():
        # +F2:<n>:<bits>:<sign/s>:<verify/s> for RSA, +F4:... for ECDSA (machine-readable).
        if m := re.match(r"(\+F[24]):\d+:(\d+):([\d.]+):([\d.]+)", line):
            rates[f"{_OPENSSL_FIELDS[m[1]]}{m[2]}"] = float(m[3])
    if not {"ecdsa256", "rsa3072"} <= rates.keys():
        raise BenchError(f"could not read openssl speed's output: {out[-200:]!r}")
    return rates


def our_signatures() -> dict[str, float]:
    """Signatures/s through our key custody (software backend) and our JWT signing."""
    from certs.custody import Custody
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.keys import KeyRing, ensure_keys
    from idp.tokens import TokenService

    with tempfile.TemporaryDirectory(prefix="onetrip-bench-sig-") as tmp:
        runtime = Runtime(load_settings(environ={}, data_dir=tmp))
        runtime.migrate()
        custody = Custody(runtime.settings, runtime.db)
        with runtime.db.write() as session:
            custody.generate(session, "bench-ec", "ec-p256")
            custody.generate(session, "bench-rsa", "rsa-3072")
            ensure_keys(session, runtime.settings)
        tokens = TokenService(runtime, KeyRing(runtime.db, runtime.settings))
        data = b"\x42" * 256
        with pinned_self(SERVER_CPU):
            rates = {
                "ecdsa256": _rate(lambda: custody.sign("bench-ec", data)),
                "rsa3072": _rate(lambda: custody.sign("bench-rsa", data)),
                "jwt_es256": _rate(
                    lambda: tokens.issue_access_token(client_id="c", scope="api", sub="c")
                ),
            }
        runtime.db.dispose()
    return rates


def run() -> list[dict]:
    rows = [
        row(
            "memory per active SSO session (Redis)",
            session_memory(),
            "bytes",
            KEYCLOAK_SESSION_BYTES,
            "Keycloak, documented (~5 KB/session)",
        )
    ]
    rows[0]["ratio"] = round(rows[0]["ours"] / KEYCLOAK_SESSION_BYTES, 2)  # lower is better
    note(f"{SESSIONS:,} sessions use {rows[0]['ours'] * SESSIONS / 1e6:.1f} MB of Redis")
    one, two = worker_scaling()
    rows.append(row("client-credentials grants, 2 workers", two, "grants/s", one, "1 worker"))
    openssl, ours = openssl_speed(), our_signatures()
    rows += [
        row(
            "ECDSA P-256 signatures (custody)",
            ours["ecdsa256"],
            "signs/s",
            openssl["ecdsa256"],
            "openssl speed ecdsap256, same core",
        ),
        row(
            "RSA-3072 signatures (custody)",
            ours["rsa3072"],
            "signs/s",
            openssl["rsa3072"],
            "openssl speed rsa3072, same core",
        ),
        row(
            "ES256 access tokens (JWT, joserfc)",
            ours["jwt_es256"],
            "tokens/s",
            openssl["ecdsa256"],
            "openssl speed ecdsap256, same core",
        ),
    ]
    return rows


if __name__ == "__main__":
    main(run)
