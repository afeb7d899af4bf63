"""Page text in English and Simplified Chinese, chosen by ``ui_locales`` then Accept-Language.

The provider's words are its gettext catalogue (``idp/translations``, see
:mod:`config.catalogues`) read through Flask-Babel; :func:`install` makes
:func:`current_locale` the app's locale selector, so every package's catalogue (signing's,
biometrics') speaks the language chosen here. Other code calls :func:`translate` and
:func:`current_locale` only.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel

from config.catalogues import BABEL_LOCALE, Catalogue

SUPPORTED = ("en", "zh-CN")
CATALOGUE = Catalogue(Path(__file__).parent)


def current_locale() -> str:
    """``"zh-CN"`` or ``"en"``: the request's (or the session's) ``ui_locales``, else the
    best of Accept-Language (a request that accepts no media type, an API call, gets
    English)."""
    wanted = request.values.get("ui_locales") or session.get("ui_locales") or ""
    for tag in wanted.split():
        if tag.lower().startswith("zh"):
            return "zh-CN"
        if tag.lower().startswith("en"):
            return "en"
    best = request.accept_mimetypes and request.accept_languages.best_match(
        ["en", "zh-CN", "zh", "zh-Hans", "zh-TW"], default="en"
    )
    return "zh-CN" if best and best.startswith("zh") else "en"


def translate(text: str, **values) -> str:
    """``text`` (the English, the catalogue's id) in the request's language, its
    ``{placeholders}`` filled from ``values``."""
    return CATALOGUE.translate(text, **values)


def install(app: Flask) -> None:
    """Register Flask-Babel on ``app`` with :func:`current_locale` as its selector.
    Templates get ``_`` from the blueprints (:func:`translate`, whose placeholders are
    ``str.format``'s), so Flask-Babel's own Jinja set-up is left out."""
    Babel(app, configure_jinja=False, locale_selector=lambda: BABEL_LOCALE[current_locale()])
