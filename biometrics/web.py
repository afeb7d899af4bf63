"""The browser pieces of face checks: the capture script and form macros.

The pages themselves (login step-up, account enrolment) belong to idp, which calls
:class:`biometrics.service.FaceService`; this blueprint serves what those pages include:
``/biometrics/static/face-capture.js`` and the ``biometrics/macros.html`` templates. There is
deliberately no JSON face-matching API: an endpoint that answers "does this photo match
user X" would be a matching oracle for anyone holding a token.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint

from biometrics import texts
from config.runtime import Runtime


def create_blueprint(runtime: Runtime, require_token: Callable) -> Blueprint:
    bp = Blueprint(
        "biometrics",
        __name__,
        url_prefix="/biometrics",
        static_folder="static",
        template_folder="templates",
    )
    bp.add_app_template_global(texts.translate, "face_text")  # for the macros, on any page
    return bp
