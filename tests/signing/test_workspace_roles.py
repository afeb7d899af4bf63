"""Roles per membership: ``departments add-member --role``, and signing_0003 keeping every
existing membership as an officer's and undoing cleanly."""

from __future__ import annotations

from alembic import command
from click.testing import CliRunner
from pades_checks import add_user, cli_env
from sqlalchemy import inspect, text

from config.migrate import alembic_config
from idp.cli import main
from signing import departments


def _cli(runtime, *args: str):
    return CliRunner().invoke(main, list(args), env=cli_env(runtime), catch_exceptions=False)


def test_add_member_names_an_administrator_and_a_second_call_changes_the_role(runtime, psb):
    add_user(runtime, "zhao.lei")
    assert (
        _cli(runtime, "departments", "add-member", psb, "zhao.lei", "--role", "admin").exit_code
        == 0
    )
    assert departments.members(runtime, psb)[0]["role"] == "admin"
    assert _cli(runtime, "departments", "add-member", psb, "zhao.lei").exit_code == 0
    assert departments.members(runtime, psb)[0]["role"] == "officer"
    refused = _cli(runtime, "departments", "add-member", psb, "zhao.lei", "--role", "boss")
    assert refused.exit_code != 0 and departments.members(runtime, psb)[0]["role"] == "officer"


def test_signing_0003_keeps_memberships_as_officers_and_downgrades(runtime, psb):
    user_id = add_user(runtime, "qian.li")
    departments.add_member(runtime, psb, user_id, "qian.li", role="admin")
    cfg = alembic_config(runtime.db)
    with runtime.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "signing_0002")
    columns = {c["name"] for c in inspect(runtime.db.engine).get_columns("signing_members")}
    assert "role" not in columns
    with runtime.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    with runtime.db.engine.connect() as conn:
        roles = conn.execute(text("SELECT role FROM signing_members")).scalars().all()
    assert roles == ["officer"]  # the old rights: sign and act on routes
    assert departments.memberships(runtime, user_id)[0]["role"] == "officer"
