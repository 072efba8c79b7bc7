"""Stopped from outside: SIGTERM and SIGHUP clean up like SIGINT, and SIGKILL takes the workers along."""
import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and /proc: Linux")


def _start(tmp_path, students=600):
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("student_id", "name"), *((f"s{i:04d}", f"S {i}") for i in range(students))])
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "derive", "worksheets", str(ROOT / "worksheets" / "random-221.toml"),
                                "--roster", str(roster), "--out", str(out), "--secret", "s", "--weak-secret", "--no-pdf", "--jobs", "2"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, out


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has died; only its exit status waits to be read


def _wait_for_workers(process, seconds=30):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        workers = _children(process.pid)
        if len(workers) >= 2:
            return workers
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    pytest.fail("the worker processes never started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_cleanly(tmp_path, sig):
    process, out = _start(tmp_path)
    _wait_for_workers(process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + sig, err
    assert f"stopped by {signal.Signals(sig).name}" in err and "Traceback" not in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["roster.csv"]  # no half folder left


def test_sigkill_takes_the_worker_processes_along(tmp_path):
    process, out = _start(tmp_path)
    workers = _wait_for_workers(process)
    process.kill()
    process.communicate(timeout=30)
    end = time.monotonic() + 10
    while time.monotonic() < end and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "orphaned workers outlived their killed parent"
