"""Argon2id password hashing, with rehash on login when the parameters change.

A worker computes no more hashes at once than it has CPUs to itself. Argon2id is
memory-hard (19 MiB per hash by default): threads hashing at once on one core evict each
other's memory at every time slice, so together they hash fewer passwords than one thread
alone (README, Speed). ``onetrip serve`` tells its workers how many they are in
``ONETRIP_SERVE_WORKERS`` so that each takes its share of the node's CPUs.
"""

from __future__ import annotations

import functools
import math
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
        self._turns = threading.BoundedSemaphore(hashing_slots())
        self._needs_rehash = functools.lru_cache(maxsize=4096)(self.hasher.check_needs_rehash)

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
        # Cached: parsing the parameters out of the hash is per-login work on the hot path,
        # and an account's hash is the same string until it is rehashed.
        return self._needs_rehash(stored_hash)


def hashing_slots() -> int:
    """How many hashes this process may compute at once: its share of the CPUs it may use."""
    cpus = len(os.sched_getaffinity(0))
    workers = int(os.environ.get("ONETRIP_SERVE_WORKERS") or 1)
    return max(1, math.ceil(cpus / max(workers, 1)))


#: zxcvbn's score (0-4) a password must reach: 3 is "safely unguessable" against an
#: online attack and a slowed offline one (about 10^8 guesses).
MIN_STRENGTH = 3
#: Why a password is weak, from the pattern zxcvbn found covering most of it.
WEAKNESS = {
    "user_inputs": "it contains your username, name or email address",
    "passwords": "it is one of the most common passwords",
    "words": "it is made of common words or names; add more unusual words",
    "sequence": "it is a sequence such as 12345678 or abcdefgh",
    "repeat": "it repeats the same characters",
    "spatial": "it is a keyboard pattern such as qwerty",
    "date": "it is a date",
    "short": "it is too short or too simple; use several unusual words",
}


def weakness(password: str, related: tuple[str, ...] = ()) -> str | None:
    """None when ``password`` is strong enough, else the :data:`WEAKNESS` key that says
    why (zxcvbn, with the account's username, name and email as words it knows)."""
    from zxcvbn import zxcvbn

    inputs = [part for value in related if value for part in (value, *value.split("@")[:1])]
    result = zxcvbn(password[:72], user_inputs=inputs)  # its bound: slow on long inputs
    if result["score"] >= MIN_STRENGTH:
        return None
    longest = max(result["sequence"], key=lambda m: len(m.get("token", "")), default={})
    pattern = longest.get("pattern")
    if pattern == "dictionary":
        name = longest.get("dictionary_name")
        if name in ("user_inputs", "passwords"):
            return name
        return "words"
    return pattern if pattern in WEAKNESS else "short"
