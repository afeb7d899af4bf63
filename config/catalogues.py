"""Each package's gettext catalogue, read through Flask-Babel.

A package that shows text keeps ``<package>/translations/<locale>/LC_MESSAGES/messages.po``
(``en`` and ``zh_Hans_CN``), so its words travel with it and two packages may word the
same English differently (the workspace's "Subject" of a route is not a certificate's).
The message ids are the English texts, with ``str.format`` placeholders (``{minutes}``)
that :meth:`Catalogue.translate` fills after the lookup.

The ``.po`` files are the source; the ``.mo`` files Flask-Babel reads are build outputs
(not in git), compiled when the package's catalogue is declared at import, where one is
missing or older than its ``.po``: a fresh clone, an edited ``.po`` and an installed wheel
(which ships them compiled) all work under ``make test`` and ``onetrip serve`` with no
separate step to forget. Checking costs two ``stat`` calls per catalogue.

``python -m config.catalogues`` (``make i18n``) extracts the texts of the code and
templates (``babel.cfg``) and merges them into every ``.po``; texts the code passes through
a variable (a dictionary of labels, an exception's message) are kept although no literal
names them, marked :data:`KEPT`, and are deleted by hand when the code stops using them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from flask_babel import Domain

#: The catalogues' locales: the English source and Simplified Chinese for mainland China.
LOCALES = ("en", "zh_Hans_CN")
#: Flask-Babel's name for each locale OneTrip offers (``ui_locales`` tags).
BABEL_LOCALE = {"en": "en", "zh-CN": "zh_Hans_CN"}
#: The functions whose first argument is a text to translate; ``N_`` marks a text that
#: is translated later, through a variable.
KEYWORDS = {"_": None, "translate": None, "signing_text": None, "face_text": None, "N_": None}
#: Where the extraction mapping (which files are Python, which Jinja) lives.
MAPPING = Path(__file__).resolve().parent.parent / "babel.cfg"
KEPT = "shown through a variable: no literal names it"


def N_(text: str) -> str:  # noqa: N802 (gettext's name for "translate later")
    """Mark ``text`` for extraction, unchanged: the code translates it when it is shown."""
    return text


class Catalogue:
    """The catalogue of the package in the directory ``package`` (``Path(__file__).parent``
    of a module at its top)."""

    def __init__(self, package: Path) -> None:
        self.package = package
        self.directory = package / "translations"
        self.domain = Domain(translation_directories=[str(self.directory)])
        self.compile()

    def translate(self, text: str, **values: object) -> str:
        """``text`` in the request's locale (the English itself outside a request or where
        the catalogue lacks it), its ``{placeholders}`` filled from ``values``."""
        out = self.domain.get_translations().gettext(text) if text else text
        return out.format(**values) if values else out

    def po_files(self) -> list[Path]:
        return [self.directory / locale / "LC_MESSAGES" / "messages.po" for locale in LOCALES]

    def compile(self) -> None:
        """Write each ``.mo`` that is missing or older than its ``.po``, atomically since
        several workers may start at once. Where the directory is read-only (an installed
        package) an existing ``.mo`` is kept."""
        for po in self.po_files():
            mo = po.with_suffix(".mo")
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            from babel.messages.mofile import write_mo
            from babel.messages.pofile import read_po

            with po.open("rb") as source:
                catalog = read_po(source)
            try:
                fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
            except OSError:
                if mo.exists():
                    continue
                raise
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a server's own user
            os.replace(tmp, mo)

    def extracted(self) -> dict[str, list[str]]:
        """The texts the package's code and templates name, each with the files naming it."""
        from babel.messages.extract import extract_from_dir
        from babel.messages.frontend import parse_mapping_cfg

        with MAPPING.open() as mapping:
            methods, options = parse_mapping_cfg(mapping)
        texts: dict[str, list[str]] = {}
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(self.package), methods, options, KEYWORDS
        ):
            if message:
                texts.setdefault(message, []).append(filename)
        return texts

    def update(self) -> None:
        """Merge the texts the package's code and templates name into its ``.po`` files."""
        from babel.messages.catalog import Catalog
        from babel.messages.pofile import read_po, write_po

        template = Catalog()
        for text, files in self.extracted().items():
            template.add(text, None, [(name, None) for name in files])
        for po in self.po_files():
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name)
            for message in catalog:
                if message.id and message.id not in template:
                    template.add(message.id, None, auto_comments=[KEPT])
            template.creation_date = catalog.creation_date  # no churn when nothing changed
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.obsolete.clear()
            catalog.fuzzy = False
            with po.open("wb") as out:
                write_po(out, catalog, width=100, sort_output=True, include_lineno=False)


def _main() -> None:
    """``python -m config.catalogues``: update and compile the catalogue of every package
    beside ``config`` that has one (found by its directory: config imports no package)."""
    for directory in sorted(Path(__file__).resolve().parent.parent.glob("*/translations")):
        catalogue = Catalogue(directory.parent)
        catalogue.update()
        catalogue.compile()  # the updated .po is newer than its .mo
        print(f"updated {directory}", file=sys.stderr)


if __name__ == "__main__":
    _main()
