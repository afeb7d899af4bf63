"""Where face work runs: in a worker process, so a web worker's other requests keep going.

dlib's HOG detector releases the GIL, but its ResNet encoder (``compute_face_descriptor``)
holds it for the whole encoding, the longest step of a face check: in a thread pool every
other request of the web worker, logins included, would stall behind it (README, Speed:
the longest stall of another request). A process pool does not: the web worker only waits
on a future (GIL released) while a child process, which loaded the models once, does the
work. Image bytes go in and a few hundred numbers come out, so the hand-off is small
beside the encoding.

One child per web-worker process (faces are a small share of requests, and each child
holds the models in memory); requests beyond that queue in the executor. A child that dies
(e.g. out of memory) is replaced on the next call. The CLI and tests that want no child
process use :data:`INLINE`.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol


class Runner(Protocol):
    def run(self, fn: Callable[..., Any], /, *args: Any) -> Any: ...


class _Inline:
    """Runs face work in the calling thread (the CLI: nothing else to keep responsive)."""

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return fn(*args)


INLINE: Runner = _Inline()


def _warm_up() -> None:
    from biometrics.engine import _models

    _models()


class ProcessRunner:
    """A small process pool (``spawn``: safe beside the server's threads) that loads models once."""

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_warm_up,
                )
            return self._executor

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        executor = self._get()
        try:
            return executor.submit(fn, *args).result()
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            raise

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


_shared: ProcessRunner | None = None
_shared_lock = threading.Lock()


def shared_runner() -> ProcessRunner:
    """The process-wide pool, created on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ProcessRunner()
        return _shared
