"""What operators and load balancers ask a node: liveness, readiness, metrics; request ids.

- ``/healthz``: the process answers HTTP (liveness; touches nothing else, so a database
  outage does not make an orchestrator restart healthy nodes in a loop).
- ``/readyz``: the database, Redis and the signing keys answer, and the data directory's
  disk has ``storage_min_free`` bytes free (readiness; a load balancer takes the node out
  of rotation on 503 and back when it turns 200 again, by itself once space is freed).
- ``/metrics``: Prometheus exposition of the whole node (see config/metrics.py).

:func:`install` adds the per-request hooks: a request id (the caller's ``X-Request-Id``
when it is sane, else a fresh one) echoed in the response, one latency observation, and
one access-log record, named by the Flask endpoint or, for the token endpoints served
ahead of Flask, by the name they put at :data:`ENDPOINT_KEY`. They run on every request,
the benchmarked token endpoint included, so they do as little as possible
(bench/ops_overhead.py measures them).
"""

from __future__ import annotations

import logging
import os
import re
from time import perf_counter

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix

from config import metrics
from config.logs import REQUEST_ID
from config.outage import storage_full_within
from config.runtime import Runtime

_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}").fullmatch
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
access_log = logging.getLogger("onetrip.access")


def create_blueprint(runtime: Runtime, provider) -> Blueprint:
    bp = Blueprint("ops", __name__)

    @bp.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz():
        checks = readiness(runtime, provider)
        failed = [name for name, result in checks.items() if result != "ok"]
        response = jsonify(
            status="unavailable" if failed else "ready", checks=checks, failed=failed
        )
        if failed:
            response.status_code = 503
            response.headers["Retry-After"] = "5"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/metrics", endpoint="metrics")
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    return bp


def readiness(runtime: Runtime, provider) -> dict[str, str]:
    """What ``/readyz`` checks (also shown on the console's overview): each of the
    database, Redis and the signing keys, ``ok`` or why not."""
    return {
        "database": _check(lambda: _ping_database(runtime)),
        "redis": _check(runtime.redis.ping),
        "keys": _check(lambda: provider.keyring.signing_key("ES256")),
        "storage": _storage(runtime.settings.data_dir, runtime.settings.storage_min_free),
    }


#: How long a write that found storage full keeps the readiness probe failing.
STORAGE_FULL_SECONDS = 10.0


def _storage(directory, min_free: int) -> str:
    """``ok``, or how little room the disk of ``directory`` has left for its writers, or
    that a write found the database's storage full moments ago (a PostgreSQL server's
    disk is not ours to look at)."""
    if (ago := storage_full_within(STORAGE_FULL_SECONDS)) is not None:
        return f"unavailable: a write found storage full {ago:.0f} s ago"
    try:
        fs = os.statvfs(directory)
    except OSError as exc:
        return f"unavailable: {exc.strerror}"
    free = fs.f_bavail * fs.f_frsize
    if free < min_free:
        return f"unavailable: {free} bytes free in {directory}, below {min_free}"
    return "ok"


def _ping_database(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        session.execute(text("SELECT 1"))


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # a probe reports any failure; it never raises
        return f"unavailable: {type(exc).__name__}"
    return "ok"


def install(app: Flask, runtime: Runtime) -> None:
    """Request ids, latency metrics, access log; trust proxies' ``X-Forwarded-*`` if told.

    A WSGI wrapper rather than Flask ``before/after_request`` hooks: Flask's hook dispatch
    costs about as much again as the work (bench/ops_overhead.py), and the wrapper times
    every hook of the app, error handlers included.
    """
    app.wsgi_app = _Measured(app.wsgi_app)
    if hops := runtime.settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)


#: Where the request id sits in the WSGI environ (idp/errors.py quotes it in 500 and 503).
_ENV_KEY = "onetrip.request_id"
#: Where an endpoint served outside Flask names itself for metrics and the access log.
ENDPOINT_KEY = "onetrip.endpoint"


class _Measured:
    """Gives each request its id and, when the app answers, counts and logs it."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response):
        started = perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID")
        rid = given if given and _SANE_ID(given) else os.urandom(8).hex()
        environ[_ENV_KEY] = rid
        REQUEST_ID.set(rid)

        def start(status: str, headers: list, exc_info=None):
            headers.append(("X-Request-Id", rid))
            _finished(environ, int(status[:3]), perf_counter() - started)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def _finished(environ: dict, status: int, elapsed: float) -> None:
    req = environ.get("werkzeug.request")  # the Flask request, which knows its endpoint
    endpoint = (req.endpoint if req is not None else environ.get(ENDPOINT_KEY)) or "none"
    method = environ["REQUEST_METHOD"]
    if method not in _METHODS:
        method = "other"
    metrics.REQUESTS.labels(endpoint, method, str(status)).observe(elapsed)
    if access_log.isEnabledFor(logging.INFO):
        _access(environ, endpoint, method, status, elapsed)


def _access(environ: dict, endpoint: str, method: str, status: int, elapsed: float) -> None:
    """One access-log record; built with ``makeRecord`` to skip the caller lookup that
    ``Logger.info`` does (a third of the cost of a record)."""
    millis = round(elapsed * 1000, 2)
    path = environ.get("PATH_INFO", "")
    fields = {
        "method": method,
        "path": path,
        "endpoint": endpoint,
        "status": status,
        "duration_ms": millis,
        "client_ip": environ.get("REMOTE_ADDR"),
    }
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        "",
        0,
        "%s %s %s %sms",
        (method, path, status, millis),
        None,
        extra={"fields": fields},
    )
    access_log.handle(record)
