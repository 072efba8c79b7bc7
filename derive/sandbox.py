"""Running a student's untrusted code: a child process with limits, and its records read back as data.

The child (:mod:`derive.sandbox_child`) runs as ``python3 -I`` in a fresh temporary folder,
with an address-space limit (a 10 GB allocation fails with MemoryError), a CPU-time limit and
a wall-clock deadline (a loop that never returns is killed), a file-size limit, and no
network: in a network namespace of its own (``unshare -rn``) where this machine allows it,
else only the child's audit hook stands in the way, which is best-effort.  The child's
answers come back as JSON lines through a pipe of their own; nothing is unpickled, and the
student's prints go to a log, never into the answers.
"""
from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

CHILD = Path(__file__).with_name("sandbox_child.py")
MAX_OUTPUT = 32 * 2**20  # bytes of records read back; a flood beyond this is cut off


@dataclass(frozen=True)
class Limits:
    """What the student's code may use: seconds a call, seconds in all, memory and file size."""

    call_seconds: float = 5.0
    total_seconds: float = 60.0
    memory_mb: int = 1024
    file_mb: int = 64


@dataclass(frozen=True)
class Record:
    """One line the child wrote: an event (start, done, error, loaded, finished) and its fields."""

    event: str
    function: str = ""
    network: int = 0
    kind: str = ""          # error: exception, timeout, memory, contract
    message: str = ""
    traceback: str = ""     # the student's frames only
    value: object = None    # done: an array as {"shape", "data"}, a dict of them, or a number
    functions: tuple[str, ...] = ()
    signatures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Run:
    """What one run of the child gave: its records, and why it stopped early ('' if it did not)."""

    records: tuple[Record, ...]
    stopped: str = ""   # "timeout", "memory", "exited", "crashed"
    log: str = ""       # the end of what the student's code printed
    contained: tuple[str, ...] = field(default=())  # the limits that were in force, for the report

    def unfinished(self) -> Record | None:
        """The call that was running when the child stopped: a start without its done or error."""
        open_call = None
        for r in self.records:
            if r.event == "start":
                open_call = r
            elif r.event in ("done", "error"):
                open_call = None
        return open_call


@lru_cache(maxsize=1)
def network_isolation() -> tuple[str, ...]:
    """The command prefix that gives the child a network namespace of its own, or () where
    this machine refuses it (then the child's audit hook is the only guard)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return (unshare, "-rn") if ok else ()


def _set_limits(limits: Limits):
    """Runs in the child between fork and exec: its own process group, and the resource limits."""
    def apply():
        mb = 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        cpu = int(limits.total_seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _environment(folder: str) -> dict[str, str]:
    """A bare environment: one BLAS thread (its reserved memory would count against the limit)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": folder, "TMPDIR": folder, "LANG": "C.UTF-8"}
    env |= {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return env


@dataclass
class Started:
    """A student's process, started and waiting for its job (see :func:`start_student`)."""

    folder: str
    child: subprocess.Popen
    read_end: int
    prefix: tuple
    limits: Limits


def start_student(student: str | Path, adapter: str | Path | None = None, limits: Limits = Limits()) -> Started:
    """Copy the student's file (and adapter) into a fresh folder and start the contained child there.

    The child's start (Python and NumPy, a third of a check) then overlaps
    whatever the caller does before :func:`finish_student` sends the job:
    importing SymPy, reading the spec, building the graph.
    """
    folder = tempfile.mkdtemp(prefix="derive-code-")
    try:
        files = [Path(student).name, ""]
        shutil.copyfile(student, os.path.join(folder, files[0]))
        if adapter is not None:
            files[1] = "derive_adapter.py"
            shutil.copyfile(adapter, os.path.join(folder, files[1]))
        read_end, write_end = os.pipe()
        prefix = tuple(network_isolation())
        with open(os.path.join(folder, ".derive-log"), "wb") as log:
            try:
                child = subprocess.Popen([*prefix, sys.executable, "-I", str(CHILD), str(write_end), *files],
                                         cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                         pass_fds=(write_end,), env=_environment(folder),
                                         preexec_fn=_set_limits(limits), start_new_session=True)
            except BaseException:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Started(folder, child, read_end, prefix, limits)


def finish_student(started: Started, job: dict | Callable[[], dict]) -> Run:
    """Send the started child its ``job`` (or what the function ``job`` makes), read what it reports, clean up."""
    child, limits = started.child, started.limits
    try:
        try:
            _send(child, job() if callable(job) else job)
            data, timed_out = _read(started.read_end, time.monotonic() + limits.total_seconds)
        finally:
            os.close(started.read_end)
            if child.poll() is None:
                _kill(child)
            child.wait()
        records = tuple(r for r in map(_record, data.decode("utf-8", "replace").splitlines()) if r is not None)
        stopped = "timeout" if timed_out else _why(child.returncode, records)
        contained = ("no network (own namespace)" if started.prefix else "no network (audit hook, best-effort)",
                     f"{limits.memory_mb} MB of memory", f"{limits.call_seconds:g} s a call")
        return Run(records, stopped, _tail(os.path.join(started.folder, ".derive-log")), contained)
    finally:
        shutil.rmtree(started.folder, ignore_errors=True)


def abandon_student(started: Started) -> None:
    """Stop a started child that will get no job (the spec was bad, say) and remove its folder."""
    try:
        os.close(started.read_end)
    except OSError:
        pass
    if started.child.poll() is None:
        _kill(started.child)
    started.child.wait()
    shutil.rmtree(started.folder, ignore_errors=True)


def run_student(student: str | Path, job: dict | Callable[[], dict], adapter: str | Path | None = None,
                limits: Limits = Limits()) -> Run:
    """Run ``job`` (see :mod:`derive.sandbox_child`) on a copy of the student's file, contained.

    ``job`` may be a function that makes it: it is called once the child has started.
    The folder is made fresh and removed afterwards; the child sees only the copies in it.
    """
    return finish_student(start_student(student, adapter, limits), job)


def _send(child: subprocess.Popen, job: dict) -> None:
    try:
        child.stdin.write(json.dumps(job).encode())
        child.stdin.close()
    except BrokenPipeError:  # the child died first; its records (none) say so
        pass


def _read(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything the child writes until it closes the pipe, the deadline passes or the cap is reached."""
    chunks, size = [], 0
    while size < MAX_OUTPUT:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the whole group: anything the student started too
    except ProcessLookupError:
        pass


def _why(status: int, records: tuple[Record, ...]) -> str:
    """Why the child stopped before writing 'finished': CPU limit, killed, exited, or crashed."""
    if any(r.event == "finished" for r in records):
        return ""
    if status == 0:
        return "exited"  # os._exit(0) in the student's code: a clean exit in the middle of a call
    if status in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout"
    if status in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "memory"  # the kernel's OOM killer; derive's own kill is counted as a timeout above
    return "crashed"


def _record(line: str) -> Record | None:
    """One JSON line as a Record; a malformed line (a student writing to the pipe) is dropped."""
    try:
        r = json.loads(line)
        if not isinstance(r, dict) or not isinstance(r.get("event"), str):
            return None
        return Record(event=r["event"], function=str(r.get("function", "")), network=int(r.get("network", 0)),
                      kind=str(r.get("kind", "")), message=str(r.get("message", "")),
                      traceback=str(r.get("traceback", "")), value=r.get("value"),
                      functions=tuple(str(f) for f in r.get("functions", ())),
                      signatures=tuple((str(k), str(v)) for k, v in dict(r.get("signatures", {})).items()))
    except (ValueError, TypeError, AttributeError, RecursionError):  # "[[[[…" nested past json's limit
        return None


def _tail(path: str, most: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - most))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
