"""The process-wide runtime: settings plus the database and Redis they point to.

It also keeps the domains' long-lived objects (the CA, signing's view of it and its
engine, the face service): each domain names its object by a factory, and
:meth:`Sharing.shared` builds it once for its owner and keeps it as long as the owner
lives, no longer. The composition root (:mod:`idp.components`) hands them down from there,
so a process has one of each, and code deep in a domain (a department's seal, a route's
countersignature) reaches the same one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from functools import cached_property
from typing import TypeVar

import redis

from config import migrate
from config.audit import BatchedLog
from config.db import Database
from config.redis import connect
from config.settings import Settings, load_settings

Owner = TypeVar("Owner", bound="Sharing")
Made = TypeVar("Made")


class Sharing:
    """An owner of objects built from it once and shared by every thread (the runtime, the CA)."""

    def __init__(self) -> None:
        self._shared: dict[Callable, object] = {}
        self._sharing = threading.RLock()  # re-entrant: one factory may need another's object

    def shared(self: Owner, factory: Callable[[Owner], Made]) -> Made:
        """``factory(self)``, built on first use under a lock and the same object after.

        For objects that are costly to build and safe for every thread of a process to use
        (keys, parsed certificates, precomputed DER). They live exactly as long as their
        owner: nothing outside it holds them.
        """
        found = self._shared.get(factory)
        if found is None:
            with self._sharing:
                found = self._shared.get(factory)
                if found is None:
                    found = self._shared[factory] = factory(self)
        return found  # type: ignore[return-value]


class Runtime(Sharing):
    """What every CLI command and the web app share. Connections open on first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
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
