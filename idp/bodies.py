"""Bounds on the JSON bodies that endpoints read through Flask.

Any request that Flask would parse as JSON (``request.is_json``) may be at most
``max_json_bytes`` long (413 beyond, before more is read), and parsing goes through
:func:`config.jsonbody.loads`, so a document nested past its bound is malformed JSON like
any other: 400, or ``None`` for ``get_json(silent=True)``, never a RecursionError's 500.
"""

from __future__ import annotations

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from config import jsonbody
from config.settings import Settings


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        return jsonbody.loads(s)


def install(app: Flask, settings: Settings) -> None:
    app.json = BoundedJSONProvider(app)

    @app.before_request
    def _json_limit() -> None:
        if request.is_json:
            request.max_content_length = settings.max_json_bytes
