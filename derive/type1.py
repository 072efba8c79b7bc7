"""Type 1 fonts as pdfTeX embeds them, read and rewritten as CFF (Type 2 charstrings).

:func:`parse_type1` reads a font program's two parts (cleartext, and the
eexec-encrypted private part with its Subrs and CharStrings).
:func:`to_cff` runs each glyph's Type 1 charstring with the subroutines it
calls and writes the equivalent Type 2 charstring: the same outline points
(flex as ``flex``), the same width, and the same stem hints, Type 1 hint
replacement becoming Type 2 ``hintmask`` (Adobe, *Type 1 Font Format* and
TN 5177 *The Type 2 Charstring Format*).  Anything else (``seac`` accents,
counter-control OtherSubrs, a font this parser does not follow) raises
:class:`UnsupportedFont`, and the caller keeps the Type 1 font.
"""
from __future__ import annotations

import functools
import re
import types
from dataclasses import dataclass

import numpy as np
from fontTools.cffLib import specializer
from fontTools.misc.psCharStrings import T2CharString

from derive.cff import CffFont

_EEXEC_KEY, _CHARSTRING_KEY = 55665, 4330
_C1, _C2 = 52845, 22719
_C1_INVERSE = pow(_C1, -1, 1 << 16)
_MAX_STEMS = 96  # Type 2's limit on stem hints per glyph


class UnsupportedFont(ValueError):
    """A font program this module does not convert (the caller keeps the Type 1 font)."""


@dataclass(frozen=True)
class Type1:
    """What a Type 1 font program says, with its charstrings still encrypted."""
    name: str
    top: dict            # CFF Top DICT entries (FontInfo, FontMatrix, FontBBox)
    private: dict        # CFF Private DICT entries (blue zones, stems)
    encoding: dict       # code -> glyph name
    subrs: dict          # index -> encrypted charstring
    charstrings: dict    # glyph name -> encrypted charstring
    len_iv: int

    def __repr__(self) -> str:
        return f"Type1({self.name!r}, {len(self.charstrings)} glyphs, {len(self.subrs)} subrs)"


def decrypt(data: bytes, key: int) -> bytes:
    """Type 1 decryption (eexec or charstring key), vectorised.

    r_{i+1} = c1·(c_i + r_i) + c2 (mod 2¹⁶) is linear in r, so
    r_i = c1^i·(r_0 + Σ_{j<i} c1^-(j+1)·(c1·c_j + c2)); uint64 arithmetic wraps
    modulo 2⁶⁴, a multiple of 2¹⁶, so the low 16 bits are exact.
    """
    c = np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
    n = len(c)
    if n == 0:
        return b""
    powers = np.cumprod(np.full(n, _C1, dtype=np.uint64)) & 0xFFFF          # c1^(i+1)
    powers = np.concatenate(([np.uint64(1)], powers[:-1]))                  # c1^i
    inverse = np.cumprod(np.full(n, _C1_INVERSE, dtype=np.uint64)) & 0xFFFF  # c1^-(j+1)
    terms = (inverse * ((np.uint64(_C1) * c + np.uint64(_C2)) & 0xFFFF)) & 0xFFFF
    sums = np.concatenate(([np.uint64(0)], np.cumsum(terms)[:-1]))
    r = (powers * ((np.uint64(key) + sums) & 0xFFFF)) & 0xFFFF
    return (c ^ (r >> np.uint64(8))).astype(np.uint8).tobytes()


def _ps_string(text: str, start: int) -> str:
    """The PostScript string whose "(" is at ``start`` (balanced parentheses, escapes)."""
    depth, i, out = 0, start, []
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            out.append(text[i + 1:i + 2])
            i += 2
            continue
        if ch == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return "".join(out)
        out.append(ch)
        i += 1
    raise UnsupportedFont("unterminated string")


def _numbers(text: str) -> list:
    return [_number(t) for t in text.split()]


def _number(token: str):
    value = float(token)
    return int(value) if value.is_integer() and "." not in token else value


_INFO_STRINGS = ("version", "Notice", "FullName", "FamilyName", "Weight", "Copyright")
_INFO_NUMBERS = ("ItalicAngle", "UnderlinePosition", "UnderlineThickness")
_BLUES = ("BlueValues", "OtherBlues", "FamilyBlues", "FamilyOtherBlues", "StemSnapH", "StemSnapV")
_PRIVATE_NUMBERS = ("BlueScale", "BlueShift", "BlueFuzz", "LanguageGroup", "ExpansionFactor")


def _top_dict(clear: str) -> dict:
    top = {}
    for key in _INFO_STRINGS:
        m = re.search(rf"/{key}\s*\(", clear)
        if m:
            top[key] = _ps_string(clear, m.end() - 1)
    for key in _INFO_NUMBERS:
        m = re.search(rf"/{key}\s+(-?[\d.]+)\s", clear)
        if m:
            top[key] = _number(m.group(1))
    if re.search(r"/isFixedPitch\s+true", clear):
        top["isFixedPitch"] = 1
    m = re.search(r"/FontMatrix\s*[\[{]([^\]}]*)[\]}]", clear)
    if m:
        top["FontMatrix"] = _numbers(m.group(1))
    m = re.search(r"/FontBBox\s*[\[{]([^\]}]*)[\]}]", clear)
    if m:
        top["FontBBox"] = _numbers(m.group(1))
    if re.search(r"/PaintType\s+[^0\s]", clear):
        raise UnsupportedFont("a stroked font")
    return top


def _encoding(clear: str) -> dict:
    if re.search(r"/Encoding\s+StandardEncoding", clear):
        raise UnsupportedFont("the standard encoding")  # not made by pdfTeX's subsets
    return {int(code): name for code, name in re.findall(r"dup\s+(\d+)\s*/([^\s/\[\]{}()<>]+)\s+put", clear)}


def _private_dict(text: str) -> dict:
    private = {}
    for key in _BLUES:
        m = re.search(rf"/{key}\s*[\[{{]([^\]}}]*)[\]}}]", text)
        if m and m.group(1).split():
            private[key] = _numbers(m.group(1))
    for key in ("StdHW", "StdVW"):
        m = re.search(rf"/{key}\s*[\[{{]\s*(-?[\d.]+)", text)
        if m:
            private[key] = _number(m.group(1))
    for key in _PRIVATE_NUMBERS:
        m = re.search(rf"/{key}\s+(-?[\d.]+)\s", text)
        if m:
            private[key] = _number(m.group(1))
    if re.search(r"/ForceBold\s+true", text):
        private["ForceBold"] = 1
    return private


_ENTRY = re.compile(rb"\s*dup\s+(\d+)\s+(\d+)\s*\S+ ")
_GLYPH = re.compile(rb"\s*/([^\s/\[\]{}()<>]+)\s+(\d+)\s*\S+ ")


def _binary_entries(text: bytes, pos: int, pattern: re.Pattern, count: int) -> tuple[dict, int]:
    """``count`` entries ``<key> <length> RD <bytes> NP`` from ``pos``: key -> bytes."""
    entries = {}
    for _ in range(count):
        m = pattern.match(text, pos)
        if m is None:
            break
        length = int(m.group(2))
        start = m.end()
        key = m.group(1)
        entries[int(key) if pattern is _ENTRY else key.decode("latin-1")] = text[start:start + length]
        pos = start + length
        pos = re.compile(rb"\s*(?:noaccess\s+\S+|\S+)").match(text, pos).end()
    return entries, pos


def parse_type1(clear_part: bytes, encrypted_part: bytes) -> Type1:
    """Read a Type 1 font program: its cleartext part and its eexec-encrypted part."""
    clear = clear_part.decode("latin-1")
    m = re.search(r"/FontName\s*/(\S+)", clear)
    if m is None:
        raise UnsupportedFont("no FontName")
    private_text = decrypt(encrypted_part, _EEXEC_KEY)[4:]
    subrs_at = private_text.find(b"/Subrs")
    strings_at = private_text.find(b"/CharStrings")
    if strings_at < 0:
        raise UnsupportedFont("no CharStrings")
    head = private_text[:subrs_at if 0 <= subrs_at < strings_at else strings_at].decode("latin-1")
    if "/OtherSubrs" in head and "hint replacement" not in head and "{ } { } { }" not in head:
        raise UnsupportedFont("unknown OtherSubrs")  # e.g. counter control
    m_iv = re.search(r"/lenIV\s+(-?\d+)", head)
    len_iv = int(m_iv.group(1)) if m_iv else 4
    if len_iv < 0:
        raise UnsupportedFont("unencrypted charstrings")
    subrs = {}
    if 0 <= subrs_at < strings_at:
        m_count = re.compile(rb"/Subrs\s+(\d+)\s+array").match(private_text, subrs_at)
        subrs, _ = _binary_entries(private_text, m_count.end(), _ENTRY, int(m_count.group(1)))
    m_dict = re.compile(rb"/CharStrings\s+(\d+)\s+dict\s+dup\s+begin").match(private_text, strings_at)
    charstrings, _ = _binary_entries(private_text, m_dict.end(), _GLYPH, int(m_dict.group(1)))
    if ".notdef" not in charstrings:
        raise UnsupportedFont("no .notdef")
    frozen = types.MappingProxyType  # read-only views: the value is complete and stays so
    return Type1(m.group(1), frozen(_top_dict(clear)), frozen(_private_dict(head)), frozen(_encoding(clear)),
                 frozen(subrs), frozen(charstrings), len_iv)


# ---------------------------------------------------------------- Type 1 -> Type 2

class _Glyph:
    """Runs one Type 1 charstring and records its outline and hints in absolute units."""

    def __init__(self, subr):
        self.subr = subr              # index -> the subroutine's program
        self.stack: list = []
        self.ps_stack: list = []      # results of callothersubr, read by "pop"
        self.point = (0, 0)
        self.side_bearing = (0, 0)
        self.width = 0
        self.path: list = []          # ("move"|"line", p) / ("curve", p1, p2, p3) / ("flex", 6 points, fd) / ("mask", i)
        self.hint_sets: list[list] = [[]]
        self.flex: list | None = None
        self.ended = False

    def run(self, program: list, depth: int = 0) -> None:
        if depth > 10:
            raise UnsupportedFont("subroutines nest too deep")
        for token in program:
            if self.ended:
                return
            if not isinstance(token, str):
                self.stack.append(token)
            elif token == "callsubr":
                self.run(self.subr(self.stack.pop()), depth + 1)
            elif token == "return":
                return
            else:
                getattr(self, "op_" + token, self.unsupported)(token)

    def unsupported(self, token: str) -> None:
        raise UnsupportedFont(f"charstring operator {token}")

    def args(self, n: int | None = None) -> list:
        args = self.stack if n is None else self.stack[-n:]
        self.stack = [] if n is None else self.stack[:-n]
        return args

    # -- metrics and hints
    def op_hsbw(self, _):
        sbx, wx = self.args(2)
        self.side_bearing, self.width, self.point = (sbx, 0), wx, (sbx, 0)

    def op_sbw(self, _):
        sbx, sby, wx, _wy = self.args(4)
        self.side_bearing, self.width, self.point = (sbx, sby), wx, (sbx, sby)

    def op_hstem(self, _):
        y, dy = self.args(2)
        self.hint_sets[-1].append(("h", self.side_bearing[1] + y, dy))

    def op_vstem(self, _):
        x, dx = self.args(2)
        self.hint_sets[-1].append(("v", self.side_bearing[0] + x, dx))

    def op_hstem3(self, _):
        values = self.args(6)
        for i in (0, 2, 4):
            self.hint_sets[-1].append(("h", self.side_bearing[1] + values[i], values[i + 1]))

    def op_vstem3(self, _):
        values = self.args(6)
        for i in (0, 2, 4):
            self.hint_sets[-1].append(("v", self.side_bearing[0] + values[i], values[i + 1]))

    def op_dotsection(self, _):
        self.args()

    # -- arithmetic and OtherSubrs
    def op_div(self, _):
        a, b = self.args(2)
        self.stack.append(a / b)

    def op_callothersubr(self, _):
        number, count = self.stack.pop(), self.stack.pop()
        args = self.args(count) if count else []
        if number == 1 and count == 0:      # flex begins
            self.flex = []
        elif number == 2 and count == 0:    # a flex point was just given by rmoveto
            pass
        elif number == 0 and count == 3:    # flex ends: fd, end x, end y
            self.end_flex(args[0])
            self.ps_stack.extend([args[2], args[1]])
        elif number == 3 and count == 1:    # hint replacement: the subr # comes back through "pop"
            self.hint_sets.append([])
            self.path.append(("mask", len(self.hint_sets) - 1))
            self.ps_stack.append(args[0])
        else:
            raise UnsupportedFont(f"OtherSubr {number}")

    def op_pop(self, _):
        self.stack.append(self.ps_stack.pop())

    def op_setcurrentpoint(self, _):
        self.point = tuple(self.args(2))

    def end_flex(self, height) -> None:
        points = self.flex
        if points is None or len(points) != 7:
            raise UnsupportedFont("malformed flex")
        self.flex = None
        self.path.append(("flex", points[1:], height))  # points[0] is the reference point

    # -- the outline
    def moved(self, dx, dy) -> tuple:
        self.point = (self.point[0] + dx, self.point[1] + dy)
        return self.point

    def op_rmoveto(self, _):
        dx, dy = self.args(2)
        point = self.moved(dx, dy)
        if self.flex is not None:
            self.flex.append(point)
        else:
            self.path.append(("move", point))

    def op_hmoveto(self, _):
        self.stack.append(0)
        self.op_rmoveto(_)

    def op_vmoveto(self, _):
        self.stack.insert(len(self.stack) - 1, 0)
        self.op_rmoveto(_)

    def op_rlineto(self, _):
        self.path.append(("line", self.moved(*self.args(2))))

    def op_hlineto(self, _):
        self.path.append(("line", self.moved(self.args(1)[0], 0)))

    def op_vlineto(self, _):
        self.path.append(("line", self.moved(0, self.args(1)[0])))

    def op_rrcurveto(self, _):
        dx1, dy1, dx2, dy2, dx3, dy3 = self.args(6)
        self.curve((dx1, dy1), (dx2, dy2), (dx3, dy3))

    def op_hvcurveto(self, _):
        dx1, dx2, dy2, dy3 = self.args(4)
        self.curve((dx1, 0), (dx2, dy2), (0, dy3))

    def op_vhcurveto(self, _):
        dy1, dx2, dy2, dx3 = self.args(4)
        self.curve((0, dy1), (dx2, dy2), (dx3, 0))

    def curve(self, d1, d2, d3) -> None:
        self.path.append(("curve", self.moved(*d1), self.moved(*d2), self.moved(*d3)))

    def op_closepath(self, _):
        self.args()  # Type 2 closes every subpath itself; the current point stays

    def op_endchar(self, _):
        self.ended = True


def _clean(value):
    """An integer when the value is one (Type 2 then writes it in 1–3 bytes)."""
    rounded = round(value)
    return int(rounded) if abs(value - rounded) < 1e-9 else value


def _stem_args(stems: list[tuple]) -> list:
    """Stems (edge, width) as Type 2 stem arguments: each edge relative to the last one's end."""
    args, last = [], 0
    for edge, width in stems:
        args += [_clean(edge - last), _clean(width)]
        last = edge + width
    return args


def _used_sets(glyph: _Glyph) -> list[int]:
    """The hint sets in force at some segment of the outline, in order (a set replaced before
    any segment is drawn never is)."""
    used, pending = [], 0
    for op in glyph.path:
        if op[0] == "mask":
            pending = op[1]
        elif pending is not None:
            used.append(pending)
            pending = None
    return used or [0]


def _hint_layout(glyph: _Glyph, used: list[int]) -> tuple[list, list, dict]:
    """Type 2 stems (h, v) and each used set's hintmask bytes.

    As a Type 1 interpreter collects them: set after set, each in its own
    order, so that a hinter meets every set's stems in the order the Type 1
    font gave them (FreeType's Adobe engine keeps the first of two overlapping
    stems, so order matters).  A set's mask selects its own block.
    """
    h_stems, v_stems, members = [], [], {}
    for index in used:
        stems = glyph.hint_sets[index]
        h = [(e, w) for kind, e, w in stems if kind == "h"]
        v = [(e, w) for kind, e, w in stems if kind == "v"]
        members[index] = (range(len(h_stems), len(h_stems) + len(h)), range(len(v_stems), len(v_stems) + len(v)))
        h_stems += h
        v_stems += v
    if len(h_stems) + len(v_stems) > _MAX_STEMS:
        raise UnsupportedFont("too many stems")
    total = len(h_stems) + len(v_stems)
    size = (total + 7) // 8
    masks = {}
    for index, (h, v) in members.items():
        bits = sum(1 << (size * 8 - 1 - i) for i in h) + sum(1 << (size * 8 - 1 - len(h_stems) - i) for i in v)
        masks[index] = bits.to_bytes(size, "big")
    return h_stems, v_stems, masks


def _commands(glyph: _Glyph) -> list:
    """The glyph as Type 2 commands (relative, generic operators), hints first."""
    used = _used_sets(glyph)
    h_stems, v_stems, masks = _hint_layout(glyph, used)
    replaced = len(used) > 1 and (h_stems or v_stems)
    commands = [("", [_clean(glyph.width)])] if glyph.width else []
    # Each operator's stems start again from 0 (as FreeType and the spec read them); 22 stems
    # per operator keep its arguments, with the width, within Type 2's stack of 48.
    for start in range(0, len(h_stems), 22):
        commands.append(("hstemhm" if replaced else "hstem", _stem_args(h_stems[start:start + 22])))
    for start in range(0, len(v_stems), 22):
        commands.append(("vstemhm" if replaced else "vstem", _stem_args(v_stems[start:start + 22])))
    pending = 0 if replaced else None  # the hint set to select before the next segment
    x, y = 0, 0

    def rel(p):
        nonlocal x, y
        d = [_clean(p[0] - x), _clean(p[1] - y)]
        x, y = p
        return d

    for op in glyph.path:
        if op[0] == "mask":
            pending = op[1] if replaced else None
            continue
        if pending is not None:
            commands += [("hintmask", []), ("", [masks[pending]])]
            pending = None
        if op[0] == "move":
            commands.append(("rmoveto", rel(op[1])))
        elif op[0] == "line":
            commands.append(("rlineto", rel(op[1])))
        elif op[0] == "curve":
            commands.append(("rrcurveto", rel(op[1]) + rel(op[2]) + rel(op[3])))
        else:  # flex
            args = [v for p in op[1] for v in rel(p)]
            commands.append(("flex", args + [_clean(op[2])]))
    commands.append(("endchar", []))
    return commands


def _specialize(commands: list) -> list:
    """Shorter operators (hlineto, hvcurveto, ...) for the same outline; hints and masks kept in place."""
    head = []
    while commands and commands[0][0] in ("", "hstem", "vstem", "hstemhm", "vstemhm"):
        head.append(commands.pop(0))
    return head + specializer.specializeCommands(commands, generalizeFirst=False, preserveTopology=True)


_T1_OPERATORS = {1: "hstem", 3: "vstem", 4: "vmoveto", 5: "rlineto", 6: "hlineto", 7: "vlineto",
                 8: "rrcurveto", 9: "closepath", 10: "callsubr", 11: "return", 13: "hsbw",
                 14: "endchar", 21: "rmoveto", 22: "hmoveto", 30: "vhcurveto", 31: "hvcurveto"}
_T1_ESCAPES = {0: "dotsection", 1: "vstem3", 2: "hstem3", 6: "seac", 7: "sbw", 12: "div",
               16: "callothersubr", 17: "pop", 33: "setcurrentpoint"}


def charstring_program(code: bytes, len_iv: int) -> list:
    """An encrypted Type 1 charstring as a list of numbers and operator names (Type 1 spec, 6.2)."""
    data = _decrypt_short(code, _CHARSTRING_KEY)[len_iv:]
    program, i, n = [], 0, len(data)
    while i < n:
        v = data[i]
        if v >= 32:
            if v <= 246:
                program.append(v - 139)
                i += 1
            elif v <= 250:
                program.append((v - 247) * 256 + data[i + 1] + 108)
                i += 2
            elif v <= 254:
                program.append(-(v - 251) * 256 - data[i + 1] - 108)
                i += 2
            else:
                program.append(int.from_bytes(data[i + 1:i + 5], "big", signed=True))
                i += 5
        elif v == 12:
            program.append(_T1_ESCAPES.get(data[i + 1], f"escape{data[i + 1]}"))
            i += 2
        else:
            program.append(_T1_OPERATORS.get(v, f"operator{v}"))
            i += 1
    return program


def _decrypt_short(data: bytes, key: int) -> bytes:
    """Type 1 decryption, byte by byte: faster than numpy for a charstring's few bytes."""
    out, r = bytearray(len(data)), key
    for i, c in enumerate(data):
        out[i] = c ^ (r >> 8)
        r = ((c + r) * _C1 + _C2) & 0xFFFF
    return bytes(out)


def to_cff(font: Type1) -> CffFont:
    """The Type 1 font as a CFF font: each glyph's charstring run with its subroutines and
    written as Type 2 (same points, widths and hints); DICT entries and encoding copied."""
    subrs = functools.lru_cache(maxsize=None)(lambda i: charstring_program(font.subrs[i], font.len_iv))
    glyphs = []
    for name in [".notdef"] + sorted(n for n in font.charstrings if n != ".notdef"):
        glyph = _Glyph(subrs)
        glyph.run(charstring_program(font.charstrings[name], font.len_iv))
        charstring = T2CharString(program=specializer.commandsToProgram(_specialize(_commands(glyph))))
        charstring.compile()
        glyphs.append((name, charstring.bytecode))
    top = dict(font.top)
    if top.get("FontMatrix") == [0.001, 0, 0, 0.001, 0, 0]:
        del top["FontMatrix"]  # CFF's default
    encoding = tuple(sorted((code, name) for code, name in font.encoding.items()
                            if 0 <= code < 256 and name in font.charstrings))
    return CffFont(font.name, _frozen(top), _frozen(font.private), encoding, tuple(glyphs))


def _frozen(entries: dict) -> tuple:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in entries.items())
