"""A pytest helper for instructors who already grade with pytest.

    from derive.testing import check_backprop

    def test_backprop():
        check_backprop("submission/backprop.py", spec="worksheets/classic-221.toml")

It fails with derive's report (a line per function, the named mistake, the student's
traceback) when any check fails, and returns the report when all pass.
"""
from __future__ import annotations

from .checkcode import CodeReport, check_code
from .codereport import report_text
from .sandbox import Limits
from .spec import Spec, load_spec


def check_backprop(student: str, spec: str | Spec, *, secret: str | None = None, student_id: str | None = None,
                   convention: str = "row", adapter: str | None = None, networks: int = 5,
                   limits: Limits = Limits()) -> CodeReport:
    """Check a student's file against the spec; raise AssertionError with the report unless it passes."""
    spec = load_spec(spec) if not isinstance(spec, Spec) else spec
    report = check_code(student, spec, secret, student_id, convention, adapter, networks, limits)
    if not report.passed:
        raise AssertionError("\n" + report_text(report))
    return report
