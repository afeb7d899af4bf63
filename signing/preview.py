"""Page previews: a PDF page rendered server-side as a PNG, by poppler's ``pdftoppm``.

Rendering on the server keeps the workspace free of JavaScript (a preview is an ``<img>``
or an ``<input type=image>`` that sends the click's place) and costs no new dependency:
poppler-utils is already what the tests check signatures with. ``pdftoppm`` runs in its
own process with a time limit, on a PDF that :func:`signing.pdfs.open_pdf` accepted, and
renders the CropBox turned by ``/Rotate``: the page as a viewer displays it, so a point
of the image is a point of :class:`signing.placement.PageView`'s displayed page.

Renders are cached per process by the PDF's SHA-256, page and width (versions are
immutable, so a cached render is never stale).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from signing.pdfs import PdfRefused, sha256

WIDTH = 340  # CSS pixels a preview is shown at; fits a 390 px phone
SCALE = 2  # rendered at twice that, for sharp text on dense screens
TIMEOUT = 20
_CACHE_SIZE = 64
_cache: OrderedDict[tuple[str, int], tuple[bytes, int]] = OrderedDict()
_lock = threading.Lock()


def _png_height(png: bytes) -> int:
    return int.from_bytes(png[20:24], "big")  # IHDR: width at 16, height at 20


def render(data: bytes, page: int) -> tuple[bytes, int]:
    """Page ``page`` (from 0) of ``data`` as a PNG, and the height it is shown at when
    :data:`WIDTH` wide."""
    key = (sha256(data), page)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with tempfile.TemporaryDirectory(prefix="onetrip-preview-") as tmp:
        source, out = Path(tmp) / "in.pdf", Path(tmp) / "page"
        source.write_bytes(data)
        try:
            subprocess.run(
                [
                    "pdftoppm", "-png", "-cropbox", "-singlefile",
                    "-f", str(page + 1), "-l", str(page + 1),
                    "-scale-to-x", str(WIDTH * SCALE), "-scale-to-y", "-1",
                    str(source), str(out),
                ],
                check=True,
                capture_output=True,
                timeout=TIMEOUT,
            )  # fmt: skip
            png = out.with_suffix(".png").read_bytes()
        except (subprocess.SubprocessError, OSError):
            raise PdfRefused("cannot_render", "this page cannot be shown") from None
    found = (png, round(_png_height(png) / SCALE))
    with _lock:
        _cache[key] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return found


def click(x: str | None, y: str | None, height: int) -> tuple[float, float] | None:
    """The fractions of the page at which an ``<input type=image>`` shown
    :data:`WIDTH` x ``height`` was clicked (its ``name.x`` and ``name.y``), or None."""
    if not (x and y and x.isdigit() and y.isdigit() and len(x) < 6 and len(y) < 6):
        return None
    fx, fy = int(x) / WIDTH, int(y) / max(height, 1)
    if fx > 1 or fy > 1:
        return None
    return fx, fy
