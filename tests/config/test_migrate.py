"""Schema upgrades: every package's branch, in one transaction, however many nodes start."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import event, inspect

from config import migrate
from config.db import Database

_UPGRADE = (
    "import sys; from config.db import Database; from config import migrate; "
    "migrate.upgrade(Database(sys.argv[1]))"
)


def test_an_upgrade_commits_once_so_no_node_can_start_between_two_steps(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'onetrip.db'}")
    commits = []
    event.listen(db.engine, "commit", lambda conn: commits.append(conn))
    migrate.upgrade(db)
    assert len(commits) == 1  # Alembic alone commits after every migration on SQLite
    assert {"users", "clients", "audit_events", "certs_certificates"} <= set(
        inspect(db.engine).get_table_names()
    )
    migrate.upgrade(db)  # a second node finds nothing to do
    assert len(commits) == 2


def test_three_nodes_upgrading_one_new_database_at_once_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'onetrip.db'}"
    nodes = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADE, url], stderr=subprocess.PIPE, cwd=migrate.ROOT
        )
        for _ in range(3)
    ]
    failures = [node.stderr.read().decode()[-300:] for node in nodes if node.wait(60) != 0]
    assert failures == []
