"""A whole class, end to end: real PDFs read back, the key, determinism, hostile names."""
import csv
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import oracle
from conftest import key_rows, pdf_text, require
from derive.cli import main
from derive.numeric import format_number
from derive.spec import load_params_json, load_spec

SPEC = "worksheets/random-221.toml"
ROSTER = "worksheets/roster-example.csv"
STRONG = "quartz-lemon-8-otter-vivid-plains"  # what derive secret gives: a strong one


def text_of(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    # math minus → ASCII as the key prints it; a typeset apostrophe is the typed one
    return out.stdout.replace("\u2212", "-").replace("\u2019", "'")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require("pdflatex")
    require("pdftotext")
    out = tmp_path_factory.mktemp("class") / "out"
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "s3cret", "--weak-secret"]) == 0
    return out


def _key(out: Path) -> dict:
    return {row["student_id"]: row for row in key_rows(out / "answer-key.csv")}


def _roster():
    with open(ROSTER, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_folder_layout(built):
    assert (built / "class-blank.pdf").exists() and (built / "class-solved.pdf").exists()
    for s in _roster():
        folder = built / "students" / s["student_id"]
        assert sorted(p.name for p in folder.iterdir()) == [
            "blank.pdf", "blank.tex", "params.json", "solved.pdf", "solved.tex"]
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_each_student_sees_their_name_id_and_weights_but_no_answers_on_the_blank(built):
    spec = load_spec(SPEC)
    key = _key(built)
    for s in _roster():
        sid = s["student_id"]
        text = text_of(built / "students" / sid / "blank.pdf")
        assert s["name"] in text and sid in text
        params, _ = load_params_json(built / "students" / sid / "params.json", spec)
        for W in params.W:
            for v in np.ravel(W):
                assert f"{v:g}" in text, (sid, v)
        answers = {format_number(float(key[sid][n]), 4) for n in key[sid] if n not in ("student_id", "name")}
        leaked = [a for a in answers if a in text]
        assert not leaked, (sid, leaked)


def test_the_solved_sheet_shows_every_answer_rounded_as_the_key_says(built):
    key = _key(built)
    for s in _roster():
        sid = s["student_id"]
        text = text_of(built / "students" / sid / "solved.pdf")
        assert s["name"] in text
        for name, value in key[sid].items():
            if name not in ("student_id", "name"):
                assert format_number(float(value), 4) in text, (sid, name)


def test_the_key_equals_an_independent_computation_from_params_json(built):
    spec = load_spec(SPEC)
    key = _key(built)
    for sid, row in key.items():
        params, data = load_params_json(built / "students" / sid / "params.json", spec)
        net, ex = spec.network, spec.exercise
        chain = oracle.rounded_chain(net.layers, net.activations, net.loss, params.W, params.b, data.x,
                                     data.y, ex.learning_rate, ex.decimals)
        assert {n: row[n] for n in chain} == {n: str(v) for n, v in chain.items()}  # the printed values
        h = oracle.mlp(spec.network.layers, spec.network.activations, "bce", params.W, params.b, data.x, data.y)
        # and the rounded chain stays within a few units of the unrounded float64 values
        assert abs(float(row["z1_2"]) - h["zs"][0][0, 1]) < 5e-4
        assert abs(float(row["delta1_1"]) - h["deltas"][0][0, 0]) < 5e-4
        assert abs(float(row["dW1_2_2"]) - h["dW"][0][1, 1]) < 5e-4
        assert abs(float(row["loss"]) - h["losses"][0]) < 5e-4


def test_solve_with_params_json_reproduces_the_key(built, capsys):
    sid = _roster()[2]["student_id"]
    assert main(["solve", SPEC, "--json", "--params", str(built / "students" / sid / "params.json")]) == 0
    got = json.loads(capsys.readouterr().out)
    key = _key(built)[sid]
    assert got == {n: key[n] for n in got}  # the printed values of the rounded chain


def test_fonts_are_vector(built):
    require("pdffonts")
    fonts = subprocess.run(["pdffonts", str(built / "class-solved.pdf")], capture_output=True, text=True).stdout
    assert "Type 3" not in fonts and "Type 1" in fonts


def test_manifest_has_seeds_and_only_a_check_value_of_the_secret(built):
    m = json.loads((built / "manifest.json").read_text())
    assert [s["student_id"] for s in m["students"]] == [s["student_id"] for s in _roster()]
    assert all(isinstance(s["seed"], str) and s["seed"].isdigit() for s in m["students"])  # 64 bits: exact in JS, Excel
    assert "s3cret" not in (built / "manifest.json").read_text()
    assert m["secret_check"]["kdf"] == "scrypt" and m["secret_check"]["salt"] == load_spec(SPEC).fingerprint
    assert m["derive_version"] and "not to be shared" in m["notice"]


def test_class_pdf_is_in_roster_order(built):
    text = text_of(built / "class-blank.pdf")
    positions = [text.index(s["student_id"]) for s in _roster()]
    assert positions == sorted(positions)


def _tex_files(out: Path) -> dict:
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.tex"))}


def test_same_inputs_give_byte_identical_tex_and_another_secret_other_weights(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, secret in ((a, "k"), (b, "k"), (c, "other")):
        assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", secret, "--weak-secret", "--no-pdf"]) == 0
    assert _tex_files(a) == _tex_files(b)
    assert (a / "answer-key.csv").read_bytes() == (b / "answer-key.csv").read_bytes()
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    pa = json.loads((a / "students/s1001/params.json").read_text())
    pc = json.loads((c / "students/s1001/params.json").read_text())
    assert pa["params"] != pc["params"]


def test_existing_folder_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "k", "--weak-secret", "--no-pdf"]
    assert main(args) == 0
    (out / "marker").write_text("old")
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err and (out / "marker").exists()
    assert main(args + ["--force"]) == 0
    assert not (out / "marker").exists()


def test_missing_secret_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DERIVE_SECRET", raising=False)
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(tmp_path / "o"), "--no-pdf"]) == 2
    assert "--secret" in capsys.readouterr().err
    monkeypatch.setenv("DERIVE_SECRET", "from-env")
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(tmp_path / "o"), "--no-pdf"]) == 2
    assert "DERIVE_SECRET" in capsys.readouterr().err  # named as where the weak secret came from
    monkeypatch.setenv("DERIVE_SECRET", STRONG)
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(tmp_path / "o"), "--no-pdf"]) == 0


HOSTILE = [r"\input{/etc/passwd}", r"\write18{touch x}", "$", "%", "#", "&", "_", "{", "}", "~", "^", "\\",
           r"Eve \immediate\write18{touch pwned} & Co_ 100% #1 ~{}^$"]


def test_hostile_names_print_literally_and_run_nothing(tmp_path, monkeypatch):
    require("pdflatex")
    monkeypatch.chdir(tmp_path)
    roster = tmp_path / "hostile.csv"
    with open(roster, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name"])
        for i, name in enumerate(HOSTILE):
            w.writerow([f"h{i}", name])
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out"
    assert main(["worksheets", str(root / SPEC), "--roster", str(roster), "--out", str(out),
                 "--secret", "k", "--weak-secret", "--variant", "blank"]) == 0
    for i, name in enumerate(HOSTILE):
        text = text_of(out / "students" / f"h{i}" / "blank.pdf")
        assert " ".join(name.split()) in " ".join(text.split()), (name, text[:300])
    assert not any(p.name in ("x", "pwned") for p in tmp_path.rglob("*"))
    assert "root:" not in text_of(out / "class-blank.pdf")


def test_one_failing_sheet_is_named_and_the_others_are_made(tmp_path, capsys, root):
    require("pdflatex")
    templates = tmp_path / "templates"
    templates.mkdir()
    original = (root / "templates" / "sheet.tex").read_text()
    # an instructor's template with a bug that only bites for one student
    broken = original.replace(r"\begin{document}", r"\begin{document}" "\n"
                              r"\BLOCK{if student.id == 's1002'}\undefinedmacro\BLOCK{endif}", 1)
    assert broken != original
    (templates / "sheet.tex").write_text(broken)
    out = tmp_path / "out"
    status = main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "k", "--weak-secret",
                   "--templates", str(templates), "--variant", "blank"])
    captured = capsys.readouterr()
    err = captured.err
    assert status == 1
    assert "s1002/blank" in err and "undefinedmacro" in err
    n = len(_roster())
    assert f"{n} sheets, {n - 1} PDFs" in captured.out and "1 sheets FAILED" in captured.out
    assert not (out / "students" / "s1002" / "blank.pdf").exists()
    assert (out / "students" / "s1001" / "blank.pdf").exists()
    assert "s1002" not in text_of(out / "class-blank.pdf")


def test_parallel_rendering_gives_the_same_class_even_with_redrawn_duplicates(tmp_path):
    """Only b2 is drawn, from 10 values, for 24 students: duplicates must be redrawn identically."""
    spec = tmp_path / "tiny-grid.toml"
    spec.write_text(open("worksheets/classic-221.toml").read().replace("b2 = [0.2]\n", "") +
                    "biases = { low = -0.5, high = 0.5, step = 0.1 }\n")
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\n" + "".join(f"s{i},S {i}\n" for i in range(24)))
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(out), "--secret", "k", "--weak-secret",
                     "--no-pdf", "--jobs", jobs]) == 0
        outs.append(out)
    assert _tex_files(outs[0]) == _tex_files(outs[1])
    assert (outs[0] / "answer-key.csv").read_bytes() == (outs[1] / "answer-key.csv").read_bytes()
    seeds = [s["seed"] for s in json.loads((outs[0] / "manifest.json").read_text())["students"]]
    from derive.randomize import student_seed
    redrawn = [i for i, s in enumerate(seeds) if int(s) != student_seed("k", f"s{i}")]
    assert redrawn  # the tiny grid forced redraws
    b2 = {json.loads((outs[0] / f"students/s{i}/params.json").read_text())["params"]["b2"][0]
          for i in range(24)}
    assert len(b2) >= 9  # as many different exercises as the grid (and the quality rules) allow


def test_files_for_spreadsheets(built):
    """A BOM on every CSV (Excel on Windows reads José), the key's cells exactly as the sheets print them,
    full precision in answer-key.json, and seeds as strings (64 bits survive JavaScript and Excel)."""
    raw = (built / "answer-key.csv").read_bytes()
    assert raw.startswith("\ufeff".encode()) and "José".encode() in raw
    key = _key(built)
    for sid, row in key.items():
        solved = (built / "students" / sid / "solved.tex").read_text(encoding="utf-8")
        boxes = re.findall(r"\\dvvalue\{(-?[0-9.]+)\}", solved)
        names = [n for n in row if n not in ("student_id", "name")]
        assert boxes == [row[n] for n in names]  # the same strings, in the same order
    full = json.loads((built / "answer-key.json").read_text(encoding="utf-8"))["students"]
    some = next(iter(full))
    assert full[some]["loss"]["printed"] == key[some]["loss"]
    assert abs(full[some]["loss"]["unrounded"] - float(key[some]["loss"])) <= 5e-5
    seeds = [s["seed"] for s in json.loads((built / "manifest.json").read_text(encoding="utf-8"))["students"]]
    assert all(isinstance(s, str) and int(s) >= 0 for s in seeds) and any(int(s) > 2 ** 53 for s in seeds)


def test_the_engine_is_chosen_from_the_names(tmp_path):
    """No --engine: pdflatex for Latin names, lualatex as soon as one name needs it; the manifest says which."""
    require("lualatex")
    require("pdftotext")
    roster = tmp_path / "r.csv"
    lines = Path("worksheets/roster-international.csv").read_text(encoding="utf-8").splitlines()
    roster.write_text("\n".join([lines[0], lines[1], lines[4], lines[6]]) + "\n", encoding="utf-8")  # José, Nguyễn, Анна
    assert main(["worksheets", "worksheets/classic-221.toml", "--roster", str(roster), "--out", str(tmp_path / "i"),
                 "--variant", "blank"]) == 0
    assert json.loads((tmp_path / "i" / "manifest.json").read_text(encoding="utf-8"))["engine"] == "lualatex"
    text = text_of(tmp_path / "i" / "class-blank.pdf")
    for name in ("José Ñúñez", "Nguyễn Văn An", "Анна Петрова"):
        assert name in text, name
    latin = tmp_path / "latin.csv"
    latin.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    assert main(["worksheets", "worksheets/classic-221.toml", "--roster", str(latin), "--out", str(tmp_path / "l"),
                 "--variant", "blank"]) == 0
    assert json.loads((tmp_path / "l" / "manifest.json").read_text(encoding="utf-8"))["engine"] == "pdflatex"
    assert main(["worksheets", "worksheets/classic-221.toml", "--roster", str(roster), "--out", str(tmp_path / "p"),
                 "--engine", "pdflatex"]) == 2


def test_two_builds_give_byte_identical_pdfs_whatever_jobs_is(tmp_path):
    require("pdflatex")
    outs = []
    for k, jobs in enumerate(("1", "2", "2")):
        out = tmp_path / f"b{k}"
        assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "same", "--weak-secret",
                     "--jobs", jobs]) == 0
        outs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outs[0].keys() == outs[1].keys() and any(str(p).endswith(".pdf") for p in outs[0])
    for other in outs[1:]:
        assert [p for p in outs[0] if outs[0][p] != other[p]] == []


def _png(path, width=8, height=4):
    """A small solid PNG, written with zlib (no imaging library needed)."""
    import struct
    import zlib
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_a_logo_next_to_the_templates_appears_on_the_sheet(tmp_path):
    require("pdflatex")
    import pikepdf
    mine = tmp_path / "mine"
    mine.mkdir()
    header = Path("templates/header.tex").read_text(encoding="utf-8")
    (mine / "header.tex").write_text(header.replace(r"{\LARGE\bfseries", r"\includegraphics[height=6mm]{logo.png}\par{\LARGE\bfseries", 1),
                                     encoding="utf-8")
    _png(mine / "logo.png")
    out = tmp_path / "c"
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "s", "--weak-secret", "--templates",
                 str(mine), "--variant", "blank"]) == 0
    with pikepdf.open(out / "students" / "s1001" / "blank.pdf") as pdf:
        images = [i for page in pdf.pages for i in (page.get_images() if hasattr(page, "get_images")
                                                    else page.images)]
    assert images, "the logo is on the page"


def test_a_preamble_of_your_own_from_before_dvonce_still_makes_every_sheet(tmp_path):
    # diagram.tex and solved.tex now reuse boxes (\dvonce, \dvsteponce); an instructor's older
    # preamble.tex does not define them, and the sheets must still compile, only slower
    require("pdflatex")
    mine = tmp_path / "mine"
    mine.mkdir()
    preamble = Path("templates/preamble.tex").read_text(encoding="utf-8")
    start, end = preamble.index("\\newcommand\\dvonce"), preamble.index("\\usepackage{microtype}")
    older = preamble[:start] + preamble[end:]
    start = older.index("% \\dvsteponce")
    older = older[:start] + older[older.index("\\makeatother", start):]
    assert "dvonce" not in older.replace("% \\dvonce", "") and "dvsteponce" not in older
    (mine / "preamble.tex").write_text(older, encoding="utf-8")
    out = tmp_path / "c"
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "s", "--weak-secret",
                 "--templates", str(mine)]) == 0
    solved = pdf_text(out / "students" / "s1001" / "solved.pdf")
    assert "Derivation" in solved and "Chain rule" in solved and "x1" in pdf_text(out / "students" / "s1001" / "blank.pdf")


# --- output folders are safe -------------------------------------------------------------

def _class(out, *extra, spec=SPEC, roster=ROSTER):
    return main(["worksheets", str(spec), "--roster", str(roster), "--out", str(out), "--secret", "s", "--weak-secret",
                 "--no-pdf", *extra])


def _one_line(capsys, fragment):
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_force_never_deletes_a_folder_that_holds_the_runs_inputs(tmp_path, capsys):
    """The audit's reproducer: --out p --force with the spec and roster read from p."""
    p = tmp_path / "p"
    p.mkdir()
    (p / "thesis.tex").write_text("thesis", encoding="utf-8")
    (p / "spec.toml").write_bytes(Path(SPEC).read_bytes())
    (p / "roster.csv").write_bytes(Path(ROSTER).read_bytes())
    assert _class(p, "--force", spec=p / "spec.toml", roster=p / "roster.csv") == 2
    _one_line(capsys, "an input of this run")
    assert (p / "thesis.tex").read_text(encoding="utf-8") == "thesis"


def test_grade_force_never_replaces_the_class_folder_it_grades_from(tmp_path, capsys):
    """--out equal to --class: the class folder was an input, yet derive made it, so --force replaced it."""
    cls, answers = tmp_path / "class", tmp_path / "answers.csv"
    assert _class(cls) == 0
    answers.write_bytes((cls / "answers-template.csv").read_bytes())  # outside the class folder
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers),
                 "--class", str(cls), "--secret", "s", "--out", str(cls), "--force"]) == 2
    _one_line(capsys, "an input of this run")
    assert (cls / "manifest.json").is_file() and not (cls / "grades.csv").exists()


@pytest.mark.parametrize("which", ["roster", "answers"])
def test_collect_force_never_overwrites_an_input_file(which, tmp_path, capsys):
    roster, sheet = tmp_path / "roster.csv", tmp_path / "sheet.pdf"
    roster.write_bytes(Path(ROSTER).read_bytes())
    sheet.write_bytes(b"%PDF-1.5 a filled sheet")
    out = roster if which == "roster" else sheet
    assert main(["collect", SPEC, str(sheet), "--roster", str(roster), "--secret", "s", "--out", str(out),
                 "--force"]) == 2
    _one_line(capsys, "is an input of this run")
    assert roster.read_bytes() == Path(ROSTER).read_bytes() and sheet.read_bytes() == b"%PDF-1.5 a filled sheet"


def test_force_replaces_only_a_folder_derive_made(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("thesis", encoding="utf-8")
    assert _class(mine, "--force") == 2
    _one_line(capsys, "not made by derive")
    assert (mine / "thesis.tex").exists()
    made = tmp_path / "made"
    assert _class(made) == 0 and _class(made, "--force") == 0  # derive's own folder: replaced whole
    capsys.readouterr()
    assert _class(tmp_path / "made") == 2  # without --force: refused, even for derive's own
    _one_line(capsys, "exists")


def test_unusable_out_folders_are_one_line(tmp_path, capsys, monkeypatch):
    spec, roster = Path(SPEC).resolve(), Path(ROSTER).resolve()
    monkeypatch.chdir(tmp_path)
    assert _class(".", "--force", spec=spec, roster=roster) == 2
    _one_line(capsys, "holds the current folder")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert _class(tmp_path / "file" / "sub", spec=spec, roster=roster) == 2
    _one_line(capsys, "cannot write")


def test_a_second_run_into_the_same_folder_waits_for_the_first(tmp_path, capsys):
    import os
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    lock.write_text(str(os.getpid()), encoding="ascii")  # a live run holds it
    assert _class(out) == 2
    _one_line(capsys, f"another derive run (pid {os.getpid()})")
    lock.write_text("999999999", encoding="ascii")  # a run that is gone: its lock is taken over
    assert _class(out) == 0 and not lock.exists()


def test_a_run_killed_between_the_two_renames_loses_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert _class(out) == 0
    key = (out / "answer-key.csv").read_bytes()
    out.rename(tmp_path / ".out.old-999999999")       # the old class, moved aside ...
    (tmp_path / ".out.partial-999999999").mkdir()     # ... and the new one never moved in
    capsys.readouterr()
    assert _class(out) == 2                           # the next run puts the old class back, and keeps it
    _one_line(capsys, "exists")
    assert (out / "answer-key.csv").read_bytes() == key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- a class folder, key or map edited into something derive never wrote ------------------

@pytest.mark.parametrize("edit,fragment", [
    (lambda m: m["students"][0].update(seed="9" * 5000), "has no seed"),  # int() raised ValueError (4300 digits)
    (lambda m: m.update(students="x"), "students: expected a list of objects"),  # AttributeError
    (lambda m: "[" * 100000 + "]" * 100000, "nested too deeply"),  # RecursionError
])
def test_an_edited_manifest_is_one_line(edit, fragment, tmp_path, capsys):
    cls, answers = tmp_path / "class", tmp_path / "answers.csv"
    assert _class(cls) == 0
    answers.write_bytes((cls / "answers-template.csv").read_bytes())
    manifest = json.loads((cls / "manifest.json").read_text(encoding="utf-8"))
    text = edit(manifest)
    (cls / "manifest.json").write_text(text if isinstance(text, str) else json.dumps(manifest), encoding="utf-8")
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers), "--class", str(cls),
                 "--out", str(tmp_path / "g")]) == 2
    _one_line(capsys, fragment)
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("which", ["--key", "--map"])
def test_a_key_or_map_cell_past_csvs_field_limit_is_one_line(which, tmp_path, capsys):
    cls, answers = tmp_path / "class", tmp_path / "answers.csv"
    assert _class(cls) == 0
    answers.write_bytes((cls / "answers-template.csv").read_bytes())
    huge = "x" * 200_000  # csv.Error: field larger than field limit (131072)
    if which == "--key":
        key = cls / "answer-key.csv"
        key.write_text(key.read_text(encoding="utf-8-sig") + f"s1001,{huge}\n", encoding="utf-8")
        source = ["--key", str(key)]
    else:
        mapping = tmp_path / "map.csv"
        mapping.write_text(f"column,answer\n{huge},z1_1\n", encoding="utf-8")
        source = ["--class", str(cls), "--map", str(mapping)]
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers), *source,
                 "--out", str(tmp_path / "g")]) == 2
    _one_line(capsys, "not a readable CSV file: field larger than field limit")
