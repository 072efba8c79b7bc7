"""The fonts lualatex sheets use, and whether a name can be set in them.

Latin Modern sets Latin script; every other script falls back, glyph by
glyph, to one Noto font (or Symbola, for emoji as outlines rather than
bitmaps), shaped by HarfBuzz with its script so that Arabic joins and Indic
vowel signs reorder.  The shipped preamble loops over the fonts of
:data:`FALLBACK` that the class's names need (:func:`fallback_for`).

A missing glyph is silent in TeX (the name prints blank, the run exits 0), so
before TeX runs, :func:`missing_glyphs` reads the fonts' character maps with
fontTools and every name is checked; and the first line of every lualatex
document sets ``\\tracinglostchars=3``, which makes any glyph still missing
(from a template's own fonts, say) a TeX error.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fallback:
    """One fallback font: luaotfload's name for it, its files' stem, its OpenType script."""

    name: str      # as luaotfload looks it up
    stem: str      # the file's name without -Regular/-Bold and suffix
    script: str = ""
    bold: bool = True  # whether a -Bold file exists


# In order: the first font that has a glyph sets it.
FALLBACK = (
    Fallback("NotoSerif", "NotoSerif"),                      # Greek, Cyrillic, Vietnamese
    Fallback("NotoSerifDevanagari", "NotoSerifDevanagari", "dev2"),
    Fallback("NotoSerifBengali", "NotoSerifBengali", "bng2"),
    Fallback("NotoSerifGurmukhi", "NotoSerifGurmukhi", "gur2"),
    Fallback("NotoSerifGujarati", "NotoSerifGujarati", "gjr2"),
    Fallback("NotoSansOriya", "NotoSansOriya", "ory2"),
    Fallback("NotoSerifTamil", "NotoSerifTamil", "tml2"),
    Fallback("NotoSerifTelugu", "NotoSerifTelugu", "tel2"),
    Fallback("NotoSerifKannada", "NotoSerifKannada", "knd2"),
    Fallback("NotoSerifMalayalam", "NotoSerifMalayalam", "mlm2"),
    Fallback("NotoSerifSinhala", "NotoSerifSinhala", "sinh"),
    Fallback("NotoSerifTibetan", "NotoSerifTibetan", "tibt"),
    Fallback("NotoSerifThai", "NotoSerifThai", "thai"),
    Fallback("NotoSerifLao", "NotoSerifLao", "lao"),
    Fallback("NotoSerifKhmer", "NotoSerifKhmer", "khmr"),
    Fallback("NotoSerifMyanmar", "NotoSerifMyanmar", "mym2"),
    Fallback("NotoSerifGeorgian", "NotoSerifGeorgian", "geor"),
    Fallback("NotoSerifArmenian", "NotoSerifArmenian", "armn"),
    Fallback("NotoSerifEthiopic", "NotoSerifEthiopic", "ethi"),
    Fallback("NotoNaskhArabic", "NotoNaskhArabic", "arab"),
    Fallback("NotoSerifHebrew", "NotoSerifHebrew", "hebr"),
    Fallback("NotoSansMath", "NotoSansMath", bold=False),    # 𝑨𝒍𝒊𝒄𝒆: mathematical letters
    Fallback("NotoSansSymbols", "NotoSansSymbols"),
    Fallback("NotoSansSymbols2", "NotoSansSymbols2", bold=False),
    Fallback("Symbola", "Symbola", bold=False),              # emoji, as outlines
    Fallback("NotoSerifCJKsc", "NotoSerifCJK"),              # Chinese, Japanese, Korean
)
MAIN_FONTS = ("lmroman10-regular.otf", "lmmono10-regular.otf")
PACKAGES = "fonts-noto-core fonts-noto-cjk fonts-symbola"

# Characters that need no glyph: joiners, variation selectors, direction marks.
_INVISIBLE = frozenset(range(0xFE00, 0xFE10)) | frozenset(range(0xE0100, 0xE01F0))


def preamble_fonts(fallback: tuple[Fallback, ...], bold: bool = False) -> list[str]:
    """Fallback fonts as luaotfload specifications ("NotoSerifThai:mode=harf;script=thai;")."""
    return [f"{f.name}{'-Bold' if bold and f.bold else ''}:mode=harf;" + (f"script={f.script};" if f.script else "")
            for f in fallback]


def fallback_for(texts) -> tuple[Fallback, ...]:
    """The fallback fonts that some character of ``texts`` needs, in :data:`FALLBACK`'s order.

    A class's preamble loads only these: luaotfload loads every font of the
    list again for each size and shape a sheet uses, so all 26 would cost
    seconds per batch that a class of Latin and Cyrillic names never needs.
    """
    need = {ord(ch) for text in texts for ch in unicodedata.normalize("NFC", str(text))
            if needs_glyph(ch) and not ch.isspace()} - _main_coverage()
    chosen = []
    for f in FALLBACK:
        if need & _fallback_cmap(f):
            chosen.append(f)
            need -= _fallback_cmap(f)
    return tuple(chosen)


@functools.lru_cache(maxsize=1)
def _font_files() -> dict[str, Path]:
    """Font files by stem ("NotoSerifThai-Regular"), from fontconfig and kpathsea."""
    files: dict[str, Path] = {}
    if shutil.which("fc-list"):
        listing = subprocess.run(["fc-list", "-f", "%{file}\n"], capture_output=True, text=True, timeout=60).stdout
        for line in listing.splitlines():
            files.setdefault(Path(line).stem, Path(line))
    if shutil.which("kpsewhich"):
        found = subprocess.run(["kpsewhich", *MAIN_FONTS], capture_output=True, text=True, timeout=60).stdout
        for line in found.splitlines():
            files[Path(line).stem] = Path(line)
    return files


def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # only when a name needs lualatex
    try:
        font = TTFont(str(path), fontNumber=0, lazy=True)
        return frozenset(font.getBestCmap() or ())
    except Exception:  # an unreadable font sets nothing; the check then names the character
        return frozenset()


@functools.lru_cache(maxsize=None)
def _stem_cmap(stem: str) -> frozenset[int]:
    path = _font_files().get(stem)
    return _cmap(path) if path is not None else frozenset()


def _main_coverage() -> frozenset[int]:
    return frozenset().union(*(_stem_cmap(Path(m).stem) for m in MAIN_FONTS))


def _fallback_cmap(f: Fallback) -> frozenset[int]:
    files = _font_files()
    stem = next((s for s in (f"{f.stem}-Regular", f.stem, f"{f.stem}_hint") if s in files), f.stem)
    return _stem_cmap(stem)


@functools.lru_cache(maxsize=1)
def coverage() -> frozenset[int]:
    """Every code point the lualatex sheets' fonts (main and fallback) have a glyph for."""
    return _main_coverage().union(*(_fallback_cmap(f) for f in FALLBACK))


def needs_glyph(ch: str) -> bool:
    """False for characters that print nothing of their own (joiners, selectors, marks of direction)."""
    return unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp") and ord(ch) not in _INVISIBLE


def missing_glyphs(text: str) -> list[str]:
    """The characters of ``text`` no lualatex font of the sheets can set, in order, once each."""
    have = coverage()
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if needs_glyph(ch) and ord(ch) not in have and ch not in out and not ch.isspace():
            out.append(ch)
    return out


def describe(ch: str) -> str:
    """A character as a TA can look it up: 'ᚠ' (U+16A0 RUNIC LETTER FEHU FEOH FE F)."""
    return f"'{ch}' (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})"
