"""The loss curve: its layout, and `derive train --plot` writing a PDF or a PNG through TeX."""
import subprocess
from pathlib import Path

import pytest

from conftest import require
from derive.cli import main
from derive.losscurve import MOST_POINTS, loss_curve

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "derive" / "examples" / "xor-221-training.toml"


def test_the_layout_puts_a_higher_loss_higher_and_ticks_around_the_range():
    losses = [0.7, 0.65, 0.5, 0.52]
    c = loss_curve(losses)
    ys = [float(p["y"]) for p in c["points"]]
    assert ys[0] > ys[1] > ys[3] > ys[2]
    xs = [float(p["x"]) for p in c["points"]]
    assert xs == sorted(xs) and xs[0] == float(c["x0"]) and xs[-1] == float(c["x1"])
    ticks = [float(t["text"]) for t in c["yticks"]]
    assert ticks[0] <= min(losses) and ticks[-1] >= max(losses) and len(ticks) >= 3
    assert [t["text"] for t in c["xticks"]] == ["0", "1", "2", "3"] and c["dots"]


def test_a_long_run_is_thinned_and_keeps_its_ends():
    losses = [1 / (1 + t) for t in range(5000)]
    c = loss_curve(losses)
    assert len(c["points"]) == MOST_POINTS and not c["dots"]
    assert float(c["points"][-1]["x"]) == float(c["x1"])


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF-"), (".png", b"\x89PNG\r\n\x1a\n")])
def test_train_plot_writes_the_curve(suffix, magic, tmp_path, capsys):
    require("pdflatex")
    if suffix == ".png":
        require("pdftoppm")
    out = tmp_path / f"curve{suffix}"
    assert main(["train", str(XOR), "--epochs", "300", "--plot", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
    if suffix == ".pdf":
        require("pdftotext")
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
        assert "200" in text and "Lt" in text.replace(" ", "")  # the step axis and the loss label
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # nothing half-written beside it


@pytest.mark.parametrize("plot, says", [("curve.svg", "expected a file ending in .pdf or .png"),
                                        ("missing/curve.pdf", "no such folder")])
def test_a_bad_plot_path_is_one_line_and_exit_2(plot, says, tmp_path, capsys):
    assert main(["train", str(XOR), "--epochs", "10", "--plot", str(tmp_path / plot)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--plot" in err and says in err, err


def test_a_diverged_run_is_one_error_not_a_picture(tmp_path):
    from derive.errors import DeriveError
    from derive.losscurve import write_plot
    with pytest.raises(DeriveError, match="not a finite number from step 2 on"):
        write_plot([0.7, 0.6, float("nan")], tmp_path / "c.pdf")
    assert list(tmp_path.iterdir()) == []
