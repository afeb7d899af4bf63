"""``onetrip serve``: first-start set-up in the parent, then granian's WSGI workers.

Granian serves because it answered more requests per worker than gunicorn's sync worker
when measured (``bench/``, README's Speed section). The parent does the first start's
set-up before it forks (:func:`set_up_node`: schema, token-signing keys, the CA
hierarchy) and starts the embedded Valkey when no ``REDIS_URL`` is set, so workers find
everything ready and share it instead of racing to create it.

Operations: the parent empties this node's Prometheus directory (``<metrics_dir>/<port>``,
outside the data directory, one per listening port so nodes sharing a data directory keep
theirs apart) before forking, sets up JSON or text logs, watches the embedded Valkey
(restarting it if it dies), anchors the audit chain (:mod:`config.audit_anchor`) and asks
granian to replace a worker that dies instead of stopping the node. granian bounds
the time to read request headers, but hands a request to a worker thread before its body
has arrived and has no body timeout: clients trickling bodies can hold every thread of a
worker. In production nginx sits in front (deploy/nginx.conf) and reads whole bodies first;
tests/ops/test_ops_deploy.py checks that it keeps a node free under such clients.

Stopping: SIGTERM to the parent stops the node, workers, face pool and embedded Valkey
included, within ``STOP_SECONDS``. A granian worker is a ``multiprocessing`` child, and
when it returns, multiprocessing joins the worker's own children (the face pool's process)
*before* the interpreter's thread shutdown, which is what would tell that pool to stop:
the worker waited on a child that waited for it. So each worker stops its children first
(a multiprocessing finalizer, which runs before that join), and granian kills a worker
that is still not done after the rest of the budget.
"""

from __future__ import annotations

import dataclasses
import multiprocessing.util
import os
from urllib.parse import urlsplit

from config import installation, logs, metrics
from config.audit_anchor import Stamp, keep_anchoring, remote_stamp
from config.redis import watch_embedded
from config.runtime import Runtime
from config.settings import SettingsError, explicit_issuer


def bootstrap(runtime: Runtime) -> None:
    """Everything a first start needs once the schema is in place (``runtime.migrate()``
    for a server, :func:`config.cli.ensure_schema` for a command); idempotent, safe when
    several nodes start at once. A first start stores the issuer (:mod:`config.installation`)."""
    from idp.keys import ensure_keys

    installation.fix_issuer(runtime.db, None, runtime.settings.issuer)
    check_secrets(runtime)
    with runtime.db.write() as session:
        ensure_keys(session, runtime.settings)


def set_up_node(runtime: Runtime) -> None:
    """A node's first-start set-up, done by its parent before any worker forks (``onetrip
    serve``, gunicorn's ``on_starting``): :func:`bootstrap`, then the CA hierarchy (root,
    issuing CA, OCSP responder, TSA), so that workers read one ready hierarchy instead of
    each trying to create it. Idempotent; needs the schema and the settled issuer, which
    the CA writes into its certificates' URLs."""
    from certs.authority import authority

    bootstrap(runtime)
    authority(runtime).ensure()


def check_secrets(runtime: Runtime) -> None:
    """Refuse to start when the secrets do not open the database's keys: a database
    restored without its ``secrets.json`` (a fresh one was generated) would otherwise
    start with keys it cannot use, and every client would fail."""
    from sqlalchemy import select

    from config.sealing import load_private_key
    from idp.models import SigningKey

    with runtime.db.read() as session:
        sealed = session.scalar(select(SigningKey.private_pem).limit(1))
    if sealed is None:
        return
    try:
        load_private_key(runtime.settings, sealed)
    except (ValueError, TypeError):
        secrets = runtime.settings.data_dir / "secrets.json"
        raise SettingsError(
            "the secrets do not open this database's keys: the database was restored "
            f"without its secrets, or {secrets} (or ONETRIP_KEY_ENCRYPTION_KEY) belongs to "
            "another installation; put back the secrets.json of the backup and start again"
        ) from None


def settle_issuer(runtime: Runtime, first: str | None = None) -> None:
    """Make ``runtime`` use the installation's issuer: the stored one, or (first start)
    ``ONETRIP_ISSUER``, else ``first``, else the default. A conflicting ``ONETRIP_ISSUER``
    raises :class:`config.settings.SettingsError`. Needs the schema in place."""
    wanted = explicit_issuer()
    issuer = installation.fix_issuer(runtime.db, wanted, first or runtime.settings.issuer)
    if issuer != runtime.settings.issuer:
        runtime.settings = dataclasses.replace(runtime.settings, issuer=issuer)


def listening_issuer(host: str, port: int) -> str:
    """The issuer a first start without ``ONETRIP_ISSUER`` takes: where it listens."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a comparison)
    return f"http://{shown}:{port}"


def check_listening(issuer: str, host: str, port: int) -> None:
    """Refuse to serve a development issuer (plain http on loopback) on another port: every
    URL handed out would lead to a port nobody answers on."""
    parts = urlsplit(issuer)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme == "http" and loopback and parts.port and parts.port != port:
        raise SettingsError(
            f"this installation's issuer is {issuer}, but it would listen on port {port}: "
            f"serve on port {parts.port}, or run `onetrip issuer move "
            f"{listening_issuer(host, port)}` first"
        )


#: The most a SIGTERM may take to stop the node; workers get all but two seconds of it.
STOP_SECONDS = 10


def _stop_children() -> None:
    """Stop the processes this worker started (the face pool's): a face job cut short
    fails like any request cut short by a stop, and nothing outlives the worker."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(1)
        if child.is_alive():
            child.kill()


class _Worker:
    """Registers, in every forked worker, the stop of its children before multiprocessing
    joins the worker's children (see the module docstring)."""

    def __init__(self) -> None:
        multiprocessing.util.register_after_fork(self, _Worker._forked)

    def _forked(self) -> None:
        multiprocessing.util.Finalize(None, _stop_children, exitpriority=10)


_worker = _Worker()


def audit_stamp(runtime: Runtime) -> Stamp:
    """How this node time-stamps the audit chain's anchors: ``audit_tsa_url`` when set,
    else OneTrip's own TSA (the CA's time-stamping key, in this process)."""
    if runtime.settings.audit_tsa_url:
        return remote_stamp(runtime.settings)
    from certs.authority import authority
    from certs.tsa import time_stamp_authority

    return time_stamp_authority(authority(runtime)).respond


def serve(runtime: Runtime, host: str, port: int, workers: int, threads: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    logs.configure(runtime.settings.log_format)
    metrics.use_directory(runtime.settings.metrics_path / str(port), clean=True)
    set_up_node(runtime)
    if not runtime.settings.redis_url:
        runtime.redis.ping()  # starts the embedded Valkey in this, the long-lived parent
        watch_embedded(runtime.settings)
    stamp = audit_stamp(runtime)  # the TSA reads its key now, before the pool is emptied
    runtime.db.dispose()  # workers are forked: they must open their own connections
    keep_anchoring(runtime.db, stamp, runtime.settings)
    os.environ.setdefault("ONETRIP_DATA_DIR", str(runtime.settings.data_dir))
    os.environ["ONETRIP_ISSUER"] = runtime.settings.issuer  # the installation's, for workers
    os.environ["ONETRIP_SERVE_WORKERS"] = str(workers)  # idp.passwords shares the CPUs by it
    Granian(
        "idp.wsgi:create_wsgi_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        backpressure=threads * 16,
        http1_settings=HTTP1Settings(header_read_timeout=10_000),
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=STOP_SECONDS - 2,
    ).serve()
