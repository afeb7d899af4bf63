"""Checks at the edge for every PDF OneTrip is asked to sign or verify.

A caller's file is refused with a :class:`PdfRefused` (an error code and one readable
sentence) before any signing key is touched or any row is written: too large, not a PDF,
truncated or corrupt, too big a structure for an anonymous caller to make us walk (pages,
objects, nesting, bounded by :class:`PdfLimits`), or encrypted with a password that
opens it for reading. Files encrypted with an owner password only (an empty user
password: anyone may read, the owner restricts changes) are opened as any reader opens
them, and signed keeping their encryption.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from io import BytesIO

from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from config.errors import Refusal

#: What a reader fails with on a malformed file (pyHanko raises many types).
PARSE_ERRORS = (
    PdfError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    AttributeError,
    RecursionError,
)


class PdfRefused(Refusal):
    """A PDF that OneTrip will not process; ``error`` is a stable machine-readable reason."""


@dataclass(frozen=True)
class PdfLimits:
    """The most structure a PDF may have (``max_pdf_pages``, ``max_pdf_objects``)."""

    pages: int = 2000
    objects: int = 25_000

    @classmethod
    def of(cls, settings) -> PdfLimits:
        return cls(settings.max_pdf_pages, settings.max_pdf_objects)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reader_for(data: bytes) -> PdfFileReader:
    """A reader of ``data``, opened with the empty user password if it is encrypted."""
    reader = PdfFileReader(BytesIO(data), strict=False)
    if reader.encrypted:
        result = reader.decrypt("")
        if result.status == AuthStatus.FAILED:
            raise PdfRefused(
                "encrypted_pdf", "the PDF is protected by a password; remove the password first"
            )
    return reader


_SIZE = re.compile(rb"/Size\s+(\d{1,12})")
_COUNT = re.compile(rb"/Count\s+(\d{1,12})")


def _prescan(data: bytes, limits: PdfLimits) -> None:
    """Refuse an oversized structure before parsing it, from the bytes alone.

    Parsing costs time in proportion to the cross-reference table and the page tree (a
    2 MB file of 20,000 pages took pyHanko 1.3 s before its first answer). The newest
    trailer's ``/Size`` (or the cross-reference stream's, which is never compressed)
    bounds the objects, and the page tree's root has the largest ``/Count`` when page
    dictionaries are not compressed into object streams; a file that hides its pages
    there is still bounded by its object count.
    """
    sizes = _SIZE.findall(data[-65536:]) or _SIZE.findall(data)
    if sizes and int(sizes[-1]) > limits.objects:
        raise PdfRefused(
            "too_complex", f"the PDF has {int(sizes[-1])} objects; the limit is {limits.objects}"
        )
    counts = [int(c) for c in _COUNT.findall(data)]
    if counts and max(counts) > limits.pages:
        raise PdfRefused(
            "too_complex", f"the PDF has {max(counts)} pages; the limit is {limits.pages}"
        )


def open_pdf(data: bytes, max_bytes: int, limits: PdfLimits | None = None) -> PdfFileReader:
    """Parse ``data`` as a complete PDF within ``max_bytes`` and ``limits``."""
    limits = limits or PdfLimits()
    if len(data) > max_bytes:
        raise PdfRefused(
            "too_large", f"the PDF is {len(data)} bytes; the limit is {max_bytes} bytes", 413
        )
    if not data:
        raise PdfRefused("not_pdf", "the file is empty")
    # ISO 32000-1 annex H.3: readers accept the header anywhere in the first 1024 bytes.
    if b"%PDF-" not in data[:1024]:
        raise PdfRefused("not_pdf", "the file is not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-1024:]:
        raise PdfRefused("corrupt_pdf", "the PDF is truncated (no %%EOF marker at its end)")
    _prescan(data, limits)
    try:
        reader = reader_for(data)
        size = int(reader.trailer["/Size"])
        if size > limits.objects:
            raise PdfRefused(
                "too_complex",
                f"the PDF has {size} objects; the limit is {limits.objects}",
            )
        pages = reader.root["/Pages"]
        count = int(pages["/Count"])
        if count < 1:
            raise PdfRefused("corrupt_pdf", "the PDF has no pages")
        if count > limits.pages:
            raise PdfRefused(
                "too_complex", f"the PDF has {count} pages; the limit is {limits.pages}"
            )
        reader.find_page_for_modification(count - 1)
    except PdfRefused:
        raise
    except RecursionError:
        raise PdfRefused("corrupt_pdf", "the PDF nests its objects too deeply") from None
    except PARSE_ERRORS as exc:
        raise PdfRefused("corrupt_pdf", f"the PDF cannot be read: {exc}") from None
    return reader


def make_pdf(pages: int = 1, text: str = "OneTrip test document") -> bytes:
    """A plain A4 PDF of ``pages`` text pages: the input of tests, benchmarks, smoke checks."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Font"),
                generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            }
        )
    )
    resources = generic.DictionaryObject(
        {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/F1"): font})}
    )
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    for n in range(1, pages + 1):
        body = f"BT /F1 14 Tf 72 760 Td ({safe}, page {n} of {pages}) Tj ET".encode()
        stream = writer.add_object(generic.StreamObject(stream_data=body))
        writer.insert_page(
            PageObject(
                contents=stream,
                media_box=generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 595, 842)),
                resources=resources,
            )
        )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
