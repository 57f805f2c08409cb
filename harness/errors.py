"""Errors for user mistakes: the CLI prints them without a traceback and exits non-zero."""

from __future__ import annotations


class TransferBenchError(Exception):
    """A problem caused by user input (a card, a suite, a flag, a data file)."""

    exit_code = 2


class ConfigError(TransferBenchError):
    """A malformed card, suite or option."""


class UnknownNameError(TransferBenchError, KeyError):
    """A task, method, backbone or metric name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we don't want that
        return str(self.args[0]) if self.args else ""


class DataError(TransferBenchError):
    """Data that can't be found or doesn't fit its card."""


class CardErrors(ConfigError):
    """Several problems found while validating cards; each names file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class RunFailure(TransferBenchError):
    """A training a run depends on failed (a teacher, a source): names which and why."""
