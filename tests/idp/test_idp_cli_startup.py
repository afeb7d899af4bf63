"""The ``onetrip`` command starts at once: it imports a package's commands only to run them,
lists every command without importing any, checks the schema with one query, and refuses
in one line to run on a schema it does not know until ``onetrip migrate`` settles it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from config import migrate
from config.db import Database
from tests.conftest import ONETRIP

#: What a listing must not load: the signing engine, the face engine, Alembic, the web app.
_HEAVY = ("pyhanko", "numpy", "face_recognition", "alembic", "flask", "sqlalchemy")

_HELP_BEFORE_AND_AFTER_LOADING = f"""
import json, sys
from click.testing import CliRunner
from idp.cli import main
before = CliRunner().invoke(main, ["--help"]).output
loaded = sorted(m for m in {_HEAVY!r} if m in sys.modules)
for name in main.list_commands(None):
    main.get_command(None, name)
after = CliRunner().invoke(main, ["--help"]).output
print(json.dumps([before, loaded, after]))
"""


def _env(runtime) -> dict:
    settings = runtime.settings
    return {
        **os.environ,
        "ONETRIP_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "ONETRIP_ISSUER": settings.issuer,
        "ONETRIP_CONFIG": "",
    }


def _onetrip(runtime, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ONETRIP, *args], env=_env(runtime), capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_command_as_it_would_with_all_of_them_imported():
    out = subprocess.run(
        [sys.executable, "-c", _HELP_BEFORE_AND_AFTER_LOADING],
        capture_output=True,
        text=True,
        check=True,
        cwd=migrate.ROOT,
    ).stdout
    before, loaded, after = json.loads(out)
    assert loaded == []
    assert before == after
    for name in ("users", "clients", "ca", "departments", "faces", "sign", "verify", "migrate"):
        assert f"\n  {name} " in before


def test_the_table_holds_each_package_commands_own_help():
    from idp.cli import _PACKAGE_COMMANDS, main

    for name, (_, listed) in _PACKAGE_COMMANDS.items():
        assert main.get_command(None, name).get_short_help_str(1000) == listed, name


def test_the_known_heads_are_what_alembic_stores_after_upgrading_every_branch(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'onetrip.db'}")
    assert migrate.schema_state(db) is migrate.SchemaState.FRESH
    migrate.upgrade(db)
    assert migrate.stored_heads(db) == migrate.known_heads()
    assert migrate.schema_state(db) is migrate.SchemaState.CURRENT
    script = ScriptDirectory.from_config(migrate.alembic_config(db))
    assert migrate.known_heads() <= set(script.get_heads())


def test_a_command_on_a_fresh_data_directory_creates_the_schema(settings, tmp_path):
    from config.runtime import Runtime

    fresh = Runtime(settings)
    listed = _onetrip(fresh, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert migrate.schema_state(fresh.db) is migrate.SchemaState.CURRENT


def test_a_command_refuses_a_schema_behind_the_code_until_onetrip_migrate(runtime):
    cfg = migrate.alembic_config(runtime.db)
    with runtime.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "signing_0002")
    refused = _onetrip(runtime, "users", "list")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "onetrip migrate" in lines[0], refused.stderr
    assert "signing_0002" in lines[0]
    with runtime.db.engine.connect() as conn:  # the refusal changed nothing
        stored = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert "signing_0002" in stored
    migrated = _onetrip(runtime, "migrate", "--json")
    assert migrated.returncode == 0, migrated.stderr
    assert set(json.loads(migrated.stdout)["revisions"]) == migrate.known_heads()
    assert _onetrip(runtime, "users", "list").returncode == 0


def test_a_command_refuses_a_schema_from_a_newer_version_in_one_line(runtime):
    with runtime.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE alembic_version SET version_num = 'idp_9999' WHERE version_num LIKE 'idp%'"
            )
        )
    refused = _onetrip(runtime, "clients", "list")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "idp_9999" in lines[0] and "onetrip migrate" in lines[0]
