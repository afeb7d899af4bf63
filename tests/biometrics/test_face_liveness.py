"""Liveness against the attacks of issue 13: planar warps of one picture, mirrored copies,
replays, cuts to another face, two faces; and a real head turn (../shared/face-video)
that passes them."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from face_samples import FACING, Video, jpeg, photo

from bench.liveness import FAMILIES, warp
from biometrics import engine, liveness
from biometrics.errors import FaceError
from biometrics.models import COUNTER
from config.audit import AuditEvent

ALICE = 7


@pytest.fixture(scope="module")
def video() -> Video:
    return Video()


@pytest.fixture
def enrolled(inline_faces, video):
    inline_faces.enroll(ALICE, video.enrolment_photo(), subject="alice", provenance=COUNTER)
    return inline_faces


def _code(call) -> str:
    with pytest.raises(FaceError) as info:
        call()
    return info.value.error


def _landmarks(pixels: np.ndarray) -> np.ndarray:
    return engine.find_face(pixels, encode=False).landmarks


def test_a_real_head_turn_moves_the_nose_in_depth_beyond_any_planar_map(video):
    facing = _landmarks(video.facing)
    for turned, sign in ((114, 1.0), (127, -1.0)):
        assert liveness.parallax(facing, _landmarks(video.frames[turned]), sign) >= (
            liveness.PARALLAX_MIN
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_every_planar_warp_of_one_frame_is_explained_by_a_homography(video, family):
    facing, measured = _landmarks(video.facing), 0
    for amount in (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0):
        try:
            warped = _landmarks(warp(video.facing, family, amount))
        except FaceError:  # warped out of a usable face: refused before any depth check
            continue
        measured += 1
        for sign in (1.0, -1.0):
            shift = liveness.parallax(facing, warped, sign)
            assert shift < liveness.PARALLAX_MIN, (family, amount, sign)
    assert measured >= 2


def test_a_real_head_turning_as_asked_passes_and_matches_the_counter_template(enrolled, video):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    assert len(challenge.actions) >= 2
    verdict = enrolled.complete_challenge(
        ALICE, challenge.id, video.perform(challenge.actions), subject="alice"
    )
    assert verdict.match and verdict.provenance == COUNTER and verdict.proofed


def test_the_turns_in_another_order_fail(enrolled, video):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    wrong = tuple("turn_right" if a == "turn_left" else "turn_left" for a in challenge.actions)
    frames = video.perform(wrong)
    assert (
        _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice"))
        == "challenge_failed"
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_frames_warped_from_one_still_fail_whatever_the_turns_asked(enrolled, video, family):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    sweep = (0.0, 0.5, 1.0, 0.5, 0.0, -0.5, -1.0, -0.5, 0.0, 0.5, 1.0)
    frames = [jpeg(warp(video.facing, family, a)) for a in sweep]
    assert _code(
        lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice")
    ) in (
        "challenge_failed",
        "no_face",
        "face_too_small",
    )


def test_a_mirrored_copy_does_not_read_as_a_turn(enrolled, video):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    flipped = jpeg(video.facing[:, ::-1].copy())
    frames = [jpeg(video.facing), flipped] * 3 + [jpeg(video.facing)]
    assert (
        _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice"))
        == "challenge_failed"
    )


@pytest.mark.parametrize("change", ["exact", "brightness", "noise", "shift", "scale", "stretch"])
def test_frames_of_an_earlier_attempt_are_refused_even_altered(enrolled, video, change):
    first = enrolled.start_challenge(ALICE, subject="alice")
    frames = video.perform(first.actions)
    assert enrolled.complete_challenge(ALICE, first.id, frames, subject="alice").match
    again = enrolled.start_challenge(ALICE, subject="alice")
    replayed = video.perform(again.actions)
    if change != "exact":
        decoded = [engine.decode(f, 10**8) for f in replayed]
        amount = {"brightness": 0.5, "noise": 0.6, "shift": 0.3, "scale": 0.3, "stretch": 0.2}
        replayed = [jpeg(warp(p, change, amount[change])) for p in decoded]
    assert (
        _code(lambda: enrolled.complete_challenge(ALICE, again.id, replayed, subject="alice"))
        == "replayed"
    )


def _as_video_frame(name: str, video: Video) -> bytes:
    """Another photo cut into the camera burst at the video's frame size, the face (or the
    first of several) about a third of the frame wide, as in the video."""
    pixels = engine.decode(photo(name), 10**8)
    left, top, right, bottom = engine._detect(pixels)[0]
    h, w = video.facing.shape[:2]
    half = (right - left) * 1.5
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half * h / w))
    crop = pixels[y0 : int(cy + half * h / w), x0 : int(cx + half)]
    return jpeg(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))


def test_a_cut_to_another_persons_face_fails(enrolled, video):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    frames = video.perform(challenge.actions)
    frames[3] = _as_video_frame("kit_harington_1.jpg", video)
    assert (
        _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice"))
        == "challenge_failed"
    )


def test_another_persons_real_head_turn_does_not_match(inline_faces, video):
    inline_faces.enroll(ALICE, photo("obama_2.jpg"), subject="alice", provenance=COUNTER)
    challenge = inline_faces.start_challenge(ALICE, subject="alice")
    verdict = inline_faces.complete_challenge(
        ALICE, challenge.id, video.perform(challenge.actions), subject="alice"
    )
    assert not verdict.match


def test_a_frame_with_two_faces_is_refused_counted_and_audited(enrolled, video, runtime):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    frames = video.perform(challenge.actions)
    other = engine.decode(_as_video_frame("kit_harington_1.jpg", video), 10**8)
    two = video.frames[FACING].copy()
    two[40:200, 190:310] = cv2.resize(other[40:200, 100:220], (120, 160))
    frames[2] = jpeg(two)
    assert _code(
        lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice")
    ) in (
        "several_faces",
        "face_too_small",
    )
    with runtime.db.read() as session:
        reasons = [
            e.details.get("reason")
            for e in session.query(AuditEvent).filter_by(event="face.verify.failure")
        ]
    assert reasons and reasons[-1] in ("several_faces", "face_too_small")


def test_too_few_frames_are_refused_and_audited(enrolled, video, runtime):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    frames = [video.jpeg(FACING)] * 2
    assert (
        _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice"))
        == "bad_frames"
    )
    with runtime.db.read() as session:
        last = session.query(AuditEvent).order_by(AuditEvent.seq.desc()).first()
    assert last.event == "face.verify.failure" and last.details["reason"] == "bad_frames"


def test_every_new_challenge_counts_as_an_attempt_so_reloading_is_throttled(enrolled, runtime):
    for _ in range(runtime.settings.login_max_failures_per_account):
        enrolled.start_challenge(ALICE, subject="alice")
    assert _code(lambda: enrolled.start_challenge(ALICE, subject="alice")) == "throttled"


def test_a_challenge_can_be_used_only_once_and_expires(enrolled, video, runtime):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    assert 0 < runtime.redis.ttl(f"face:challenge:{challenge.id}") <= liveness.CHALLENGE_TTL
    frames = video.perform(challenge.actions)
    assert enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice").match
    assert _code(
        lambda: enrolled.complete_challenge(ALICE, challenge.id, frames, subject="alice")
    ) == ("challenge_expired")


def test_another_citizens_challenge_cannot_be_used(enrolled, video):
    challenge = enrolled.start_challenge(ALICE, subject="alice")
    enrolled.enroll(8, video.enrolment_photo(), subject="bob")
    frames = video.perform(challenge.actions)
    assert _code(lambda: enrolled.complete_challenge(8, challenge.id, frames, subject="bob")) == (
        "challenge_expired"
    )


def test_a_random_sequence_has_at_least_two_alternating_turns():
    drawn = {liveness.random_actions() for _ in range(200)}
    assert all(len(s) >= 2 and all(a != b for a, b in itertools.pairwise(s)) for s in drawn)
    assert len(drawn) >= 4
