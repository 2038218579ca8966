"""Exceptions that map to the CLI's exit codes.

Exit 2 means the user asked for something malformed (usage, config); exit 1 means
the data or a quality gate failed. Keeping the mapping in exception types lets
library code stay free of ``sys.exit`` while the CLI never shows a bare traceback
for a user error.
"""

from __future__ import annotations


class GenqcError(Exception):
    """Base of every error genqc reports to a user without a traceback."""

    exit_code = 1


class ConfigError(GenqcError, ValueError):
    """A params value, CLI argument or input path is unusable (exit 2)."""

    exit_code = 2


class DataError(GenqcError):
    """The data itself is unusable or inconsistent (exit 1)."""

    exit_code = 1


class GateFailure(GenqcError):
    """A quality gate failed; the message is the table of what failed (exit 1)."""

    exit_code = 1
