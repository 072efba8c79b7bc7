"""derive's errors: small typed values that render as one located line.

Every error a user can cause is a :class:`DeriveError`; the command line
catches exactly this type, prints ``str(error)`` and exits with status 2.
"""
from __future__ import annotations

import difflib
import re
from typing import Iterable


class DeriveError(Exception):
    """An error caused by input, shown to the user as one line.

    ``file`` and ``line`` locate it, ``key`` names the spec key, CSV column or
    row, and ``message`` says what was expected and what was found.
    """

    exit_status = 2

    def __init__(self, message: str, *, file: str | None = None,
                 line: int | None = None, key: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = str(self.file) + (f":{self.line}" if self.line else "") + ": "
        key = f"{self.key}: " if self.key else ""
        return _ONE_LINE.sub(" ", f"{where}{key}{self.message}")


# Control characters and Unicode's line separators: an error quotes input (a key, an id, a
# student's exception), and "\r", "\x1b[2J" or U+2028 in it would break the one line or drive the terminal.
_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class SpecError(DeriveError):
    """A worksheet spec (TOML) is malformed or inconsistent."""


class RosterError(DeriveError):
    """A roster CSV is malformed."""


class AnswersError(DeriveError):
    """An answers CSV cannot be read at all (single bad values are not errors)."""


class ParamsError(DeriveError):
    """A parameter file or parameter set does not fit the network."""


class TemplateError(DeriveError):
    """A worksheet template is broken, or does what a template may not (sandboxed)."""


class TexError(DeriveError):
    """A TeX run failed; the message carries the relevant log lines."""


class Undefined(ArithmeticError):
    """A rule has no value at these inputs (ln of 0, a division by 0, a value beyond 10^(10^6)).

    Not a :class:`DeriveError`: grading meets it on a student's own values and
    gives no credit; only a key that cannot be made is the user's error.
    """


class OutputError(DeriveError):
    """The output folder cannot be written (exists without --force, ...)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean "x"?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def expected_one_of(what: object, choices: Iterable[str]) -> str:
    """The standard message for a value outside a fixed vocabulary."""
    choices = list(choices)
    return (f"expected one of {', '.join(choices)}; got {_show(what)}"
            + (did_you_mean(what, choices) if isinstance(what, str) else ""))


def _show(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)
