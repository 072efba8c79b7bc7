"""Small PDFs: the fonts of a batch PDF made compact once, and subset per sheet.

pdfTeX subsets a Type 1 font's glyphs but keeps *all* of its ``Subrs`` (the
subroutines its glyphs call; Latin Modern has ~800 per font, mostly hint
replacement), and the font's private part is eexec-encrypted, so it does not
compress.  For a 2-2-1 sheet that was about 85 % of each student's PDF.

:func:`compact_fonts` rewrites a batch PDF once, before it is cut: each
embedded Type 1 font program (``/FontFile``) becomes a CFF one
(``/FontFile3 /Subtype /Type1C``, see :mod:`derive.type1`), and fonts whose
ToUnicode CMaps map alike share one CMap of the codes they can show.  The
font dictionaries (widths, /Encoding, FirstChar/LastChar) are untouched, so
text extraction and layout are unchanged.  A font program that
:mod:`derive.type1` does not follow is left as it was.

:func:`subset_fonts` then gives one sheet's PDF only the glyphs its pages
show, and CMaps of only the codes they show: a batch's subsets hold every
student's name, most of which one sheet does not need.  Fonts used by anything it does not read (annotations, forms)
keep all their glyphs.
"""
from __future__ import annotations

import functools
import itertools
import re
import threading
import zlib
from pathlib import Path

import pikepdf

from derive import type1
from derive.cff import CffFont, cff_program

# The CFF fonts this process wrote, by their compressed bytes (what a cut PDF's
# copy of the stream still holds), so each sheet can be subset from them.
_WRITTEN: dict[bytes, tuple[int, CffFont]] = {}
_WRITTEN_LIMIT = 1024  # a class's batches of 50 sheets have ~25 fonts each; the oldest go first
_SERIAL = itertools.count()  # names a written font in the cache of subsets
_SUBSETS: dict[tuple, bytes] = {}
_LOCK = threading.Lock()


# ---------------------------------------------------------------- a batch PDF

def compact_fonts(path: Path) -> None:
    """Rewrite the PDF at ``path`` with its Type 1 fonts as CFF and shared ToUnicode CMaps."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        if compact_document(pdf):
            pdf.save(path)


def compact_document(pdf: pikepdf.Pdf) -> bool:
    """Rewrite ``pdf``'s fonts in memory (see the module's docstring); True when anything changed."""
    converted: dict[tuple[int, int], pikepdf.Stream | None] = {}
    changed = False
    for descriptor in _font_descriptors(pdf):
        program = descriptor.FontFile
        if program.objgen not in converted:
            converted[program.objgen] = _as_type1c(pdf, program)
        replacement = converted[program.objgen]
        if replacement is not None:
            del descriptor["/FontFile"]
            descriptor.FontFile3 = replacement
            changed = True
    return _share_cmaps(pdf) or changed


def _font_descriptors(pdf: pikepdf.Pdf):
    for obj in pdf.objects:
        if (isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == pikepdf.Name.FontDescriptor
                and isinstance(obj.get("/FontFile"), pikepdf.Stream)):
            yield obj


def _as_type1c(pdf: pikepdf.Pdf, program: pikepdf.Stream) -> pikepdf.Stream | None:
    """The font program as a /Type1C stream, or None when it is better left alone."""
    try:
        font, data = _converted(program.read_bytes(), int(program.Length1), int(program.Length2))
    except (type1.UnsupportedFont, KeyError, ValueError, IndexError, TypeError, AttributeError,
            ZeroDivisionError, RecursionError):
        return None
    with _LOCK:
        if data not in _WRITTEN:
            while len(_WRITTEN) >= _WRITTEN_LIMIT:
                del _WRITTEN[next(iter(_WRITTEN))]
            _WRITTEN[data] = (next(_SERIAL), font)
    stream = pikepdf.Stream(pdf, data)
    stream.Filter = pikepdf.Name.FlateDecode  # already compressed: qpdf writes it as it is
    stream.Subtype = pikepdf.Name.Type1C
    return stream


@functools.lru_cache(maxsize=64)
def _converted(data: bytes, clear: int, encrypted: int) -> tuple[CffFont, bytes]:
    """The CFF font for a Type 1 program, and its program compressed (cached: a class's
    batches mostly share their subsets)."""
    font = type1.to_cff(type1.parse_type1(data[:clear], data[clear:clear + encrypted]))
    return font, _compressed(font, None)


def _compressed(font: CffFont, keep: frozenset | None) -> bytes:
    return zlib.compress(cff_program(font, keep), 9)


# ---------------------------------------------------------------- one sheet's PDF

def subset_fonts(document: pikepdf.Pdf) -> None:
    """Keep in each CFF font this module wrote only the glyphs ``document``'s pages show.

    ``document`` holds its own copies of the fonts (pages copied from a batch
    PDF), so the batch and the other sheets are not touched.
    """
    if not any(_written(found[0]) for page in document.pages
               for font in page.obj.get("/Resources", {}).get("/Font", {}).values()
               if (found := _program_of(font)) is not None):
        return  # no font of ours (a lualatex sheet, say): nothing to read
    codes: dict = {}
    usage = _glyph_usage(document, codes)
    if usage is None:
        return
    _trim_cmaps(document, {font: shown for font, (shown, program) in codes.items()
                           if usage.get(program, [None])[0] is not None})
    for names, program, descriptor in usage.values():
        known = _written(program)
        if known is None or names is None:
            continue
        serial, font = known
        if names >= {name for name, _ in font.glyphs}:
            continue
        program.write(_subset(serial, font, frozenset(names)), filter=pikepdf.Name.FlateDecode)
        if "/CharSet" in descriptor:  # it would list glyphs no longer there
            del descriptor["/CharSet"]


def _trim_cmaps(document: pikepdf.Pdf, shown: dict) -> None:
    """Each ToUnicode CMap with only the codes this sheet's text shows in the fonts it serves.

    The batch's CMaps cover every student's codes (see :func:`_share_cmaps`):
    about 1 KB of a solved sheet.  ``shown``: font dictionary objgen -> codes.
    A CMap serving any font not in ``shown`` (a form's, say) is kept whole.
    """
    wanted: dict = {}  # CMap objgen -> [stream, the codes to keep, or None: all]
    for font in document.objects:
        if not (isinstance(font, pikepdf.Dictionary) and font.get("/Type") == pikepdf.Name.Font):
            continue
        cmap = font.get("/ToUnicode")
        if not isinstance(cmap, pikepdf.Stream):
            continue
        entry = wanted.setdefault(cmap.objgen, [cmap, set()])
        if font.objgen not in shown or entry[1] is None:
            entry[1] = None
        else:
            entry[1] |= shown[font.objgen]
    for cmap, keep in wanted.values():
        mapping = _cmap_mapping(cmap.read_bytes()) if keep is not None else None
        if mapping is not None and any(code not in keep for code, _ in mapping):
            cmap.write(_trimmed_cmap(mapping, frozenset(keep)))


@functools.lru_cache(maxsize=1024)
def _trimmed_cmap(mapping: tuple, keep: frozenset) -> bytes:
    """The CMap of ``mapping``'s codes in ``keep`` (cached: a class's sheets mostly show the same codes)."""
    return _cmap_text({code: u for code, u in mapping if code in keep})


def _written(program: pikepdf.Stream) -> tuple[int, CffFont] | None:
    with _LOCK:
        return _WRITTEN.get(program.read_raw_bytes())


def _subset(serial: int, font: CffFont, keep: frozenset) -> bytes:
    """The compressed subset (cached: most sheets of a class need the same glyphs of most fonts)."""
    key = (serial, keep)
    with _LOCK:
        cached = _SUBSETS.get(key)
    if cached is None:
        cached = _compressed(font, keep)
        with _LOCK:
            if len(_SUBSETS) >= 4096:
                _SUBSETS.clear()
            _SUBSETS[key] = cached
    return cached


def _glyph_usage(document: pikepdf.Pdf, codes: dict | None = None) -> dict | None:
    """FontFile3 objgen -> [glyph names the pages' text shows (None: keep all), stream, descriptor].

    None when a page holds something this reader does not follow (an inline
    image, text before any font is chosen).  ``codes``, when given, gets each
    font dictionary's objgen -> (the codes its text shows, its FontFile3 objgen).
    """
    shown: dict = {}  # font dictionary's objgen -> [font dictionary, the pieces of content it shows]
    for page in document.pages:
        if not _scan(page.obj, page.obj.get("/Resources"), shown, depth=0):
            return None
    usage: dict = {}
    for font, pieces in shown.values():
        shown_codes = _shown_codes(pieces)
        found = _program_of(font)
        if found is None:
            continue
        if codes is not None:
            codes[font.objgen] = (set(shown_codes), found[0].objgen)
        entry = usage.setdefault(found[0].objgen, [{".notdef"}, found[0], found[1]])
        encoding = _encoding_of(font, found[0])
        if encoding is None or entry[0] is None:
            entry[0] = None
        else:
            entry[0].update(encoding.get(code, ".notdef") for code in shown_codes)
    for page in document.pages:
        for annotation in page.obj.get("/Annots", ()):
            _keep_all_in(annotation.get("/AP"), usage)
    acroform = document.Root.get("/AcroForm")
    if acroform is not None:
        _keep_all_in(acroform.get("/DR"), usage)
    return usage


def _scan(content: pikepdf.Object, resources, shown: dict, depth: int) -> bool:
    """Record which codes of which font the text of one content stream (page or form) shows.

    The stream is split at each font selection (``/F12 9.96 Tf``): the strings
    of a piece are shown in the font it begins with.  A ``Q`` restores the
    font of its ``q``, so a piece where a string follows a ``Q`` is not
    followed (pdfTeX chooses the font again after one), and neither is text
    before the first selection, a selection inside a string, or an inline
    image: then False, and the caller keeps every glyph.
    """
    if depth > 8 or not isinstance(resources, pikepdf.Dictionary):
        return False
    fonts = resources.get("/Font", {})
    data = _content_bytes(content)
    if data is None or (b"BI" in data and _INLINE_IMAGE.search(data)):
        return False
    # The whole stream's checks are made once, on its operators with every string emptied, not
    # piece by piece: a string the font selections split is then seen (joined again, its halves
    # looked whole).  With the regexes' literals first, 2.2 -> 2.0 ms a sheet (150-sheet batch).
    operators = _STRINGS_ONLY.sub(b"()", data)
    unpaired = operators.replace(b"()", b"")  # (not a regex: a lookbehind at every byte was 7x slower)
    if b"(" in unpaired or b")" in unpaired:
        return False  # a parenthesis outside every string this reader follows
    parts = _FONT_SELECTION.split(data)  # [before, name, piece, name, piece, ...]: C, not a loop
    pieces = _FONT_SELECTION.split(operators)
    if len(pieces) != len(parts):
        return False  # a "Tf" inside a string split it: the pieces are not what they seem
    if _shows_text(parts[0]):
        return False  # text in a font chosen elsewhere (a form's caller): not followed
    if b"Q" in operators and any(_shows_text_after_restore(piece) for piece in pieces[2::2] if b"Q" in piece):
        return False
    here: dict = {}
    for i in range(1, len(parts), 2):
        here.setdefault(parts[i], []).append(parts[i + 1])
    for name, pieces in here.items():
        font = fonts.get("/" + name.decode("latin-1"))
        if not isinstance(font, pikepdf.Dictionary) or font.objgen == (0, 0):
            return False
        shown.setdefault(font.objgen, [font, []])[1].append(b" ".join(pieces))
    for xobject in resources.get("/XObject", {}).values():
        if isinstance(xobject, pikepdf.Stream) and xobject.get("/Subtype") == pikepdf.Name.Form:
            if not _scan(xobject, xobject.get("/Resources", resources), shown, depth + 1):
                return False
    return True


def _shows_text(piece: bytes) -> bool:
    return (b"(" in piece or b"<" in piece) and bool(_STRING_BODIES.search(piece))


def _shows_text_after_restore(operators: bytes) -> bool:
    """Whether a string follows a Q operator in one piece's ``operators`` (its strings emptied to ``()``)."""
    first = _RESTORE.search(operators)
    return first is not None and operators.find(b"(", first.end()) >= 0


def _shown_codes(pieces: list[bytes]) -> set[int]:
    """The codes the strings in ``pieces`` (strings and TJ arrays, as written) show."""
    found = _STRING_BODIES.findall(b" ".join(pieces))
    literal = b"".join(body for body, _ in found)
    codes = set(_ESCAPE.sub(b"", literal)) if b"\\" in literal else set(literal)
    codes.update(c for escape in set(_ESCAPE.findall(literal)) if (c := _escaped(escape)) is not None)
    for digits in {digits for _, digits in found if digits}:
        digits = re.sub(rb"\s", b"", digits)
        codes.update(bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("latin-1")))
    return codes


def _escaped(escape: bytes) -> int | None:
    """The code of one escape of a literal string (what follows the backslash); None: a line break."""
    if escape[:1].isdigit():
        return int(escape, 8) & 0xFF
    if escape in (b"\n", b"\r"):
        return None  # a backslash at the end of a line continues the string
    return _ESCAPES.get(escape, escape[0])


def _content_bytes(content: pikepdf.Object) -> bytes | None:
    try:
        if isinstance(content, pikepdf.Stream):
            return content.read_bytes()
        streams = content.get("/Contents")
        if isinstance(streams, pikepdf.Stream):
            return streams.read_bytes()
        return b"\n".join(s.read_bytes() for s in streams)
    except (pikepdf.PdfError, TypeError, AttributeError):
        return None


# Content-stream syntax the glyph reader needs: strings (literal, with one level of nested
# parentheses, and hex, which is not a "<<" dictionary), font selections and Q operators.
_STRING = rb"\((?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*\)"
_HEX_STRING = rb"<(?<!<<)(?!<)[0-9A-Fa-f\s]*>"  # not a "<<" dictionary
_DELIMITED = rb"(?![^\s\[(/<%{])"  # the end of an operator
_FONT_SELECTION = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+[-+.\d]+\s+Tf" + _DELIMITED)
_STRINGS_ONLY = re.compile(_STRING + rb"|" + _HEX_STRING, re.S)
_RESTORE = re.compile(rb"Q(?<![^\s\])>}]Q)" + _DELIMITED)  # the literal first: re scans for it fast
_STRING_BODIES = re.compile(rb"\(((?:\\.|[^\\()]|\((?:\\.|[^\\()])*\))*)\)|<(?<!<<)(?!<)([0-9A-Fa-f\s]*)>", re.S)
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)
_INLINE_IMAGE = re.compile(rb"(?<![^\s])BI(?![^\s/])")
_ESCAPES = {b"n": 10, b"r": 13, b"t": 9, b"b": 8, b"f": 12}


def _program_of(font) -> tuple | None:
    """(FontFile3 stream, descriptor) of a font dictionary, when it has one."""
    if not isinstance(font, pikepdf.Dictionary):
        return None
    descriptor = font.get("/FontDescriptor")
    if not isinstance(descriptor, pikepdf.Dictionary):
        return None
    program = descriptor.get("/FontFile3")
    return (program, descriptor) if isinstance(program, pikepdf.Stream) else None


def _encoding_of(font: pikepdf.Dictionary, program: pikepdf.Stream) -> dict | None:
    """code -> glyph name: the font dictionary's /Differences over the font's built-in encoding."""
    known = _written(program)
    if known is None:
        return None
    encoding = font.get("/Encoding")
    if encoding is None:
        return dict(known[1].encoding)
    if not isinstance(encoding, pikepdf.Dictionary) or "/BaseEncoding" in encoding:
        return None  # a named base encoding: left to a reader that knows them
    key = (known[0], encoding.unparse(resolved=True))
    with _LOCK:
        mapping = _ENCODINGS.get(key)
    if mapping is None:  # cached by the dictionary's text: the sheets of a batch share them
        mapping = _differences(known[1], key[1])
        with _LOCK:
            if len(_ENCODINGS) >= 1024:
                _ENCODINGS.clear()
            _ENCODINGS[key] = mapping
    return dict(mapping)


_ENCODINGS: dict[tuple, tuple] = {}


def _differences(font: CffFont, encoding: bytes) -> tuple:
    """(code, glyph name) pairs of an /Encoding dictionary (as PDF text) over the font's own."""
    mapping = dict(font.encoding)
    differences = re.search(rb"/Differences\s*\[([^\]]*)\]", encoding)
    code = 0
    for token in re.findall(rb"/[^\s/\[\]()<>{}%]*|[-+]?\d+", differences.group(1) if differences else b""):
        if token.startswith(b"/"):
            mapping[code] = token[1:].decode("latin-1")
            code += 1
        else:
            code = int(token)
    return tuple(sorted(mapping.items()))


def _keep_all_in(obj, usage: dict, depth: int = 0) -> None:
    """Mark every font reachable from ``obj`` (an annotation, the AcroForm) as used whole."""
    if obj is None or depth > 6:
        return
    if isinstance(obj, pikepdf.Dictionary) or isinstance(obj, pikepdf.Stream):
        found = _program_of(obj) if obj.get("/Type") == pikepdf.Name.Font else None
        if found is not None:
            usage[found[0].objgen] = [None, found[0], found[1]]
            return
        for key in obj.keys():
            if key not in ("/Parent", "/P"):
                _keep_all_in(obj.get(key), usage, depth + 1)
    elif isinstance(obj, pikepdf.Array):
        for item in obj:
            _keep_all_in(item, usage, depth + 1)


# ---------------------------------------------------------------- ToUnicode CMaps

def _share_cmaps(pdf: pikepdf.Pdf) -> bool:
    """One ToUnicode CMap per mapping, holding just the codes its fonts can show.

    pdfTeX writes, for every font, a CMap of its encoding's 256 codes under the
    font's own name, although the fonts of one encoding map alike.  Fonts whose
    CMaps map alike now share one, of the codes from the least FirstChar to the
    greatest LastChar among them (no font's text uses a code outside its own
    FirstChar..LastChar); every kept code maps as before, so text extraction
    is unchanged.
    """
    groups: dict[tuple, list] = {}
    for font in pdf.objects:
        if not (isinstance(font, pikepdf.Dictionary) and font.get("/Type") == pikepdf.Name.Font):
            continue
        cmap = font.get("/ToUnicode")
        if isinstance(cmap, pikepdf.Stream):
            mapping = _cmap_mapping(cmap.read_bytes())
            if mapping is not None:  # else not a one-byte CMap this module reads: left alone
                groups.setdefault(mapping, []).append(font)
    for mapping, fonts in groups.items():
        low = min(int(font.get("/FirstChar", 0)) for font in fonts)
        high = max(int(font.get("/LastChar", 255)) for font in fonts)
        shared = pikepdf.Stream(pdf, _cmap_text({code: u for code, u in mapping if low <= code <= high}))
        for font in fonts:
            font.ToUnicode = shared
    return bool(groups)


_HEX = rb"<([0-9A-Fa-f]*)>"


@functools.lru_cache(maxsize=256)
def _cmap_mapping(data: bytes) -> tuple | None:
    """(code, UTF-16BE hex) pairs of a one-byte ToUnicode CMap (bfchar and bfrange), or None."""
    spaces = re.findall(rb"begincodespacerange(.*?)endcodespacerange", data, re.S)
    if [[h.upper() for h in re.findall(_HEX, block)] for block in spaces] != [[b"00", b"FF"]]:
        return None
    mapping = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for code, target in re.findall(_HEX + rb"\s*" + _HEX, block):
            mapping[int(code, 16)] = target.upper().decode()
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for low, high, rest in re.findall(_HEX + rb"\s*" + _HEX + rb"\s*(\[[^\]]*\]|<[0-9A-Fa-f]*>)", block):
            low, high = int(low, 16), int(high, 16)
            if rest.startswith(b"["):
                targets = [t.upper().decode() for t in re.findall(_HEX, rest)]
            else:  # one target: the codes that follow add to its last byte (PDF 32000, 9.10.3)
                first = bytes.fromhex(rest[1:-1].decode())
                if not first:
                    return None
                targets = [(first[:-1] + bytes([(first[-1] + i) & 0xFF])).hex().upper()
                           for i in range(high - low + 1)]
            for code, target in zip(range(low, high + 1), targets):
                mapping[code] = target
    return tuple(sorted(mapping.items()))  # cached: immutable


def _cmap_text(mapping: dict) -> bytes:
    """A ToUnicode CMap (PDF 32000, 9.10.3) for ``mapping``, under the generic name producers use."""
    lines = [b"/CIDInit /ProcSet findresource begin", b"12 dict begin", b"begincmap",
             b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             b"/CMapName /Adobe-Identity-UCS def", b"/CMapType 2 def",
             b"1 begincodespacerange", b"<00> <FF>", b"endcodespacerange"]
    codes = sorted(mapping)
    for start in range(0, len(codes), 100):  # at most 100 entries per block
        chunk = codes[start:start + 100]
        lines.append(f"{len(chunk)} beginbfchar".encode())
        lines += [f"<{code:02X}> <{mapping[code]}>".encode() for code in chunk]
        lines.append(b"endbfchar")
    lines += [b"endcmap", b"CMapName currentdict /CMap defineresource pop", b"end", b"end"]
    return b"\n".join(lines) + b"\n"


