"""Face assurance through a live server (issue 13): what a face check proves, who may
change a face, and the attacks of the issue, each driven as the attacker would."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest
from oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    discover,
    redirect_params,
    sign_in_flow,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "biometrics"))
from face_samples import FACES, Video

FACE_ACR = "urn:onetrip:acr:face"
FACE_SELF_ACR = "urn:onetrip:acr:face-self"


@pytest.fixture(scope="module")
def video() -> Video:
    return Video()


@pytest.fixture(scope="module")
def portrait(tmp_path_factory, video) -> Path:
    """His official photo (the facing frame of the video), as the operator imports it."""
    path = tmp_path_factory.mktemp("photo") / "official.jpg"
    path.write_bytes(video.enrolment_photo())
    return path


def _alert(page) -> str:
    found = re.search(r'role="alert">([^<]*)<', page.text)
    return found.group(1) if found else ""


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _follow(browser: Browser, response, stop_at: str | None):
    if response.is_redirect:
        target = urljoin(response.url, response.headers["Location"])
        if stop_at and target.startswith(stop_at):
            return response
        return browser.navigate(target, stop_at=stop_at)
    return response


def _account_face(browser: Browser, page, step: str, photo: bytes | None = None):
    """Post one of the account page's face buttons (with a photo for enroll/replace)."""
    return browser.http.post(
        f"{browser.server.url}/account/face",
        data={"csrf_token": _csrf(page), "step": step},
        files={"photo": ("face.jpg", photo, "image/jpeg")} if photo else None,
        allow_redirects=False,
        timeout=60,
    )


def _start(browser: Browser, page):
    """Press Start on the face page: only then are the actions shown."""
    assert "data-actions" not in page.text
    return browser.http.post(
        page.url, data={"csrf_token": _csrf(page), "step": "start"}, timeout=20
    )


def face_check(browser: Browser, page, frames_for, stop_at: str | None = None):
    """Start the check and turn as the page asks, in front of the 'camera'."""
    started = _start(browser, page)
    assert started.status_code == 200, started.text[-400:]
    actions = re.search(r'data-actions="([a-z_ ]+)"', started.text).group(1).split()
    challenge = re.search(r'name="challenge" value="([^"]+)"', started.text).group(1)
    files = [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames_for(actions))]
    response = browser.http.post(
        started.url,
        data={"csrf_token": _csrf(started), "challenge": challenge, "step": "verify"},
        files=files,
        allow_redirects=False,
        timeout=120,
    )
    return _follow(browser, response, stop_at)


def _finish(browser: Browser, rp: RelyingParty, page) -> dict:
    if not page.is_redirect and 'name="consented"' in page.text:
        page = browser.submit(page, button="allow", stop_at=rp.client.redirect_uri)
    assert page.is_redirect, page.text[-600:]
    return rp.validate_id_token(rp.fetch_token(page.headers["Location"]))


def _templates(op, username: str) -> int:
    out = op.cli("faces", "verify", username, str(FACES / "obama_1.jpg"), "--json", check=False)
    return 0 if "no_template" in out.stdout + out.stderr else 1


def test_discovery_publishes_every_assurance_level(op):
    assert discover(op)["acr_values_supported"] == [
        "urn:onetrip:acr:pwd",
        FACE_SELF_ACR,
        "urn:onetrip:acr:totp",
        FACE_ACR,
    ]


def test_a_live_head_turn_against_an_authoritative_photo_gives_acr_face(op, video, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    assert "Start the face check" in page.text
    page = face_check(browser, page, video.perform, rp.client.redirect_uri)
    claims = _finish(browser, rp, page)
    assert claims["acr"] == FACE_ACR
    assert sorted(claims["amr"]) == ["face", "pwd"]


def test_a_self_registered_face_gives_face_self_and_never_acr_face(op, video, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "self")
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    assert "registered in person at a counter" in page.text
    assert "Start the face check" not in page.text and 'name="photo"' not in page.text
    page = browser.navigate(rp.authorization_url(acr_values=FACE_SELF_ACR))
    page = face_check(browser, page, video.perform, rp.client.redirect_uri)
    assert _finish(browser, rp, page)["acr"] == FACE_SELF_ACR


def test_a_password_only_login_cannot_enrol_a_face_inside_a_face_login(op):
    username = create_user(op)
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    assert 'name="photo"' not in page.text, "enrolment offered inside a face login"
    attack = browser.http.post(
        page.url,
        data={"csrf_token": _csrf(page), "step": "enroll"},
        files={"photo": ("me.jpg", (FACES / "obama_2.jpg").read_bytes(), "image/jpeg")},
        allow_redirects=False,
        timeout=60,
    )
    assert attack.status_code == 400 and not attack.is_redirect
    assert _templates(op, username) == 0
    response = browser.http.post(
        page.url, data={"csrf_token": _csrf(page), "step": "cancel"}, allow_redirects=False
    )
    assert redirect_params(response)["error"] == "unmet_authentication_requirements"


def test_a_password_only_session_cannot_replace_or_delete_the_face(op, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    browser = Browser(op)
    browser.sign_in(username)
    account = browser.navigate(f"{op.url}/account")
    assert "first check your face" in account.text
    for step in ("delete", "replace", "enroll", "never"):
        refused = _account_face(browser, account, step, (FACES / "obama_2.jpg").read_bytes())
        assert refused.status_code == 403, (step, refused.status_code)
        assert "first pass a face check" in refused.text
    verdict = op.cli("faces", "verify", username, str(portrait), "--json")
    assert '"match": true' in verdict.stdout  # the real face is still the one on file


def test_always_check_my_face_gates_the_account_page_of_a_password_session(op, video, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    browser = Browser(op)
    browser.sign_in(username)
    account = browser.navigate(f"{op.url}/account")
    _account_face(browser, account, "always")
    attacker = Browser(op)  # the password alone, in another browser
    attacker.sign_in(username)
    page = attacker.navigate(f"{op.url}/account")
    assert "Start the face check" in page.text, "the account page opened on a password"
    refused = _account_face(attacker, page, "never")
    assert refused.is_redirect and "/login/face" in refused.headers["Location"]
    # The owner passes the check and may then turn it off; the change is listed.
    page = face_check(
        browser, browser.navigate(f"{op.url}/login/face?next=/account"), video.perform
    )
    assert "Changes to how you sign in" in page.text
    done = _account_face(browser, page, "never")
    assert done.is_redirect
    changes = browser.navigate(f"{op.url}/account").text.split("Changes to how you sign in")[1]
    assert changes.count("Face check at every sign-in changed") == 2


def test_after_a_fresh_face_check_the_citizen_replaces_the_face(op, video, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    browser = Browser(op)
    browser.sign_in(username)
    page = face_check(
        browser, browser.navigate(f"{op.url}/login/face?next=/account"), video.perform
    )
    assert "Register my face" in page.text
    replaced = _account_face(browser, page, "replace", video.jpeg(121))
    assert replaced.is_redirect, replaced.text[-300:]
    account = browser.navigate(f"{op.url}/account").text
    assert account.count("registered by you") == 1 and "from an official photo" not in account
    assert "Face registered (self)" in account and "Face deleted" in account


def test_a_first_self_registration_does_not_pass_a_face_check_in_the_same_session(op, video):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)
    account = browser.navigate(f"{op.url}/account")
    added = _account_face(browser, account, "enroll", video.enrolment_photo())
    assert added.is_redirect
    page = face_check(
        browser, browser.navigate(f"{op.url}/login/face?next=/account"), video.perform
    )
    assert page.status_code == 400 and "No face is registered" in page.text
    # and a second face cannot be added on the strength of it
    again = _account_face(browser, page, "enroll", (FACES / "obama_2.jpg").read_bytes())
    assert again.status_code == 403


def test_one_ordinary_photo_warped_into_head_turns_does_not_pass_the_face_step(op):
    """The attacker has the password and one photo of the victim (not the one on file)."""
    import cv2
    import numpy as np
    from face_samples import jpeg

    from biometrics.engine import decode

    username = create_user(op)
    op.cli("faces", "enroll", username, str(FACES / "obama_2.jpg"), "--provenance", "authoritative")
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    still = decode((FACES / "obama_1.jpg").read_bytes(), 10**8)
    h, w = still.shape[:2]

    def warped(actions):  # tilted toward and away from the camera, stretched, flipped
        out = []
        for _ in actions:
            for d, s in ((0.0, 1.0), (0.06, 0.9), (0.12, 0.8), (0.06, 0.9), (0.0, 1.0)):
                src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
                dst = np.float32(
                    [[(1 - s) * w / 2, d * h], [w - (1 - s) * w / 2, -d * h], [w, h], [0, h]]
                )
                matrix = cv2.getPerspectiveTransform(src, dst)
                out.append(jpeg(cv2.warpPerspective(still, matrix, (w, h))))
            out.append(jpeg(still[:, ::-1].copy()))
        return out

    page = face_check(browser, page, warped, rp.client.redirect_uri)
    assert page.status_code == 400 and not page.is_redirect
    assert _alert(page) == (
        "We could not confirm the requested movement with your face. Please try again."
    )


def test_reloading_the_face_page_for_new_challenges_is_throttled_with_a_retry_time(op, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    browser = Browser(op)
    browser.sign_in(username)
    page = browser.navigate(f"{op.url}/login/face?next=/account")
    answers = [_start(browser, page).status_code for _ in range(6)]
    assert answers[:5] == [200] * 5 and answers[5] == 429
    last = _start(browser, page)
    assert int(last.headers["Retry-After"]) > 0


def test_a_password_only_login_says_pwd_in_acr_and_amr(op):
    username = create_user(op)
    rp = RelyingParty(op, create_client(op))
    page = sign_in_flow(Browser(op), rp, username)
    claims = rp.validate_id_token(rp.fetch_token(page.headers["Location"]))
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:onetrip:acr:pwd"


def test_a_service_registered_to_want_acr_face_is_not_served_by_a_self_registered_face(
    op, portrait
):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "self")
    rp = RelyingParty(op, create_client(op, "--default-acr", FACE_ACR))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username)  # no acr_values: the registered default
    assert "registered in person at a counter" in page.text
    assert "Start the face check" not in page.text


def test_deleting_the_last_face_turns_off_the_face_check_at_every_sign_in(op, video, portrait):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    browser = Browser(op)
    browser.sign_in(username)
    _account_face(browser, browser.navigate(f"{op.url}/account"), "always")
    page = face_check(
        browser, browser.navigate(f"{op.url}/login/face?next=/account"), video.perform
    )
    assert _account_face(browser, page, "delete").is_redirect
    later = Browser(op)
    later.sign_in(username)
    account = later.navigate(f"{op.url}/account")
    assert account.status_code == 200 and "Changes to how you sign in" in account.text
    assert _account_face(later, account, "always").status_code == 400  # nothing to check
