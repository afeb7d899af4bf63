"""Schema migrations: Alembic, with one version branch per package.

Each package keeps its revisions in its own ``migrations/`` folder with a branch label of
its name, so packages evolve their tables independently and ``upgrade heads`` brings every
branch up to date. Start-up runs this; on PostgreSQL an advisory lock, on SQLite a write
transaction, keeps two nodes that start together from migrating at once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from config.db import Database

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "idp", "certs", "signing", "biometrics")
_LOCK_ID = 0x0E7219  # arbitrary, fixed: "OneTrip migrations"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "config" / "migrations"))
    locations = [ROOT / "config" / "migrations" / "versions"]
    locations += [
        ROOT / p / "migrations" for p in PACKAGES[1:] if (ROOT / p / "migrations").is_dir()
    ]
    cfg.set_main_option("version_locations", " ".join(str(p) for p in locations))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database) -> None:
    """Bring the schema of every package to its newest revision."""
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
