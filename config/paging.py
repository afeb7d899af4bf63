"""One page of a listing, as the console's and the workspace's list pages show it.

Listings count their rows, clamp the asked-for page number into range with
:func:`page_number` (so a stale or hostile ``?page=`` shows the last page, never an error
or an empty page past the end) and return a :class:`Page`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows, its number (from 1), how many rows in all, and
    how many rows a page holds."""

    rows: list
    number: int
    total: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))


def page_number(requested: int, total: int, size: int) -> int:
    """``requested`` clamped to the pages that ``total`` rows make, from 1."""
    return min(max(requested, 1), max(1, math.ceil(total / size)))
