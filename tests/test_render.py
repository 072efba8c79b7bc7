"""Tests of the render stage: the Jinja environment, escaping, numbers, the
diagram's geometry, and (marked ``tex``) real PDFs from pdflatex and lualatex.

The context is built by hand for the classic 2-2-1 sigmoid/BCE network, its
values computed here with plain ``math`` (rounded to 4 places and carried,
as the sheet asks), independently of derive's numeric stage.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from derive.fonts import fallback_for, preamble_fonts
from derive.render import (SHIPPED_TEMPLATES, diagram, escape_latex, format_given,
                           make_environment, needs_unicode_engine, render_sheet)

IN_CI = os.environ.get("CI", "").lower() == "true"
HOSTILE = r"\input{/etc/passwd} \write18{touch x} $ % # & _ { } ~ ^ \ "
NAMES = {"zh": "张伟", "ta": "அருண்", "hi": "राहुल", "vi": "Nguyễn", "ru": "Анна",
         "pl": "Łukasz", "tr": "Çağrı", "da": "Ørsted"}


# ---------------------------------------------------------------- a context by hand

def _r(v: float) -> float:
    return round(v, 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def classic_context(name="Ada Lovelace", sid="s1042", engine="pdflatex", **text) -> dict:
    """The 2-2-1 sigmoid/BCE sheet: x = (1, 0), y = 1, η = 0.5."""
    x, y, eta = [1.0, 0.0], 1.0, 0.5
    W1, b1, W2, b2 = [[0.5, -0.3], [0.8, 0.2]], [0.1, -0.1], [0.7, -0.5], 0.2
    z1 = [_r(W1[j][0] * x[0] + W1[j][1] * x[1] + b1[j]) for j in range(2)]
    a1 = [_r(_sigmoid(z)) for z in z1]
    z2 = _r(W2[0] * a1[0] + W2[1] * a1[1] + b2)
    a2 = _r(_sigmoid(z2))
    loss = _r(-(y * math.log(a2) + (1 - y) * math.log(1 - a2)))
    d2 = _r(a2 - y)
    d1 = [_r(W2[j] * d2 * a1[j] * (1 - a1[j])) for j in range(2)]
    dW2 = [_r(d2 * a1[i]) for i in range(2)]
    dW1 = [[_r(d1[j] * x[i]) for i in range(2)] for j in range(2)]

    def item(answer, symbol, formula, substituted, value):
        return dict(answer=answer, symbol=symbol, formula=formula,
                    substituted=substituted, value=value)

    forward = [item(f"z1_{j + 1}", rf"z^{{(1)}}_{{{j + 1}}}",
                    rf"W^{{(1)}}_{{{j + 1}1}} x_1 + W^{{(1)}}_{{{j + 1}2}} x_2 + b^{{(1)}}_{{{j + 1}}}",
                    rf"{W1[j][0]} \cdot 1 + ({W1[j][1]}) \cdot 0 + ({b1[j]})", z1[j]) for j in range(2)]
    forward += [item(f"a1_{j + 1}", rf"a^{{(1)}}_{{{j + 1}}}", rf"\sigma\bigl(z^{{(1)}}_{{{j + 1}}}\bigr)",
                     rf"\sigma({z1[j]:.4f})", a1[j]) for j in range(2)]
    forward += [item("z2_1", r"z^{(2)}_{1}", r"W^{(2)}_{11} a^{(1)}_1 + W^{(2)}_{12} a^{(1)}_2 + b^{(2)}_1",
                     rf"0.7 \cdot {a1[0]:.4f} + (-0.5) \cdot {a1[1]:.4f} + 0.2", z2),
                item("a2_1", r"a^{(2)}_{1}", r"\sigma\bigl(z^{(2)}_1\bigr)", rf"\sigma({z2:.4f})", a2)]
    backward = [item("delta2_1", r"\delta^{(2)}_1", r"\hat{y}_1 - y_1", rf"{a2:.4f} - 1", d2)]
    backward += [item(f"delta1_{j + 1}", rf"\delta^{{(1)}}_{{{j + 1}}}",
                      rf"W^{{(2)}}_{{1{j + 1}}} \delta^{{(2)}}_1 a^{{(1)}}_{{{j + 1}}}\bigl(1 - a^{{(1)}}_{{{j + 1}}}\bigr)",
                      rf"{W2[j]} \cdot ({d2:.4f}) \cdot {a1[j]:.4f} \cdot (1 - {a1[j]:.4f})", d1[j])
                 for j in range(2)]
    backward += [item(f"dW2_1_{i + 1}", rf"\frac{{\partial L}}{{\partial W^{{(2)}}_{{1{i + 1}}}}}",
                      rf"\delta^{{(2)}}_1 a^{{(1)}}_{{{i + 1}}}", rf"({d2:.4f}) \cdot {a1[i]:.4f}", dW2[i])
                 for i in range(2)]
    backward += [item(f"dW1_{j + 1}_{i + 1}", rf"\frac{{\partial L}}{{\partial W^{{(1)}}_{{{j + 1}{i + 1}}}}}",
                      rf"\delta^{{(1)}}_{{{j + 1}}} x_{{{i + 1}}}", rf"{d1[j]:.4f} \cdot {x[i]}", dW1[j][i])
                 for j in range(2) for i in range(2)]
    update = [item(f"new_W2_1_{i + 1}", rf"W'^{{(2)}}_{{1{i + 1}}}",
                   rf"W^{{(2)}}_{{1{i + 1}}} - \eta \frac{{\partial L}}{{\partial W^{{(2)}}_{{1{i + 1}}}}}",
                   rf"{W2[i]} - 0.5 \cdot ({dW2[i]:.4f})", _r(W2[i] - eta * dW2[i])) for i in range(2)]
    sigmoid = {"name": "sigmoid", "latex": r"\sigma",
               "derivative_latex": r"\sigma'(z) = \sigma(z)\,\bigl(1-\sigma(z)\bigr) = a\,(1-a)"}
    bce = r"L = -\frac{1}{n}\sum_{k=1}^{n}\bigl[y_k \ln \hat{y}_k + (1-y_k)\ln(1-\hat{y}_k)\bigr]"
    context = {
        "engine": engine, "variant": "blank",  # lualatex: the fallback fonts the name needs, as derive picks them
        "fallback_fonts": preamble_fonts(fallback_for([name]) if engine == "lualatex" else ()),
        "fallback_fonts_bold": preamble_fonts(fallback_for([name]) if engine == "lualatex" else (), bold=True),
        "title": "Forward and backward pass", "course": "Introduction to Deep Learning",
        "date": "", "instructions": "Show your working.",
        "student": {"id": sid, "name": name},
        "variant_code": f"derive 0.1.0 · spec 54a01da2 · {sid}",
        "decimals": 4,
        "rounding": "carry",
        "learning_rate": eta,
        "network": {"layers": [2, 2, 1], "depth": 2, "bias": True,
                    "activations": [sigmoid, sigmoid], "loss": {"name": "bce", "latex": bce}},
        "given": {"x": [x], "y": [[y]], "W": [W1, [W2]], "b": [b1, [b2]]},
        "sections": [
            {"name": "forward",
             "intro": r"z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}", "items": forward},
            {"name": "loss", "intro": bce,
             "items": [item("loss", "L", bce[4:], rf"-\ln {a2:.4f}", loss)]},
            {"name": "backward",
             "intro": r"\delta^{(l)} = \bigl(W^{(l+1)}\bigr)^{\top}\delta^{(l+1)} \odot g'\bigl(z^{(l)}\bigr)",
             "items": backward},
            {"name": "update",
             "intro": r"W \leftarrow W - \eta\,\partial L/\partial W", "items": update},
        ],
        "derivation": [
            {"key": "dloss", "args": {},
             "latex": r"\frac{\partial L}{\partial \hat{y}} = \frac{\hat{y} - y}{\hat{y}(1-\hat{y})}"},
            {"key": "", "args": {}, "latex": r"\delta^{(2)} = \hat{y} - y"},
        ],
    }
    context.update(text)
    return context


def all_values(context) -> list[float]:
    return [item["value"] for s in context["sections"] for item in s["items"]]


@pytest.fixture(scope="module")
def env():
    return make_environment()


# ---------------------------------------------------------------- environment

def test_environment_is_strict_and_latex_safe(env):
    assert isinstance(env.undefined, type) and issubclass(env.undefined, jinja2.StrictUndefined)
    assert env.autoescape is False and env.trim_blocks and env.lstrip_blocks
    assert env.from_string(r"\VAR{x|e} \BLOCK{if y}yes\BLOCK{endif}\#{ {gone} #}").render(
        x="a_b", y=True) == r"a\_b yes"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string(r"\VAR{missing}").render()


def test_render_is_deterministic(env):
    context = classic_context()
    for variant in ("blank", "solved"):
        first = render_sheet(context, variant, env)
        assert render_sheet(classic_context(), variant, make_environment()) == first, variant


def test_unknown_variant_is_rejected(env):
    with pytest.raises(ValueError, match="blank, solved"):
        render_sheet(classic_context(), "answers", env)


def test_missing_context_key_is_an_error(env):
    context = classic_context()
    del context["rounding"]
    from derive.errors import TemplateError
    with pytest.raises(TemplateError, match=r"header\.tex:\d+: undefined: 'rounding' is undefined"):
        render_sheet(context, "blank", env)


def _preamble(tex: str) -> str:
    return tex[:tex.index(r"\begin{document}")]


@pytest.mark.parametrize("engine, font_setup", [("pdflatex", r"\usepackage[T1]{fontenc}"),
                                                ("lualatex", r"\usepackage{fontspec}")])
def test_preamble_is_the_same_for_every_student_and_variant(env, engine, font_setup):
    sheets = [render_sheet(classic_context(name=n, sid=s, engine=engine), v, env)
              for n, s in (("Ada Lovelace", "s1"), ("Grace Hopper", "s2")) for v in ("blank", "solved")]
    preambles = {_preamble(t) for t in sheets}
    assert len(preambles) == 1
    preamble = preambles.pop()
    assert font_setup in preamble
    assert "Ada" not in preamble and "s1" not in preamble and "Worksheet" not in preamble


def test_body_does_not_use_labels_or_lastpage(env):
    for variant in ("blank", "solved"):
        tex = render_sheet(classic_context(), variant, env)
        for command in (r"\label", r"\ref", r"\pageref", "lastpage", r"\maketitle", r"\gdef"):
            assert command not in tex.split(r"\begin{document}")[1], (variant, command)


def test_no_control_word_runs_into_a_variable():
    # "\\hfil\\VAR{title}" would make "\\hfilForward"; in LuaTeX even "\\hfil张伟".
    for path in SHIPPED_TEMPLATES.glob("*.tex"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\\[a-zA-Z]+\\VAR\{", text), path.name


def test_templates_folder_overrides_one_file(tmp_path):
    header = (SHIPPED_TEMPLATES / "header.tex").read_text(encoding="utf-8")
    (tmp_path / "header.tex").write_text(header + "\nOVERRIDDEN-HEADER\n", encoding="utf-8")
    tex = render_sheet(classic_context(), "blank", make_environment(tmp_path))
    assert "OVERRIDDEN-HEADER" in tex
    assert r"\begin{picture}" in tex  # diagram.tex still comes from the shipped folder
    assert "OVERRIDDEN-HEADER" not in render_sheet(classic_context(), "blank", make_environment())


# ---------------------------------------------------------------- text and numbers

@pytest.mark.parametrize("text, expected", [
    ("a_b", r"a\_b"), ("50%", r"50\%"), ("$&#", r"\$\&\#"), ("{x}", r"\{x\}"),
    ("\\", r"\textbackslash{}"), ("~^", r"\textasciitilde{}\textasciicircum{}"),
    ("a\nb\tc", "a b c"), ("bell\x07", "bell"), ("a--b", r"a-\kern0pt{}-b"),
    ("<|>", r"\textless{}\textbar{}\textgreater{}"), ("e\u0301", "é"),
])
def test_escape_latex(text, expected):
    assert escape_latex(text) == expected


def test_escaped_text_has_no_active_characters():
    out = escape_latex(HOSTILE + "\"`'<>|")
    # every backslash starts one of the escape's own commands
    commands = set(re.findall(r"\\([a-zA-Z]+|.)", out))
    assert commands <= {"textbackslash", "textasciitilde", "textasciicircum", "textless",
                        "textgreater", "textbar", "textquotedbl", "textasciigrave",
                        "kern", "{", "}", "$", "&", "#", "%", "_"}
    assert not re.search(r"(?<!\\)[$&#%^_~]", out.replace(r"\kern0pt", ""))


@pytest.mark.parametrize("text", ["Ada Lovelace", NAMES["pl"], NAMES["tr"], NAMES["da"],
                                  "Zoë Ångström-Müller", "O'Brien", "résumé"])
def test_latin_names_need_no_unicode_engine(text):
    assert not needs_unicode_engine(text)


@pytest.mark.parametrize("lang", ["zh", "ta", "hi", "vi", "ru"])
def test_other_scripts_need_a_unicode_engine(lang):
    assert needs_unicode_engine(NAMES[lang])


def test_num_filter_rounds_once_with_the_sheet_decimals(env):
    template = env.from_string(r"\VAR{v|num} \VAR{v|num(2)} \VAR{w|num}")
    assert template.render(v=-0.20396, w=0.125, decimals=4) == "-0.2040 -0.20 0.1250"
    assert env.from_string(r"\VAR{v|num}").render(v=0.125, decimals=2) == "0.13"  # half up


def test_given_values_are_exact_with_common_places(env):
    assert format_given([[0.5, -0.25], [1.0, 0.0]]) == [["0.50", "-0.25"], ["1.00", "0.00"]]
    assert format_given([1.0, 0.0]) == ["1", "0"]
    assert env.from_string(r"\VAR{v|exact}").render(v=0.5) == "0.5"


# ---------------------------------------------------------------- the diagram

def _boxes_overlap(a, b):
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@pytest.mark.parametrize("layers", [[2, 2, 1], [3, 5, 4, 2], [2, 4, 4, 1], [5, 5, 5, 5, 2]])
def test_diagram_labels_do_not_overlap(layers):
    W = [[[-0.5] * layers[l - 1] for _ in range(layers[l])] for l in range(1, len(layers))]
    b = [[0.25] * n for n in layers[1:]]
    d = diagram(layers, W, b, x=[1.0] * layers[0], y=[0.0] * layers[-1])
    assert len(d["edges"]) == sum(m * n for m, n in zip(layers, layers[1:]))
    assert len(d["nodes"]) == sum(layers)
    width, height = float(d["width"]), float(d["height"])
    labels = [(float(e["lx"]), float(e["ly"])) for e in d["edges"] if e["lx"] is not None]
    boxes = [(x - 3, y - 1.3, x + 3, y + 1.3) for x, y in labels]
    r = d["radius"]
    circles = [(float(n["x"]) - r, float(n["y"]) - r, float(n["x"]) + r, float(n["y"]) + r)
               for n in d["nodes"]]
    for k, box in enumerate(boxes):
        assert 0 <= box[0] and box[2] <= width and 0 <= box[1] and box[3] <= height
        assert not any(_boxes_overlap(box, other) for other in boxes[k + 1:] + circles)
    if len(layers) == 3:
        assert len(labels) == len(d["edges"])  # a small net has every weight drawn


def test_diagram_prints_the_students_weights():
    d = diagram([2, 2, 1], [[[0.5, -0.3], [0.8, 0.2]], [[0.7, -0.5]]], [[0.1, -0.1], [0.2]])
    labels = {(e["layer"], e["j"], e["i"]): e["label"] for e in d["edges"]}
    assert labels == {(1, 1, 1): "0.5", (1, 1, 2): "-0.3", (1, 2, 1): "0.8", (1, 2, 2): "0.2",
                      (2, 1, 1): "0.7", (2, 1, 2): "-0.5"}
    assert [n["bias"] for n in d["nodes"]] == [None, None, "0.1", "-0.1", "0.2"]
    assert [n["bias"] for n in diagram([2, 2, 1], [[[0, 0], [0, 0]], [[0, 0]]], None)["nodes"]] == [None] * 5


def test_the_drawing_every_sheet_shares_is_typeset_once_per_tex_run(env):
    # edges, arrows, circles and node names go in \dvonce boxes named by their digest, so one
    # batch draws them once; each student's weights and biases stay outside, on top
    once = re.compile(r"\\dvonce\{(\w+)\}\{(.*?)\\end\{picture\}\}", re.S)
    drawings = {}
    for who in ("Ada Lovelace", "Alan Turing"):
        for variant in ("blank", "solved"):
            tex = render_sheet(classic_context(name=who), variant, env)
            found = once.findall(tex[tex.index("\\begin{document}"):])
            assert len(found) == 2, (who, variant)
            drawings[who, variant] = found
    assert len({tuple(f) for f in drawings.values()}) == 1  # the same names and drawings on every sheet
    (_, edges), (_, nodes) = drawings["Ada Lovelace", "blank"]
    assert edges.count("\\Line(") == 6 and edges.count("\\vector(") == 3
    assert nodes.count("\\circle{") == 5 and "\\hat{y}_{1}" in nodes
    assert "colorbox" not in edges + nodes and "b{=}" not in edges + nodes  # no student's number inside


def test_the_derivation_every_solved_sheet_shares_is_typeset_once_per_tex_run(env):
    # its rows are the same on every student's sheet: \dvsteponce names each by its digest
    rows = {}
    for who in ("Ada Lovelace", "Alan Turing"):
        tex = render_sheet(classic_context(name=who), "solved", env)
        rows[who] = re.findall(r"^\\dvsteponce\{(\w+)\}(.*)$", tex, re.M)
    assert len(rows["Ada Lovelace"]) == len(classic_context()["derivation"]) >= 2
    assert rows["Ada Lovelace"] == rows["Alan Turing"]
    names = [name for name, _ in rows["Ada Lovelace"]]
    assert len(set(names)) == len(names)  # a name per row: different rows are never one box
    assert not re.search(r"^\\dvstep\{", tex, re.M)  # no row typeset the old way


def test_blank_tex_holds_no_answer_value(env):
    context = classic_context()
    blank = render_sheet(context, "blank", env)
    solved = render_sheet(context, "solved", env)
    for value in all_values(context):
        assert f"{value:.4f}" not in blank
        assert f"{value:.4f}" in solved


# ---------------------------------------------------------------- real TeX

def _need(engine: str) -> None:
    if shutil.which(engine) is None or shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail(f"{engine} or pdftotext missing in CI")
        pytest.skip(f"{engine} not installed")


def compile_tex(tex: str, folder: Path, engine: str = "pdflatex", overfull_ok: bool = False) -> Path:
    """Compile in ``folder`` without shell escape; return the PDF."""
    _need(engine)
    (folder / "sheet.tex").write_text(tex, encoding="utf-8")
    env = dict(os.environ, openin_any="p", openout_any="p", shell_escape="f")
    run = subprocess.run([engine, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
                          "sheet.tex"], cwd=folder, env=env, capture_output=True, timeout=600)
    log = (folder / "sheet.log").read_text(encoding="utf-8", errors="replace")
    assert run.returncode == 0, log[-3000:]
    assert overfull_ok or "Overfull" not in log, re.findall(r"Overfull.*", log)
    return folder / "sheet.pdf"


def pdf_text(pdf: Path) -> str:
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                          check=True).stdout.decode("utf-8")
    return text.replace("\u2212", "-")  # maths minus → ASCII


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.tex
def test_hostile_text_prints_literally_and_runs_nothing(tmp_path, env):
    context = classic_context(name=HOSTILE, sid="id_%1#", title="T " + HOSTILE,
                              instructions=HOSTILE, variant_code=HOSTILE)
    # a 60-character name may overflow the running head; that is all it may do
    pdf = compile_tex(render_sheet(context, "blank", env), tmp_path, overfull_ok=True)
    text = _squash(pdf_text(pdf))
    assert _squash(HOSTILE) in text
    assert "id_%1#" in text
    assert "root:" not in text  # /etc/passwd was not read
    assert not (tmp_path / "x").exists()


@pytest.mark.tex
def test_blank_pdf_shows_weights_but_no_answers(tmp_path, env):
    context = classic_context()
    text = pdf_text(compile_tex(render_sheet(context, "blank", env), tmp_path))
    assert "Ada Lovelace" in text and "s1042" in text
    for weight in ("0.5", "-0.3", "0.8", "0.2", "0.7", "-0.5", "0.1", "-0.1"):
        assert weight in text
    for value in all_values(context):
        assert f"{value:.4f}" not in text, value
    for item in (i for s in context["sections"] for i in s["items"]):
        assert item["answer"] in text  # every answer box is labelled


@pytest.mark.tex
def test_solved_pdf_shows_every_value_to_the_sheets_decimals(tmp_path, env):
    context = classic_context()
    pdf = compile_tex(render_sheet(context, "solved", env), tmp_path)
    text = pdf_text(pdf)
    for value in all_values(context):
        assert f"{value:.4f}" in text, value
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "Type 3" not in fonts
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) <= 2


@pytest.mark.tex
def test_lualatex_sets_names_in_every_script(tmp_path, env):
    names = " ".join(NAMES.values())
    assert needs_unicode_engine(names)
    pdf = compile_tex(render_sheet(classic_context(name=names, engine="lualatex"), "blank", env),
                      tmp_path, engine="lualatex")
    text = _squash(pdf_text(pdf))
    for lang, name in NAMES.items():
        assert name in text, lang
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "Type 3" not in fonts
    assert "LMRomanCaps10" in fonts  # the course line keeps its small caps under lualatex too


# --- shared templates are untrusted: sandboxed, and broken ones are one located line ---------

def _pack(tmp_path, name, *lines):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "blank.tex").write_text("\n".join([r'\BLOCK{extends "sheet.tex"}', r"\BLOCK{block items}",
                                                 *lines, r"\BLOCK{endblock}"]) + "\n", encoding="utf-8")
    return folder


def _worksheets(tmp_path, templates, capsys):
    from derive.cli import main
    out = tmp_path / "out"
    status = main(["worksheets", "worksheets/random-221.toml", "--roster", "worksheets/roster-example.csv",
                   "--out", str(out), "--secret", "s", "--weak-secret", "--no-pdf", "--templates", str(templates)])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and not out.exists(), err
    return err


def test_a_template_cannot_run_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    pack = _pack(tmp_path, "evil", r"\VAR{ cycler.__init__.__globals__.os.popen('id > " + str(marker)
                 + r"').read() | e }")
    err = _worksheets(tmp_path, pack, capsys)
    assert "not allowed in a template" in err and f"{pack / 'blank.tex'}:3" in err
    assert not marker.exists()


@pytest.mark.parametrize("line,expected", [
    (r"\BLOCK{for x in }", "template error"),
    (r"\VAR{ no_such_thing }", "'no_such_thing' is undefined"),
    # Python's own exceptions in a template's code were tracebacks
    (r"\VAR{ 1/0 }", "template error: ZeroDivisionError: division by zero"),
    (r"\VAR{ 1 + 'a' }", "template error: TypeError"),
    (r"\VAR{ 2.0 ** 100000 }", "template error: OverflowError"),
    (r"\BLOCK{macro f()}\VAR{ f() }\BLOCK{endmacro}\VAR{ f() }", "nested too deeply (an include or a macro"),
    # a string of 10 GB: the kernel killed derive
    (r"\VAR{ 'x' * 10**10 }", "not allowed in a template: a string or list of more than"),
    (r"\VAR{ 9 ** (10**9) }", "not allowed in a template: 9 ** 1000000000 has more than"),
], ids=["syntax", "undefined", "zero-division", "type", "overflow", "recursive-macro", "huge-string", "huge-power"])
def test_a_broken_template_is_one_line_naming_its_file_and_line(tmp_path, capsys, line, expected):
    pack = _pack(tmp_path, "broken", "some text", line)
    err = _worksheets(tmp_path, pack, capsys)
    assert f"{pack / 'blank.tex'}:4:" in err and expected in err


def test_a_template_that_never_ends_is_stopped_in_one_line(tmp_path, capsys, monkeypatch):
    import derive.render
    monkeypatch.setattr(derive.render, "RENDER_SECONDS", 1)  # 60 s in use; 10^10 empty iterations hung derive
    pack = _pack(tmp_path, "endless", "some text",
                 r"\BLOCK{for i in range(100000)}\BLOCK{for j in range(100000)}\BLOCK{endfor}\BLOCK{endfor}")
    err = _worksheets(tmp_path, pack, capsys)
    assert f"{pack / 'blank.tex'}:4:" in err and "did not finish within 1 s (an endless loop?)" in err


def test_a_template_whose_output_has_no_end_is_stopped_in_one_line(tmp_path, capsys):
    # 100000 × 100000 characters: 10 GB, and the kernel killed derive
    pack = _pack(tmp_path, "flood", "some text", r"\BLOCK{for i in range(100000)}\VAR{ 'x' * 100000 }\BLOCK{endfor}")
    err = _worksheets(tmp_path, pack, capsys)
    assert "template error: more than 33554432 characters (an endless loop?)" in err


@pytest.mark.parametrize("content,expected", [
    (b"some text\n\xff\xfe binary\n", ":2: not UTF-8 text (byte 0xff)"),  # UnicodeDecodeError, a traceback
    ((r"\VAR{ " + "(" * 500 + "1" + ")" * 500 + " }\n").encode(), ": template error: nested too deeply to read"),
], ids=["binary", "deep-parentheses"])
def test_a_template_that_cannot_be_read_is_one_line_naming_it(content, expected, tmp_path, capsys):
    pack = tmp_path / "unreadable"
    pack.mkdir()
    (pack / "header.tex").write_bytes(content)
    err = _worksheets(tmp_path, pack, capsys)
    assert f"{pack / 'header.tex'}{expected}" in err, err


def test_a_big_gap_is_captioned_not_labelled_edge_by_edge():
    W1 = [[0.1 * (i + j) for i in range(3)] for j in range(4)]
    W2 = [[0.2 * (i - j) for i in range(4)] for j in range(3)]
    d = diagram([3, 4, 3], [W1, W2], None)
    assert all(e["lx"] is None for e in d["edges"]) and [c["layer"] for c in d["captions"]] == [1, 2]
    small = diagram([2, 2, 1], [[[0.5, -0.3], [0.8, 0.2]], [[0.7, -0.5]]], None)
    assert all(e["lx"] is not None for e in small["edges"]) and not small["captions"]


@pytest.mark.tex
def test_a_tex_error_in_a_template_is_reported_once_at_the_templates_line(tmp_path, capsys):
    """TeX names line 152 of each rendered sheet; the instructor needs header.tex's line, and once, not 12 times."""
    from derive.cli import main
    pack = tmp_path / "typo"
    pack.mkdir()
    header = (SHIPPED_TEMPLATES / "header.tex").read_text(encoding="utf-8")
    lines = header.splitlines()
    typo = next(i for i, line in enumerate(lines) if r"\ttfamily \VAR{student.id|e}" in line)
    lines[typo] = lines[typo].replace(r"{\ttfamily", r"{\ttfamilyy")
    (pack / "header.tex").write_text("\n".join(lines) + "\n", encoding="utf-8")
    status = main(["worksheets", "worksheets/random-221.toml", "--roster", "worksheets/roster-example.csv",
                   "--out", str(tmp_path / "out"), "--secret", "s", "--weak-secret", "--templates", str(pack)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("failed to compile") == 1, err
    assert "12 sheets (s1001/blank" in err and f"{pack / 'header.tex'}:{typo + 1} (the template line)" in err
    assert "Undefined control sequence" in err


# ---------------------------------------------------------------- scaffolding: show, working

def _classic_sheets(exercise_lines: str) -> dict[str, str]:
    """The shipped classic-221 sheet, blank and solved .tex, with lines added to its [exercise]."""
    from derive.numeric import key
    from derive.spec import Student, parse_spec
    from derive.worked import sheet_context
    text = (Path(__file__).resolve().parent.parent / "worksheets" / "classic-221.toml").read_text(encoding="utf-8")
    spec = parse_spec(text.replace("[exercise]\n", "[exercise]\n" + exercise_lines + "\n"), "classic.toml")
    ex, params = spec.exercise, spec.fixed_params()
    k = key(spec.network, params, spec.data, ex.learning_rate, ex.decimals, ex.rounding)
    context = sheet_context(spec, Student("s1", "Ada Lovelace", 2), params, spec.data, k)
    env = make_environment()
    return {v: render_sheet(context, v, env) for v in ("blank", "solved")}


DELTA_OUT = r"\hat{y} - y"          # δ⁽²⁾ = ŷ − y: the answer a "recipe" sheet leaves to the student
BACKWARD_RECIPE = r"\odot g_l'\bigl(z^{(l)}\bigr)"  # the layer-general backward formula
DERIVATIVE = r"\sigma'(z) = \sigma(z)"


def test_show_all_prints_every_formula_on_the_blank_sheet():
    blank = _classic_sheets('show = "all"')["blank"]
    assert DELTA_OUT in blank and BACKWARD_RECIPE in blank and DERIVATIVE in blank


def test_show_recipe_prints_the_layer_general_formulas_but_no_answers_formula():
    sheets = _classic_sheets('show = "recipe"')
    blank = sheets["blank"]
    assert DELTA_OUT not in blank
    assert re.search(r"\\dvitem\{\\delta\^\{\(2\)\}_\{1\}\}\{\}\{\\dvanswer(\[[^\]]*\])?\{delta2\\_1\}\}", blank), blank
    assert BACKWARD_RECIPE in blank and DERIVATIVE in blank
    assert DELTA_OUT in sheets["solved"] and BACKWARD_RECIPE in sheets["solved"]  # the key shows all


def test_show_none_prints_only_labelled_boxes():
    sheets = _classic_sheets('show = "none"')
    blank = sheets["blank"]
    assert DELTA_OUT not in blank and BACKWARD_RECIPE not in blank and DERIVATIVE not in blank
    boxes = set(re.findall(r"\\dvanswer(?:\[[^\]]*\])?\{([^}]+)\}", blank.split(r"\begin{document}")[1]))
    assert len(boxes) == 28  # every answer still has its box
    assert all(s in sheets["solved"] for s in (DELTA_OUT, BACKWARD_RECIPE, DERIVATIVE))


def test_working_room_is_set_on_the_blank_sheet_only():
    sheets = _classic_sheets("working = 15")
    assert r"\setlength\dvworkh{15.00mm}" in sheets["blank"]
    assert r"\setlength\dvworkh" not in sheets["solved"]
    assert r"\setlength\dvworkh{0.00mm}" in _classic_sheets("")["blank"]


@pytest.mark.tex
def test_show_recipe_leaves_the_answers_formula_off_the_blank_pdf(tmp_path):
    pdfs = {}
    for show in ("all", "recipe"):
        sheets = _classic_sheets(f'show = "{show}"')
        for v, tex in sheets.items():
            folder = tmp_path / f"{show}-{v}"
            folder.mkdir()
            pdf = compile_tex(tex, folder)
            pdfs[show, v] = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
                                           capture_output=True, check=True).stdout.decode("utf-8")
    out = "= y\u0302 \u2212 y"  # δ⁽²⁾₁ = ŷ − y, as pdftotext reads it off the page (y, combining hat)
    assert out in pdfs["all", "blank"]
    assert out not in pdfs["recipe", "blank"]
    assert out in pdfs["recipe", "solved"]
    assert "delta2_1" in pdfs["recipe", "blank"]


def _word_tops(pdf: Path) -> dict[str, float]:
    """The top (pt from the page's top) of each word's first occurrence on page 1 (pdftotext -bbox)."""
    html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    tops: dict[str, float] = {}
    for m in re.finditer(r'<word xMin="[\d.]+" yMin="([\d.]+)"[^>]*>([^<]+)</word>', html):
        tops.setdefault(m[2], float(m[1]))
    return tops


@pytest.mark.tex
@pytest.mark.parametrize("working", [8, 20])
def test_working_room_adds_that_much_space_under_each_row(tmp_path, working):
    """z1_1 and z1_2 each take a row: the gap between their box labels grows by exactly the room."""
    gaps = []
    for mm in (0, working):
        folder = tmp_path / f"w{mm}"
        folder.mkdir()
        tops = _word_tops(compile_tex(_classic_sheets(f"working = {mm}")["blank"], folder))
        gaps.append(tops["z1_2"] - tops["z1_1"])
    assert gaps[1] - gaps[0] == pytest.approx(working * 72 / 25.4, abs=0.3)  # pdftotext measures in bp
