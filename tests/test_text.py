"""All text on a sheet lives in the templates: a German set leaves no English on the sheet."""
import re

import pytest

from conftest import pdf_text, require
from derive.cli import main
from derive.render import make_environment, sheet_words

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
GERMAN = ROOT / "derive" / "examples" / "templates-de"
SHARED = {"SymPy", "Softmax", "softmax", "delta",  # the same word in both languages
          "Adobe", "Acrobat", "Reader", "Chrome", "Edge", "Firefox"}  # and the PDF viewers named
ANSWER_NAMES = {"loss"}  # printed as the answer boxes' labels: what a student types, in any language


def plain_text(pdf) -> str:
    """The PDF's text without -layout (words in reading order)."""
    return pdf_text(pdf, layout=False)


def _strings(words) -> list[str]:
    if isinstance(words, dict):
        return [s for v in words.values() for s in _strings(v)]
    return [words]


def _english_words() -> set[str]:
    """Every word of four letters or more that the shipped (English) text.tex prints."""
    text = " ".join(_strings(sheet_words()))
    return {w for w in re.findall(r"[A-Za-z][a-z']{3,}", text) if w not in SHARED} - {"decimals"} - ANSWER_NAMES



def test_the_german_set_has_every_key_of_the_shipped_one():
    english, german = sheet_words(), sheet_words(make_environment(GERMAN))

    def keys(d, prefix=""):
        return {prefix + k for k in d} | {x for k, v in d.items() if isinstance(v, dict) for x in keys(v, k + ".")}
    assert keys(german) == keys(english)


@pytest.mark.tex
@pytest.mark.parametrize("spec", ["random-221-de.toml", "xor-241.toml"])
def test_a_german_template_set_leaves_no_english_on_the_sheet(tmp_path, spec):
    """Both variants, with the derivation, a batch, and (xor) a spec whose title is English: the title
    is the spec's own words, so for xor it is given in German here."""
    require("pdftotext")
    path = ROOT / "derive" / "examples" / spec
    if spec == "xor-241.toml":
        text = path.read_text(encoding="utf-8")
        text = re.sub(r'(?m)^title = .*$', 'title = "XOR lernen"', text)
        text = re.sub(r'(?m)^course = .*$', 'course = "Einführung in neuronale Netze"', text)
        path = tmp_path / spec
        path.write_text(text, encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nd1,Jürgen Groß\n", encoding="utf-8")
    out = tmp_path / "class"
    assert main(["worksheets", str(path), "--roster", str(roster), "--out", str(out), "--secret", "s",
                 "--weak-secret", "--templates", str(GERMAN)]) == 0
    for variant in ("blank", "solved"):
        printed = plain_text(out / "students" / "d1" / f"{variant}.pdf")
        left = sorted(w for w in _english_words() if re.search(rf"\b{w}\b", printed))
        assert not left, (variant, left)
        for german in ("Arbeitsblatt" if variant == "blank" else "Lösungen", "Gegeben", "Vorwärtsdurchlauf",
                       "Lernrate", "Seite", "Runden Sie"):
            assert german in printed, (variant, german)
    assert "Herleitung" in plain_text(out / "students" / "d1" / "solved.pdf")


def test_a_spec_without_a_title_takes_the_templates_title(tmp_path):
    from derive.spec import parse_spec
    text = (ROOT / "worksheets" / "classic-221.toml").read_text(encoding="utf-8")
    spec = parse_spec(re.sub(r'(?m)^title = .*\n', "", text))
    assert spec.title == ""
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nd1,Ada\n", encoding="utf-8")
    (tmp_path / "spec.toml").write_text(re.sub(r'(?m)^title = .*\n', "", text), encoding="utf-8")
    for templates, title in ((None, "Forward and backward pass"), (GERMAN, "Vorwärts- und Rückwärtsdurchlauf")):
        out = tmp_path / ("de" if templates else "en")
        args = ["worksheets", str(tmp_path / "spec.toml"), "--roster", str(roster), "--out", str(out), "--no-pdf"]
        assert main(args + (["--templates", str(templates)] if templates else [])) == 0
        assert title in (out / "students" / "d1" / "blank.tex").read_text(encoding="utf-8")


def test_a_translation_missing_a_key_says_so_in_one_line(tmp_path, capsys):
    pack = tmp_path / "fr"
    pack.mkdir()
    (pack / "text.tex").write_text('\\BLOCK{set text = {"worksheet": "Feuille"}}\n', encoding="utf-8")
    assert main(["worksheets", str(ROOT / "worksheets" / "random-221.toml"), "--roster",
                 str(ROOT / "worksheets" / "roster-example.csv"), "--out", str(tmp_path / "o"), "--secret", "s",
                 "--weak-secret", "--no-pdf", "--templates", str(pack)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a key missing from text.tex" in err and not (tmp_path / "o").exists()
