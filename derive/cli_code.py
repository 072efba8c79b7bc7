"""Command-line parts for students' code: check-code and init-code."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import DeriveError, OutputError
from .cli_class import given_secret, read_spec

EXAMPLES = Path(__file__).with_name("examples")


def add_code_commands(sub) -> None:
    """Add the code-checking subcommands to the parser."""
    c = sub.add_parser("check-code", help="run a student's forward/loss/backward/update on randomized "
                                          "networks against the derivation; name the mistake")
    c.add_argument("student_file", metavar="STUDENT.py")
    c.add_argument("--spec", required=True, help="the worksheet spec the code is for")
    c.add_argument("--secret", help="draw the networks from this secret and --student (default: $DERIVE_SECRET)")
    c.add_argument("--secret-file", help="read that secret from this file")
    c.add_argument("--student", dest="student_id", help="the student's id")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--convention", choices=["row", "column"], default="row",
                   help="row (default): rows are examples, z = X W + b; column: z = W a + b")
    c.add_argument("--adapter", help="a file mapping an existing skeleton onto the contract, or the name "
                                     "of a shipped one (tutorial)")
    c.add_argument("--gradescope", metavar="results.json", help="also write Gradescope's results.json here")
    c.add_argument("--networks", type=int, default=5, help="randomized networks to run on (5)")
    c.add_argument("--time-limit", type=float, default=5.0, help="seconds a call may take (5)")
    c.add_argument("--memory-limit", type=int, default=1024, help="megabytes the student's code may use (1024)")

    i = sub.add_parser("init-code", help="write the students' starting file: stubs, the contract's docstrings, "
                                         "the sheet's notation")
    i.add_argument("spec")
    i.add_argument("--out", default="backprop.py", help="the file to write (backprop.py)")
    i.add_argument("--convention", choices=["row", "column"], default="row")
    i.add_argument("--force", action="store_true", help="replace the file if it exists")


def adapter_path(name: str | None) -> str | None:
    """An adapter file, or a shipped one by name (``tutorial`` → examples/tutorial_adapter.py)."""
    if name is None or Path(name).is_file():
        return name
    shipped = EXAMPLES / f"{name}_adapter.py"
    if shipped.is_file():
        return str(shipped)
    known = sorted(p.name[: -len("_adapter.py")] for p in EXAMPLES.glob("*_adapter.py"))
    raise DeriveError(f"no such file, and no shipped adapter of that name (shipped: {', '.join(known)})",
                      file=name, key="--adapter")


def cmd_check_code(args) -> int:
    from .sandbox import Limits, abandon_student, start_student
    if not Path(args.student_file).is_file():
        raise DeriveError("no such file", file=args.student_file)
    # nan passes a "≤ 0" test, and inf or 1e300 s overflowed setrlimit in the child (a SubprocessError)
    if args.networks < 1 or not 0 < args.time_limit <= 3600 or not 64 <= args.memory_limit <= 2**20:
        raise DeriveError("expected --networks ≥ 1, --time-limit from 0 to 3600 s and --memory-limit "
                          "from 64 to 1048576 MB", key="arguments")
    secret = given_secret(args) if args.student_id or args.secret else None
    limits = Limits(call_seconds=args.time_limit, total_seconds=max(60.0, 12 * args.time_limit),
                    memory_mb=args.memory_limit)
    adapter = adapter_path(args.adapter)
    # The student's process starts first: its Python and NumPy start while derive imports
    # SymPy and reads the spec (measured: that overlap is a quarter of a check).
    started = start_student(args.student_file, adapter, limits)
    try:
        from .checkcode import check_code
        spec = read_spec(args)
    except BaseException:
        abandon_student(started)
        raise
    from .codereport import gradescope_bad_input, gradescope_results, report_json, report_text
    try:
        report = check_code(args.student_file, spec, secret, args.student_id, args.convention,
                            adapter, args.networks, limits, started=started)
    except DeriveError as e:
        if args.gradescope:
            _write_json(args.gradescope, gradescope_bad_input(str(e)))
        raise
    if args.gradescope:
        _write_json(args.gradescope, gradescope_results(report))
    print(json.dumps(report_json(report), indent=2, ensure_ascii=False) if args.json else report_text(report))
    return 0 if report.passed else 1


def _write_json(path: str, doc: dict) -> None:
    _write_text(Path(path), json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def cmd_init_code(args) -> int:
    from .contract import starting_file
    spec = read_spec(args)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise OutputError("exists; pass --force to replace it, or choose another --out", file=str(out))
    _write_text(out, starting_file(spec, args.convention))
    print(f"wrote {out}")
    return 0


def _write_text(path: Path, text: str) -> None:
    from .tables import write_atomic
    try:
        write_atomic(path, text)
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", file=str(path)) from e


CODE_COMMANDS = {"check-code": cmd_check_code, "init-code": cmd_init_code}
