import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

IN_CI = os.environ.get("CI") == "true"


def require(tool: str) -> None:
    """Skip when a tool is missing, except in CI where it is a failure."""
    if shutil.which(tool) is None:
        if IN_CI:
            pytest.fail(f"{tool} is not installed, and CI must have it (run scripts/setup)")
        pytest.skip(f"{tool} not installed")


@pytest.fixture
def root() -> Path:
    return ROOT


def pdf_text(pdf, layout: bool = True) -> str:
    """A PDF's text as pdftotext reads it back (``layout``: keep the columns in place)."""
    import subprocess
    return subprocess.run(["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def key_rows(path) -> list[dict]:
    """The rows of a class's answer-key.csv, below its notice line (which must be there)."""
    import csv
    with open(path, encoding="utf-8-sig", newline="") as f:
        notice = f.readline()
        assert notice.startswith("# The instructor's file: not to be shared"), notice
        return list(csv.DictReader(f))
