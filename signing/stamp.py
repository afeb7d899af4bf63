"""The visible stamp: the department's name, the signing time and a QR code to ``/verify``.

Chinese names must render in every viewer, so the stamp embeds an OpenType font (Noto Sans
CJK SC from Debian's ``fonts-noto-cjk`` unless ``signing_font`` names another) through
pyHanko's glyph accumulator, which writes a subset of the glyphs it used.

What pyHanko lacks, written here: Debian ships Noto CJK as a TrueType *collection* that
pyHanko cannot open, and shaping with the whole 16 MB face costs about half a second per
signature. So the face is taken out of the collection and cut down with fontTools to the
characters a stamp can show (printable ASCII plus the department's name) once per name
per process; pyHanko then shapes and embeds from that small font.
"""

from __future__ import annotations

import functools
import string
import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import QRStamp, QRStampStyle

from signing.placement import counter_rotation

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
NOTO_FACE = "Noto Sans CJK SC"
_ALWAYS = string.printable.strip() + " "
_lock = threading.Lock()


class StampFontMissing(RuntimeError):
    """No font to draw the stamp with: install fonts-noto-cjk or set ``signing_font``."""


def _load_face(path: Path) -> TTFont:
    if not path.is_file():
        raise StampFontMissing(
            f"stamp font {path} not found; install fonts-noto-cjk or set ONETRIP_SIGNING_FONT"
        )
    if path.suffix.lower() in (".ttc", ".otc"):
        faces = TTCollection(str(path), lazy=True).fonts
        for face in faces:
            if face["name"].getDebugName(1) == NOTO_FACE:
                return face
        return faces[0]
    return TTFont(str(path), lazy=True)


@functools.lru_cache(maxsize=64)
def _subset_font(path: str, characters: str) -> bytes:
    with _lock:
        face = _load_face(Path(path))
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(face)
        out = BytesIO()
        face.save(out)
        return out.getvalue()


@dataclass(frozen=True)
class _SubsetFontFactory(FontEngineFactory):
    font_bytes: bytes
    font_size: int = 9

    def create_font_engine(self, writer, obj_stream=None) -> GlyphAccumulator:
        return GlyphAccumulator(
            writer=writer,
            font_handle=BytesIO(self.font_bytes),
            font_size=self.font_size,
            obj_stream=obj_stream,
        )


def font_path(configured: str) -> Path:
    return Path(configured) if configured else NOTO_CJK


@dataclass(frozen=True)
class UprightQRStampStyle(QRStampStyle):
    """pyHanko's QR stamp, laid out upright on a page shown turned by ``rotate`` degrees.

    What pyHanko lacks: it draws the appearance in the page's own coordinates, so on a
    page with ``/Rotate`` the stamp shows sideways. Here the stamp is laid out in the
    displayed width and height and its form XObject gets a ``/Matrix`` that turns it
    back (ISO 32000-1 12.5.5 then fits the turned box into the widget's rectangle).
    """

    rotate: int = 0

    def create_stamp(self, writer, box: BoxConstraints, text_params: dict) -> QRStamp:
        url = text_params.pop("url")
        if self.rotate in (90, 270):
            box = BoxConstraints(width=box.height, height=box.width)
        return _UprightQRStamp(
            writer, style=self, url=url, text_params=text_params, box=box, rotate=self.rotate
        )


class _UprightQRStamp(QRStamp):
    def __init__(self, *args, rotate: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rotate = rotate

    def as_form_xobject(self):
        xobject = super().as_form_xobject()
        matrix = counter_rotation(self._rotate, self.box.width, self.box.height)
        if matrix is not None:
            xobject[generic.NameObject("/Matrix")] = generic.ArrayObject(
                generic.FloatObject(v) for v in matrix
            )
        return xobject


def stamp_style(
    department_name: str, configured_font: str = "", rotate: int = 0
) -> UprightQRStampStyle:
    """A QR stamp: department name over the signing time; the QR code is the ``url`` param.

    ``rotate`` is the clockwise ``/Rotate`` of the page it goes on."""
    characters = "".join(sorted(set(_ALWAYS + department_name)))
    font = _SubsetFontFactory(_subset_font(str(font_path(configured_font)), characters))
    # pyHanko interpolates stamp_text with %-formatting: a literal % must be doubled.
    name = department_name.replace("%", "%%")
    return UprightQRStampStyle(
        stamp_text=f"{name}\n%(ts)s",
        text_box_style=TextBoxStyle(font=font),
        border_width=1,
        timestamp_format="%Y-%m-%d %H:%M:%S UTC",
        rotate=rotate,
    )
