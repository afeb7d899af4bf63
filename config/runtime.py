"""The process-wide runtime: settings plus the database and Redis they point to."""

from __future__ import annotations

from contextlib import suppress
from functools import cached_property

import redis

from config import migrate
from config.audit import BatchedLog
from config.db import Database
from config.redis import connect
from config.settings import Settings, load_settings


class Runtime:
    """What every CLI command and the web app share. Connections open on first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()

    @cached_property
    def db(self) -> Database:
        self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with suppress(PermissionError):  # a directory the operator made and owns stays theirs
            self.settings.data_dir.chmod(0o700)  # keys, database, Valkey socket: ours only
        return Database(self.settings.database_url, audit_key=self.settings.key_bytes("audit_key"))

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.settings)

    @cached_property
    def audit(self) -> BatchedLog:
        """The audit log for events with no transaction of their own (see BatchedLog)."""
        return BatchedLog(self.db)

    def migrate(self) -> None:
        migrate.upgrade(self.db)
