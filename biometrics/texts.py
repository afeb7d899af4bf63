"""The face pieces' words (refusals, the camera's labels) in the request's language.

They are biometrics' own gettext catalogue (``biometrics/translations``, see
:mod:`config.catalogues`); the pages that include the face forms take the words from here,
and the form macros and the capture script get them as ``face_text``.
"""

from __future__ import annotations

from pathlib import Path

from config.catalogues import Catalogue

CATALOGUE = Catalogue(Path(__file__).parent)
translate = CATALOGUE.translate
