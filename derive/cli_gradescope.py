"""Command-line parts for Gradescope: gradescope (build the autograder zip) and autograde (run inside it)."""
from __future__ import annotations

from .cli_class import given_secret, read_spec


def add_gradescope_commands(sub) -> None:
    """Add the Gradescope subcommands to the parser."""
    g = sub.add_parser("gradescope", help="build a Gradescope autograder zip (setup.sh, run_autograder) "
                                          "that grades a student's answers CSV or filled PDF sheet")
    g.add_argument("spec")
    g.add_argument("--class", dest="class_dir", metavar="DIR", required=True,
                   help="the class folder derive worksheets made (its manifest's seeds go into the zip)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--secret", help="the class's secret, checked against the manifest (default: $DERIVE_SECRET); "
                                      "it is not put in the zip")
    src.add_argument("--secret-file", help="read that secret from this file")
    g.add_argument("--out", required=True, help="the zip to write, e.g. autograder.zip")
    g.add_argument("--force", action="store_true", help="replace an existing zip")

    a = sub.add_parser("autograde", help="(inside Gradescope) grade submission/* and write results/results.json")
    a.add_argument("--root", help="the autograder folder with source/, submission/, results/ "
                                  "(default: $DERIVE_AUTOGRADER_ROOT, else /autograder)")


def cmd_gradescope(args) -> int:
    from .gradescope import build_autograder
    spec = read_spec(args)
    out = build_autograder(spec, args.class_dir, given_secret(args), args.out, force=args.force)
    print(f"wrote {out}: upload it as the assignment's autograder (Gradescope: Configure Autograder › Zip file)")
    return 0


def cmd_autograde(args) -> int:
    from .gradescope import main
    return main(args.root)


GRADESCOPE_COMMANDS = {"gradescope": cmd_gradescope, "autograde": cmd_autograde}
