"""Servers outside OneTrip that tests stand up: a client's JWK Set host, its sector
document, its logout receiver, and the attacker's slow, trickling, huge and redirecting
servers. Real HTTP on a loopback address; each path answers as the test scripts it and
counts its requests, so a test can show that a refused URL was never reached."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    drip: float = 0.0  # seconds between single bytes of the body
    size: int = 0  # a generated body of this many bytes instead of ``body``
    chunked: bool = False  # send the generated body without Content-Length


class Outside:
    """A real HTTP server on ``host`` whose answers a test scripts per path."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.posted: list[tuple[str, bytes]] = []
        self.sent: Counter[str] = Counter()  # body bytes written, by path
        self.stopping = threading.Event()
        outside = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outside._answer(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                outside.posted.append((self.path, self.rfile.read(length)))
                outside._answer(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # e.g. a refused handshake
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = host, self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Outside:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def serve(self, path: str, **route) -> str:
        self.routes[path] = Route(**route)
        return self.url(path)

    def serve_json(self, path: str, document, **route) -> str:
        return self.serve(path, body=json.dumps(document).encode(), **route)

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path
        self.hits[path] += 1
        route = self.routes.get(path, Route(status=404, body=b"{}"))
        if route.delay and self.stopping.wait(route.delay):
            return
        try:
            handler.send_response(route.status)
            handler.send_header("Content-Type", route.content_type)
            for name, value in route.headers.items():
                handler.send_header(name, value)
            if route.chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.send_header("Content-Length", str(route.size or len(route.body)))
            handler.end_headers()
            self._body(handler, path, route)
        except OSError:
            pass  # the client hung up: what a refused answer looks like from here

    def _body(self, handler, path: str, route: Route) -> None:
        out = handler.wfile
        if route.size:
            block = b"x" * 65536
            left = route.size
            while left > 0 and not self.stopping.is_set():
                piece = block[: min(left, len(block))]
                out.write(b"%x\r\n%s\r\n" % (len(piece), piece) if route.chunked else piece)
                self.sent[path] += len(piece)
                left -= len(piece)
            if route.chunked:
                out.write(b"0\r\n\r\n")
            return
        if route.drip:
            for byte in route.body:
                if self.stopping.wait(route.drip):
                    return
                out.write(bytes([byte]))
                out.flush()
                self.sent[path] += 1
            return
        out.write(route.body)
        self.sent[path] += len(route.body)


def wait_for(condition, seconds: float = 10.0) -> bool:
    """Whether ``condition()`` became true within ``seconds`` (for answers that land on
    another thread, such as a back-channel logout)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
