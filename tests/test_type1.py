"""Type 1 → CFF: every glyph keeps its outline, width and (as FreeType hints it) its look.

Independent routes: fontTools' own eexec decryption and Type 1 interpreter
(``t1Lib``, which draws a Type 1 glyph without our code), and FreeType
rendering the original Type 1 font and our CFF font with hinting on.
"""
from __future__ import annotations

import io
import os
import random
import shutil
import subprocess

import pytest
from fontTools import t1Lib
from fontTools.cffLib import CFFFontSet
from fontTools.misc import eexec
from fontTools.pens.recordingPen import RecordingPen

from derive import type1
from derive.cff import cff_program


def tex_font(name: str) -> str:
    """The path of a Type 1 font of the TeX installation (Latin Modern, Computer Modern)."""
    found = shutil.which("kpsewhich") and subprocess.run(
        ["kpsewhich", name], capture_output=True, text=True).stdout.strip()
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} not found: TeX's fonts must be installed in CI (scripts/setup)")
        pytest.skip(f"{name} not installed")
    return found


def parts(path: str) -> tuple[bytes, bytes]:
    """A PFB's cleartext part and its eexec-encrypted part (binary), as PDF's FontFile holds them."""
    data, _ = t1Lib.read(path)
    start = data.index(b"eexec") + len(b"eexec")
    while data[start:start + 1] in b" \r\n\t":
        start += 1
    return data[:start], data[start:]


def cff_of(path: str):
    clear, encrypted = parts(path)
    font = type1.to_cff(type1.parse_type1(clear, encrypted))
    fonts = CFFFontSet()
    fonts.decompile(io.BytesIO(cff_program(font)), None)
    return font, fonts.topDictIndex[0]


@pytest.mark.parametrize("key", [type1._EEXEC_KEY, type1._CHARSTRING_KEY])
def test_decrypt_agrees_with_fonttools(key):
    rng = random.Random(key)
    for size in (0, 1, 7, 1000):
        data = bytes(rng.randrange(256) for _ in range(size))
        assert type1.decrypt(data, key) == eexec.decrypt(data, key)[0]
        assert type1._decrypt_short(data, key) == eexec.decrypt(data, key)[0]


@pytest.mark.parametrize("name", ["lmr10.pfb", "lmtt10.pfb", "cmr10.pfb", "cmmi10.pfb"])
def test_every_glyph_keeps_outline_and_width(name):
    path = tex_font(name)
    font, cff = cff_of(path)
    reference = t1Lib.T1Font(path).getGlyphSet()
    assert set(cff.CharStrings.keys()) == set(reference.keys())
    for glyph in reference.keys():
        expected, got = RecordingPen(), RecordingPen()
        reference[glyph].draw(expected)
        cff.CharStrings[glyph].draw(got)
        assert got.value == expected.value, glyph
        # Type 2 stores a fractional width (from "div") in 16.16 fixed point.
        assert abs(cff.CharStrings[glyph].width - reference[glyph].width) <= 1 / 65536, glyph


def test_font_dict_and_encoding_carried_over():
    path = tex_font("lmr10.pfb")
    font, cff = cff_of(path)
    reference = t1Lib.T1Font(path)
    reference.parse()
    assert cff.FontBBox == list(reference["FontBBox"])
    assert cff.FullName == reference["FontInfo"]["FullName"]
    assert cff.Notice == reference["FontInfo"]["Notice"]
    assert cff.Private.BlueValues == list(reference["Private"]["BlueValues"])
    assert cff.Private.StdVW == reference["Private"]["StdVW"][0]
    assert cff.Private.StemSnapH == list(reference["Private"]["StemSnapH"])
    encoding = reference["Encoding"]
    assert [cff.Encoding[code] for code in range(256)] == [
        name if name in reference["CharStrings"] else ".notdef" for name in encoding]


@pytest.mark.parametrize("name", ["lmr10.pfb", "cmr10.pfb"])
def test_hinted_rendering_unchanged(name, tmp_path):
    """FreeType, hinting on, draws every glyph of the CFF font as it draws the Type 1 font."""
    freetype = pytest.importorskip("freetype")
    path = tex_font(name)
    clear, encrypted = parts(path)
    font = type1.to_cff(type1.parse_type1(clear, encrypted))
    (tmp_path / "font.t1").write_bytes(clear + encrypted)
    (tmp_path / "font.cff").write_bytes(cff_program(font))
    faces = [freetype.Face(str(tmp_path / "font.t1")), freetype.Face(str(tmp_path / "font.cff"))]
    different = []
    for glyph, _ in font.glyphs[1:]:
        for pixels in (10, 17):
            bitmaps = []
            for face in faces:
                face.set_pixel_sizes(0, pixels)
                face.load_glyph(face.get_name_index(glyph.encode()),
                                freetype.FT_LOAD_DEFAULT | freetype.FT_LOAD_RENDER)
                bitmap = face.glyph.bitmap
                bitmaps.append((bitmap.rows, bitmap.width, bytes(bitmap.buffer),
                                face.glyph.bitmap_left, face.glyph.bitmap_top))
            if bitmaps[0] != bitmaps[1]:
                different.append((glyph, pixels))
    assert different == []


def test_unsupported_operator_is_refused():
    """A charstring with seac (an accent built from two glyphs) is refused, not guessed."""
    glyph = type1._Glyph(lambda i: [])
    with pytest.raises(type1.UnsupportedFont):
        glyph.run([0, 500, "hsbw", 0, 0, 0, 65, 194, "seac"])
