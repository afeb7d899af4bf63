"""Login step-up to a face check, through a live server and Authlib's client."""

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
    redirect_params,
    sign_in_flow,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "biometrics"))
from face_samples import FACES, Subject

FACE_ACR = "urn:onetrip:acr:face"
FRAMES = {"turn_left": (0, 0, 15, 35, 35), "turn_right": (0, -15, -35, -35)}


@pytest.fixture(scope="module")
def obama() -> Subject:
    return Subject("obama_1.jpg")


def _frames_for(subject: Subject, action: str) -> list[bytes]:
    return subject.blink() if action == "blink" else subject.turn(*FRAMES[action])


def _answer_challenge(browser: Browser, page, subject: Subject, stop_at: str, still=False):
    """Perform the page's challenge in front of the 'camera' and post the frames."""
    action = re.search(r'data-face-capture="([a-z_]+)"', page.text).group(1)
    form = page.text.split("</form>")[0]  # the first form answers; the second cancels
    fields = dict(re.findall(r'name="(csrf_token|challenge|step)" value="([^"]*)"', form))
    frames = [subject.still(1)[0]] * 4 if still else _frames_for(subject, action)
    files = [("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)]
    response = browser.http.post(
        page.url, data=fields, files=files, allow_redirects=False, timeout=60
    )
    if response.is_redirect:
        return browser.navigate(urljoin(page.url, response.headers["Location"]), stop_at=stop_at)
    return response


def test_a_face_acr_request_adds_a_face_check_and_the_id_token_says_so(op, obama):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(FACES / "obama_2.jpg"))
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    assert "data-face-capture" in page.text, "no face step after the password"
    page = _answer_challenge(browser, page, obama, rp.client.redirect_uri)
    assert page.is_redirect or "consented" in page.text, (page.status_code, page.text[-600:])
    if not page.is_redirect and 'name="consented"' in page.text:
        page = browser.submit(page, button="allow", stop_at=rp.client.redirect_uri)
    token = rp.fetch_token(page.headers["Location"])
    claims = rp.validate_id_token(token)
    assert claims["acr"] == FACE_ACR
    assert sorted(claims["amr"]) == ["face", "pwd"]


def test_a_still_photo_held_to_the_camera_does_not_pass_the_face_step(op, obama):
    username = create_user(op)
    op.cli("faces", "enroll", username, str(FACES / "obama_2.jpg"))
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    page = _answer_challenge(browser, page, obama, rp.client.redirect_uri, still=True)
    assert page.status_code == 400
    assert "data-face-capture" in page.text  # a fresh challenge to try again
    assert not page.is_redirect


def test_without_a_template_cancelling_gives_the_client_unmet_authentication_requirements(op):
    username = create_user(op)
    rp = RelyingParty(op, create_client(op))
    browser = Browser(op)
    page = sign_in_flow(browser, rp, username, acr_values=FACE_ACR)
    assert 'name="photo"' in page.text, "no offer to enrol a face right there"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = browser.http.post(
        page.url, data={"csrf_token": csrf, "step": "cancel"}, allow_redirects=False, timeout=20
    )
    params = redirect_params(response)
    assert params["error"] == "unmet_authentication_requirements"
    assert params["iss"] == op.url


def test_a_password_only_login_says_pwd_in_acr_and_amr(op):
    username = create_user(op)
    rp = RelyingParty(op, create_client(op))
    page = sign_in_flow(Browser(op), rp, username)
    claims = rp.validate_id_token(rp.fetch_token(page.headers["Location"]))
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:onetrip:acr:pwd"


def test_a_citizen_enrols_and_deletes_a_face_on_the_account_page(op):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)
    account = browser.navigate(f"{op.url}/account")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', account.text).group(1)

    def post(step: str, **files):
        return browser.http.post(
            f"{op.url}/account/face",
            data={"csrf_token": csrf, "step": step},
            files=files or None,
            allow_redirects=False,
            timeout=60,
        )

    refused = post("enroll", photo=("dogs.jpg", (FACES / "no_face_dogs.jpg").read_bytes()))
    assert refused.status_code == 400
    assert "could not find a face" in refused.text
    assert "Delete my face template" not in browser.navigate(f"{op.url}/account").text

    assert post("enroll", photo=("me.jpg", (FACES / "obama_2.jpg").read_bytes())).is_redirect
    assert "Delete my face template" in browser.navigate(f"{op.url}/account").text

    assert post("delete").is_redirect
    assert "Delete my face template" not in browser.navigate(f"{op.url}/account").text
