"""Prometheus metrics: the counters every package bumps, and the ``/metrics`` exposition.

Packages call the small functions below (one line at the place that counts); nothing else
needs to know about prometheus_client. ``onetrip serve`` forks several granian workers, so
values live in prometheus_client's multiprocess mode: each worker writes its own mmap files
under ``PROMETHEUS_MULTIPROC_DIR`` and :func:`exposition` merges them, so ``/metrics`` on
any worker reports the whole node. :func:`use_directory` switches a process into that
mode even when prometheus_client was imported before the directory was known (the serve
parent imports most of OneTrip while bootstrapping, then forks). Every metric has labels,
so no value object exists until a worker first counts something, and each worker's values
land in its own files.

The request count is the ``_count`` series of the latency histogram (one write fewer per
request than a separate counter).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Histogram(
    "onetrip_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint, method and status; _count counts them.",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOGINS = Counter(
    "onetrip_logins", "Password and face logins, by method and outcome.", ["method", "outcome"]
)
TOKENS = Counter(
    "onetrip_token_grants",
    "Token endpoint answers, by grant type and outcome.",
    ["grant_type", "outcome"],
)
SIGNATURES = Counter("onetrip_signatures", "PAdES signatures made, by level.", ["level"])
OCSP = Counter(
    "onetrip_ocsp_answers", "Certificate statuses answered by the OCSP responder.", ["status"]
)
FACES = Counter(
    "onetrip_face_verifications", "Face verifications, by how and outcome.", ["how", "outcome"]
)


def login(method: str, outcome: str) -> None:
    """``outcome``: ``success``, ``failure`` or ``throttled``."""
    LOGINS.labels(method, outcome).inc()


def token_grant(grant_type: str | None, status: int) -> None:
    """One count per token request; grant types OneTrip does not offer count as ``other``
    (the label's values stay few whatever callers send)."""
    grant = grant_type if grant_type in _GRANTS else "other"
    TOKENS.labels(grant, "success" if status < 400 else "failure").inc()


_GRANTS = frozenset(("authorization_code", "refresh_token", "client_credentials"))


def signature(level: str) -> None:
    SIGNATURES.labels(level).inc()


def ocsp_answers(statuses) -> None:
    """One count per certificate status in an answer (``good``, ``revoked``, ``unknown``)."""
    for status in statuses:
        OCSP.labels(status.state).inc()


def face_verification(how: str, success: bool) -> None:
    FACES.labels(how, "match" if success else "no_match").inc()


def use_directory(path: Path, *, clean: bool) -> None:
    """Keep values in ``path`` from now on, in this process and the ones it forks.

    ``clean`` empties the directory first: call it once per node start, before forking,
    or counters of a previous run would be added to this one.
    """
    if clean:
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    values.ValueClass = values.MultiProcessValue()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric of this node, and its content type."""
    if os.environ.get(ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
