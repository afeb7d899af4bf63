"""Where a visible stamp goes: inside the visible page, upright, whatever the page says.

ISO 32000-1 7.7.3.4 lets a page inherit ``/MediaBox``, ``/CropBox`` and ``/Rotate`` from
its ancestors in the page tree, so they are looked up through ``/Parent``. A viewer shows
only the CropBox (clipped to the MediaBox) and turns it by ``/Rotate`` clockwise; stamps
are laid out along the foot of the page *as displayed* (right to left, then up a row)
and mapped back into the page's own coordinates. The stamp's appearance is turned the
other way (:func:`counter_rotation`), so it reads upright on screen and on paper.
"""

from __future__ import annotations

from dataclasses import dataclass

STAMP_W, STAMP_H, MARGIN = 200, 64, 24
_GAP = MARGIN // 2
_MAX_DEPTH = 64  # a page tree deeper than this is broken (or an attack)


@dataclass(frozen=True)
class Placement:
    """Where an officer put a stamp: page ``page`` (from 0), at fractions ``x``, ``y`` of
    the page as displayed, from its top left."""

    page: int
    x: float
    y: float


class PageGeometryError(ValueError):
    """A page whose boxes cannot be read (missing, malformed, or a looping tree)."""


def inherited(page, key: str):
    """``page[key]``, else the nearest ancestor's (ISO 32000-1 7.7.3.4), else None."""
    node = page
    for _ in range(_MAX_DEPTH):
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if parent is None:
            return None
        node = parent.get_object()
    raise PageGeometryError("the page tree is too deep or loops")


def _box(value) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value.get_object())
    except (TypeError, ValueError):
        raise PageGeometryError("a page box is not four numbers") from None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


@dataclass(frozen=True)
class PageView:
    """The visible part of a page (CropBox within MediaBox) and its clockwise rotation."""

    box: tuple[float, float, float, float]
    rotate: int

    @classmethod
    def of(cls, page) -> PageView:
        media = _box(inherited(page, "/MediaBox"))
        if media is None:
            raise PageGeometryError("the page has no MediaBox, not even inherited")
        crop = _box(inherited(page, "/CropBox")) or media
        box = (
            max(crop[0], media[0]),
            max(crop[1], media[1]),
            min(crop[2], media[2]),
            min(crop[3], media[3]),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            raise PageGeometryError("the page's CropBox lies outside its MediaBox")
        try:
            rotate = int(inherited(page, "/Rotate") or 0) % 360
        except (TypeError, ValueError):
            raise PageGeometryError("the page's /Rotate is not a number") from None
        if rotate % 90:
            raise PageGeometryError("/Rotate must be a multiple of 90")
        return cls(box, rotate)

    @property
    def displayed_size(self) -> tuple[float, float]:
        width, height = self.box[2] - self.box[0], self.box[3] - self.box[1]
        return (height, width) if self.rotate in (90, 270) else (width, height)

    def to_page(self, u: float, v: float) -> tuple[float, float]:
        """A point of the displayed page (origin at its bottom left) in page space."""
        llx, lly, urx, ury = self.box
        return {
            0: (llx + u, lly + v),
            90: (urx - v, lly + u),
            180: (urx - u, ury - v),
            270: (llx + v, ury - u),
        }[self.rotate]

    def _stamp_size(self) -> tuple[float, float]:
        width, height = self.displayed_size
        stamp_w, stamp_h = min(STAMP_W, width - 2 * MARGIN), min(STAMP_H, height - 2 * MARGIN)
        if stamp_w < 40 or stamp_h < 16:
            raise PageGeometryError("the page is too small for a visible stamp")
        return stamp_w, stamp_h

    def _page_rect(self, u1: float, v1: float, w: float, h: float) -> tuple[int, int, int, int]:
        """The displayed rectangle from (u1, v1), ``w`` x ``h``, in page space."""
        corners = [self.to_page(u, v) for u, v in ((u1, v1), (u1 + w, v1 + h))]
        xs, ys = sorted(c[0] for c in corners), sorted(c[1] for c in corners)
        return (round(xs[0]), round(ys[0]), round(xs[1]), round(ys[1]))

    def stamp_rect(self, index: int) -> tuple[int, int, int, int]:
        """Page-space rectangle of the ``index``-th stamp, all inside the visible page."""
        width, height = self.displayed_size
        stamp_w, stamp_h = self._stamp_size()
        per_row = max(1, int((width - MARGIN) // (stamp_w + _GAP)))
        row, col = divmod(index, per_row)
        u2 = width - MARGIN - col * (stamp_w + _GAP)
        v1 = MARGIN + row * (stamp_h + _GAP)
        v1 = min(v1, height - MARGIN - stamp_h)  # many stamps: the last rows overlap
        return self._page_rect(u2 - stamp_w, v1, stamp_w, stamp_h)

    def stamp_rect_at(self, x: float, y: float, below: int = 0) -> tuple[int, int, int, int]:
        """Page-space rectangle of a stamp centred where the officer clicked: ``x`` and
        ``y`` are fractions (0 to 1) of the page as displayed, from its top left, as on a
        rendered preview; ``below`` stamps more go underneath it, one per row (a route's
        later departments). A click near an edge moves the stamp inside the visible page."""
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise PageGeometryError("the stamp's place must lie on the page")
        width, height = self.displayed_size
        stamp_w, stamp_h = self._stamp_size()
        u1 = min(max(x * width - stamp_w / 2, 0), width - stamp_w)
        v1 = (1 - y) * height - stamp_h / 2 - below * (stamp_h + _GAP)
        v1 = min(max(v1, 0), height - stamp_h)  # many stamps: the last rows overlap
        return self._page_rect(u1, v1, stamp_w, stamp_h)


def counter_rotation(rotate: int, width: float, height: float) -> list[float] | None:
    """The form matrix that turns an upright ``width`` x ``height`` appearance by
    ``rotate`` degrees counter-clockwise, undoing the page's clockwise display rotation."""
    return {
        0: None,
        90: [0, 1, -1, 0, height, 0],
        180: [-1, 0, 0, -1, width, height],
        270: [0, -1, 1, 0, 0, width],
    }[rotate]
