"""The CFF writer: what it lays out, fontTools reads back as written."""
from __future__ import annotations

import io

from fontTools.cffLib import CFFFontSet
from fontTools.misc.psCharStrings import T2CharString
from fontTools.pens.recordingPen import RecordingPen

from derive.cff import CffFont, cff_program


def charstring(program: list) -> bytes:
    code = T2CharString(program=program)
    code.compile()
    return code.bytecode


SQUARE = charstring([500, 100, 0, "rmoveto", 300, 0, 0, 300, -300, 0, "rlineto", "endchar"])
FONT = CffFont(
    "ABCDEF+Test-Regular",
    (("version", "1.0"), ("Notice", "(c) nobody (really)"), ("FullName", "Test Regular"),
     ("FontBBox", (0, -10, 500, 700)), ("ItalicAngle", -9.5)),
    (("BlueValues", (-10, 0, 400, 410)), ("BlueScale", 0.04546), ("StdVW", 60),
     ("StemSnapH", (20, 30))),
    ((65, "A"), (66, "B"), (97, "A"), (200, "zeta.alt")),
    ((".notdef", charstring([250, "endchar"])), ("A", SQUARE), ("B", SQUARE), ("zeta.alt", SQUARE)))


def read(data: bytes):
    fonts = CFFFontSet()
    fonts.decompile(io.BytesIO(data), None)
    assert fonts.fontNames == ["ABCDEF+Test-Regular"]
    return fonts.topDictIndex[0]


def test_whole_font_reads_back():
    top = read(cff_program(FONT))
    assert top.charset == [".notdef", "A", "B", "zeta.alt"]
    assert (top.version, top.Notice, top.FullName) == ("1.0", "(c) nobody (really)", "Test Regular")
    assert top.FontBBox == [0, -10, 500, 700] and top.ItalicAngle == -9.5
    assert top.Private.BlueValues == [-10, 0, 400, 410]
    assert abs(top.Private.BlueScale - 0.04546) < 1e-9
    assert (top.Private.StdVW, top.Private.StemSnapH) == (60, [20, 30])
    encoding = top.Encoding
    assert (encoding[65], encoding[66], encoding[97], encoding[200], encoding[67]) == (
        "A", "B", "A", "zeta.alt", ".notdef")  # 97: a second code for A (a supplement)
    pen = RecordingPen()
    top.CharStrings["B"].draw(pen)
    assert pen.value == [("moveTo", ((100, 0),)), ("lineTo", ((400, 0),)), ("lineTo", ((400, 300),)),
                         ("lineTo", ((100, 300),)), ("closePath", ())]
    assert top.CharStrings["B"].width == 500


def test_subset_keeps_notdef_and_the_named_glyphs():
    top = read(cff_program(FONT, frozenset({"B"})))
    assert top.charset == [".notdef", "B"]
    assert top.Encoding[66] == "B" and top.Encoding[65] == ".notdef"


def test_unencoded_glyphs_come_after_encoded_ones():
    font = CffFont(FONT.name, FONT.top, FONT.private, ((66, "B"),), FONT.glyphs)
    top = read(cff_program(font))
    assert top.charset[:2] == [".notdef", "B"] and set(top.charset[2:]) == {"A", "zeta.alt"}
    assert top.Encoding[66] == "B"
