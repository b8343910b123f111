"""Errors a user sees as one line, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class KappaError(Exception):
    """Anything the CLI reports as a single line and exit code 1."""


class ServiceError(KappaError):
    """A service that could not start or stop; always names the service and its log file."""

    def __init__(self, service: str, problem: str, log_path: Path | None = None, hint: str = "") -> None:
        self.service = service
        self.log_path = log_path
        message = f"{service}: {problem}"
        if log_path is not None:
            message += f" (log: {log_path})"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
