"""Liveness: did a live, three-dimensional face perform the random actions we asked for?

The server picks a random sequence of :data:`MIN_ACTIONS` to :data:`MAX_ACTIONS` head turns
(left and right, never the same twice in a row), reveals it only when the citizen starts
the capture, keeps it in Redis for :data:`CHALLENGE_TTL` seconds and lets it be
used once. The browser films a burst of frames; :func:`observe` finds the one face in
every frame and decides from dlib's 68 landmarks and the 128-d encodings:

- **The actions, in order.** A turn is a frame facing the camera (nose-tip offset along
  the jaw line within :data:`FRONTAL`) followed by one turned at least :data:`TURN_DELTA`
  further in the asked direction. Each turn is looked for after the frame that showed
  the previous one, so the citizen comes back to face the camera in between. Frames come as the
  camera delivers them (unmirrored), so the citizen's left is the image's right and
  "turn left" is a positive offset.
- **Depth, not a warped picture.** A photo moved, tilted, stretched, mirrored or
  re-lit in front of the camera (or warped in software) changes every landmark by one
  planar map (a homography), up to the predictor's noise. A real head turn does not:
  the nose sticks out of the face, so its tip swings toward the turn, past where any
  homography of the outline, eyes and mouth puts it (parallax). For each turn, a
  homography is fitted from the facing frame's landmarks (less the nose) to the turned
  frame's, and the nose tip's shift beyond it, along the jaw line toward the turn and in
  inter-ocular distances (:func:`parallax`), must reach :data:`PARALLAX_MIN` and
  :data:`PARALLAX_PER_TURN` times the turn. The mirror image's correspondence (left and
  right landmarks swapped) is tried too, so a mirrored copy, which reads as a turn, is
  caught as the same picture. Measured (``bench/faces.py`` and the tests): random
  perspective, stretch, rotation, scale and mirror warps of the test photos shift the tip
  at most about 0.055; the real turns of ``../shared/face-video`` 0.1 to 0.3, about a
  third of the turn or more.
- **One person throughout.** Every frame is encoded; consecutive frames must be within
  the match threshold of each other (no cut to another face), and every frame whose
  pose allows it (offset within :data:`MATCH_YAW`) is returned for matching against the
  templates; at least one must exist.
- **Not seen before.** Each frame's perceptual hash (:func:`perceptual_hash`, on the face
  aligned by its landmarks, so moving, scaling or re-lighting a copy does not change it
  much) is returned for the replay cache (:mod:`biometrics.replay`).

Blinks are not asked for: the lids move a few pixels, which landmark noise on a warped
picture matches (a shifted copy of one photo read as a blink), and a blink shows no depth.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass

import cv2
import numpy as np

from biometrics import engine

ACTIONS = ("turn_left", "turn_right")
MIN_ACTIONS, MAX_ACTIONS = 2, 3
CHALLENGE_TTL = 30
MIN_FRAMES, MAX_FRAMES = 4, 24
FRONTAL = 0.1
TURN_DELTA = 0.15
MATCH_YAW = 0.15
PARALLAX_MIN = 0.06
PARALLAX_PER_TURN = 0.25

#: dlib's 68 points, each mapped to its mirror image's point (left and right swapped).
MIRROR = np.array(
    [
        *range(16, -1, -1),  # jaw
        *range(26, 16, -1),  # brows
        *(27, 28, 29, 30, 35, 34, 33, 32, 31),  # nose
        *(45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40),  # eyes
        *(54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55),  # outer lips
        *(64, 63, 62, 61, 60, 67, 66, 65),  # inner lips
    ]
)
_NOSE = np.arange(27, 36)
_TIP = np.arange(30, 36)  # the tip and the base of the nose: what sticks out furthest
_REST = np.setdiff1d(np.arange(68), _NOSE)
#: Where the eye centres and the mouth centre go in the 32 px face of the perceptual hash.
_ALIGNED = np.float32([[10, 12], [22, 12], [16, 25]])


def random_actions() -> tuple[str, ...]:
    """Alternating turns, random in length and in the first direction."""
    length = MIN_ACTIONS + secrets.randbelow(MAX_ACTIONS - MIN_ACTIONS + 1)
    first = secrets.randbelow(2)
    return tuple(ACTIONS[(first + i) % 2] for i in range(length))


def yaw_offset(landmarks: np.ndarray) -> float:
    """Nose tip along the jaw line, minus one half: > 0 when the nose is toward image right."""
    left, right, nose = landmarks[0], landmarks[16], landmarks[30]
    span = right - left
    return float(np.dot(nose - left, span) / np.dot(span, span) - 0.5)


def _eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0)))


def _nose_shift(before: np.ndarray, after: np.ndarray, sign: float) -> float:
    matrix, _ = cv2.findHomography(before[_REST], after[_REST], 0)
    if matrix is None:
        return 0.0
    expected = cv2.perspectiveTransform(before[_TIP].reshape(-1, 1, 2), matrix).reshape(-1, 2)
    axis = after[16] - after[0]
    axis = axis / max(float(np.linalg.norm(axis)), 1.0)
    along = float(((after[_TIP] - expected) @ axis).mean())
    return sign * along / max(_eye_distance(after), 1.0)


def parallax(before: np.ndarray, after: np.ndarray, sign: float) -> float:
    """How far the nose tip moved toward ``sign`` (+1: the image's right) along the jaw
    line, beyond where a planar map of the rest of the face (as is, or mirrored) puts it;
    in inter-ocular distances. A real head turn carries the tip that way; a warped
    picture leaves it where the map says, up to landmark noise of either sign."""
    return min(_nose_shift(before, after, sign), _nose_shift(before[MIRROR], after, sign))


def _turn(action: str, landmarks: list[np.ndarray], yaws: np.ndarray, start: int) -> int | None:
    sign = 1.0 if action == "turn_left" else -1.0
    for turned in range(start + 1, len(landmarks)):
        for facing in range(start, turned):
            turn = sign * (yaws[turned] - yaws[facing])
            if (
                abs(yaws[facing]) <= FRONTAL
                and turn >= TURN_DELTA
                and parallax(landmarks[facing], landmarks[turned], sign)
                >= max(PARALLAX_MIN, PARALLAX_PER_TURN * turn)
            ):
                return turned
    return None


def find_actions(actions: tuple[str, ...], landmarks: list[np.ndarray]) -> bool:
    """Whether the landmark sequence shows every action, one after the other."""
    yaws = np.array([yaw_offset(points) for points in landmarks])
    start = 0
    for action in actions:
        found = _turn(action, landmarks, yaws, start)
        if found is None:
            return False
        start = found
    return True


def perceptual_hash(pixels: np.ndarray, landmarks: np.ndarray) -> int:
    """A 256-bit difference hash of the face, aligned by its eyes and mouth to 32 px: a
    copy re-encoded or re-lit hashes nearly
    the same (see :mod:`biometrics.replay`)."""
    anchors = np.float32(
        [landmarks[36:42].mean(0), landmarks[42:48].mean(0), landmarks[48:68].mean(0)]
    )
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    face = cv2.warpAffine(grey, cv2.getAffineTransform(anchors, _ALIGNED), (32, 32))
    small = cv2.resize(face, (17, 16), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


@dataclass(frozen=True)
class Observation:
    """What the frames showed. ``live`` with ``reason`` "" when the actions were seen on
    one three-dimensional face; ``frontal_encodings`` are to be matched against the
    templates; ``hashes`` and ``encodings`` (every frame's) go to the replay cache
    whatever the outcome."""

    live: bool
    reason: str
    frontal_encodings: list[np.ndarray]
    hashes: list[int]
    encodings: list[np.ndarray]


def observe(
    frames: list[bytes], max_pixels: int, actions: tuple[str, ...], continuity: float
) -> Observation:
    """Check ``frames`` against ``actions``; neighbouring frames' encodings may differ by
    at most ``continuity`` (the match threshold). Runs in the face worker process. Raises
    :class:`FaceError` for a frame that is not an image or shows no single usable face."""
    pixels = [engine.decode(frame, max_pixels) for frame in frames]
    if len({p.shape for p in pixels}) > 1:  # one camera burst has one frame size
        return Observation(False, "frame_sizes", [], [], [])
    faces = [engine.find_face(p) for p in pixels]
    hashes = [perceptual_hash(p, f.landmarks) for p, f in zip(pixels, faces, strict=True)]
    encodings = [f.encoding for f in faces]
    steps = [float(np.linalg.norm(a - b)) for a, b in itertools.pairwise(encodings)]
    if max(steps) > continuity:
        return Observation(False, "face_changed", [], hashes, encodings)
    landmarks = [f.landmarks for f in faces]
    if not find_actions(actions, landmarks):
        return Observation(False, "actions_not_seen", [], hashes, encodings)
    frontal = [f.encoding for f in faces if abs(yaw_offset(f.landmarks)) <= MATCH_YAW]
    if not frontal:
        return Observation(False, "no_frontal_frame", [], hashes, encodings)
    return Observation(True, "", frontal, hashes, encodings)
