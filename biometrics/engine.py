"""From image bytes to faces: decoding with bounds, detection, landmarks, 128-d encodings.

This is face_recognition's pipeline (dlib's HOG detector, the 68-point shape predictor and
the ResNet face encoder, through the model files of ``face_recognition_models``) with the
three changes that make it fast on a server; face_recognition's own helpers do not expose
them, so this module calls the same dlib models directly:

- Detection runs on a copy whose longer side is at most :data:`DETECT_SIDE` px with no
  upsampling (HOG cost grows with the pixel count, and face_recognition's default of one
  upsample quadruples it). Only when that finds nothing does it fall back to exactly what
  face_recognition does (one upsample on the analysis image), so small faces are still
  found, then refused as too small or used.
- Landmarks and the encoding are computed on the analysis image (the photo bounded to
  :data:`ANALYSIS_SIDE` px), so the encoder sees as many face pixels as before.
- JPEGs larger than needed are decoded at a reduced DCT scale (``Image.draft``), and the
  encoder is given the aligned 150 px face chip rather than the whole image (the same
  numbers, with less copying).

The contract, checked by ``bench/faces.py`` over ``/work/shared/faces``: the same faces are
found as with face_recognition's HOG + one upsample, and the same-person /
different-person separation is unchanged. The 68-point landmark model is used for
everything: liveness needs it anyway, and the 5-point one was no faster in total (the
encoder dominates) and separated same-person pairs worse (README, Speed).

Everything here is plain functions over bytes and numpy arrays, safe to run in a worker
process (see :mod:`biometrics.pool`); models load once per process.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from biometrics.errors import FaceError

#: Longer side of the image that landmarks and encodings are computed on.
ANALYSIS_SIDE = 1024
#: Longer side of the copy the HOG detector scans first (faces >= ~16 % of it are found).
DETECT_SIDE = 512
#: Face box width (px, in the analysis image) below which an encoding is not trusted: the
#: encoder works on a 150 px chip, and faces under ~80 px are mostly upsampling blur.
MIN_FACE_PX = 80
#: Formats a browser or phone sends; anything else is refused before decoding.
FORMATS = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class Face:
    """One face found in one image."""

    box: tuple[int, int, int, int]  # left, top, right, bottom in the analysis image
    landmarks: np.ndarray  # (68, 2) float, dlib's 68-point layout
    encoding: np.ndarray | None  # (128,) float64, or None when not asked for


@cache
def _models():
    """dlib's detector, 68-point predictor and encoder: loaded once per process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import dlib
        import face_recognition_models as files

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(files.pose_predictor_model_location()),
        dlib.face_recognition_model_v1(files.face_recognition_model_location()),
        dlib.rectangle,
        dlib.get_face_chip,
    )


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """RGB pixels of a JPEG/PNG/WebP, upright (EXIF), longer side at most ANALYSIS_SIDE.

    The pixel count is checked from the header, before any pixel is decoded, so a small
    file that declares a huge image (a decompression bomb) costs nothing.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:  # Pillow's own hard limit, far above ours
        raise FaceError("too_many_pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise FaceError("not_an_image") from None
    width, height = image.size
    if width * height > max_pixels:
        raise FaceError("too_many_pixels")
    if width < 1 or height < 1:
        raise FaceError("not_an_image")
    try:
        if image.format == "JPEG":
            image.draft("RGB", (ANALYSIS_SIDE, ANALYSIS_SIDE))
        image.load()
        image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError):
        raise FaceError("truncated") from None
    if max(image.size) > ANALYSIS_SIDE:
        image.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(image)


def _detect(pixels: np.ndarray) -> list[tuple[int, int, int, int]]:
    detector = _models()[0]
    height, width = pixels.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(height, width))
    small = pixels
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))
    rects = detector(small, 0)
    if len(rects) == 0:
        scale, rects = 1.0, detector(pixels, 1)
    return [
        (
            max(0, round(r.left() / scale)),
            max(0, round(r.top() / scale)),
            min(width, round(r.right() / scale)),
            min(height, round(r.bottom() / scale)),
        )
        for r in rects
    ]


def find_face(pixels: np.ndarray, *, encode: bool = True) -> Face:
    """The one face in the image, with its landmarks and (optionally) its encoding."""
    boxes = _detect(pixels)
    if not boxes:
        raise FaceError("no_face")
    if len(boxes) > 1:
        raise FaceError("several_faces")
    left, top, right, bottom = boxes[0]
    if right - left < MIN_FACE_PX:
        raise FaceError("face_too_small")
    _, predictor, encoder, rectangle, face_chip = _models()
    shape = predictor(pixels, rectangle(left, top, right, bottom))
    landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    encoding = None
    if encode:  # the aligned 150 px chip face_recognition's encoder would cut, cut once here
        encoding = np.array(encoder.compute_face_descriptor(face_chip(pixels, shape, 150, 0.25)))
    return Face(boxes[0], landmarks, encoding)


def analyse(data: bytes, max_pixels: int, encode: bool = True) -> Face:
    """Decode ``data`` and return its single face; raise :class:`FaceError` otherwise."""
    return find_face(decode(data, max_pixels), encode=encode)


def distances(templates: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Euclidean distance of ``probe`` (128,) to each row of ``templates`` (n, 128)."""
    return np.linalg.norm(np.asarray(templates) - probe, axis=1)
