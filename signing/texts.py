"""Signing's pages' words (the workspace, the public verify page) in the request's language.

They are signing's own gettext catalogue (``signing/translations``, see
:mod:`config.catalogues`): an officer's "Subject" of a route is worded apart from the
provider's pages. The language is the one the app's locale selector chose for the request,
the same the host reports to the workspace (:attr:`signing.workspace.Host.locale`).
"""

from __future__ import annotations

from pathlib import Path

from config.catalogues import Catalogue

CATALOGUE = Catalogue(Path(__file__).parent)
translate = CATALOGUE.translate
