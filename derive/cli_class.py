"""Command-line parts for a class: worksheets, grade, verify (wired as they land)."""
from __future__ import annotations

CLASS_COMMANDS: dict = {}


def add_class_commands(sub) -> None:
    """Add the class-level subcommands to the parser."""
