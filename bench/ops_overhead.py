"""What idp/ops.py's per-request hooks (request id, latency histogram, access log) cost.

Runs in-process against the WSGI callable, without a socket, so the difference is the hooks
and nothing else: the same app answers ``GET /healthz`` with the hooks, without them, and
with the JSON access log written to /dev/null. Metrics use the multiprocess (mmap) mode of
``onetrip serve``. Bound: the whole request without hooks.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
from pathlib import Path

ROUNDS, CALLS = 7, 3000


def _environ() -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/healthz",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }


def _per_call(variants: dict) -> dict:
    """Seconds per request of each ``name -> (wsgi, setup)``: best of several rounds, the
    variants interleaved round by round so that load on the shared machine hits all alike."""

    def start_response(status, headers, exc_info=None):
        return None

    best = dict.fromkeys(variants, float("inf"))
    for _ in range(ROUNDS):
        for name, (wsgi, setup) in variants.items():
            setup()
            began = time.perf_counter()
            for _ in range(CALLS):
                for _chunk in wsgi(_environ(), start_response):
                    pass
            best[name] = min(best[name], (time.perf_counter() - began) / CALLS)
    return best


def _without_ops_hooks(app) -> None:
    app.wsgi_app = app.wsgi_app.wsgi_app  # unwrap idp.ops._Measured


def run() -> list[dict]:
    from config import logs, metrics
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.app import create_app

    data_dir = Path(tempfile.mkdtemp(prefix="onetrip-bench-ops-"))
    metrics.use_directory(data_dir / "metrics", clean=True)
    runtime = Runtime(load_settings(environ={}, data_dir=str(data_dir)))
    runtime.migrate()
    hooked = create_app(runtime)
    bare = create_app(runtime)
    _without_ops_hooks(bare)

    access = logging.getLogger("onetrip.access")
    access.propagate = False
    sink = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the benchmark)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logs.JsonFormatter())
    access.addHandler(handler)
    times = _per_call(
        {
            "bare": (bare.wsgi_app, lambda: access.setLevel(logging.WARNING)),
            "quiet": (hooked.wsgi_app, lambda: access.setLevel(logging.WARNING)),
            "logged": (hooked.wsgi_app, lambda: access.setLevel(logging.INFO)),
        }
    )
    sink.close()
    without, quiet, logged = times["bare"], times["quiet"], times["logged"]
    rows = []
    for name, value in (
        ("ops hooks, access log off", quiet),
        ("ops hooks + JSON access log", logged),
    ):
        extra = (value - without) * 1e6
        rows.append(
            {
                "benchmark": f"{name}: cost per request",
                "ours": round(extra, 1),
                "unit": "µs",
                "peer": round(without * 1e6, 1),
                "peer_name": "whole /healthz request without hooks (WSGI, no socket)",
                "ratio": round(extra / (without * 1e6), 2),
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
