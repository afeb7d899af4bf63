"""The face check's pages in a real browser (Chromium under Playwright, axe-core): the
start page shows no action, the actions appear only once started, and the frames posted
through the page's own form sign the citizen in; phone-sized, in both languages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from oidc_browser import PASSWORD, create_user

from tests.browser import PHONE, assert_accessible, assert_fits, new_context

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "biometrics"))
from face_samples import Video

WORDS = {
    "en": ("Start the face check", "turn your head to your left"),
    "zh-CN": ("开始人脸核验", "向左转头"),
}


@pytest.fixture(scope="module")
def video() -> Video:
    return Video()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_a_citizen_passes_the_face_check_through_the_pages(op, chromium, video, tmp_path, locale):
    username = create_user(op)
    portrait = tmp_path / "official.jpg"
    portrait.write_bytes(video.enrolment_photo())
    op.cli("faces", "enroll", username, str(portrait), "--provenance", "authoritative")
    context = new_context(chromium, locale=locale)
    page = context.new_page()
    page.goto(f"{op.url}/login?next=/account")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.goto(f"{op.url}/login/face?next=/account")
    start, left = WORDS[locale]
    assert page.get_by_role("button", name=start).is_visible()
    assert page.locator("[data-actions]").count() == 0  # nothing to rehearse before Start
    assert_fits(page, PHONE["width"])
    assert_accessible(page)
    page.get_by_role("button", name=start).click()
    form = page.locator("form[data-face-capture=challenge]")
    actions = form.get_attribute("data-actions").split()
    assert len(actions) >= 2 and "turn_left" in actions
    assert left in page.locator("ol.face-actions").inner_text()
    assert_fits(page, PHONE["width"])
    assert_accessible(page)
    frames = []
    for i, frame in enumerate(video.perform(actions)):
        path = tmp_path / f"frame-{i:02d}.jpg"
        path.write_bytes(frame)
        frames.append(str(path))
    page.set_input_files("input[name=frames]", frames)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/account$"))
    assert page.locator("ul.face-templates").is_visible()
    assert_accessible(page)
    context.close()
