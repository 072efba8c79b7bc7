"""A code check's report as text for a terminal, as JSON, and as Gradescope's ``results.json``.

Gradescope's autograder format (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): a top-level ``score`` and ``output``, and ``tests``, each with ``name``,
``score``, ``max_score``, ``status`` (passed or failed) and ``output``.
"""
from __future__ import annotations

from .checkcode import CodeReport, Finding


def _headline(f: Finding) -> str:
    """One line: 'pass', or the named mistake with the first differing entry, or the error."""
    if f.status == "pass":
        return "pass" + (f": {f.detail}" if f.detail else "")
    if f.status == "wrong" and f.title:
        return f"{f.title}: {f.detail}"
    return f"{f.status}: {f.detail}" if f.detail else f.status


def _summary(r: CodeReport) -> str:
    return (f"{r.networks} networks {'-'.join(map(str, r.layers))}, a batch of {r.samples}, "
            f"{'rows' if r.convention == 'row' else 'columns'} are examples, seed {r.seed}")


def report_text(r: CodeReport) -> str:
    """The terminal report: a line per function, the mistake's explanation and the student's
    traceback under it, then the score."""
    lines = [f"{r.student} against {r.spec}: {_summary(r)}"]
    for f in r.findings:
        first, *more = _printed(_headline(f)) or [""]  # an exception's message may run over lines
        lines.append(f"  {f.function:<9} {first}")
        lines += [f"  {'':<9} {t}" for t in more]
        if f.sentence:
            lines.append(f"  {'':<9} {f.sentence}")
        lines += [f"  {'':<9} {t}" for t in _printed(f.traceback.rstrip())]
    lines.append(f"score {r.score}/{r.max_score}")
    return "\n".join(lines)


def _printed(text: str) -> list[str]:
    """Text the student's code made, as lines a terminal only shows: no escapes, none at the margin."""
    from .grade import printable
    return [printable(line) for line in text.splitlines()]


def _finding_dict(f: Finding) -> dict:
    return {"function": f.function, "status": f.status, "passed": f.passed, "scored": f.scored,
            "mistake": f.mistake, "title": f.title, "sentence": f.sentence, "detail": f.detail,
            "traceback": f.traceback}


def report_json(r: CodeReport) -> dict:
    """The report as a JSON-ready dict (``derive check-code --json``)."""
    return {"student": r.student, "spec": r.spec, "convention": r.convention, "layers": list(r.layers),
            "batch": r.samples, "networks": r.networks, "seed": str(r.seed), "score": r.score,
            "max_score": r.max_score, "passed": r.passed, "contained": list(r.contained),
            "functions": [_finding_dict(f) for f in r.findings]}


def gradescope_results(r: CodeReport) -> dict:
    """Gradescope's results.json: one test per function checked, its feedback as output."""
    tests = []
    for f in (f for f in r.findings if f.scored):
        output = "\n".join(x for x in (_headline(f), f.sentence, f.traceback.rstrip()) if x)
        tests.append({"name": f.function, "score": float(f.passed), "max_score": 1.0,
                      "status": "passed" if f.passed else "failed", "output": output})
    return {"score": float(r.score), "output": _summary(r), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def gradescope_bad_input(message: str) -> dict:
    """results.json for a file that could not be checked at all: score 0 and the one line why."""
    return {"score": 0.0, "output": message, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
