"""A small writer of bare CFF font programs (Adobe TN 5176), for PDF's /FontFile3 /Type1C.

A :class:`CffFont` holds compiled Type 2 charstrings and the font's DICT
entries; :func:`cff_program` lays them out as one CFF font, optionally only
some of its glyphs (a subset, for one sheet's PDF).  Written here rather than
with fontTools' compiler because a class of 1000 students asks for thousands
of subsets: laying out bytes that are already compiled takes microseconds.
fontTools reads what this writes in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass

from fontTools.cffLib import cffStandardStrings
from fontTools.misc.psCharStrings import encodeFloat, encodeIntCFF

_STANDARD_SID = {name: sid for sid, name in enumerate(cffStandardStrings)}

# Top DICT and Private DICT operators (TN 5176, tables 9 and 23), in the order written.
_TOP_OPERATORS = (("version", b"\x00"), ("Notice", b"\x01"), ("Copyright", b"\x0c\x00"),
                  ("FullName", b"\x02"), ("FamilyName", b"\x03"), ("Weight", b"\x04"),
                  ("isFixedPitch", b"\x0c\x01"), ("ItalicAngle", b"\x0c\x02"),
                  ("UnderlinePosition", b"\x0c\x03"), ("UnderlineThickness", b"\x0c\x04"),
                  ("PaintType", b"\x0c\x05"), ("FontMatrix", b"\x0c\x07"), ("FontBBox", b"\x05"))
_STRING_KEYS = {"version", "Notice", "Copyright", "FullName", "FamilyName", "Weight"}
_PRIVATE_OPERATORS = (("BlueValues", b"\x06"), ("OtherBlues", b"\x07"), ("FamilyBlues", b"\x08"),
                      ("FamilyOtherBlues", b"\x09"), ("BlueScale", b"\x0c\x09"),
                      ("BlueShift", b"\x0c\x0a"), ("BlueFuzz", b"\x0c\x0b"), ("StdHW", b"\x0a"),
                      ("StdVW", b"\x0b"), ("StemSnapH", b"\x0c\x0c"), ("StemSnapV", b"\x0c\x0d"),
                      ("ForceBold", b"\x0c\x0e"), ("LanguageGroup", b"\x0c\x11"),
                      ("ExpansionFactor", b"\x0c\x12"))
_DELTA_KEYS = {"BlueValues", "OtherBlues", "FamilyBlues", "FamilyOtherBlues", "StemSnapH", "StemSnapV"}


@dataclass(frozen=True)
class CffFont:
    """A CFF font's parts: DICT entries as (key, value) pairs, glyphs as (name, Type 2 charstring)."""
    name: str
    top: tuple          # e.g. (("FullName", "LMRoman10-Regular"), ("FontBBox", (-430, -290, 1417, 1127)))
    private: tuple      # e.g. (("BlueValues", (-22, 0, 431, 448)), ("StdVW", 69))
    encoding: tuple     # (code, glyph name) pairs: the font's built-in encoding
    glyphs: tuple       # (name, compiled charstring) pairs, ".notdef" first

    def __repr__(self) -> str:
        return f"CffFont({self.name!r}, {len(self.glyphs)} glyphs)"


def cff_program(font: CffFont, keep: frozenset | None = None) -> bytes:
    """The bare CFF font program, with only the glyphs named in ``keep`` (and .notdef) when given."""
    glyphs = [g for g in font.glyphs if keep is None or g[0] == ".notdef" or g[0] in keep]
    glyphs = _encoded_first(glyphs, font.encoding)
    strings: list[bytes] = []

    def sid(text: str) -> int:
        if text in _STANDARD_SID:
            return _STANDARD_SID[text]
        strings.append(text.encode("latin-1"))
        return len(_STANDARD_SID) + len(strings) - 1

    top_entries = b"".join(_entry(_operand(sid(v)) if k in _STRING_KEYS else _operand(v), op)
                           for key, op in _TOP_OPERATORS for k, v in font.top if k == key)
    charset = b"\x00" + b"".join(sid(name).to_bytes(2, "big") for name, _ in glyphs[1:])
    encoding = _encoding(glyphs, font.encoding, sid)
    private = b"".join(_entry(_operand(_deltas(v) if key in _DELTA_KEYS else v), op)
                       for key, op in _PRIVATE_OPERATORS for k, v in font.private if k == key)
    private += _entry(_operand(0), b"\x14") + _entry(_operand(0), b"\x15")  # defaultWidthX, nominalWidthX
    charstrings = _index([code for _, code in glyphs])
    head = b"\x01\x00\x04\x04" + _index([font.name.encode("latin-1")])
    # The four offsets are written as 5-byte integers, so the Top DICT's size is known first.
    top_size = len(top_entries) + 5 * 5 + 4  # charset, Encoding, CharStrings, Private (size, offset)
    string_index, global_subrs = _index(strings), _index([])
    start = len(head) + len(_index([b"\x00" * top_size])) + len(string_index) + len(global_subrs)
    at_charset = start
    at_encoding = at_charset + len(charset)
    at_charstrings = at_encoding + len(encoding)
    at_private = at_charstrings + len(charstrings)
    top = (top_entries + _long(at_charset) + b"\x0f" + _long(at_encoding) + b"\x10"
           + _long(at_charstrings) + b"\x11" + _long(len(private)) + _long(at_private) + b"\x12")
    assert len(top) == top_size
    return head + _index([top]) + string_index + global_subrs + charset + encoding + charstrings + private


def _encoded_first(glyphs: list, encoding: tuple) -> list:
    """.notdef, then the encoded glyphs by their first code, then the rest: format 0 encodings
    give codes to glyph 1, 2, … in order."""
    first_code: dict[str, int] = {}
    for code, name in sorted(encoding):
        first_code.setdefault(name, code)
    names = dict(glyphs)
    rest = [g for g in glyphs[1:] if g[0] not in first_code]
    coded = sorted((first_code[g[0]], g) for g in glyphs[1:] if g[0] in first_code)
    return [(".notdef", names[".notdef"])] + [g for _, g in coded] + rest


def _encoding(glyphs: list, encoding: tuple, sid) -> bytes:
    """Format 0, with supplements for glyphs that have more than one code."""
    gid = {name: i for i, (name, _) in enumerate(glyphs)}
    firsts, extra = {}, []
    for code, name in sorted(encoding):
        if name not in gid or name == ".notdef":
            continue
        if name in firsts:
            extra.append((code, name))
        else:
            firsts[name] = code
    codes = bytes(firsts[name] for name, _ in glyphs[1:] if name in firsts)
    if not extra:
        return b"\x00" + bytes([len(codes)]) + codes
    supplements = b"".join(bytes([code]) + sid(name).to_bytes(2, "big") for code, name in extra)
    return b"\x80" + bytes([len(codes)]) + codes + bytes([len(extra)]) + supplements


def _index(items: list[bytes]) -> bytes:
    """A CFF INDEX: count, offset size, offsets from 1, data."""
    if not items:
        return b"\x00\x00"
    offsets, total = [1], 1
    for item in items:
        total += len(item)
        offsets.append(total)
    size = 1 if total < 1 << 8 else 2 if total < 1 << 16 else 3 if total < 1 << 24 else 4
    return (len(items).to_bytes(2, "big") + bytes([size])
            + b"".join(o.to_bytes(size, "big") for o in offsets) + b"".join(items))


def _operand(value) -> bytes:
    if isinstance(value, (tuple, list)):
        return b"".join(_operand(v) for v in value)
    if isinstance(value, bool) or isinstance(value, int):
        return encodeIntCFF(int(value))
    return encodeFloat(value)


def _entry(operands: bytes, operator: bytes) -> bytes:
    return operands + operator


def _long(value: int) -> bytes:
    return b"\x1d" + value.to_bytes(4, "big", signed=True)


def _deltas(values) -> tuple:
    """A delta-encoded array (TN 5176, table 6): each value relative to the previous."""
    out, last = [], 0
    for v in values:
        out.append(v - last)
        last = v
    return tuple(out)
