"""``onetrip backup``: a consistent copy of an installation that a new node can start from.

A backup directory holds:

- the database: ``onetrip.db``, made with SQLite's online backup API (a consistent
  snapshot while the node keeps serving), or ``onetrip.pgdump``, made by ``pg_dump
  --format=custom`` for PostgreSQL (refused, saying so, when ``pg_dump`` is not installed);
- ``secrets.json`` (mode 0600): every secret in effect, from the data directory or the
  environment alike. Without them the database's private keys, face templates and client
  secrets do not open, so a backup never leaves them out; keep the directory as you keep
  the keys;
- the audit anchors file, so ``onetrip audit verify`` still holds the restored chain
  against them;
- ``manifest.json``: when, which issuer, which database kind, the audit head.

Restoring is documented in the README (stop, copy back or ``pg_restore``, start); a start
whose secrets do not open the database's keys is refused (:func:`idp.serve.bootstrap`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from config.audit import AuditHead
from config.db import Database
from config.settings import SECRET_FIELDS, Settings


class BackupError(Exception):
    """The backup could not be made; nothing usable was left at the destination."""


def backup(settings: Settings, db: Database, destination: Path) -> dict:
    """Write a backup of this installation into ``destination`` (new or empty); returns
    the manifest."""
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty")
    destination.mkdir(parents=True, exist_ok=True, mode=0o700)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = destination / "onetrip.db"
        _sqlite_copy(Path(url.database), database)
    else:
        database = destination / "onetrip.pgdump"
        _pg_dump(url, database)
    secrets = {name: getattr(settings, name) for name in SECRET_FIELDS}
    fd = os.open(destination / "secrets.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(secrets, out, indent=2)
    if settings.audit_anchors_path.exists():
        shutil.copy2(settings.audit_anchors_path, destination / "audit-anchors.jsonl")
    with db.read() as session:
        head = session.get(AuditHead, 1)
    manifest = {
        "made_at": datetime.now(UTC).isoformat(),
        "issuer": settings.issuer,
        "database": database.name,
        "audit_head": {"seq": head.seq, "hash": head.hash} if head else None,
        "files": [*sorted(p.name for p in destination.iterdir()), "manifest.json"],
    }
    (destination / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: pages copied under a read lock, consistent as of its end."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    target.chmod(0o600)


def _pg_dump(url, target: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed: install postgresql-client to back up")
    plain = url.set(drivername="postgresql")
    env = {**os.environ, "PGPASSWORD": plain.password or ""}
    dsn = plain.set(password=None).render_as_string(hide_password=False)
    done = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={target}", dsn],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    target.chmod(0o600)
