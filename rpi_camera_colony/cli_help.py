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
