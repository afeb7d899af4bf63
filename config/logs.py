"""Log records as one JSON object per line (or plain text), tagged with the request id.

A log shipper (journald, Vector, Fluent Bit, Loki) reads one JSON object per line without a
parsing rule of its own. The request id of the request being served sits in a context
variable that the web layer sets, so every record made while serving a request carries
it, whichever package logs. ``fields`` passed as ``extra={"fields": {...}}`` become
top-level keys of the JSON object (the access log uses this).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

#: The id of the request this thread is serving; ``None`` outside requests.
REQUEST_ID: ContextVar[str | None] = ContextVar("onetrip_request_id", default=None)

FORMATS = ("json", "text")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, fields."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := getattr(record, "request_id", None):
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def configure(fmt: str, level: int = logging.INFO) -> None:
    """Send every record of this process to stderr in ``fmt`` (``json`` or ``text``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
