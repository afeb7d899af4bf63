"""The engine on the shared photos: who matches whom, and which photos are refused."""

from __future__ import annotations

import io
import itertools
import struct
import zlib

import numpy as np
import pytest
from face_samples import FACES, MANIFEST, jpeg, photo
from PIL import Image

from biometrics import engine
from biometrics.errors import MESSAGES, FaceError
from config.settings import Settings

THRESHOLD = Settings().face_match_threshold
MAX_PIXELS = Settings().max_image_pixels
PEOPLE = [row for row in MANIFEST if row["person"]]


@pytest.fixture(scope="module")
def encodings() -> dict[str, tuple[str, np.ndarray]]:
    return {
        row["file"]: (row["person"], engine.analyse(photo(row["file"]), MAX_PIXELS).encoding)
        for row in PEOPLE
    }


def _pairs(encodings, same: bool):
    for (a, (pa, ea)), (b, (pb, eb)) in itertools.combinations(encodings.items(), 2):
        if (pa == pb) == same:
            yield a, b, float(np.linalg.norm(ea - eb))


def test_every_same_person_pair_matches_at_the_default_threshold(encodings):
    misses = [p for p in _pairs(encodings, same=True) if p[2] > THRESHOLD]
    assert misses == []
    assert len(list(_pairs(encodings, same=True))) == 298


def test_no_different_person_pair_matches_at_the_default_threshold(encodings):
    false_matches = [p for p in _pairs(encodings, same=False) if p[2] <= THRESHOLD]
    assert false_matches == []


def test_a_single_face_is_found_wherever_hog_with_upsampling_finds_exactly_one():
    for row in PEOPLE:
        face = engine.analyse(photo(row["file"]), MAX_PIXELS, encode=False)
        assert face.landmarks.shape == (68, 2), row["file"]


def _refusal(data: bytes, max_pixels: int = MAX_PIXELS) -> str:
    with pytest.raises(FaceError) as info:
        engine.analyse(data, max_pixels)
    return info.value.error


def test_a_photo_of_dogs_is_refused_as_having_no_face():
    assert _refusal(photo("no_face_dogs.jpg")) == "no_face"


@pytest.mark.parametrize(
    "name", [r["file"] for r in MANIFEST if int(r["faces_found_by_hog_upsample_1"]) > 1]
)
def test_a_photo_with_several_faces_is_refused(name):
    assert _refusal(photo(name)) == "several_faces"


def test_a_face_too_small_to_trust_is_refused():
    image = Image.open(FACES / "obama_5_480p.jpg")
    image.thumbnail((400, 400))  # the face shrinks from ~120 px to ~55 px wide
    assert _refusal(jpeg(np.asarray(image.convert("RGB")))) == "face_too_small"


def test_a_text_file_is_refused_as_not_an_image():
    assert _refusal(b"GIF89a? no, just text pretending") == "not_an_image"
    assert _refusal((FACES / "manifest.csv").read_bytes()) == "not_an_image"


def test_a_truncated_jpeg_is_refused():
    data = photo("obama_1.jpg")
    assert _refusal(data[: len(data) // 2]) == "truncated"


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = _png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    assert _refusal(bomb) == "too_many_pixels"


def test_the_pixel_bound_is_the_setting():
    data = jpeg(np.zeros((300, 400, 3), np.uint8))
    assert _refusal(data, max_pixels=400 * 300 - 1) == "too_many_pixels"
    assert _refusal(data, max_pixels=400 * 300) == "no_face"


def test_every_refusal_has_a_message_in_english_and_chinese(app):
    for code, en in MESSAGES.items():
        error = FaceError(code)
        assert error.message_en == en
        assert en.endswith(".")
        with app.test_request_context("/", query_string={"ui_locales": "en"}):
            assert error.message == en
        with app.test_request_context("/", query_string={"ui_locales": "zh-CN"}):
            zh = error.message
        assert any("\u4e00" <= c <= "\u9fff" for c in zh)


def test_a_photo_is_turned_upright_from_its_exif_orientation():
    image = Image.open(FACES / "obama_1.jpg")
    sideways = image.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": undoes the counter-clockwise turn above
    out = io.BytesIO()
    sideways.save(out, "JPEG", exif=exif.tobytes(), quality=92)
    upright = engine.analyse(photo("obama_1.jpg"), MAX_PIXELS).encoding
    assert np.linalg.norm(engine.analyse(out.getvalue(), MAX_PIXELS).encoding - upright) < 0.1
