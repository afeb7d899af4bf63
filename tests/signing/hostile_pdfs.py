"""PDFs built to hurt a parser: for the tests that OneTrip refuses them cleanly."""

from __future__ import annotations

import re


def pdf_from_objects(objects: list[bytes], root: int | None = 1) -> bytes:
    """A classic PDF (header, objects 1..n, xref table, trailer) from raw object bodies."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer = b"<< /Size %d" % (len(objects) + 1)
    if root is not None:
        trailer += b" /Root %d 0 R" % root
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def without_root() -> bytes:
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]
    return pdf_from_objects([*objects, page], root=None)


def nested_arrays(depth: int = 50_000) -> bytes:
    deep = b"[" * depth + b"]" * depth
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    catalog = b"<< /Type /Catalog /Pages 2 0 R /Deep " + deep + b" >>"
    return pdf_from_objects([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page])


def many_pages(count: int = 20_000) -> bytes:
    """``count`` tiny pages that inherit their MediaBox: about 2 MB."""
    first_page = 3
    kids = b" ".join(b"%d 0 R" % n for n in range(first_page, first_page + count))
    pages = b"<< /Type /Pages /MediaBox [0 0 595 842] /Count %d /Kids [%s] >>" % (count, kids)
    leaves = [b"<< /Type /Page /Parent 2 0 R >>"] * count
    return pdf_from_objects([b"<< /Type /Catalog /Pages 2 0 R >>", pages, *leaves])


def bad_byte_range(signed: bytes) -> bytes:
    """``signed`` with its first /ByteRange pointing past the end of the file (each number
    replaced by nines of the same width, so no other offset moves)."""
    match = re.search(rb"/ByteRange\s*\[[\d\s]+\]", signed)
    start, end = match.span()
    forged = re.sub(rb"\d+", lambda m: b"9" * len(m.group()), signed[start:end])
    return signed[:start] + forged + signed[end:]
