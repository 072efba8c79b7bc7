"""The child side of derive's sandbox: runs a student's functions and reports what they return.

This file runs as ``python3 -I sandbox_child.py FD STUDENT.py [ADAPTER.py]`` inside a temporary folder, started by
:mod:`derive.sandbox`; it imports nothing of derive (the student's code shares this process,
so nothing here may be worth stealing).  It reads one job as JSON on stdin and writes JSON
lines to the file descriptor it is given: a ``start`` record before each call, then ``done``
with the value (arrays as shape and data) or ``error`` with the student's traceback.  The
parent reads them back as data only; nothing is ever unpickled.
"""
import importlib.util
import inspect
import json
import os
import signal
import sys
import sysconfig
import traceback

import numpy as np

MAX_ENTRIES = 100_000  # a returned array larger than any worksheet's network needs

_BLOCKED = ("socket.", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn",
            "os.fork", "os.forkpty", "os.kill", "os.killpg", "ctypes.dlopen", "os.putenv", "os.unsetenv",
            "webbrowser.open")
_PATH_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree", "os.symlink", "os.link",
                "os.chmod", "os.chown", "os.truncate", "os.utime", "os.chdir", "os.listdir", "os.scandir")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class TimeLimit(BaseException):
    """The call ran past its time limit (a BaseException, so ``except Exception`` cannot keep it)."""


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def install_guard(folder):
    """Refuse the network, other processes, and files outside ``folder`` (reads also from Python's
    own library folders, which imports need).  An audit hook is best-effort containment: the
    real limits are the parent's (time, memory, file size, a network namespace where available)."""
    readable = {os.path.realpath(p) for k, p in sysconfig.get_paths().items()
                if k in ("stdlib", "platstdlib", "purelib", "platlib") and p}
    readable |= {os.path.realpath(os.path.dirname(os.path.dirname(np.__file__))), "/dev/null", "/dev/urandom"}

    def allowed(path, writing):
        if isinstance(path, int) or path is None:
            return True
        real = os.path.realpath(os.fsdecode(path))
        return _inside(real, folder) or (not writing and any(_inside(real, r) for r in readable))

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
            if not allowed(path, writing):
                raise PermissionError(f"derive's sandbox: {'writing' if writing else 'reading'} {path} "
                                      "outside the working folder is not allowed")
        elif event in _PATH_EVENTS:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
            if not all(allowed(p, event not in ("os.listdir", "os.scandir", "os.chdir")) for p in paths):
                raise PermissionError(f"derive's sandbox: {event} outside the working folder is not allowed")
        elif event.startswith(_BLOCKED):
            raise PermissionError(f"derive's sandbox: {event} is not allowed (no network, no other processes)")

    sys.addaudithook(hook)


# --- arrays as data -------------------------------------------------------------------

def decode(obj):
    return np.array(obj["data"], dtype=float).reshape(obj["shape"])


def encode(value, what):
    """A returned value as {"shape", "data"}; a ValueError names what the contract expected."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ContractError(f"{what} is {type(value).__name__}, not an array of numbers") from None
    if arr.size > MAX_ENTRIES:
        raise ContractError(f"{what} has {arr.size} entries; far more than the network has")
    return {"shape": list(arr.shape), "data": [float(v) for v in arr.ravel()]}


class ContractError(Exception):
    """A function returned something other than what the contract says."""


# --- running one call -----------------------------------------------------------------

class Reporter:
    """Writes records as JSON lines to the parent's descriptor."""

    def __init__(self, fd, folder):
        self.fd, self.folder = fd, folder

    def send(self, **record):
        os.write(self.fd, (json.dumps(record) + "\n").encode())

    def student_traceback(self, exc):
        """The traceback with only the student's (and the adapter's) frames: never derive's."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if _inside(os.path.realpath(f.filename), self.folder)]
        for f in frames:
            f.filename = os.path.basename(f.filename)
        head = "Traceback (most recent call last):\n" if frames else ""
        return head + "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))


def call(reporter, name, network, seconds, thunk):
    """Run one call under a time limit; report it; return (ok, value)."""
    reporter.send(event="start", function=name, network=network)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        value = thunk()
    except TimeLimit as e:
        return _failed(reporter, name, network, "timeout", f"did not return within {seconds:g} s", e)
    except MemoryError as e:
        return _failed(reporter, name, network, "memory", "ran out of memory (the sandbox's limit)", e)
    except ContractError as e:
        return _failed(reporter, name, network, "contract", str(e), None)
    except SystemExit as e:  # sys.exit() in a function: it ended the program instead of returning
        return _failed(reporter, name, network, "exited", f"called sys.exit({e.code!r}) instead of returning", e)
    except Exception as e:  # the student's own error, reported with the student's traceback
        return _failed(reporter, name, network, "exception", f"{type(e).__name__}: {e}", e)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return True, value


def _failed(reporter, name, network, kind, message, exc):
    trace = reporter.student_traceback(exc) if exc is not None else ""
    reporter.send(event="error", function=name, network=network, kind=kind, message=message[:2000],
                  traceback=trace[-8000:])
    return False, None


def _on_alarm(signum, frame):
    raise TimeLimit("derive's sandbox stopped the call here: it ran past its time limit")


# --- the contract's functions --------------------------------------------------------

def _copy(params):
    return {k: v.copy() for k, v in params.items()}


def _forward(f, X, params):
    out = f(X, params)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ContractError(f"forward returned {type(out).__name__}; the contract expects a pair (yhat, cache)")
    return out


def _arrays(out, what, keys):
    if not isinstance(out, dict):
        raise ContractError(f"{what} returned {type(out).__name__}; the contract expects a dict with "
                            f"{', '.join(keys)}")
    missing = [k for k in keys if k not in out]
    if missing:
        raise ContractError(f"{what} returned no {', '.join(missing)}; the contract expects {', '.join(keys)}")
    return {k: encode(out[k], f"{what}'s {k}") for k in keys}


def _scalar(value):
    arr = encode(value, "loss's value")
    if len(arr["data"]) != 1:
        raise ContractError(f"loss returned an array of shape {tuple(arr['shape'])}; the contract expects one number")
    return arr["data"][0]


def run(job, reporter, functions):
    """Each function on every network, then training; a function that fails once is not run again."""
    nets = [{"X": decode(n["X"]), "Y": decode(n["Y"]), "lr": n["lr"], "yhat": decode(n["yhat"]),
             "params": {k: decode(v) for k, v in n["params"].items()},
             "grads": {k: decode(v) for k, v in n["grads"].items()}} for n in job["networks"]]
    seconds, caches, failed = job["call_seconds"], {}, set()
    pnames = list(job["networks"][0]["params"])
    gnames = ["d" + k for k in pnames]
    plan = [
        ("forward", lambda n, k: _forward_value(functions["forward"], n, k, caches)),
        ("loss", lambda n, k: _scalar(functions["loss"](n["yhat"].copy(), n["Y"].copy()))),
        ("backward", lambda n, k: _arrays(functions["backward"](n["X"].copy(), n["Y"].copy(), _copy(n["params"]),
                                                                caches[k]), "backward", gnames)),
        ("update", lambda n, k: _arrays(functions["update"](_copy(n["params"]), _copy(n["grads"]), n["lr"]),
                                        "update", pnames)),
    ]
    for name, thunk in plan:
        if name not in functions:
            continue
        for k, n in enumerate(nets):
            if name == "backward" and k not in caches:
                break  # forward failed: there is no cache to give backward
            ok, value = call(reporter, name, k, seconds, lambda: thunk(n, k))
            if not ok:
                failed.add(name)
                break
            reporter.send(event="done", function=name, network=k, value=value)
    if job.get("training") and not failed:
        _train(job["training"], reporter, functions, pnames, gnames)


def _forward_value(f, n, k, caches):
    yhat, cache = _forward(f, n["X"].copy(), _copy(n["params"]))
    caches[k] = cache
    return encode(yhat, "forward's yhat")


def _train(t, reporter, functions, pnames, gnames):
    """Full-batch gradient descent with the student's own functions (or the adapter's train_step)."""
    X, Y, lr = decode(t["X"]), decode(t["Y"]), t["lr"]
    params = {k: decode(v) for k, v in t["params"].items()}
    step = functions.get("train_step")
    if step is None and not all(f in functions for f in ("forward", "backward", "update")):
        return

    def loop():
        p = params
        for _ in range(t["epochs"]):
            if step is not None:
                p = step(X, Y, p, lr)
            else:
                _, cache = _forward(functions["forward"], X, p)
                p = functions["update"](p, functions["backward"](X, Y, p, cache), lr)
            if not isinstance(p, dict):
                raise ContractError(f"update returned {type(p).__name__}; the contract expects a dict of parameters")
        return _arrays(p, "training", pnames)

    ok, value = call(reporter, "training", 0, t["seconds"], loop)
    if ok:
        reporter.send(event="done", function="training", network=0, value=value)


def _signature(f, arity):
    """'' when f takes ``arity`` positional arguments, else its signature as written."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return ""
    try:
        sig.bind(*range(arity))
    except TypeError:
        return f"{f.__name__}{sig}"
    return ""


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    out_fd, student_file, adapter_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    job = json.loads(sys.stdin.read())
    folder = os.path.realpath(os.getcwd())
    os.dup2(2, 1)  # the student's prints go to the log, never into the records
    sys.stdout = sys.stderr
    reporter = Reporter(out_fd, folder)
    signal.signal(signal.SIGALRM, _on_alarm)
    install_guard(folder)

    def imports():
        student = load(os.path.join(folder, student_file), "student")
        return load(os.path.join(folder, adapter_file), "adapter") if adapter_file else student

    ok, module = call(reporter, "import", 0, job["call_seconds"], imports)
    if not ok:
        return
    functions = {n: getattr(module, n) for n in list(job["arity"]) + ["train_step"]
                 if callable(getattr(module, n, None))}
    wrong = {n: _signature(functions[n], k) for n, k in job["arity"].items() if n in functions}
    wrong = {n: s for n, s in wrong.items() if s}
    reporter.send(event="loaded", functions=sorted(functions), signatures=wrong)
    if wrong or any(n not in functions for n in job["required"]):
        return
    run(job, reporter, functions)
    reporter.send(event="finished")


if __name__ == "__main__":
    main()
