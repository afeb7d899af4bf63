"""Minimal DER encoding for the hot paths (OCSP and time-stamp responses, re-signed TBS).

asn1crypto parses every request and builds the cold structures; for the per-request
responses we concatenate precomputed DER fragments instead, because building asn1crypto
objects costs more than the signature itself. Only definite-length DER is produced.
"""

from __future__ import annotations

from datetime import datetime


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element: ``tag`` (a single identifier octet), length, ``body``."""
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def octet_string(value: bytes) -> bytes:
    return tlv(0x04, value)


def bit_string(value: bytes) -> bytes:
    """A BIT STRING with no unused bits (signatures, keys)."""
    return tlv(0x03, b"\x00" + value)


def integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return tlv(0x02, body)


def enumerated(value: int) -> bytes:
    return tlv(0x0A, bytes((value,)))


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime to the second, UTC (``moment`` is naive UTC or aware)."""
    return tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def explicit(number: int, body: bytes) -> bytes:
    """A context-specific constructed tag ``[number] EXPLICIT`` around ``body``."""
    return tlv(0xA0 | number, body)


def elements(data: bytes) -> list[bytes]:
    """The DER elements inside the outermost constructed element of ``data``."""
    _, start, end = header(data, 0)
    found = []
    while start < end:
        _, _body, stop = header(data, start)
        found.append(data[start:stop])
        start = stop
    return found


def header(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, body start, element end) of the DER element at ``offset``."""
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    count = first & 0x7F
    size = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    body = offset + 2 + count
    return tag, body, body + size


def read(data: bytes, offset: int, end: int) -> tuple[int, int, int]:
    """(tag, body start, element end) of the element at ``offset``, strictly DER.

    For parsing untrusted input: refuses (``ValueError``) multi-octet tags, indefinite or
    non-minimal lengths and any element that runs past ``end``.
    """
    if offset + 2 > end:
        raise ValueError("truncated DER element")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-octet DER tags are not supported")
    if first < 0x80:
        body, size = offset + 2, first
    else:
        count = first & 0x7F
        body = offset + 2 + count
        if not 1 <= count <= 4 or body > end or data[offset + 2] == 0:
            raise ValueError("bad DER length")
        size = int.from_bytes(data[offset + 2 : body], "big")
        if size < 0x80:
            raise ValueError("non-minimal DER length")
    if body + size > end:
        raise ValueError("DER element runs past its container")
    return tag, body, body + size


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, body start, element end) of each element in ``data[start:end]``.

    The elements must fill the range exactly (``ValueError`` otherwise).
    """
    found = []
    while start < end:
        tag, body, stop = read(data, start, end)
        found.append((tag, start, body, stop))
        start = stop
    return found
