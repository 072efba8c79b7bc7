"""Fillable blank sheets: the AcroForm of a per-student PDF, and reading it back once filled.

The blank template draws each answer box with a bare widget annotation whose
field name (``/T``) is the answer name, hex-encoded so that TeX cannot change
it (hyperref's fields would drop every ``_``: ``W1_12`` and ``W11_2`` would
both be ``W112``).  Those widgets reach the per-student PDF with its pages;
:func:`make_fillable` then gives that PDF what makes them a form:

- an ``/AcroForm`` listing the fields, with a default appearance (``/DA``,
  Helvetica 11 pt) and the font in its resources (``/DR``), so that Acrobat,
  Chrome (PDFium) and Firefox (pdf.js) can draw what a student types, and
  write it into the file on save;
- an appearance stream (``/AP /N``) for every widget, so that a viewer need
  not make one (no ``/NeedAppearances``, which makes Acrobat ask to save a
  file nobody changed);
- a read-only, hidden field ``sheet_code`` holding the sheet's code, and the
  code and student id in the document information (``/DeriveSheetCode``,
  ``/DeriveStudentID``, ``/Subject``) and in the XMP metadata
  (``dc:identifier``): what identifies a handed-in sheet, whatever its file
  is called.

A field name that is not one of the sheet's answer names (a template that
mangles names), or two fields of one name with different values, fail the
sheet.  A box printed twice for one answer becomes one field with two
widgets, which always show the same value.

:func:`read_filled` reads a handed-in PDF's fields back (:mod:`derive.submissions`
decides whose it is).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import pikepdf
from pikepdf import Array, Dictionary, Name, String

from .errors import AnswersError, DeriveError

CODE_FIELD = "sheet_code"
"""The read-only field that holds the sheet code."""

FONT = Name.Helv
DEFAULT_APPEARANCE = "/Helv 11 Tf 0 g"
_READ_ONLY = 1     # field flag bit 1 (PDF 32000-1, 12.7.3.1)
_PRINT = 4         # annotation flag: print the widget
_HIDDEN = 2        # annotation flag: do not show or print it


class FormError(DeriveError):
    """A blank sheet's form fields are wrong (a name mangled or used twice)."""


@dataclass(frozen=True)
class FormSpec:
    """What one student's fillable sheet holds: whose it is, its code, and its answer names in box order."""

    student_id: str
    sheet_code: str | None
    names: tuple[str, ...]

    def __repr__(self) -> str:
        return f"FormSpec({self.student_id!r}, {self.sheet_code!r}, {len(self.names)} answers)"


# --- building -------------------------------------------------------------------------------


def make_fillable(pdf: pikepdf.Pdf, form: FormSpec) -> None:
    """Turn the answer widgets on ``pdf``'s pages into its AcroForm; add the code field and metadata.

    Raises :class:`FormError` when a widget's name is not an answer name of
    the sheet (see the module's docstring).
    """
    widgets = _answer_widgets(pdf)
    known = set(form.names)
    stray = sorted({name for name, _ in widgets} - known)
    if stray:
        raise FormError(f"form field {stray[0]!r} is not an answer name of this sheet (expected names like "
                        f"{form.names[0] if form.names else 'z1_1'!r}): a template that changes field names?")
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica,
                                        Encoding=Name.WinAnsiEncoding))
    resources = pdf.make_indirect(Dictionary(Font=Dictionary({"/Helv": font})))  # /DR, and every /AP's
    fields = _fields(pdf, widgets, resources)
    if form.sheet_code and len(pdf.pages):
        fields.append(_code_field(pdf, pdf.pages[0], form.sheet_code, resources))
    pdf.Root.AcroForm = pdf.make_indirect(Dictionary(
        Fields=Array(fields), DA=String(DEFAULT_APPEARANCE), DR=resources))
    _metadata(pdf, form)


def _answer_widgets(pdf: pikepdf.Pdf) -> list[tuple[str, pikepdf.Object]]:
    """(name, widget) for every text widget the template put on the pages, in page order."""
    found = []
    for page in pdf.pages:
        for annot in page.obj.get("/Annots", Array()):
            if annot.get("/Subtype") == Name.Widget and annot.get("/FT") == Name.Tx and "/T" in annot:
                annot.P = page.obj
                found.append((str(annot.T), annot))
    return found


def _fields(pdf: pikepdf.Pdf, widgets: list[tuple[str, pikepdf.Object]],
            resources: pikepdf.Object) -> list[pikepdf.Object]:
    """One field per name, in box order; a name with two boxes is a parent field with two widgets."""
    by_name: dict[str, list[pikepdf.Object]] = {}
    for name, widget in widgets:
        by_name.setdefault(name, []).append(widget)
        widget.AP = Dictionary(N=_appearance(pdf, widget, "", resources))
    fields = []
    for name, group in by_name.items():
        if len(group) == 1:
            fields.append(group[0])
            continue
        parent = pdf.make_indirect(Dictionary(FT=Name.Tx, T=String(name), DA=String(DEFAULT_APPEARANCE),
                                              Kids=Array(group)))
        for widget in group:
            del widget.T, widget.FT
            widget.Parent = parent
        fields.append(parent)
    return fields


def _appearance(pdf: pikepdf.Pdf, widget: pikepdf.Object, value: str, resources: pikepdf.Object) -> pikepdf.Object:
    """A widget's normal appearance: its value in Helvetica, left-aligned and vertically centred."""
    x0, y0, x1, y1 = (float(v) for v in widget.Rect)
    width, height = x1 - x0, y1 - y0
    text = ""
    if value:
        escaped = value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text = f"q BT {DEFAULT_APPEARANCE} 2 {height / 2 - 3.5:.2f} Td ({escaped}) Tj ET Q "
    stream = pikepdf.Stream(pdf, f"/Tx BMC {text}EMC".encode("latin-1"))
    # /Type /XObject is optional, and 29 boxes make a sheet's bytes count (issue 10: ≤ 60 KB); the
    # resources stay, shared: a filling tool (qpdf, pikepdf) draws the typed value with their font
    stream.Subtype = Name.Form
    stream.BBox = Array([0, 0, round(width, 2), round(height, 2)])
    stream.Resources = resources
    return pdf.make_indirect(stream)


def _code_field(pdf: pikepdf.Pdf, page: pikepdf.Page, code: str, resources: pikepdf.Object) -> pikepdf.Object:
    """The hidden, read-only ``sheet_code`` field on the first page, top right."""
    box = [float(v) for v in page.mediabox]
    rect = Array([box[2] - 150, box[3] - 30, box[2] - 60, box[3] - 16])
    widget = pdf.make_indirect(Dictionary(
        Type=Name.Annot, Subtype=Name.Widget, FT=Name.Tx, T=String(CODE_FIELD), V=String(code),
        Ff=_READ_ONLY, F=_HIDDEN | _PRINT, Rect=rect, DA=String(DEFAULT_APPEARANCE), P=page.obj))
    widget.AP = Dictionary(N=_appearance(pdf, widget, code, resources))
    if "/Annots" not in page.obj:
        page.obj.Annots = Array()
    page.obj.Annots.append(widget)
    return widget


def _metadata(pdf: pikepdf.Pdf, form: FormSpec) -> None:
    """The code and student id in the document information and the XMP metadata."""
    info = pdf.docinfo
    info["/DeriveStudentID"] = String(form.student_id)
    if form.sheet_code:
        info["/DeriveSheetCode"] = String(form.sheet_code)
        info["/Subject"] = String(f"derive worksheet, sheet code {form.sheet_code}")
        # no date or producer: the same class gives the same metadata
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            meta["dc:identifier"] = f"derive-sheet-code:{form.sheet_code}"


def strip_fields(pdf: pikepdf.Pdf) -> None:
    """Remove the answer widgets from ``pdf`` (a class PDF for printing holds no form)."""
    for page in pdf.pages:
        annots = page.obj.get("/Annots")
        if annots is None:
            continue
        kept = [a for a in annots if a.get("/Subtype") != Name.Widget]
        if kept:
            page.obj.Annots = Array(kept)
        else:
            del page.obj.Annots


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilledSheet:
    """What a handed-in PDF holds: field name → value, and who it says it belongs to.

    ``fields`` counts the form's fields (0: no form, e.g. flattened);
    ``sheet_code`` and ``student_id`` come from the code field or the
    metadata (None when absent); ``derive`` says whether any mark of a derive
    sheet was found.
    """

    values: Mapping[str, str]
    fields: int
    sheet_code: str | None
    student_id: str | None
    derive: bool

    def __repr__(self) -> str:
        return f"FilledSheet({len(self.values)} values, code {self.sheet_code!r}, id {self.student_id!r})"


def read_filled(data: bytes, where: str) -> FilledSheet:
    """Read a filled PDF's field values and identity; :class:`AnswersError` naming ``where`` if it is no PDF."""
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            values = _field_values(pdf)
            info = pdf.docinfo
            code = values.pop(CODE_FIELD, None) or _text(info.get("/DeriveSheetCode")) or _xmp_code(pdf)
            sid = _text(info.get("/DeriveStudentID"))
            fields = len(values)
    except (pikepdf.PdfError, pikepdf.PasswordError, ValueError, TypeError, AttributeError, KeyError,
            RecursionError, OverflowError) as e:  # a foreign file's objects of any shape
        raise AnswersError(f"not a readable PDF ({_short(e)})", file=where) from e
    return FilledSheet(MappingProxyType(values), fields, code or None, sid or None,
                       bool(code or sid))


def _field_values(pdf: pikepdf.Pdf) -> dict[str, str]:
    """Fully qualified field name → value, for every text field of the form."""
    form = pdf.Root.get("/AcroForm")
    if form is None or "/Fields" not in form:
        return {}
    values: dict[str, str] = {}
    seen: set = set()
    stack = [(f, "") for f in reversed(list(form.Fields))]
    while stack and len(seen) < 100_000:   # a cyclic or huge /Kids tree stops here
        field, prefix = stack.pop()
        if not isinstance(field, pikepdf.Dictionary) or field.objgen in seen and field.objgen != (0, 0):
            continue
        seen.add(field.objgen)
        part = _text(field.get("/T"))
        name = f"{prefix}.{part}" if prefix and part else part or prefix
        kids = [k for k in field.get("/Kids", Array()) if isinstance(k, pikepdf.Dictionary) and "/T" in k]
        if kids:
            stack.extend((k, name) for k in reversed(kids))
        elif name:
            values[name] = _text(field.get("/V"))
    return values


def _text(obj) -> str:
    """A PDF string (or name) as text; '' for anything else."""
    if isinstance(obj, pikepdf.String):
        return str(obj).strip()
    if isinstance(obj, pikepdf.Name):
        return str(obj)[1:]
    return ""


def _xmp_code(pdf: pikepdf.Pdf) -> str:
    """The code from the XMP ``dc:identifier``, if derive wrote one."""
    if "/Metadata" not in pdf.Root:
        return ""
    try:
        ident = str(pdf.open_metadata().get("dc:identifier", ""))
    except Exception:  # noqa: BLE001 - foreign XMP of any shape: simply no code there
        return ""
    prefix = "derive-sheet-code:"
    return ident[len(prefix):] if ident.startswith(prefix) else ""


def _short(e: Exception) -> str:
    """qpdf's first line, without its name for the in-memory stream."""
    text = re.sub(r"^stream <[^>]*>:\s*", "", str(e).splitlines()[0]) if str(e) else type(e).__name__
    return text[:120]


def class_forms(spec, roster, codes: Mapping[str, str]) -> dict[str, FormSpec]:
    """Student id → the form of their blank sheet: their code and the sheet's answer names in box order."""
    from .randomize import asked_names
    names = tuple(asked_names(spec, spec.data.size))
    return {s.id: FormSpec(s.id, codes.get(s.id), names) for s in roster.students}
