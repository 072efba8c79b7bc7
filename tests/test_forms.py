"""Fillable blank sheets: a text field per answer box, named by its answer name, with appearances, the code."""
import csv
import io
import json
import subprocess

import pikepdf
import pytest

from conftest import require
from derive.cli import main
from derive.forms import FormError, FormSpec, make_fillable, read_filled
from derive.render import pdf_string
from fillpdf import build, filled

pytestmark = pytest.mark.tex


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require("pdflatex")
    return build(tmp_path_factory.mktemp("forms"))


def _box_order(cls):
    """The answer names in box order, as the class's answers template lists them."""
    with open(cls / "answers-template.csv", encoding="utf-8-sig", newline="") as f:
        return [c for c in next(csv.reader(f)) if c not in ("student_id", "name", "sheet_code")]


def _codes(cls):
    manifest = json.loads((cls / "manifest.json").read_text(encoding="utf-8"))
    return {s["student_id"]: s["sheet_code"] for s in manifest["students"]}


def test_every_answer_box_is_a_text_field_named_by_its_answer_name(built):
    cls, _ = built
    for sid in _codes(cls):
        with pikepdf.open(cls / "students" / sid / "blank.pdf") as pdf:
            form = pdf.Root.AcroForm
            fields = list(form.Fields)
            assert [str(f.T) for f in fields] == _box_order(cls) + ["sheet_code"]
            assert str(form.DA) and form.DR.Font.Helv.BaseFont == "/Helvetica"
            for f in fields:
                assert f.FT == "/Tx" and f.Subtype == "/Widget" and "/DA" in f
                assert isinstance(f.AP.N, pikepdf.Stream) and f.AP.N.Subtype == "/Form"
                assert f.P.objgen in [p.obj.objgen for p in pdf.pages]
            widgets = [a for p in pdf.pages for a in p.obj.get("/Annots", []) if a.Subtype == "/Widget"]
            assert len(widgets) == len(fields)


def test_the_code_field_is_read_only_and_the_metadata_holds_the_code(built):
    cls, _ = built
    for sid, code in _codes(cls).items():
        with pikepdf.open(cls / "students" / sid / "blank.pdf") as pdf:
            field = next(f for f in pdf.Root.AcroForm.Fields if str(f.T) == "sheet_code")
            assert int(field.Ff) & 1 and str(field.V) == code  # bit 1: ReadOnly
            assert str(pdf.docinfo["/DeriveSheetCode"]) == code and code in str(pdf.docinfo["/Subject"])
            assert str(pdf.docinfo["/DeriveStudentID"]) == sid
            assert str(pdf.open_metadata()["dc:identifier"]) == f"derive-sheet-code:{code}"


def test_the_class_pdf_for_printing_has_no_fields(built):
    cls, _ = built
    with pikepdf.open(cls / "class-blank.pdf") as pdf:
        assert "/AcroForm" not in pdf.Root
        assert not [a for p in pdf.pages for a in p.obj.get("/Annots", []) if a.Subtype == "/Widget"]


def test_solved_sheets_have_no_fields(built):
    cls, _ = built
    with pikepdf.open(cls / "students" / "s1" / "solved.pdf") as pdf:
        assert "/AcroForm" not in pdf.Root


def test_a_value_typed_in_survives_a_save_and_is_drawn(built, tmp_path):
    """Filled with another program's form code, saved and reopened: derive reads it, poppler draws it."""
    require("pdftotext")
    cls, _ = built
    data = filled(cls / "students" / "s2" / "blank.pdf", {"z1_1": "-0.4321", "loss": "0.7071"})
    sheet = read_filled(data, "x.pdf")
    assert sheet.values["z1_1"] == "-0.4321" and sheet.values["loss"] == "0.7071"
    assert sheet.values["a1_1"] == "" and sheet.sheet_code == _codes(cls)["s2"] and sheet.student_id == "s2"
    (tmp_path / "f.pdf").write_bytes(data)
    text = subprocess.run(["pdftotext", str(tmp_path / "f.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "-0.4321" in text and "0.7071" in text


def test_names_that_hyperref_would_merge_stay_apart(tmp_path):
    """12 inputs and 11 hidden units: dW1_1_12 and dW1_11_2 are both asked (hyperref: dW1112 twice)."""
    require("pdflatex")
    spec = tmp_path / "wide.toml"
    spec.write_text('title = "Wide"\n[network]\nlayers = [12, 11, 1]\nactivations = ["sigmoid", "sigmoid"]\n'
                    'loss = "bce"\n[data]\nx = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]\ny = [1]\n'
                    '[exercise]\nsections = ["forward", "loss", "backward"]\nlearning_rate = 0.5\n'
                    'decimals = 4\n', encoding="utf-8")
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\ns1,Ada Lovelace\n", encoding="utf-8")
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(tmp_path / "c"),
                 "--secret", "s", "--weak-secret"]) == 0
    with pikepdf.open(tmp_path / "c" / "students" / "s1" / "blank.pdf") as pdf:
        names = [str(f.T) for f in pdf.Root.AcroForm.Fields]
    assert "dW1_1_12" in names and "dW1_11_2" in names and "delta1_11" in names
    # z1, a1, delta1, db1: 11 each; dW1: 11 x 12; z2, a2, loss, delta2, db2: 1 each; dW2: 11; + sheet_code
    assert len(names) == len(set(names)) == 4 * 11 + 11 * 12 + 5 + 11 + 1
    assert names[:-1] == _box_order(tmp_path / "c")


def _page_with_widget(name: str) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    widget = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget,
                                                  FT=pikepdf.Name.Tx, T=pikepdf.String(name),
                                                  Rect=[10, 10, 100, 30]))
    pdf.pages[0].obj.Annots = pikepdf.Array([widget])
    return pdf


def test_a_field_name_that_is_no_answer_name_fails_the_sheet():
    """What hyperref would have written (W1_12 as W112) is refused, never silently a field of its own."""
    with pytest.raises(FormError, match="'W112'"):
        make_fillable(_page_with_widget("W112"), FormSpec("s1", "UYZSDB8C", ("W1_12", "W11_2")))


def test_a_box_printed_twice_is_one_field_with_two_widgets():
    pdf = _page_with_widget("loss")
    twin = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget,
                                                FT=pikepdf.Name.Tx, T=pikepdf.String("loss"), Rect=[10, 50, 100, 70]))
    pdf.pages[0].obj.Annots.append(twin)
    make_fillable(pdf, FormSpec("s1", None, ("loss",)))
    (field,) = pdf.Root.AcroForm.Fields
    assert str(field.T) == "loss" and len(field.Kids) == 2
    out = io.BytesIO()
    pdf.save(out)
    assert dict(read_filled(out.getvalue(), "x").values) == {"loss": ""}


def test_pdf_strings_carry_names_byte_for_byte():
    assert pdf_string("W1_1_2") == "<57315F315F32>"
    assert pdf_string("grad_é") == "<FEFF0067007200610064005F00E9>"


@pytest.mark.parametrize("fields", [5, pikepdf.Dictionary(T=pikepdf.String("x")), pikepdf.Array([1, "a"])])
def test_a_foreign_form_of_any_shape_reads_as_no_fields_or_one_error(fields):
    from derive.errors import AnswersError
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=fields)
    out = io.BytesIO()
    pdf.save(out)
    try:
        sheet = read_filled(out.getvalue(), "odd.pdf")
    except AnswersError as e:
        assert str(e).startswith("odd.pdf: not a readable PDF")
    else:
        assert dict(sheet.values) == {} and not sheet.derive


def test_a_sheet_whose_field_name_was_mangled_fails_and_the_others_are_written(tmp_path):
    """Through the pdf stage: the batch is cut, the bad sheet is a failure naming the field, no PDF of it."""
    require("pdflatex")
    from derive.pdf import Sheet, compile_sheets

    def doc(name):
        return ("\\documentclass{article}\\begin{document}\\pdfannot width 60pt height 12pt depth 0pt"
                f"{{/Subtype/Widget/FT/Tx/T({name})}}Box\\end{{document}}\n")
    names = ("W1_12", "W11_2")
    # eight sheets: four batches of two, so the batch PDF is cut (a batch of one is compiled alone)
    sheets = [Sheet(f"good{i}", doc("W1_12"), tmp_path / f"good{i}.pdf", FormSpec("good", None, names))
              for i in range(7)] + [Sheet("bad", doc("W112"), tmp_path / "bad.pdf", FormSpec("bad", None, names))]
    result = compile_sheets(sheets, jobs=1)
    assert len(result.written) == 7
    assert [f.key for f in result.failures] == ["bad"] and "'W112'" in result.failures[0].log_excerpt
    assert not (tmp_path / "bad.pdf").exists()
    with pikepdf.open(tmp_path / "good6.pdf") as pdf:
        assert [str(f.T) for f in pdf.Root.AcroForm.Fields] == ["W1_12"]
