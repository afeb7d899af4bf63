"""One object per thread and process: the connections a hot path keeps to itself."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: What children inherited, kept from the garbage collector: a connection shares its
#: socket with the parent's, and closing it in the child could end the parent's session.
_INHERITED: list = []


class PerThread(Generic[T]):
    """A ``make()`` for each thread, made on first use and made again after a fork or
    :meth:`discard`."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._local = threading.local()

    def held(self) -> T | None:
        """This thread's object if it has one from this process, without making one."""
        local = self._local
        value = getattr(local, "value", None)
        return value if value is not None and local.pid == os.getpid() else None

    def get(self) -> T:
        value = self.held()
        if value is None:
            local = self._local
            if getattr(local, "value", None) is not None:
                _INHERITED.append(local.value)
            local.value, local.pid = self._make(), os.getpid()
            value = local.value
        return value

    def discard(self) -> None:
        """Forget this thread's object (the caller has closed it); the next get makes one."""
        self._local.value = None
