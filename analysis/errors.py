"""Errors the analysis raises on bad input; the CLI prints them without a traceback."""

from __future__ import annotations

from contracts.record import RecordError as _RecordError
from contracts.sweep import SweepSpecError as _SweepSpecError

__all__ = ["AnalysisError", "RunSourceError", "NoRunsError", "RunRecordError",
           "SweepSpecError", "NotLoggedInError", "RatingError", "INPUT_ERRORS"]


class AnalysisError(ValueError):
    """Base class: input the analysis cannot work with, explained in the message."""


class RunSourceError(AnalysisError):
    """The run source is neither an existing folder nor a readable W&B path."""


class NoRunsError(RunSourceError):
    """The source was read, but it holds no runs."""


class RatingError(AnalysisError):
    """Nothing to rate (no finished runs with samples.npz, an unknown sweep, fewer than two
    configurations for pairs), or a ratings.jsonl line that breaks its format."""


# A run's record.json or history.jsonl breaks the study/analysis contract (names the file and
# the key): the error of contracts.record, which both sides read records with.
RunRecordError = _RecordError

# A sweep file's question/expected/prediction block is missing or malformed: the one error
# of the one parser (contracts.sweep), raised by the study and the analysis alike.
SweepSpecError = _SweepSpecError

# What the command line reports as bad input (one line, no traceback).
INPUT_ERRORS = (AnalysisError, RunRecordError, SweepSpecError)


class NotLoggedInError(AnalysisError):
    """Publishing needs a W&B login, and this process has none (or W&B is offline)."""
