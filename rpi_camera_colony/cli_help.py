"""How every command line of the package shows its help: defaults shown once and only where they say something, and
docstrings as plain text (no reStructuredText markup)."""

from __future__ import annotations

import argparse
import re

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # :func:`~a.b` -> a.b
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str) -> str:
    """A docstring as a person reads it on a terminal: ``code`` and :role:`name` markup removed."""
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text)).strip()


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written (plain text); each option's default appended when it is a value worth showing
    (not None, False or empty) and the help does not already say its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, "", argparse.SUPPRESS)
            or action.option_strings == []
            or isinstance(action, (argparse._HelpAction, argparse._VersionAction))
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a bad one is a usage error naming it)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give 1 or more")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a number of 0 or more")
    return value


def positive_ints(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers of at least 1, e.g. ``8,16,32``."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated whole numbers, e.g. 8,16,32")
    return [positive_int(part) for part in parts]


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 is too small: give a number above 0")
    return value
