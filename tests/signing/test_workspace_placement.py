"""A stamp placed by a click on the workspace's preview lands where the click was, on
plain, cropped and turned pages, and stays inside the visible page when the click is at
an edge: checked on the preview's own pixels (pdftoppm, CropBox, turned as displayed)."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image, ImageChops
from test_stamp_placement import odd_pdf

from signing import preview, service
from signing.placement import Placement


def _stamp_box(before: bytes, after: bytes) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """Bounding box of the preview pixels the stamp changed, and the preview's size."""
    old, new = (Image.open(BytesIO(preview.render(d, 0)[0])).convert("L") for d in (before, after))
    changed = ImageChops.difference(old, new).point(lambda p: 255 if p > 40 else 0)
    return changed.getbbox(), new.size


@pytest.mark.parametrize(
    "shape",
    [{}, {"crop": (50, 100, 450, 700)}, {"rotate": 90}, {"rotate": 270, "rotate_on_tree": True}],
    ids=["plain", "cropbox", "rotate-90", "rotate-270-inherited"],
)
def test_the_stamp_is_centred_where_the_preview_was_clicked(runtime, psb, shape):
    data = odd_pdf(**shape)
    signed, _ = service.sign(
        runtime, data, psb, level="B-B", stamp=True, placement=Placement(0, 0.3, 0.4)
    )
    (left, top, right, bottom), (width, height) = _stamp_box(data, signed)
    assert abs((left + right) / 2 - 0.3 * width) < width * 0.03
    assert abs((top + bottom) / 2 - 0.4 * height) < height * 0.03
    assert right - left > bottom - top  # upright: wider than tall, as displayed


def test_a_click_at_the_corner_keeps_the_stamp_on_the_page(runtime, psb):
    data = odd_pdf(crop=(50, 100, 450, 700))
    signed, _ = service.sign(
        runtime, data, psb, level="B-B", stamp=True, placement=Placement(0, 1.0, 1.0)
    )
    (_left, _top, right, bottom), (width, height) = _stamp_box(data, signed)
    assert right <= width and bottom <= height
    assert right > width * 0.9 and bottom > height * 0.9  # in the corner that was clicked


def test_a_click_off_the_preview_is_no_placement():
    assert preview.click("341", "10", 481) is None
    assert preview.click("-5", "10", 481) is None
    assert preview.click("85", "x", 481) is None
    assert preview.click("85", "120", 481) == (85 / 340, 120 / 481)
