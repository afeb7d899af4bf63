"""Every text a page shows has its Simplified Chinese in the gettext catalogue of its package."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import render_template_string

from config.catalogues import Catalogue

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["idp", "signing", "biometrics"]
#: Texts whose Chinese is the English itself.
SAME_IN_BOTH = {"PKCE"}


def _messages(package: str, locale: str) -> dict:
    po = ROOT / package / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        return {m.id: m for m in read_po(source) if m.id}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_text_the_code_names_is_in_its_packages_catalogue(package):
    catalogue = _messages(package, "zh_Hans_CN")
    named = Catalogue(ROOT / package).extracted()
    missing = sorted(text for text in named if text not in catalogue)
    assert not missing, f"run `make i18n` and translate: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_text_has_its_chinese_with_the_same_placeholders(package):
    for text, message in _messages(package, "zh_Hans_CN").items():
        assert message.string, f"{package}: no Chinese for {text!r}"
        assert not message.fuzzy, f"{package}: the Chinese for {text!r} is marked fuzzy"
        assert message.string != text or text in SAME_IN_BOTH, f"{package}: {text!r} in English"
        assert _fields(message.string) == _fields(text), f"{package}: placeholders of {text!r}"


@pytest.mark.parametrize("package", PACKAGES)
def test_the_english_catalogue_has_the_same_texts(package):
    assert _messages(package, "en").keys() == _messages(package, "zh_Hans_CN").keys()


@pytest.mark.parametrize(
    ("ui_locales", "words"),
    [("zh-CN", ["登录", "用户名", "密码"]), ("en", ["Sign in", "Username", "Password"])],
)
def test_the_login_page_speaks_the_language_of_ui_locales(client, ui_locales, words):
    page = client.get("/login", query_string={"ui_locales": ui_locales}).get_data(as_text=True)
    assert all(word in page for word in words)


def test_an_empty_text_stays_empty_rather_than_the_catalogues_header(app):
    from idp.i18n import translate

    with app.test_request_context("/", query_string={"ui_locales": "zh-CN"}):
        assert translate("") == ""
        assert translate("Sign in") == "登录"
        assert translate("Page {number} of {pages}", number=2, pages=5) == "第 2 页，共 5 页"


def test_the_camera_script_gets_its_words_from_the_catalogue(app):
    source = '{% import "biometrics/macros.html" as face %}{{ face.face_script() }}'
    with app.test_request_context("/", query_string={"ui_locales": "zh-CN"}):
        chinese = render_template_string(source)
    with app.test_request_context("/", query_string={"ui_locales": "en"}):
        english = render_template_string(source)
    assert 'data-label-camera="使用摄像头"' in chinese
    assert 'data-label-sending="正在核验…"' in chinese
    assert 'data-label-camera="Use the camera"' in english
    script = (ROOT / "biometrics" / "static" / "face-capture.js").read_text(encoding="utf-8")
    for english in ("The camera is not available", "Look at the camera.", "Checking"):
        assert english not in script  # no English left to leak onto a Chinese page
