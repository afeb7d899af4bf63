"""Real photos from ../shared/faces, and frame sequences made from them.

Head turns are made with a cylindrical warp: the face is treated as a cylinder around its
vertical axis and rotated, so points near the middle (the nose) move further than the
outline (the jaw), as on a real head. Blinks are made by squashing each eye vertically
around its centre line, so the lids close over the eye while the skin around stretches.
Both change the image and let dlib's landmark predictor see the motion for itself.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from biometrics import engine

#: The project's test photos: ``../shared/faces`` beside the checkout, or ONETRIP_FACES_DIR.
FACES = Path(
    os.environ.get("ONETRIP_FACES_DIR") or Path(__file__).resolve().parents[3] / "shared" / "faces"
)
if not (FACES / "manifest.csv").is_file():
    raise FileNotFoundError(
        f"the face tests need the project's test photos and their manifest.csv in {FACES}: "
        "put the shared directory beside this checkout, or set ONETRIP_FACES_DIR"
    )
MANIFEST = list(csv.DictReader((FACES / "manifest.csv").open()))


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


def jpeg(pixels: np.ndarray, quality: int = 92) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def turned(pixels: np.ndarray, box, degrees: float) -> np.ndarray:
    """The head rotated about its vertical axis; positive: toward the image's right."""
    width = pixels.shape[1]
    left, _, right, _ = box
    centre, radius = (left + right) / 2, (right - left) * 0.75
    xs = np.arange(width, dtype=float)
    u = np.clip((xs - centre) / radius, -1, 1)
    source = centre + radius * np.sin(np.arcsin(u) - np.radians(degrees))
    source = np.where(np.abs(xs - centre) < radius, source, xs)
    x0 = np.clip(np.floor(source).astype(int), 0, width - 1)
    x1 = np.clip(x0 + 1, 0, width - 1)
    f = (source - x0)[None, :, None]
    return (pixels[:, x0] * (1 - f) + pixels[:, x1] * f).astype(np.uint8)


def squeezed(pixels: np.ndarray, box, factor: float) -> np.ndarray:
    """A flat photo tilted away: the whole face narrowed uniformly (an affine squeeze)."""
    width = pixels.shape[1]
    centre = (box[0] + box[2]) / 2
    xs = np.arange(width, dtype=float)
    return pixels[:, np.clip(centre + (xs - centre) / factor, 0, width - 1).astype(int)]


def eyes_closed(pixels: np.ndarray, landmarks: np.ndarray, factor: float = 6) -> np.ndarray:
    """Each eye squashed vertically by ``factor`` around its centre line."""
    out = pixels.astype(float)
    for eye in (landmarks[36:42], landmarks[42:48]):
        left, right = eye[:, 0].min(), eye[:, 0].max()
        span = right - left
        centre = eye[:, 1].mean()
        half = max((eye[:, 1].max() - eye[:, 1].min()) / 2, 2) + 1
        reach, inner = half * 3, half / factor
        x0, x1 = int(left - span * 0.3), int(right + span * 0.3) + 1
        y0, y1 = int(centre - reach), int(centre + reach) + 1
        d = np.arange(y0, y1, dtype=float) - centre
        shifted = np.where(
            np.abs(d) < inner,
            d * factor,
            np.sign(d) * (half + (np.abs(d) - inner) * (reach - half) / (reach - inner)),
        )
        source = np.clip(centre + shifted, 0, pixels.shape[0] - 1)
        r0 = np.floor(source).astype(int)
        r1 = np.minimum(r0 + 1, pixels.shape[0] - 1)
        f = (source - r0)[:, None, None]
        patch = pixels[r0, x0:x1] * (1 - f) + pixels[r1, x0:x1] * f
        xs = np.arange(x0, x1)
        blend = np.clip(np.minimum(xs - x0, x1 - 1 - xs) / (span * 0.25), 0, 1)[None, :, None]
        out[y0:y1, x0:x1] = patch * blend + out[y0:y1, x0:x1] * (1 - blend)
    return out.astype(np.uint8)


class Subject:
    """A real photo, decoded, with its face: the material for frame sequences."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bytes = photo(name)
        self.pixels = engine.decode(self.bytes, 10**8)
        self.face = engine.find_face(self.pixels, encode=False)

    def turn(self, *degrees: float) -> list[bytes]:
        return [jpeg(turned(self.pixels, self.face.box, d)) for d in degrees]

    def still(self, n: int) -> list[bytes]:
        return [jpeg(self.pixels)] * n

    def blink(self) -> list[bytes]:
        shut = jpeg(eyes_closed(self.pixels, self.face.landmarks))
        return [jpeg(self.pixels), jpeg(self.pixels), shut, jpeg(self.pixels)]


#: ``../shared/face-video``: one real head turn (see its README), read with OpenCV.
VIDEO = FACES.parent / "face-video" / "head_turn_320x240.avi"
#: Frames of the video: he faces the camera at 122, his head turned to his left (toward
#: the image's right) at 114 and to his right at 127.
FACING, LEFT_TURN, RIGHT_TURN = 122, (122, 120, 118, 116, 114), (122, 124, 126, 127)


def video_frames() -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(VIDEO))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


class Video:
    """The real head turn as a citizen's camera: frames for any sequence of actions.

    A turn is filmed facing the camera, turning, and coming back (reversed where the
    video turns the other way).
    """

    def __init__(self) -> None:
        self.frames = video_frames()
        self.facing = self.frames[FACING]
        self.face = engine.find_face(self.facing, encode=False)

    def jpeg(self, index: int) -> bytes:
        return jpeg(self.frames[index])

    def enrolment_photo(self) -> bytes:
        return jpeg(self.facing, quality=95)

    def perform(self, actions) -> list[bytes]:
        out: list[bytes] = []
        for action in actions:
            there = LEFT_TURN if action == "turn_left" else RIGHT_TURN
            out += [self.jpeg(i) for i in there + there[-2::-2]]
        return out
