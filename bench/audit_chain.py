"""What keying the audit chain costs per event: HMAC-SHA256 links beside plain SHA-256.

The variants are interleaved round by round (best of the rounds):
chaining alone (what the key changes: the hash of each row) over a login-sized event; and
beside it a whole batched write of such events into SQLite (BatchedLog's transaction, four
events each), which is what an event costs a node.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

ROUNDS = 7
EVENTS = 2000
BATCH = 4  # events per BatchedLog transaction at a login's pace


def _entries(count: int) -> list[dict]:
    from config.audit import _entry

    return [
        _entry("login.success", None, f"citizen{i}", None, "203.0.113.7", {"method": "pwd"})
        for i in range(count)
    ]


def run() -> list[dict]:
    from config import audit
    from config.runtime import Runtime
    from config.settings import load_settings

    data_dir = Path(tempfile.mkdtemp(prefix="onetrip-bench-audit-"))
    runtime = Runtime(load_settings(environ={}, data_dir=str(data_dir)))
    runtime.migrate()
    key = runtime.settings.key_bytes("audit_key")
    entries = _entries(EVENTS)
    log = audit.BatchedLog(runtime.db)
    best = dict.fromkeys(("chain keyed", "chain plain", "write"), float("inf"))
    for _ in range(ROUNDS):
        for name, chain_key in (("keyed", key), ("plain", None)):
            began = time.perf_counter()
            for entry in entries:
                audit._chain_hash(entry, prev_hash=audit.GENESIS, seq=1, key=chain_key)
            elapsed = (time.perf_counter() - began) / EVENTS
            best[f"chain {name}"] = min(best[f"chain {name}"], elapsed)
        began = time.perf_counter()
        for start in range(0, 400, BATCH):
            log._write(entries[start : start + BATCH])
        best["write"] = min(best["write"], (time.perf_counter() - began) / 400)
    runtime.db.dispose()
    hmac_extra = (best["chain keyed"] - best["chain plain"]) * 1e6
    return [
        {
            "benchmark": "audit chain link per event: HMAC-SHA256 (keyed)",
            "ours": round(best["chain keyed"] * 1e6, 2),
            "unit": "µs",
            "peer": round(best["chain plain"] * 1e6, 2),
            "peer_name": "plain SHA-256 link (the unkeyed chain before issue 15)",
            "ratio": round(best["chain keyed"] / best["chain plain"], 2),
        },
        {
            "benchmark": "audit event written, batched (SQLite, keyed chain)",
            "ours": round(best["write"] * 1e6, 1),
            "unit": "µs",
            "peer": round(hmac_extra, 2),
            "peer_name": "of which the key adds (keyed minus plain link)",
            "ratio": round(hmac_extra / (best["write"] * 1e6), 3),
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
