"""The browser pieces: a capture script that CSP allows, and forms that work without it."""

from __future__ import annotations

import re
from types import SimpleNamespace

from flask import render_template_string


def test_the_capture_script_is_served_as_javascript_from_this_site(client):
    response = client.get("/biometrics/static/face-capture.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert b"getUserMedia" in response.data
    assert b"eval(" not in response.data


def _render(app, source: str, **context) -> str:
    with app.test_request_context("/"):
        return render_template_string(
            '{% import "biometrics/macros.html" as face %}' + source, **context
        )


def test_the_enrolment_form_posts_a_photo_file_without_any_script(app):
    html = _render(app, "{{ face.enrol_form('/account/face', hidden={'step': 'enroll'}) }}")
    assert 'enctype="multipart/form-data"' in html
    assert 'data-face-capture="enroll"' in html
    assert re.search(r'<input id="face-photo" type="file" name="photo"[^>]*capture="user"', html)
    assert 'name="step" value="enroll"' in html
    assert 'name="csrf_token"' in html
    assert "<script" not in html


def test_the_challenge_form_carries_the_challenge_and_posts_frames(app):
    challenge = SimpleNamespace(id="abc", actions=("turn_left", "turn_right"))
    html = _render(
        app,
        "{{ face.challenge_form('/login/face', challenge, labels={'camera': '使用摄像头'}) }}"
        "{{ face.face_script() }}",
        challenge=challenge,
    )
    assert 'data-face-capture="challenge" data-actions="turn_left turn_right"' in html
    assert 'name="challenge" value="abc"' in html
    assert 'name="frames"' in html
    assert " multiple " in html
    assert 'data-label-camera="使用摄像头"' in html
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # external only: nothing inline for CSP to block
    assert 'src="/biometrics/static/face-capture.js"' in html
