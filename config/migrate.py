"""Schema migrations: Alembic, with one version branch per package.

Each package keeps its revisions in its own ``migrations/`` folder with a branch label of
its name, so packages evolve their tables independently and ``upgrade heads`` brings every
branch up to date. ``onetrip serve`` and ``onetrip migrate`` run it; on PostgreSQL an
advisory lock, on SQLite a write transaction, keeps two nodes that start together from
migrating at once.

Every other command only asks :func:`schema_state`: one query of the stored revisions
against :func:`known_heads`, which reads the revision files' ``revision`` and
``down_revision`` lines as text. Importing Alembic (and through it every dialect and every
revision module) would cost a command most of its start-up; ``tests/config/test_migrate.py``
holds the text reading to what Alembic itself computes.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from config.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "idp", "certs", "signing", "biometrics")
_LOCK_ID = 0x0E7219  # arbitrary, fixed: "OneTrip migrations"
_ASSIGNMENT = re.compile(r"^(revision|down_revision|depends_on)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)
_NAME = re.compile(r"['\"]([^'\"]+)['\"]")


def version_locations() -> list[Path]:
    """Where every package's revisions live, ``config``'s first."""
    locations = [ROOT / "config" / "migrations" / "versions"]
    return locations + [
        ROOT / p / "migrations" for p in PACKAGES[1:] if (ROOT / p / "migrations").is_dir()
    ]


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "config" / "migrations"))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in version_locations()))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


@cache
def known_heads() -> frozenset[str]:
    """What ``alembic_version`` holds once every branch is at its newest revision, read
    from the revision files' text: each names its ``revision``, its ``down_revision`` and
    its ``depends_on`` (None, a string or a tuple of them). Alembic stores the revisions
    that no other one comes down from or depends on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in version_locations():
        for path in folder.glob("*.py"):
            fields = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
            if "revision" not in fields:
                continue
            revisions.update(_NAME.findall(fields["revision"]))
            for field in ("down_revision", "depends_on"):
                parents.update(_NAME.findall(fields.get(field, "")))
    return frozenset(revisions - parents)


class SchemaState(Enum):
    """Where a database's schema stands against this code's revisions."""

    CURRENT = "current"  # at every known head: nothing to do
    FRESH = "fresh"  # no revision stored yet: a first start creates it
    DIFFERENT = "different"  # behind (or ahead of) this code: `onetrip migrate` decides


def stored_heads(db: Database) -> frozenset[str] | None:
    """The revisions the database holds, or None when it has no version table yet."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return frozenset(rows)
    except DBAPIError:  # no table: the schema was never created here
        return None


def schema_state(db: Database) -> SchemaState:
    """One query: is the schema at this code's heads, absent, or elsewhere?"""
    stored = stored_heads(db)
    if not stored:
        return SchemaState.FRESH
    return SchemaState.CURRENT if stored == known_heads() else SchemaState.DIFFERENT


def upgrade(db: Database) -> None:
    """Bring the schema of every package to its newest revision."""
    from alembic import command

    cfg = alembic_config(db)
    # On SQLite, BEGIN IMMEDIATE (config.db's write option) makes a second process that
    # shares the file wait for the first one's migrations instead of failing "locked".
    with db.engine.connect().execution_options(onetrip_write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            conn.commit()
        try:
            # One transaction for the whole upgrade. Given a connection outside one, Alembic
            # commits after every migration on SQLite (its DDL counts as non-transactional
            # there), and a node starting between two steps read a half-done version table
            # and ran the rest again: "table users already exists".
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                conn.commit()
