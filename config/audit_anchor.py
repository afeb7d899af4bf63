"""Anchors of the audit chain: its head, time-stamped by an RFC 3161 TSA, kept outside the
database.

The keyed chain (:mod:`config.audit`) stops someone with the database alone from
rewriting rows; it cannot show that the newest rows were cut off, nor stop someone who
also holds the key. An anchor can: a statement of the head (sequence number, hash, first
keyed row), time-stamped, appended as one JSON line to the anchors file
(``audit_anchor_file``, by default beside ``secrets.json``) and written to the log stream,
which a log shipper takes off the machine. ``onetrip audit verify`` holds the chain
against every anchor: a row an anchor names must still have the anchored hash (else the
chain was recomputed) and the log must reach the newest anchor's row (else its tail was
cut). A node anchors its head every ``audit_anchor_interval`` seconds when it moved
(:func:`keep_anchoring`), and ``onetrip audit anchor`` does it at once.

The time-stamp comes through a ``Stamp``, DER TimeStampReq in, DER TimeStampResp out:
OneTrip's own TSA (wired in by the caller, as ``config`` does not import ``certs``) or
``audit_tsa_url`` through the guarded outbound fetcher. Each token's message imprint is
checked against its statement when read; its signature is the TSA's, checkable with any
RFC 3161 tool (``openssl ts -verify``) against the TSA's chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from asn1crypto import algos, tsp

from config.audit import AuditHead, ChainReport
from config.audit import verify as verify_chain
from config.db import Database
from config.settings import Settings

log = logging.getLogger("onetrip.audit.anchor")

#: DER TimeStampReq in, DER TimeStampResp out.
Stamp = Callable[[bytes], bytes]


class AnchorError(Exception):
    """No anchor could be made, or the anchors file does not read as anchors."""


def statement(seq: int, head_hash: str, keyed_from: int) -> bytes:
    """The bytes an anchor's time-stamp covers (their SHA-256 is the message imprint)."""
    body = {"seq": seq, "hash": head_hash, "keyed_from": keyed_from}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def remote_stamp(settings: Settings) -> Stamp:
    """A ``Stamp`` that posts to ``audit_tsa_url`` through the guarded outbound fetcher."""
    from config.outbound import Fetcher, OutboundPolicy

    fetcher = Fetcher(OutboundPolicy.from_settings(settings))

    def stamp(request: bytes) -> bytes:
        answer = fetcher.request(
            "POST",
            settings.audit_tsa_url,
            body=request,
            headers={"Content-Type": "application/timestamp-query"},
        )
        if answer.status != 200:
            raise AnchorError(f"the TSA answered HTTP {answer.status}")
        return answer.body

    return stamp


def anchor(db: Database, stamp: Stamp, path: Path) -> dict:
    """Time-stamp the chain's head now, append the anchor to ``path``, log it, return it."""
    with db.read() as session:
        head = session.get(AuditHead, 1)
        seq, head_hash, keyed_from = head.seq, head.hash, head.keyed_from
    covered = statement(seq, head_hash, keyed_from)
    token = _token(stamp, hashlib.sha256(covered).digest())
    info = token["content"]["encap_content_info"]["content"].parsed
    record = {
        "seq": seq,
        "hash": head_hash,
        "keyed_from": keyed_from,
        "at": info["gen_time"].native.isoformat(),
        "tst": base64.b64encode(token.dump()).decode(),
    }
    line = json.dumps(record, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit chain anchored at row %d", seq, extra={"fields": {"anchor": record}})
    return record


def _token(stamp: Stamp, digest: bytes) -> tsp.ContentInfo:
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": digest,
            },
            "nonce": int.from_bytes(secrets.token_bytes(8), "big"),
            "cert_req": True,
        }
    )
    try:
        response = tsp.TimeStampResp.load(stamp(request.dump()))
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
    except (ValueError, TypeError, KeyError) as exc:
        raise AnchorError(f"the TSA's answer does not parse: {exc}") from None
    if status not in ("granted", "granted_with_mods") or not token:
        raise AnchorError(f"the TSA refused the time-stamp ({status})")
    if _imprint(token) != digest:
        raise AnchorError("the TSA stamped something else")
    return token


def _imprint(token: tsp.ContentInfo) -> bytes:
    info = token["content"]["encap_content_info"]["content"].parsed
    return info["message_imprint"]["hashed_message"].native


def read(path: Path) -> list[dict]:
    """The anchors in ``path``, oldest first; none if it does not exist. Raises
    :class:`AnchorError` naming the line that is no anchor or whose time-stamp covers
    something else than what the line states."""
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
            token = tsp.ContentInfo.load(base64.b64decode(record["tst"]))
            covered = statement(record["seq"], record["hash"], record["keyed_from"])
            matches = _imprint(token) == hashlib.sha256(covered).digest()
        except (ValueError, TypeError, KeyError) as exc:
            raise AnchorError(f"{path} line {number} is not an anchor: {exc}") from None
        if not matches:
            raise AnchorError(f"{path} line {number}: its time-stamp covers another head")
        anchors.append(record)
    return anchors


def verify(session, path: Path) -> ChainReport:
    """The chain checked and held against the anchors in ``path`` (what ``onetrip audit
    verify`` and the console run); anchors that do not read are a broken log too."""
    try:
        anchors = read(path)
    except AnchorError as exc:
        return ChainReport(0, 1, f"the anchors do not read: {exc}", "anchors")
    return verify_chain(session, anchors=anchors)


#: Held for one anchoring round. The node's parent forks its workers (and forks them again
#: when one dies) while this thread may be mid-round, holding a connection pool's, the CA's
#: or a cache's lock; a child forked then would wait on that lock for ever. So a fork waits
#: for the round to end (``os.register_at_fork``), and the child starts with no round.
_ROUND = threading.Lock()
os.register_at_fork(
    before=_ROUND.acquire, after_in_parent=_ROUND.release, after_in_child=_ROUND.release
)


def keep_anchoring(db: Database, stamp: Stamp, settings: Settings) -> threading.Thread | None:
    """Anchor the head now and every ``audit_anchor_interval`` seconds that it moved, in a
    daemon thread (the node's parent process runs one); failures are logged and retried
    at the next round. Forking while the thread works is safe (see ``_ROUND``)."""
    interval = settings.audit_anchor_interval
    if interval <= 0:
        return None
    path = settings.audit_anchors_path

    def run() -> None:
        last: tuple | None = None
        while True:
            with _ROUND:
                try:
                    with db.read() as session:
                        head = session.get(AuditHead, 1)
                        current = (head.seq, head.hash)
                    if current != last:
                        anchor(db, stamp, path)
                        last = current
                except Exception:
                    log.exception("audit chain not anchored; next try in %d s", interval)
            time.sleep(interval)

    thread = threading.Thread(target=run, name="audit-anchor", daemon=True)
    thread.start()
    return thread
