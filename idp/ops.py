"""What operators and load balancers ask a node: liveness, readiness, metrics; request ids.

- ``/healthz``: the process answers HTTP (liveness; touches nothing else, so a database
  outage does not make an orchestrator restart healthy nodes in a loop).
- ``/readyz``: the database, Redis and the signing keys answer (readiness; a load balancer
  takes the node out of rotation on 503 and back when it turns 200 again).
- ``/metrics``: Prometheus exposition of the whole node (see config/metrics.py).

:func:`install` adds the per-request hooks: a request id (the caller's ``X-Request-Id``
when it is sane, else a fresh one) echoed in the response, one latency observation, and
one access-log record. They run on every request, the benchmarked token endpoint
included, so they do as little as possible: no per-request allocation beyond the id, the
label lookup and, when the access log is enabled, one record.
"""

from __future__ import annotations

import logging
import os
import re
from time import perf_counter

from flask import Blueprint, Flask, Response, g, jsonify, request
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix

from config import metrics
from config.logs import REQUEST_ID
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
        checks = {
            "database": _check(lambda: _ping_database(runtime)),
            "redis": _check(runtime.redis.ping),
            "keys": _check(lambda: provider.keyring.signing_key("ES256")),
        }
        failed = [name for name, result in checks.items() if result != "ok"]
        response = jsonify(
            status="unavailable" if failed else "ready", checks=checks, failed=failed
        )
        if failed:
            response.status_code = 503
            response.headers["Retry-After"] = "5"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/metrics")
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)

    return bp


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

    Call it before any other hook is registered, so the timing covers the other hooks.
    """
    if hops := runtime.settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    @app.before_request
    def _begin() -> None:
        g.started = perf_counter()
        given = request.headers.get("X-Request-Id")
        g.request_id = given if given and _SANE_ID(given) else os.urandom(8).hex()
        REQUEST_ID.set(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = perf_counter() - g.started
        response.headers["X-Request-Id"] = g.request_id
        endpoint = request.endpoint or "none"
        method = request.method if request.method in _METHODS else "other"
        status = response.status_code
        metrics.REQUESTS.labels(endpoint, method, str(status)).observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "%s %s %s %.1fms",
                method,
                request.path,
                status,
                elapsed * 1000,
                extra={
                    "fields": {
                        "method": method,
                        "path": request.path,
                        "endpoint": endpoint,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_ip": request.remote_addr,
                    }
                },
            )
        return response

    @app.teardown_request
    def _end(_exc) -> None:
        REQUEST_ID.set(None)
