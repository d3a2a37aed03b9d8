"""Errors a user can cause, with messages that say what to do.

The CLI prints ``str(error)`` for these and exits with ``exit_code``; anything else is a bug and
shows a traceback only with ``--debug``.
"""

from __future__ import annotations


class ClickstreamError(Exception):
    """Base class for errors the user can fix; the message must say how."""

    exit_code: int = 2


class ConfigError(ClickstreamError):
    """A setting or CLI value is invalid (negative days, malformed date, bad identifier)."""


class JavaMissingError(ClickstreamError):
    """No usable Java 17+ runtime for Spark."""


class WarehouseUnavailableError(ClickstreamError):
    """PostgreSQL cannot be reached with the configured DSN."""


class PortInUseError(ClickstreamError):
    """A port the embedded services need is already taken."""


class EmptyInputError(ClickstreamError):
    """A landing folder or input file has nothing to process."""


class InputFormatError(ClickstreamError):
    """An input file is not in the expected format (not CSV, wrong header, bad encoding)."""


class StageFailedError(ClickstreamError):
    """An external step (Spark job, dbt invocation) failed; the message names the step."""

    exit_code = 1


def headline(exc: BaseException, limit: int = 300) -> str:
    """The first non-blank line of ``exc``'s message, at most ``limit`` characters.

    Spark's errors carry a whole Java stack trace; its first line is the summary a user needs.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        lines = [lines[1].removeprefix(": ")]  # py4j's wrapper line: the Java error is next
    return lines[0][:limit] if lines else type(exc).__name__
