"""Errors the analysis raises on bad input; the CLI prints them without a traceback."""

from __future__ import annotations

__all__ = ["AnalysisError", "RunSourceError", "NoRunsError", "RunRecordError",
           "SweepSpecError", "NotLoggedInError"]


class AnalysisError(ValueError):
    """Base class: input the analysis cannot work with, explained in the message."""


class RunSourceError(AnalysisError):
    """The run source is neither an existing folder nor a readable W&B path."""


class NoRunsError(RunSourceError):
    """The source was read, but it holds no runs."""


class RunRecordError(AnalysisError):
    """A run's record.json breaks the study/analysis contract (names the file and the key)."""


class SweepSpecError(AnalysisError):
    """A sweep file's question/expected/prediction block is missing or malformed."""


class NotLoggedInError(AnalysisError):
    """Publishing needs a W&B login, and this process has none (or W&B is offline)."""
