"""Liveness: did a live face perform the random action we asked for, just now?

The server picks an action (blink, turn left, turn right), keeps the challenge in Redis for
:data:`CHALLENGE_TTL` seconds and lets it be used once. The browser films a short burst of
frames; :func:`observe` finds the one face in every frame and measures, from dlib's 68
landmarks:

- blink: the eye aspect ratio (EAR, Soukupová & Čech 2016: eyelid gaps over eye width,
  averaged over both eyes). A blink is a frame whose EAR is at most :data:`BLINK_RATIO` of
  the open EAR, with open-eyed frames before and after it. dlib's predictor does not take
  a closed eye to EAR ~0, so the rule is relative, not an absolute cut-off.
- turns: the nose tip (point 30) projected onto the jaw line from point 0 to point 16,
  as an offset from its middle (0 = facing the camera). A real head turn moves the nose,
  which sticks out, against the jaw outline; a flat photo tilted in front of the camera
  squeezes both alike and barely moves it (measured: at most 0.05 for a photo squeezed to
  60 % width, against 0.1 to 0.3 for turned heads). One frame must face the camera
  (offset within :data:`FRONTAL`) and one must be turned at least :data:`TURN_DELTA`
  further in the asked direction. Frames are taken as the camera delivers them
  (``canvas.drawImage`` of the video track is not mirrored), so the citizen's left is the
  image's right and "turn left" means a positive offset.

The reference frame (eyes open / facing the camera) and the action frame are then encoded
and both must match the enrolled template, so the same enrolled person did the action.
All frames must have the same size, as one camera burst has. A repeated still photo shows
no change and fails; old frames cannot be replayed because the
challenge they answered is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biometrics import engine

ACTIONS = ("blink", "turn_left", "turn_right")
CHALLENGE_TTL = 60
MIN_FRAMES, MAX_FRAMES = 3, 20
BLINK_RATIO = 0.75
FRONTAL = 0.1
TURN_DELTA = 0.08


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean EAR of both eyes (points 36-41 and 42-47)."""

    def one(eye: np.ndarray) -> float:
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        return float(vertical / (2.0 * np.linalg.norm(eye[0] - eye[3])))

    return (one(landmarks[36:42]) + one(landmarks[42:48])) / 2.0


def yaw_offset(landmarks: np.ndarray) -> float:
    """Nose tip along the jaw line, minus one half: > 0 when the nose is toward image right."""
    left, right, nose = landmarks[0], landmarks[16], landmarks[30]
    span = right - left
    return float(np.dot(nose - left, span) / np.dot(span, span) - 0.5)


def find_action(action: str, landmarks: list[np.ndarray]) -> tuple[int, int] | None:
    """(reference frame, action frame) if the landmark sequence shows ``action``, else None."""
    if action == "blink":
        ears = np.array([eye_aspect_ratio(points) for points in landmarks])
        for closed in range(1, len(ears) - 1):
            before, after = ears[:closed].max(), ears[closed + 1 :].max()
            if ears[closed] <= BLINK_RATIO * min(before, after):
                return int(np.argmax(ears)), closed
        return None
    sign = 1.0 if action == "turn_left" else -1.0
    yaws = np.array([yaw_offset(points) for points in landmarks])
    reference = int(np.argmin(np.abs(yaws)))
    turned = int(np.argmax(sign * yaws))
    if abs(yaws[reference]) <= FRONTAL and sign * (yaws[turned] - yaws[reference]) >= TURN_DELTA:
        return reference, turned
    return None


@dataclass(frozen=True)
class Observation:
    """What the frames showed: whether the action was seen, and the encodings to compare."""

    action_seen: bool
    encodings: list[np.ndarray]


def observe(frames: list[bytes], max_pixels: int, action: str) -> Observation:
    """Find the face in each frame, check the action, encode the two frames that matter.

    Runs in the face worker process: landmarks for every frame (cheap), the encoder only
    for the reference and action frames (it costs ~100 ms each).
    """
    pixels = [engine.decode(frame, max_pixels) for frame in frames]
    if len({p.shape for p in pixels}) > 1:  # one camera burst has one frame size
        return Observation(False, [])
    faces = [engine.find_face(p, encode=False) for p in pixels]
    found = find_action(action, [face.landmarks for face in faces])
    if found is None:
        return Observation(False, [])
    encodings = [engine.find_face(pixels[i]).encoding for i in sorted(set(found))]
    return Observation(True, encodings)
