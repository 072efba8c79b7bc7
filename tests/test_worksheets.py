"""Every shipped spec, and a spread of architectures, render and compile to a real PDF."""
from pathlib import Path

import pytest

from conftest import require
from derive.cli import main
from derive.spec import parse_spec

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "worksheets").glob("*.toml"))

VARIANTS = {  # name → (layers, activations, loss, y)
    "softmax-cce": ([2, 3, 3], ["tanh", "softmax"], "cce", [0, 1, 0]),
    "relu-mse": ([2, 2, 1], ["relu", "linear"], "mse", [0.5]),
    "leaky-mae": ([2, 2, 1], ["leaky_relu", "tanh"], "mae", [0.3]),
    "deep-halfmse": ([2, 3, 2, 1], ["sigmoid", "tanh", "sigmoid"], "half_mse", [0.7]),
    "two-outputs-bce": ([3, 2, 2], ["tanh", "sigmoid"], "bce", [1, 0]),
}


def variant_spec(tmp: Path, name: str) -> Path:
    layers, acts, loss, y = VARIANTS[name]
    x = [0.5, -1.0, 1.0][: layers[0]]
    text = (f'title = "{name}"\n[network]\nlayers = {layers}\nactivations = {acts}\n'
            f'loss = "{loss}"\n[data]\nx = {x}\ny = {y}\n'.replace("'", '"'))
    path = tmp / f"{name}.toml"
    path.write_text(text)
    parse_spec(text, str(path))
    return path


@pytest.mark.parametrize("spec", SHIPPED + list(VARIANTS), ids=lambda s: getattr(s, "stem", s))
def test_worksheets_compile_for(spec, tmp_path, capsys):
    require("pdflatex")
    path = spec if isinstance(spec, Path) else variant_spec(tmp_path, spec)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada Lovelace\nb2,Alan Turing\n")
    status = main(["worksheets", str(path), "--roster", str(roster), "--out", str(tmp_path / "out"),
                   "--secret", "k", "--weak-secret"])
    assert status == 0, capsys.readouterr().err
    for sid in ("a1", "b2"):
        for v in ("blank", "solved"):
            assert (tmp_path / "out" / "students" / sid / f"{v}.pdf").stat().st_size > 1000


def _pages(pdf: Path) -> int:
    import re
    import subprocess
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(?m)^Pages:\s+(\d+)$", info)[1])


@pytest.mark.tex
@pytest.mark.parametrize("spec", ["classic-221.toml", "random-221.toml"])
def test_a_221_sheet_fits_two_pages_blank_and_solved(spec, tmp_path, capsys):
    """Printed double-sided, each variant is one sheet of paper: for several students' numbers."""
    require("pdflatex")
    require("pdfinfo")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(f"s{i},Student Number {i}\n" for i in range(1, 6)))
    assert main(["worksheets", str(ROOT / "worksheets" / spec), "--roster", str(roster),
                 "--out", str(tmp_path / "out"), "--secret", "pages", "--weak-secret"]) == 0, capsys.readouterr().err
    pages = {(sid, v): _pages(tmp_path / "out" / "students" / sid / f"{v}.pdf")
             for sid in (f"s{i}" for i in range(1, 6)) for v in ("blank", "solved")}
    assert max(pages.values()) <= 2, pages
