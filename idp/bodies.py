"""Bounds on what endpoints read through Flask: JSON bodies, and NUL characters.

Any request that Flask would parse as JSON (``request.is_json``) may be at most
``max_json_bytes`` long (413 beyond, before more is read), and parsing goes through
:func:`config.jsonbody.loads`, so a document nested past its bound is malformed JSON like
any other: 400, or ``None`` for ``get_json(silent=True)``, never a RecursionError's 500.

No parameter of any protocol OneTrip speaks holds a NUL character, and PostgreSQL's text
cannot (SQLite's can, so only one of the two would answer 500): a path, query or form
that has one is refused with 400 ``invalid_request`` before any view sees it, and
:func:`config.jsonbody.loads` refuses ``\u0000`` in JSON.
"""

from __future__ import annotations

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import MultiDict

from config import jsonbody
from config.settings import Settings
from idp.errors import ApiError

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(values: MultiDict) -> bool:
    # A malformed multipart part can leave a key or value None: no NUL in that.
    pairs = values.items(multi=True)
    return any(isinstance(x, str) and "\x00" in x for pair in pairs for x in pair)


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        return jsonbody.loads(s)


def install(app: Flask, settings: Settings) -> None:
    app.json = BoundedJSONProvider(app)

    @app.before_request
    def _json_limit() -> None:
        if request.is_json:
            request.max_content_length = settings.max_json_bytes

    @app.before_request
    def _no_nul() -> None:
        if (
            "\x00" in request.path
            or _has_nul(request.args)
            or (request.mimetype in _FORMS and _has_nul(request.form))
        ):
            raise ApiError("invalid_request", "Parameters must not contain NUL characters.")
