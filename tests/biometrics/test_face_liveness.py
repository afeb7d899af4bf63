"""Liveness challenges with frame sequences made from real photos."""

from __future__ import annotations

import time

import pytest
from face_samples import Subject, jpeg, photo, squeezed, turned

from biometrics import liveness
from biometrics.errors import FaceError

ALICE = 7


def _challenge(service, action: str):
    """Start challenges until the random one asks for ``action`` (unused ones just expire)."""
    for _ in range(200):
        challenge = service.start_challenge(ALICE)
        if challenge.action == action:
            return challenge
    raise AssertionError(f"no {action} challenge in 200 draws")


@pytest.fixture
def enrolled(faces, obama):
    faces.enroll(ALICE, photo("obama_2.jpg"))
    return faces


def _code(call) -> str:
    with pytest.raises(FaceError) as info:
        call()
    return info.value.code


def test_turning_left_in_front_of_the_camera_passes_a_turn_left_challenge(enrolled, obama):
    challenge = _challenge(enrolled, "turn_left")
    verdict = enrolled.complete_challenge(ALICE, challenge.id, obama.turn(0, 0, 15, 35, 35))
    assert verdict.match


def test_turning_the_wrong_way_fails(enrolled, obama):
    challenge = _challenge(enrolled, "turn_right")
    frames = obama.turn(0, 0, 15, 35, 35)
    assert _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames)) == (
        "challenge_failed"
    )


def test_turning_right_passes_a_turn_right_challenge(enrolled, obama):
    challenge = _challenge(enrolled, "turn_right")
    assert enrolled.complete_challenge(ALICE, challenge.id, obama.turn(0, -15, -35, -35)).match


def test_a_blink_passes_a_blink_challenge(enrolled, obama):
    challenge = _challenge(enrolled, "blink")
    assert enrolled.complete_challenge(ALICE, challenge.id, obama.blink()).match


@pytest.mark.parametrize("action", liveness.ACTIONS)
def test_a_still_photo_repeated_fails_every_challenge(enrolled, obama, action):
    challenge = _challenge(enrolled, action)
    call = lambda: enrolled.complete_challenge(ALICE, challenge.id, obama.still(6))  # noqa: E731
    assert _code(call) == "challenge_failed"


def test_a_flat_photo_tilted_sideways_does_not_pass_for_a_turn(obama):
    frames = [obama.pixels] + [squeezed(obama.pixels, obama.face.box, k) for k in (0.8, 0.6)]
    landmarks = [obama.face.landmarks] + [
        liveness.engine.analyse(jpeg(f), 10**8, encode=False).landmarks for f in frames[1:]
    ]
    assert liveness.find_action("turn_left", landmarks) is None
    assert liveness.find_action("turn_right", landmarks) is None


def test_a_challenge_can_be_used_only_once(enrolled, obama):
    challenge = _challenge(enrolled, "turn_left")
    frames = obama.turn(0, 15, 35)
    assert enrolled.complete_challenge(ALICE, challenge.id, frames).match
    assert _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames)) == (
        "challenge_expired"
    )


def test_an_expired_challenge_fails(enrolled, obama, runtime):
    challenge = _challenge(enrolled, "turn_left")
    assert 0 < runtime.redis.ttl(f"face:challenge:{challenge.id}") <= 60
    runtime.redis.pexpire(f"face:challenge:{challenge.id}", 1)
    frames = obama.turn(0, 15, 35)
    time.sleep(0.01)
    assert _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, frames)) == (
        "challenge_expired"
    )


def test_another_citizens_challenge_cannot_be_used(enrolled, obama):
    challenge = _challenge(enrolled, "turn_left")
    enrolled.enroll(8, photo("obama_3.jpg"))
    assert _code(lambda: enrolled.complete_challenge(8, challenge.id, obama.turn(0, 35))) == (
        "challenge_expired"
    )


def test_someone_else_performing_the_action_does_not_match(enrolled):
    challenge = _challenge(enrolled, "turn_left")
    biden = Subject("biden_2.jpg")
    verdict = enrolled.complete_challenge(ALICE, challenge.id, biden.turn(0, 15, 35))
    assert not verdict.match


def test_too_few_frames_are_refused(enrolled, obama):
    challenge = _challenge(enrolled, "blink")
    assert _code(lambda: enrolled.complete_challenge(ALICE, challenge.id, obama.still(2))) == (
        "bad_frames"
    )


def test_frames_of_different_sizes_are_not_one_camera_burst(enrolled, obama):
    challenge = _challenge(enrolled, "turn_left")
    frames = [*obama.turn(0, 15), jpeg(turned(obama.pixels[:-8], obama.face.box, 35))]
    call = lambda: enrolled.complete_challenge(ALICE, challenge.id, frames)  # noqa: E731
    assert _code(call) == "challenge_failed"
