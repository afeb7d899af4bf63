"""Checks at the edge for every PDF OneTrip is asked to sign or verify.

A caller's file is refused with a :class:`PdfRefused` (an error code and one readable
sentence) before any signing key is touched or any row is written: too large, not a PDF,
truncated or corrupt, or encrypted (an encrypted PDF cannot carry an incremental PAdES
signature without its password, and OneTrip never asks for one).
"""

from __future__ import annotations

import hashlib
from io import BytesIO

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader


class PdfRefused(ValueError):
    """A PDF that OneTrip will not process; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_pdf(data: bytes, max_bytes: int) -> PdfFileReader:
    """Parse ``data`` as an unencrypted, complete PDF no larger than ``max_bytes``."""
    if len(data) > max_bytes:
        raise PdfRefused(
            "too_large", f"the PDF is {len(data)} bytes; the limit is {max_bytes} bytes"
        )
    if not data:
        raise PdfRefused("not_pdf", "the file is empty")
    # ISO 32000-1 annex H.3: readers accept the header anywhere in the first 1024 bytes.
    if b"%PDF-" not in data[:1024]:
        raise PdfRefused("not_pdf", "the file is not a PDF (no %PDF- header)")
    if b"%%EOF" not in data[-1024:]:
        raise PdfRefused("corrupt_pdf", "the PDF is truncated (no %%EOF marker at its end)")
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        if reader.encrypted:
            raise PdfRefused("encrypted_pdf", "the PDF is encrypted; remove its password first")
        pages = reader.root["/Pages"]
        if int(pages["/Count"]) < 1:
            raise PdfRefused("corrupt_pdf", "the PDF has no pages")
        reader.find_page_for_modification(int(pages["/Count"]) - 1)
    except PdfRefused:
        raise
    except (PdfError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
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
