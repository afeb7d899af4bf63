"""Issue 13: the data directory and the SQLite files are this user's only."""

from __future__ import annotations

import dataclasses
import stat

from config.runtime import Runtime


def test_a_fresh_data_directory_and_its_database_files_are_private(tmp_path, settings):
    data = tmp_path / "fresh" / "var"
    fresh = dataclasses.replace(settings, data_dir=data, database_url=f"sqlite:///{data}/x.db")
    runtime = Runtime(fresh)
    with runtime.db.write() as session:
        session.connection().exec_driver_sql("CREATE TABLE t (x)")
        session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(data.glob("x.db*"))
    assert [p.name for p in files][:1] == ["x.db"] and len(files) >= 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    runtime.db.dispose()
