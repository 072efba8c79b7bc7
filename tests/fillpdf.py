"""Test helpers for filled sheets: a class built with TeX, filled as a PDF viewer would fill it.

Filling goes through pikepdf's own form API (``pikepdf.form``: set each
field's value and regenerate its appearance stream), not through
derive.forms, so a sheet derive cannot read back fails the tests.
"""
import csv
import io
import zipfile
from pathlib import Path

import pikepdf
from pikepdf.form import ExtendedAppearanceStreamGenerator, Form, TextField

from derive.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "derive" / "examples" / "random-221.toml"
STUDENTS = (("s1", "Ada Lovelace"), ("s2", "Alan Turing"), ("s3", "Grace Hopper"), ("s4", "Hedy Lamarr"))


def build(folder: Path, spec: Path = SPEC) -> tuple[Path, Path]:
    """A class of four built with TeX in ``folder`` from ``spec``: (class folder, roster)."""
    roster = folder / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(f"{i},{n}\n" for i, n in STUDENTS), encoding="utf-8")
    out = folder / "class"
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(out), "--secret", "s",
                 "--weak-secret"]) == 0
    return out, roster


def key(cls: Path) -> dict[str, dict[str, str]]:
    """Student id → answer name → the key's value, from the class's answer-key.csv."""
    with open(cls / "answer-key.csv", encoding="utf-8-sig", newline="") as f:
        f.readline()  # the notice
        return {r["student_id"]: {k: v for k, v in r.items() if k not in ("student_id", "name")}
                for r in csv.DictReader(f)}


def filled(blank: Path, values: dict[str, str]) -> bytes:
    """The blank PDF with ``values`` typed in and saved, as a viewer does (pikepdf.form)."""
    with pikepdf.open(blank) as pdf:
        form = Form(pdf, ExtendedAppearanceStreamGenerator)
        for name, field in form.items():
            if isinstance(field, TextField) and name in values:
                field.value = values[name]
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def flattened(data: bytes) -> bytes:
    """A filled sheet as "print to PDF" leaves it: appearances burnt into the page, no form, no metadata."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.flatten_annotations(mode="all")
        for key_ in ("/AcroForm", "/Metadata"):
            if key_ in pdf.Root:
                del pdf.Root[key_]
        for k in list(pdf.docinfo.keys()):
            del pdf.docinfo[k]
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def moodle_name(name: str, k: int, file: str = "blank.pdf") -> str:
    """Moodle's "download all submissions" name of one student's file."""
    return f"{name}_{1000 + k}_assignsubmission_file_{file}"


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path
