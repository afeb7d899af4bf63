"""gunicorn configuration for OneTrip, for sites that standardise on gunicorn.

``onetrip serve`` (granian) is the default and measured faster; this file gives the same
behaviour under gunicorn:

    ONETRIP_DATA_DIR=/var/lib/onetrip ONETRIP_TRUSTED_PROXIES=1 \\
        gunicorn -c deploy/gunicorn.conf.py

The master does what ``onetrip serve``'s parent does (``on_starting`` below): migrates the
schema, creates the signing keys and the CA, starts the embedded Valkey when no
``REDIS_URL`` is set, and empties this node's Prometheus directory. Workers then build the
app themselves (no ``preload_app``: nothing opened in the master is shared after fork).
"""

import multiprocessing
import os

# -- what to run ------------------------------------------------------------------------
wsgi_app = "idp.wsgi:create_wsgi_app()"
bind = os.environ.get("ONETRIP_BIND", "127.0.0.1:8000")  # nginx in front: keep it on loopback

# -- workers ----------------------------------------------------------------------------
# Password hashing, signing and face work release the GIL: a few threads per process let
# one process overlap them with I/O; processes use the cores.
workers = int(os.environ.get("ONETRIP_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("ONETRIP_THREADS", 4))
preload_app = False

# -- timeouts ---------------------------------------------------------------------------
# A worker silent for `timeout` seconds is killed and replaced; 30 s covers the slowest
# legitimate request (a B-LTA signature with time-stamping). Slow clients are nginx's job
# (it buffers whole request bodies before passing them on), so gunicorn's own limits stay
# strict.
timeout = 30
graceful_timeout = 20
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# -- behind a proxy ---------------------------------------------------------------------
# Only the proxy may set X-Forwarded-*; OneTrip itself applies werkzeug's ProxyFix when
# ONETRIP_TRUSTED_PROXIES is set (the number of proxies in front).
forwarded_allow_ips = os.environ.get("ONETRIP_FORWARDED_ALLOW_IPS", "127.0.0.1")

# -- logs -------------------------------------------------------------------------------
# OneTrip writes its own JSON access log (one line per request, with the request id);
# gunicorn's would duplicate it.
accesslog = None
errorlog = "-"

# -- Prometheus: one directory per node, emptied at start, off the data disk -------------


def on_starting(server):
    from config import metrics
    from config.runtime import Runtime
    from idp.serve import set_up_node

    runtime = Runtime()
    metrics.use_directory(runtime.settings.metrics_path / "gunicorn", clean=True)
    runtime.migrate()
    set_up_node(runtime)
    if not runtime.settings.redis_url:
        runtime.redis.ping()  # the embedded Valkey lives as long as the master
    runtime.db.dispose()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
