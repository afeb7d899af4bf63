"""The audit log against an insider with write access to the database.

Each attack is carried out as such an insider would: drop the append-only triggers, change
rows, recompute the chain (with plain SHA-256, or with the key if they stole it too), move
the head. ``onetrip audit verify`` must fail and say which tampering it found; the anchors
are the real TSA's tokens, and OpenSSL checks one independently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select, text

from config import audit, audit_anchor
from config.audit import AuditEvent
from tests.conftest import ONETRIP


@pytest.fixture
def node(runtime):
    """The runtime, bootstrapped as a node's first start leaves it (schema, keys, CA)."""
    from idp.serve import bootstrap

    bootstrap(runtime)
    for i in range(6):
        with runtime.db.write() as session:
            audit.record(session, "test.event", actor="clerk", subject=f"s{i}", n=i)
    return runtime


def _cli(runtime, *args: str) -> subprocess.CompletedProcess:
    s = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONETRIP_")}
    env.update(
        ONETRIP_DATA_DIR=str(s.data_dir),
        ONETRIP_ISSUER=s.issuer,
        DATABASE_URL=s.database_url,
        REDIS_URL=s.redis_url,
    )
    return subprocess.run([ONETRIP, *args], env=env, capture_output=True, text=True, timeout=120)


def _drop_guards(session) -> None:
    if session.bind.dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))
    else:
        session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


def _rechain(session, key: bytes | None) -> None:
    """Recompute every row's hash and the head, as the insider's script would."""
    prev = audit.GENESIS
    for row in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        row.prev_hash = prev
        row.hash = row.compute_hash(key)
        prev = row.hash
    session.flush()
    last = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    session.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": last, "h": prev})


def _rewrite(runtime, seq: int, key: bytes | None, *first: str) -> None:
    """Edit row ``seq`` and recompute the chain with ``key``, after running ``first``."""
    with runtime.db.write() as session:
        _drop_guards(session)
        for statement in first:
            session.execute(text(statement))
        session.execute(
            text("UPDATE audit_events SET actor = 'mallory' WHERE seq = :s"), {"s": seq}
        )
        _rechain(session, key=key)


def _rows(runtime) -> int:
    with runtime.db.read() as session:
        return session.get(audit.AuditHead, 1).seq


def _verify(runtime) -> tuple[int, str]:
    result = _cli(runtime, "audit", "verify")
    return result.returncode, result.stdout + result.stderr


def test_an_anchored_chain_verifies_and_openssl_accepts_the_anchor_time_stamp(node, tmp_path):
    anchored = _cli(node, "audit", "anchor", "--json")
    assert anchored.returncode == 0, anchored.stderr
    rows = _rows(node)
    assert json.loads(anchored.stdout)["seq"] == rows
    code, said = _verify(node)
    assert code == 0, said
    assert f"intact: {rows} rows, held against 1 anchors" in said

    (record,) = audit_anchor.read(node.settings.audit_anchors_path)
    token = tmp_path / "anchor.tst"
    token.write_bytes(base64.b64decode(record["tst"]))
    from certs.authority import authority

    ca = authority(node)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ca.chain()))
    covered = audit_anchor.statement(record["seq"], record["hash"], record["keyed_from"])
    digest = hashlib.sha256(covered).hexdigest()
    openssl = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(token),
            "-CAfile",
            str(chain),
            "-digest",
            digest,
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in openssl.stdout, openssl.stdout + openssl.stderr


def test_an_edited_row_with_the_chain_recomputed_without_the_key_is_named_edited(node):
    _rewrite(node, 3, None)
    code, said = _verify(node)
    assert code == 1
    assert "BROKEN (edited) at row 1" in said  # recomputed unkeyed: no row is keyed right
    assert "without the audit key" in said


def test_a_cut_tail_with_the_head_moved_back_is_named_truncated_by_the_anchor(node):
    assert _cli(node, "audit", "anchor").returncode == 0
    rows, kept = _rows(node), _rows(node) - 2
    with node.db.write() as session:
        _drop_guards(session)
        session.execute(text("DELETE FROM audit_events WHERE seq > :k"), {"k": kept})
        row = session.get(AuditEvent, kept)
        session.execute(
            text("UPDATE audit_head SET seq = :k, hash = :h"), {"k": kept, "h": row.hash}
        )
    with node.db.read() as session:  # without the anchors, the cut does not show
        assert audit.verify(session).intact
    code, said = _verify(node)
    assert code == 1
    assert f"BROKEN (truncated) at row {kept + 1}" in said
    assert f"names row {rows}, the log ends at row {kept}" in said


def test_a_chain_recomputed_with_a_stolen_key_is_named_rewritten_by_the_anchor(node):
    assert _cli(node, "audit", "anchor").returncode == 0
    _rewrite(node, 2, node.settings.key_bytes("audit_key"))
    code, said = _verify(node)
    assert code == 1
    assert f"BROKEN (rewritten) at row {_rows(node)}" in said


def test_moving_the_keyed_boundary_to_pass_an_unkeyed_rewrite_is_named_unkeyed(node):
    assert _cli(node, "audit", "anchor").returncode == 0
    _rewrite(node, 2, None, "UPDATE audit_head SET keyed_from = 1000")
    code, said = _verify(node)
    assert code == 1
    assert "BROKEN (unkeyed)" in said


def test_an_edited_anchors_file_is_refused_as_such(node):
    assert _cli(node, "audit", "anchor").returncode == 0
    path = node.settings.audit_anchors_path
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "seq": 2}) + "\n")
    code, said = _verify(node)
    assert code == 1
    assert "covers another head" in said


def test_a_worker_forked_while_an_anchor_is_made_does_not_inherit_its_locks(node, tmp_path):
    """The node's parent forks its workers while its anchoring thread may be mid-round,
    holding locks (a pool's, the CA's, a cache's). A child forked then must not start
    with such a lock taken: it would wait on it for ever and never serve."""
    import threading
    import time
    from types import SimpleNamespace

    from idp.serve import audit_stamp

    real = audit_stamp(node)
    taken = threading.Lock()  # stands for any lock the round holds
    in_round = threading.Event()

    def slow_stamp(request: bytes) -> bytes:
        with taken:
            in_round.set()
            time.sleep(0.5)
            return real(request)

    settings = SimpleNamespace(
        audit_anchor_interval=3600, audit_anchors_path=tmp_path / "anchors.jsonl"
    )
    audit_anchor.keep_anchoring(node.db, slow_stamp, settings)
    assert in_round.wait(10)
    pid = os.fork()  # as granian starts a worker
    if pid == 0:
        os._exit(0 if taken.acquire(timeout=3) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child inherited a lock held mid-round"
