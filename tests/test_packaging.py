"""derive installs like a library: the wheel carries its templates and examples.

Builds the wheel from a copy of the tracked files, installs it into a fresh
venv (its dependencies from this machine's site-packages, nothing from the
network), and from a temporary folder runs ``derive init`` and
``derive worksheets`` to real PDFs, read back with pdftotext.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import require

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd, cwd, env=None):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{cmd}: {r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    files = _run("git", "ls-files", cwd=ROOT).splitlines()
    for name in files:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (ROOT / name).is_symlink():  # the top-level links only point into the package
            shutil.copy2(ROOT / name, target)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", tmp / "dist",
         source, cwd=tmp)
    return next((tmp / "dist").glob("derive-*.whl"))


def test_the_wheel_holds_the_templates_and_examples(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for must in ("derive/templates/sheet.tex", "derive/templates/solved.tex", "derive/templates/README.md",
                 "derive/examples/random-221.toml", "derive/examples/roster-example.csv"):
        assert must in names, must


@pytest.mark.tex
def test_init_and_worksheets_from_a_fresh_venv_make_real_pdfs(wheel, tmp_path):
    for tool in ("pdflatex", "latexmk", "pdftotext"):
        require(tool)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(python, "-c", "import derive; print(derive.__file__)", cwd=work, env=env)
    assert where.startswith(str(venv)), where  # the wheel, not this checkout
    derive = venv / "bin" / "derive"
    _run(derive, "init", "examples", cwd=work, env=env)
    (work / "class.secret").write_text(_run(derive, "secret", cwd=work, env=env), encoding="utf-8")
    _run(derive, "worksheets", "examples/random-221.toml", "--roster", "examples/roster-example.csv",
         "--out", "class", "--secret-file", "class.secret", cwd=work, env=env)
    text = _run("pdftotext", work / "class" / "class-solved.pdf", "-", cwd=work)
    assert "Forward and backward pass" in text and "Solutions" in text
    assert (work / "class" / "students" / "s1001" / "blank.pdf").stat().st_size > 1000


def test_init_writes_the_examples_and_refuses_to_overwrite(tmp_path, capsys):
    from derive.cli import main
    assert main(["init", str(tmp_path / "ex")]) == 0
    written = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert written == sorted(p.name for p in (ROOT / "worksheets").iterdir())
    assert (tmp_path / "ex" / "random-221.toml").read_bytes() == (ROOT / "worksheets" / "random-221.toml").read_bytes()
    (tmp_path / "ex" / "random-221.toml").write_text("mine", encoding="utf-8")
    capsys.readouterr()
    assert main(["init", str(tmp_path / "ex")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "ex" / "random-221.toml").read_text(encoding="utf-8") == "mine"
    assert main(["init", str(tmp_path / "ex"), "--force"]) == 0


def test_a_machine_without_tex_is_told_which_debian_packages_to_install(tmp_path, capsys, monkeypatch):
    from derive.cli import main
    monkeypatch.setattr("derive.pdf.tex_available", lambda engine: False)
    for engine, must in (("pdflatex", "texlive-latex-base"), ("lualatex", "texlive-luatex")):
        status = main(["worksheets", str(ROOT / "worksheets" / "random-221.toml"), "--roster",
                       str(ROOT / "worksheets" / "roster-example.csv"), "--out", str(tmp_path / engine),
                       "--secret", "s", "--weak-secret", "--engine", engine])
        err = capsys.readouterr().err
        assert status == 2 and "apt-get install" in err and must in err and "scripts/setup" not in err
        assert not (tmp_path / engine).exists()
