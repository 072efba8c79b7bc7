"""Command-line parts for a class: worksheets, grade, verify."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from .errors import DeriveError


def limits(args):
    """The size limits a command's inputs are read within: a worksheet's, or --force-large's."""
    from .spec import LARGE, WORKSHEET
    return LARGE if getattr(args, "force_large", False) else WORKSHEET


# The spec stage imports SymPy (half a second): commands import it when they
# read a spec, not when derive starts, so `derive --help` and `derive secret`
# are quick and check-code starts the student's process first.
TRACE_COMMANDS = ("solve", "worksheets", "grade", "verify")
"""The commands that take a computation-graph spec ([graph]); the others need a network."""


def read_spec(args):
    """The command's SPEC, read within its size limits; a [graph] spec only for :data:`TRACE_COMMANDS`."""
    from .errors import SpecError
    from .spec import load_spec
    spec = load_spec(args.spec, limits(args))
    command = getattr(args, "command", None)
    if spec.trace is not None and command is not None and command not in TRACE_COMMANDS:
        raise SpecError(f"a computation-graph spec has no network; derive {command} needs [network] "
                        f"(a [graph] spec works with {', '.join(TRACE_COMMANDS)})", file=spec.path, key="[graph]")
    return spec


def read_roster(args):
    """The command's --roster, read within its size limits and with the options that say how to read it."""
    from .spec import load_roster
    return load_roster(args.roster, limits(args), id_column=args.roster_id_column,
                       name_column=args.roster_name_column, encoding=args.roster_encoding)


def _roster_options(parser) -> None:
    """--roster and the options that say how to read it (each also spelled --roster-…, as in
    --roster-id-column, beside grade's --answers-id-column)."""
    parser.add_argument("--roster", required=True,
                        help="CSV of the students: student_id and name columns, a Moodle participants or Canvas "
                             "gradebook export, or a spreadsheet's CSV (, ; or tab)")

    def option(name: str, **kw) -> None:
        parser.add_argument(f"--{name}", f"--roster-{name}", dest=f"roster_{name.replace('-', '_')}", **kw)
    option("id-column", metavar="COLUMN", help="the roster's column of student ids (default: detected)")
    option("name-column", metavar="COLUMN", action="append",
           help="the roster's column of names (default: detected); give it twice to join first and last names")
    option("encoding", metavar="NAME",
           help="the roster's encoding (default: UTF-8, else UTF-16 by its BOM, else Windows-1252)")


def add_class_commands(sub) -> None:
    """Add the class-level subcommands to the parser."""
    sub.add_parser("secret", help="print a new strong random secret for a class")

    i = sub.add_parser("init", help="write the shipped example specs and rosters into a folder")
    i.add_argument("folder", nargs="?", default=".")
    i.add_argument("--force", action="store_true", help="replace example files already there")

    w = sub.add_parser("worksheets", help="a blank and a solved sheet per student, as .tex and PDF")
    w.add_argument("spec")
    _roster_options(w)
    w.add_argument("--out", required=True, help="output folder (refused if it exists, unless --force)")
    w.add_argument("--secret", help="instructor's secret (default: $DERIVE_SECRET); make one with derive secret")
    w.add_argument("--secret-file", help="read the secret from this file (kept out of shell history and ps)")
    w.add_argument("--weak-secret", action="store_true",
                   help="accept a secret that is easy to guess (students could rebuild each other's sheets)")
    w.add_argument("--variant", choices=["blank", "solved", "both"], default="both")
    w.add_argument("--no-pdf", action="store_true", help="write the .tex sources only")
    w.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel TeX runs")
    w.add_argument("--templates", help="a folder whose templates override the shipped ones")
    w.add_argument("--engine", choices=["auto", "pdflatex", "lualatex"], default="auto",
                   help="auto (default): pdflatex, or lualatex when a name needs it")
    w.add_argument("--force", action="store_true", help="replace an existing output folder")


    g = sub.add_parser("grade", help="grade a class's answers file; write grades, feedback, summary")
    g.add_argument("spec")
    _roster_options(g)
    g.add_argument("--answers", required=True,
                   help="CSV: wide (student_id or sheet_code, one column per answer) or long, or a "
                        "Google Forms, Microsoft Forms, Moodle Responses or Canvas Student Analysis export; "
                        "or filled PDF sheets: a PDF, a folder of them, or Moodle's or Canvas's submissions .zip")
    g.add_argument("--answers-id-column", metavar="COLUMN",
                   help="the answers file's column that identifies students (default: detected; "
                        "--id-column is the roster's)")
    g.add_argument("--map", dest="answer_map", metavar="FILE",
                   help="CSV of rows column,answer: which answers file column holds which answer")
    g.add_argument("--out", required=True, help="folder for grades.csv, feedback/, summary.md")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--secret", help="the secret the worksheets were made with (default: $DERIVE_SECRET)")
    src.add_argument("--secret-file", help="read that secret from this file")
    src.add_argument("--key", help="answer-key.csv of the class folder (its students/*/params.json are read)")
    g.add_argument("--class", dest="class_dir", metavar="DIR",
                   help="the class folder derive worksheets made: exercises from its manifest's seeds, "
                        "and a wrong --secret or another spec is refused")
    _tolerance_options(g)
    g.add_argument("--carried-weight", type=float, default=1.0,
                   help="credit for an answer right from the student's own earlier mistake (1.0)")
    g.add_argument("--fewer-decimals-deduction", type=float, default=0.0, metavar="D",
                   help="marks taken off an answer right to fewer decimals than asked (0: feedback only)")
    g.add_argument("--assignment", metavar="NAME",
                   help="the grade column of moodle-grades.csv and canvas-grades.csv (default: the spec's "
                        "title); for Canvas write 'Name (1234)' with the assignment's id, or a Canvas roster's "
                        "assignment name")
    g.add_argument("--feedback-pdf", action="store_true",
                   help="also typeset each student's feedback as feedback/<id>.pdf (TeX)")
    g.add_argument("--templates", help="a folder whose templates override the shipped ones (feedback.tex, text.tex)")
    g.add_argument("--json", action="store_true", help="also print the per-student results as JSON")
    g.add_argument("--force", action="store_true", help="replace an existing output folder (whole)")

    c = sub.add_parser("collect", help="read filled PDF sheets (a folder or an LMS's .zip) into an answers CSV "
                                       "to check before grading")
    c.add_argument("spec")
    c.add_argument("answers", metavar="PATH", help="a filled PDF, a folder of them, or a submissions .zip")
    _roster_options(c)
    c.add_argument("--out", required=True, help="the answers CSV to write (refused if it exists, unless --force)")
    csrc = c.add_mutually_exclusive_group()
    csrc.add_argument("--secret", help="the class's secret (default: $DERIVE_SECRET): sheets are identified "
                                       "by their codes")
    csrc.add_argument("--secret-file", help="read that secret from this file")
    c.add_argument("--class", dest="class_dir", metavar="DIR", help="the class folder: its manifest's sheet codes")
    c.add_argument("--force", action="store_true", help="replace an existing --out")

    v = sub.add_parser("verify", help="check one worked example's answers")
    v.add_argument("spec")
    v.add_argument("--answers", required=True, help="CSV: name,value rows, or one wide row")
    v.add_argument("--json", action="store_true")
    v.add_argument("--seed", type=int, help="draw the parameters the spec does not fix")
    v.add_argument("--params", help="a student's params.json")
    _tolerance_options(v)


def _tolerance_options(p) -> None:
    p.add_argument("--rtol", type=float, help="relative tolerance instead of the sheet's decimals")
    p.add_argument("--atol", type=float, help="absolute tolerance (with or without --rtol)")
    p.add_argument("--sigfigs", type=int, help="accept one unit in this significant figure")


def tolerance_from(args):
    """None (the sheet's decimals) or the tolerance the options ask for."""
    from .grade import Tolerance
    if args.sigfigs is not None:
        if args.rtol is not None or args.atol is not None or args.sigfigs < 1:
            raise DeriveError("expected either --sigfigs N (N ≥ 1) or --rtol/--atol", key="--sigfigs")
        return Tolerance.by_sigfigs(args.sigfigs)
    if args.rtol is not None or args.atol is not None:
        if not (0 <= (args.rtol or 0) < math.inf and 0 <= (args.atol or 0) < math.inf):  # nan too
            raise DeriveError("expected finite, non-negative --rtol and --atol", key="--rtol")
        return Tolerance.by_rtol(args.rtol or 0.0, args.atol or 0.0)
    return None


def given_secret(args) -> str | None:
    """--secret, else the first line of --secret-file, else $DERIVE_SECRET, else None."""
    if args.secret is not None:
        return args.secret
    if args.secret_file is not None:
        try:
            with open(args.secret_file, encoding="utf-8") as f:
                line = f.readline(1000).strip()
        except (OSError, UnicodeDecodeError) as e:
            raise DeriveError(f"cannot read the secret: {getattr(e, 'strerror', None) or e}",
                              file=args.secret_file) from e
        if not line:
            raise DeriveError("expected the secret on the first line; the file has none", file=args.secret_file)
        return line
    return os.environ.get("DERIVE_SECRET")


def secret_for(spec, args) -> str:
    """The secret given (:func:`given_secret`); required only when the spec leaves values to draw."""
    secret = given_secret(args)
    if secret:
        return secret
    if not spec.is_fixed():
        raise DeriveError("no secret: pass --secret-file F, --secret S or set DERIVE_SECRET (the same secret "
                          "regenerates every student's sheet)", file=spec.path, key="[random]")
    return ""


def refuse_weak(secret: str, source: str) -> None:
    """A secret a student could guess offline is refused: they would rebuild classmates' sheets."""
    from .secret import weakness
    why = weakness(secret)
    if why:
        raise DeriveError(f"the secret is too easy to guess: {why}; make one with `derive secret`, "
                          "or pass --weak-secret to use it anyway", key=source)


class TerminalProgress:
    """Progress on one self-overwriting line of stderr, only when it is a terminal."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr  # looked up now, not when the module was imported
        self.live = self.stream.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.live:
            self.stream.write(f"\r{stage:<7} {done:>5}/{total:<5}")
            if done == total:
                self.stream.write("\n")
            self.stream.flush()


def cmd_worksheets(args) -> int:
    from .classroom import build_class
    spec = read_spec(args)
    roster = read_roster(args)
    variants = ("blank", "solved") if args.variant == "both" else (args.variant,)
    if args.jobs < 1:
        raise DeriveError(f"expected --jobs ≥ 1; got {args.jobs}", key="--jobs")
    templates = Path(args.templates) if args.templates else None
    if templates is not None and not templates.is_dir():
        raise DeriveError("not a folder", file=args.templates, key="--templates")
    secret = secret_for(spec, args)
    if secret and not args.weak_secret:
        refuse_weak(secret, "--secret" if args.secret is not None else
                    "--secret-file" if args.secret_file is not None else "DERIVE_SECRET")
    result = build_class(spec, roster, args.out, secret, variants=variants,
                         pdf=not args.no_pdf, jobs=args.jobs, templates=templates,
                         engine=args.engine, force=args.force, progress=TerminalProgress())
    from .classroom import failure_groups
    for keys, f in failure_groups(result.failures):  # one report per distinct error, not per sheet
        which = (f"sheet {keys[0]}" if len(keys) == 1 else
                 f"{len(keys)} sheets ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})")
        where = f" at {f.origin} (the template line)" if f.origin else ""
        print(f"derive: {which} failed to compile{where}:\n{f.log_excerpt}", file=sys.stderr)
    pdfs = "" if args.no_pdf else f", {result.sheets - len(result.failures)} PDFs ({result.engine})"
    print(f"{result.students} students, {result.sheets} sheets{pdfs} in {result.out}"
          + (f"; {len(result.failures)} sheets FAILED" if result.failures else ""))
    return 1 if result.failures else 0


def cmd_grade(args) -> int:
    import json
    from .classroom import grade_class
    from .grade import printable, result_json
    spec = read_spec(args)
    roster = read_roster(args)
    if args.key:
        secret = None
    elif args.class_dir:  # the manifest has the seeds; a secret given is checked against it
        secret = given_secret(args)
    else:
        secret = secret_for(spec, args)
    for option, value in (("--carried-weight", args.carried_weight),
                          ("--fewer-decimals-deduction", args.fewer_decimals_deduction)):
        if not 0 <= value <= 1:
            raise DeriveError(f"expected {option} between 0 and 1; got {value}", key=option)
    result = grade_class(spec, roster, args.answers, args.out, secret=secret, key=args.key,
                         class_dir=args.class_dir, tolerance=tolerance_from(args),
                         carried_weight=args.carried_weight,
                         fewer_decimals_deduction=args.fewer_decimals_deduction, force=args.force,
                         id_column=args.answers_id_column, answer_map=args.answer_map,
                         assignment=args.assignment, feedback_pdf=args.feedback_pdf,
                         templates=Path(args.templates) if args.templates else None, limits=limits(args))
    for w in result.warnings:
        print(f"derive: warning: {printable(w)}", file=sys.stderr)
    for st in result.students:
        if st.flag:
            print(f"derive: flag: {st.student_id}: {st.flag}", file=sys.stderr)
    if args.json:
        dec = spec.exercise.decimals
        print(json.dumps({s.student_id: {"name": s.name, **result_json(s.result, dec)}
                          for s in result.students}, indent=2, ensure_ascii=False))
    else:
        total = sum(s.result.score for s in result.students)
        most = sum(s.result.max for s in result.students)
        print(f"graded {len(result.students)} students (mean {total / max(1, len(result.students)):.1f} "
              f"of {most / max(1, len(result.students)):g}); wrote {args.out}/grades.csv, "
              f"moodle-grades.csv, canvas-grades.csv, feedback/, summary.md")
    return 0


def cmd_collect(args) -> int:
    from .classroom import collect_class
    from .grade import printable
    spec = read_spec(args)
    roster = read_roster(args)
    collected = collect_class(spec, roster, args.answers, args.out, secret=given_secret(args),
                              class_dir=args.class_dir, force=args.force)
    for w in collected.warnings:
        print(f"derive: warning: {printable(w)}", file=sys.stderr)
    print(f"read {len(collected.students)} of {len(roster.students)} students' sheets; wrote {args.out}")
    return 0


def cmd_verify(args) -> int:
    import json
    from .cli import params_and_data
    from .grade import printable, read_sheet_answers, result_json
    from .lab import exercise_problem, verify_exercise
    tolerance = tolerance_from(args)  # a bad option before the file's warnings
    spec = read_spec(args)
    params, data = params_and_data(spec, args)
    sheet = read_sheet_answers(args.answers, exercise_problem(spec, params, data).graph.names)
    for w in sheet.warnings:
        print(f"derive: warning: {printable(w)}", file=sys.stderr)
    dec = spec.exercise.decimals
    result = verify_exercise(spec, params, data, sheet.answers, tolerance)
    if args.json:
        print(json.dumps(result_json(result, dec), indent=2, ensure_ascii=False))
    else:
        width = max(len(r.name) for r in result.results)
        print(f"{'answer':<{width}}  {'given':>12}  {'expected':>12}  status")
        for r in result.results:
            print(f"{r.name:<{width}}  {printable(r.given):>12}  {format(r.expected, 'f'):>12}  {r.status.value}"
                  + (f"  ({r.mistake})" if r.mistake else "") + (f"  [{r.note}]" if r.note else ""))
        print(f"{result.score:g} of {result.max:g}")
    ok = all(r.status.value in ("correct", "carried") for r in result.results)
    return 0 if ok else 1


def cmd_secret(args) -> int:
    from .secret import new_secret
    print(new_secret())
    return 0


def cmd_init(args) -> int:
    from .classroom import init_examples
    written = init_examples(args.folder, force=args.force)
    for path in written:
        print(path)
    spec = next(p for p in written if p.name == "random-221.toml")
    roster = next(p for p in written if p.name == "roster-example.csv")
    print(f"next: derive secret > class.secret && derive worksheets {spec} --roster {roster} "
          "--out class --secret-file class.secret")
    return 0


CLASS_COMMANDS = {"secret": cmd_secret, "init": cmd_init, "worksheets": cmd_worksheets, "grade": cmd_grade,
                  "collect": cmd_collect,
                  "verify": cmd_verify}
