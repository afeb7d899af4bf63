"""One object per owner, per process: caches whose life is that of a runtime or a CA.

The CA, its OCSP responder and TSA, and signing's view of the CA each hold keys, parsed
certificates and precomputed fragments that are expensive to build and safe to share by
every thread of a process. :func:`per_owner` builds such an object once per owner object
(a :class:`~config.runtime.Runtime`, an ``Authority``), under a lock, and keeps it while
the owner lives.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

Owner = TypeVar("Owner")
Made = TypeVar("Made")


def per_owner(factory: Callable[[Owner], Made]) -> Callable[[Owner], Made]:
    """``factory(owner)`` made once per owner object, thread-safely, and reused after."""
    made: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    @functools.wraps(factory)
    def get(owner: Owner) -> Made:
        with lock:
            found = made.get(owner)
            if found is None:
                found = made[owner] = factory(owner)
            return found

    return get
