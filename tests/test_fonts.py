"""Every name prints: fallback fonts for every script, right-to-left runs, and a glyph check before TeX."""
import csv
import subprocess
import unicodedata

import pytest

from conftest import require
from derive.cli import main
from derive.fonts import FALLBACK, describe, fallback_for, missing_glyphs, needs_glyph
from derive.render import escape_latex, right_to_left_runs

SPEC = "worksheets/random-221.toml"
# The audit's 15 scripts (11 of them printed blank), one name each.
NAMES = {
    "Arabic": "محمد عبد الله", "Hebrew": "דוד כהן", "Thai": "สมชาย ใจดี", "Bengali": "অমিত রায়",
    "Georgian": "ნინო ბერიძე", "Armenian": "Արամ Պետրոսյան", "Ethiopic": "አበበ ቢቂላ", "Khmer": "សុខ ចាន់",
    "emoji": "😀🎉", "math letters": "𝑨𝒍𝒊𝒄𝒆", "mixed emoji": "Ana 👩‍🔬 García", "Korean": "김민준",
    "Greek": "Αλέξανδρος Παπαδόπουλος", "Cyrillic": "Дмитрий Иванов", "Japanese": "山田太郎",
    "Vietnamese": "Nguyễn Thị Ánh",
}
FONT_OF = {"Arabic": "NotoNaskhArabic", "Hebrew": "NotoSerifHebrew", "Thai": "NotoSerifThai",
           "Bengali": "NotoSerifBengali", "Georgian": "NotoSerifGeorgian", "Armenian": "NotoSerifArmenian",
           "Ethiopic": "NotoSerifEthiopic", "Khmer": "NotoSerifKhmer", "emoji": "Symbola",
           "math letters": "NotoSansMath", "Korean": "NotoSerifCJK", "Greek": "NotoSerif"}


def _fonts_installed():
    require("fc-list")
    if missing_glyphs("ნ"):
        pytest.fail("the Noto fonts are not installed (run scripts/setup)")


def test_every_script_of_the_audit_has_a_glyph_for_every_character():
    _fonts_installed()
    for script, name in NAMES.items():
        assert missing_glyphs(name) == [], script


def test_a_class_loads_only_the_fallback_fonts_its_names_need():
    _fonts_installed()
    assert fallback_for(["Ada Lovelace", "José Núñez"]) == ()  # Latin Modern has them all
    assert [f.name for f in fallback_for(["Дмитрий", "Ada"])] == ["NotoSerif"]
    chosen = [f.name for f in fallback_for(NAMES.values())]
    assert chosen == [f.name for f in FALLBACK if f.name in chosen]  # in the list's order
    assert {"NotoNaskhArabic", "NotoSerifHebrew", "Symbola", "NotoSansMath", "NotoSerifCJKsc"} <= set(chosen)


def test_a_character_no_font_has_is_named():
    _fonts_installed()
    assert missing_glyphs("ᚠᚢ Runic ᚠ") == ["ᚠ", "ᚢ"]
    assert describe("ᚠ") == "'ᚠ' (U+16A0 RUNIC LETTER FEHU FEOH FE F)"
    assert not needs_glyph("\u200d") and not needs_glyph("\ufe0f")  # joiners and selectors print nothing


@pytest.mark.parametrize("text,runs", [
    ("José محمد عبد", [("José ", False), ("محمد عبد", True)]),
    ("דוד כהן (x1)", [("דוד כהן", True), (" (x1)", False)]),
    ("Ada Lovelace", [("Ada Lovelace", False)]),
    ("أحمد & Ali", [("أحمد", True), (" & Ali", False)]),
])
def test_right_to_left_runs(text, runs):
    assert right_to_left_runs(text) == runs
    assert "".join(r for r, _ in runs) == text


def test_a_right_to_left_run_is_set_in_its_own_right_to_left_box_and_still_escaped():
    assert escape_latex("José محمد_%") == r"José \leavevmode\hbox dir TRT{محمد}\_\%"


def test_a_name_no_font_can_set_stops_the_run_naming_its_row(tmp_path, capsys):
    _fonts_installed()
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada\nr2,ᚠᚢᚦ Runic\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["worksheets", SPEC, "--roster", str(roster), "--out", str(out), "--secret", "s",
                 "--weak-secret", "--no-pdf"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{roster}:3" in err and "U+16A0 RUNIC LETTER FEHU" in err
    assert not out.exists()


@pytest.mark.tex
def test_a_roster_in_15_scripts_prints_every_name(tmp_path):
    """Through the PDF: each student's sheet has every character of their name as text, in its Noto font."""
    _fonts_installed()
    require("pdftotext")
    require("pdffonts")
    roster = tmp_path / "roster.csv"
    ids = {script: f"u{i:02d}" for i, script in enumerate(NAMES)}
    with open(roster, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("student_id", "name"), *((ids[s], n) for s, n in NAMES.items())])
    out = tmp_path / "class"
    assert main(["worksheets", SPEC, "--roster", str(roster), "--out", str(out), "--secret", "s", "--weak-secret",
                 "--variant", "blank"]) == 0
    for script, name in NAMES.items():
        pdf = out / "students" / ids[script] / "blank.pdf"
        text = unicodedata.normalize("NFKC", subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                                            text=True, check=True).stdout)
        absent = [ch for ch in unicodedata.normalize("NFKC", name) if needs_glyph(ch) and ch not in text]
        assert not absent, (script, absent)
        if script in FONT_OF:
            fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
            assert FONT_OF[script] in fonts, (script, fonts)
