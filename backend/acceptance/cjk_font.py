"""The CJK font embedded in generated PDFs: Noto Sans CJK SC (SIL Open Font License 1.1), read from
the `mplfonts` package (nothing is downloaded at run time).

That file is OpenType with CFF (PostScript) outlines, which reportlab cannot embed: it embeds only
TrueType (`glyf`) outlines. So for each document the font is subset to exactly the characters the
document prints and the subset's cubic outlines are converted to quadratic TrueType outlines (the
recipe of fontTools' otf2ttf snippet). The converted subset is registered with reportlab under a name
derived from its character set; the most recently used subsets stay registered (a small LRU), older
ones are unregistered again so a long-running process does not accumulate fonts.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable
from reportlab.lib import fonts as rl_fonts
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont as ReportlabTTFont

FONT_PACKAGE = "mplfonts"
FONT_FILE = "fonts/NotoSansCJKsc-Regular.otf"
FONT_PREFIX = "RepairOpsCJK-"
# Largest distance (font units, 1000 per em) between a cubic curve and its quadratic replacement:
# 0.1 % of the em, far below a device pixel at any size a report is printed or viewed at.
MAX_ERROR = 1.0
CACHE_SIZE = 16
# Always in the subset: printable ASCII (numbers, ids, and reportlab's word spacing use it).
ASCII = frozenset(chr(code) for code in range(0x20, 0x7F))

_lock = threading.Lock()
_registered: OrderedDict[frozenset[str], str] = OrderedDict()  # character set -> font name, LRU order
_in_use: dict[str, int] = {}


@contextmanager
def cjk_font(text: Iterable[str]) -> Iterator[str]:
    """Yield the name of a registered font that has a glyph for every character of `text` that Noto
    Sans CJK SC covers (characters it does not cover print as its empty-box .notdef glyph).

    The font stays registered while the block runs, even if other threads register newer subsets.
    """
    chars = frozenset(c for c in "".join(text) if c.isprintable()) | ASCII
    name = _acquire(chars)
    try:
        yield name
    finally:
        with _lock:
            _in_use[name] -= 1
            if not _in_use[name]:
                del _in_use[name]
            _evict()


def _acquire(chars: frozenset[str]) -> str:
    with _lock:
        name = _registered.get(chars)
        if name is not None:
            _registered.move_to_end(chars)
            _in_use[name] = _in_use.get(name, 0) + 1
            return name
    name = FONT_PREFIX + hashlib.sha256("".join(sorted(chars)).encode()).hexdigest()[:16]
    font = ReportlabTTFont(name, io.BytesIO(truetype_subset(chars, name)))
    with _lock:
        if chars not in _registered:  # another thread may have built the same subset meanwhile
            pdfmetrics.registerFont(font)
            _registered[chars] = name
        _registered.move_to_end(chars)
        _in_use[name] = _in_use.get(name, 0) + 1
        _evict()
    return name


def _evict() -> None:
    """Unregister the least recently used subsets beyond CACHE_SIZE that no render is using.

    reportlab has no public way to unregister a font; this is the one place that undoes what
    `pdfmetrics.registerFont` recorded for a TrueType font (the font, its face, its family mapping).
    """
    for chars in list(_registered):
        if len(_registered) <= CACHE_SIZE:
            return
        name = _registered[chars]
        if name in _in_use:
            continue
        del _registered[chars]
        font = pdfmetrics._fonts.pop(name, None)
        if font is not None:
            pdfmetrics._dynFaceNames.pop(font.face.name, None)
        family = name.lower()
        rl_fonts._ps2tt_map.pop(family, None)
        for key in [key for key in rl_fonts._tt2ps_map if key[0] == family]:
            del rl_fonts._tt2ps_map[key]


def registered_fonts() -> list[str]:
    """Names of the currently registered subsets, least recently used first."""
    with _lock:
        return list(_registered.values())


def truetype_subset(chars: Iterable[str], postscript_name: str) -> bytes:
    """Noto Sans CJK SC cut down to `chars`, with TrueType outlines, as font file bytes.

    The PostScript name is set to `postscript_name`: reportlab identifies a TrueType face by it, so
    every subset needs its own.
    """
    with resources.as_file(resources.files(FONT_PACKAGE) / FONT_FILE) as path:
        font = TTFont(path, lazy=True)
        options = subset.Options()
        options.layout_features = []  # reportlab lays out CJK glyph by glyph: no GSUB/GPOS needed
        options.hinting = False
        options.desubroutinize = True
        options.notdef_outline = True
        options.name_IDs = ["*"]  # keeps the copyright and the OFL licence text with the font
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(ord(c) for c in chars))
        subsetter.subset(font)
    _cff_to_glyf(font)
    for record in font["name"].names:
        if record.nameID == 6:
            record.string = postscript_name
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _cff_to_glyf(font: TTFont) -> None:
    """Replace the cubic CFF outlines by quadratic TrueType ones (fontTools' otf2ttf recipe)."""
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for glyph_name in order:
        pen = TTGlyphPen(glyph_set)
        # CFF contours run counter-clockwise, TrueType ones clockwise.
        glyph_set[glyph_name].draw(Cu2QuPen(pen, MAX_ERROR, reverse_direction=True))
        glyf.glyphs[glyph_name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    maxp.maxZones = 1
    for field in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
