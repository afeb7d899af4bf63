"""Visible stamps land inside the visible page, upright, on pages that inherit their boxes,
crop them or turn them (ISO 32000-1 7.7.3.4): checked on pixels rendered by pdftoppm."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pades_checks import changed_pixels
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from signing import service
from signing.pdfs import make_pdf

DPI = 36  # points to pixels: / 2


def odd_pdf(
    *,
    inherit_media: bool = False,
    crop: tuple[int, int, int, int] | None = None,
    rotate: int = 0,
    rotate_on_tree: bool = False,
) -> bytes:
    """A one-page A4 PDF whose page takes its boxes or rotation from the page tree."""
    writer = copy_into_new_writer(PdfFileReader(BytesIO(make_pdf(1))))
    pages = writer.root["/Pages"]
    page = pages["/Kids"][0].get_object()
    name = generic.NameObject
    if inherit_media:
        pages[name("/MediaBox")] = page["/MediaBox"]
        del page["/MediaBox"]
    if crop:
        page[name("/CropBox")] = generic.ArrayObject(generic.NumberObject(v) for v in crop)
    if rotate:
        (pages if rotate_on_tree else page)[name("/Rotate")] = generic.NumberObject(rotate)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _stamp_pixels(runtime, psb, data: bytes, tmp_path: Path):
    """(bounding box of the pixels the stamp changed, rendered page size)."""
    signed, _ = service.sign(runtime, data, psb, level="B-B", stamp=True)
    return changed_pixels(data, signed, tmp_path, DPI)


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"inherit_media": True},
        {"crop": (50, 100, 450, 700)},
        {"inherit_media": True, "crop": (300, 0, 595, 300)},
        {"rotate": 90},
        {"rotate": 270, "rotate_on_tree": True},
        {"rotate": 180, "crop": (50, 100, 450, 700)},
    ],
    ids=["plain", "inherited-mediabox", "cropbox", "inherited-and-cropped", "rotate-90",
         "rotate-270-inherited", "rotate-180-cropped"],
)  # fmt: skip
def test_the_stamp_is_in_the_bottom_right_of_the_visible_page_and_upright(
    runtime, psb, tmp_path, shape
):
    box, (width, height) = _stamp_pixels(runtime, psb, odd_pdf(**shape), tmp_path)
    assert box is not None, "no stamp pixels at all: the stamp is off the visible page"
    left, top, right, bottom = box
    margin = 24 * DPI / 72
    # All of it inside what the viewer shows, with the margin kept.
    assert (
        left >= margin - 2
        and top >= 0
        and right <= width - margin + 2
        and bottom <= height - margin + 2
    )
    # At the foot, on the right, as displayed.
    assert right > width / 2 and bottom > height / 2
    # Upright: 200 x 64 points wide, not 64 x 200 (sideways).
    assert (right - left) > 2 * (bottom - top)


def test_a_page_with_no_box_anywhere_is_refused_not_a_500(runtime, psb):
    writer = copy_into_new_writer(PdfFileReader(BytesIO(make_pdf(1))))
    del writer.root["/Pages"]["/Kids"][0].get_object()["/MediaBox"]
    out = BytesIO()
    writer.write(out)
    from signing.pdfs import PdfRefused

    with pytest.raises(PdfRefused) as refused:
        service.sign(runtime, out.getvalue(), psb, level="B-B", stamp=True)
    assert refused.value.error == "cannot_stamp"
