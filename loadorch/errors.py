"""Error types that carry a user-facing message and map to one exit code each."""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    OK = 0
    BREACH = 1
    USAGE = 2
    CONFIG = 3
    SAFETY = 4
    RUN = 5
    INCONCLUSIVE = 6
    SIGINT = 130
    SIGTERM = 143


@dataclass(frozen=True)
class Problem:
    """One located configuration problem: `file:line: field: message`."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class LoadorchError(Exception):
    """Base class: an error the CLI prints as one or a few lines and turns into an exit code."""

    exit_code = ExitCode.RUN


class UsageError(LoadorchError):
    exit_code = ExitCode.USAGE


class ConfigError(LoadorchError):
    """One or more configuration problems, reported all at once."""

    exit_code = ExitCode.CONFIG
    title = "invalid configuration"  # the first line of the CLI's message

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SafetyError(LoadorchError):
    exit_code = ExitCode.SAFETY


class RunError(LoadorchError):
    exit_code = ExitCode.RUN
