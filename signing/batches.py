"""Batches: several PDFs an officer signs at once with one level and one stamp placement.

A batch is short-lived state, so it lives in Redis under a TTL (nodes share nothing
else): the uploads, then each signed result beside its state. The uploads are all
checked (:func:`signing.pdfs.open_pdf`) before anything is stored, so a refused file
leaves no batch behind. Signing runs in a background thread of the node that was asked,
one document after another through :func:`signing.service.sign` (the API's path: the
membership is checked again before each document, and a document with a broken
signature is refused and reported, the others still signed); the progress page reads
the states from Redis, so any node can show it.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import asdict, dataclass, field

from config.errors import Refusal
from config.runtime import Runtime
from signing import departments, service
from signing.departments import DepartmentError
from signing.pdfs import PdfLimits, PdfRefused, open_pdf
from signing.placement import Placement

TTL = 3600
MAX_FILES = 20
_PREFIX = "onetrip:signing:batch:"
log = logging.getLogger(__name__)


@dataclass
class Batch:
    """A batch's description and progress (stored as JSON; the PDFs are stored apart)."""

    id: str
    user_id: int
    username: str
    code: str
    level: str
    stamp: bool
    reason: str | None
    filenames: list[str]
    pages: int  # of the first document, where the officer places the stamp
    state: str = "new"  # new -> signing -> done
    results: list[dict] = field(default_factory=list)  # per file: state, document id, error

    @property
    def done(self) -> int:
        return sum(1 for r in self.results if r["state"] != "waiting")


class BatchError(Refusal):
    """A refused upload: the refusal of the file ``filename`` ("" for the whole batch)."""

    def __init__(self, filename: str, refused: PdfRefused) -> None:
        super().__init__(refused.error, refused.description, refused.status)
        self.filename = filename


def _key(batch_id: str, part: str = "meta") -> str:
    return f"{_PREFIX}{batch_id}:{part}"


def _save(runtime: Runtime, batch: Batch) -> None:
    runtime.redis.set(_key(batch.id), json.dumps(asdict(batch)), ex=TTL)


def create(
    runtime: Runtime,
    files: list[tuple[str, bytes]],
    *,
    code: str,
    user_id: int,
    username: str,
    level: str | None,
    stamp: bool,
    reason: str | None,
) -> Batch:
    """Check every upload and store the batch; refuses (storing nothing) on the first
    file that is not a PDF OneTrip can sign, or a caller who is not a member."""
    if not files:
        raise BatchError("", PdfRefused("invalid_request", "choose at least one PDF"))
    if len(files) > MAX_FILES:
        raise BatchError("", PdfRefused("too_many", f"a batch has at most {MAX_FILES} files"))
    level = service.check_level(level)
    departments.require_member(runtime, code, user_id)
    settings = runtime.settings
    first_pages = 0
    for n, (name, data) in enumerate(files):
        try:
            reader = open_pdf(data, settings.max_upload_bytes, PdfLimits.of(settings))
        except PdfRefused as exc:
            raise BatchError(name, exc) from None
        if n == 0:
            first_pages = int(reader.root["/Pages"]["/Count"])
    batch = Batch(
        id=secrets.token_urlsafe(16),
        user_id=user_id,
        username=username,
        code=code,
        level=level,
        stamp=stamp,
        reason=reason,
        filenames=[name[:255] for name, _ in files],
        pages=first_pages,
        results=[{"state": "waiting"} for _ in files],
    )
    with runtime.redis.pipeline() as pipe:
        for n, (_, data) in enumerate(files):
            pipe.set(_key(batch.id, f"in:{n}"), data, ex=TTL)
        pipe.set(_key(batch.id), json.dumps(asdict(batch)), ex=TTL)
        pipe.execute()
    return batch


def get(runtime: Runtime, batch_id: str, user_id: int, code: str) -> Batch | None:
    """The batch, if it is ``user_id``'s for department ``code`` (else None: not found)."""
    if not batch_id.replace("-", "").replace("_", "").isalnum() or len(batch_id) > 32:
        return None
    raw = runtime.redis.get(_key(batch_id))
    if raw is None:
        return None
    batch = Batch(**json.loads(raw))
    return batch if (batch.user_id, batch.code) == (user_id, code) else None


def upload(runtime: Runtime, batch: Batch, n: int) -> bytes | None:
    return runtime.redis.get(_key(batch.id, f"in:{n}"))


def result(runtime: Runtime, batch: Batch, n: int) -> bytes | None:
    return runtime.redis.get(_key(batch.id, f"out:{n}"))


def start(runtime: Runtime, batch: Batch, placement: Placement | None, ip: str | None) -> bool:
    """Begin signing ``batch`` in the background; False if it was started already."""
    claimed = runtime.redis.set(_key(batch.id, "started"), b"1", ex=TTL, nx=True)
    if not claimed:
        return False
    batch.state = "signing"
    _save(runtime, batch)
    threading.Thread(
        target=_run, args=(runtime, batch, placement, ip), name="onetrip-batch", daemon=True
    ).start()
    return True


def _run(runtime: Runtime, batch: Batch, placement: Placement | None, ip: str | None) -> None:
    for n, name in enumerate(batch.filenames):
        outcome = {"state": "refused"}
        try:
            data = upload(runtime, batch, n)
            if data is None:
                raise PdfRefused("expired", "the batch expired before this file was signed")
            departments.require_member(runtime, batch.code, batch.user_id)
            signed, document_id = service.sign(
                runtime,
                data,
                batch.code,
                level=batch.level,
                stamp=batch.stamp,
                reason=batch.reason,
                filename=name,
                user_id=batch.user_id,
                actor=batch.username,
                ip=ip,
                placement=placement,
            )
            runtime.redis.set(_key(batch.id, f"out:{n}"), signed, ex=TTL)
            outcome = {"state": "signed", "document_id": document_id}
        except (PdfRefused, DepartmentError) as exc:
            outcome["error"] = exc.error
            outcome["message"] = exc.description
        except Exception:  # reported as a failure of this file; the others go on
            log.exception("batch %s: signing file %d failed", batch.id, n)
            outcome["error"] = "failed"
            outcome["message"] = "the server could not sign this file"
        batch.results[n] = outcome
        _save(runtime, batch)
    batch.state = "done"
    _save(runtime, batch)
