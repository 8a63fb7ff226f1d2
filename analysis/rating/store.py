"""``ratings.jsonl``: one JSON line per blind rating, appended at once, safe for several raters.

The file lies at the root of the runs folder being rated (:data:`contracts.record.RATINGS_FILE`).
Lines are only ever appended: ``os.open(O_APPEND)``, an exclusive ``fcntl.flock`` and one
``os.write`` per line, so two raters (threads or processes) never interleave or lose a line,
and closing the browser loses nothing already answered. Each line holds:

- all modes: ``mode`` (:data:`MODES`), ``sweep``, ``choice``, ``time`` (UTC, ISO 8601),
  ``response_ms`` (measured in the page, from the images being shown to the answer),
  ``rater``, ``session`` (the server process that served it);
- ``pairs``: ``left``, ``right`` (the run ids shown on each side), ``choice`` one of
  :data:`PAIR_CHOICES`;
- ``real-or-fake``: ``run`` (a run id, or ``"real"`` for a test image), ``dataset``,
  ``sample_index`` (into the run's samples.npz) or ``test_index`` (into the test split),
  ``truth`` and ``choice``, each one of :data:`REAL_CHOICES`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

from contracts.record import RATINGS_FILE

from analysis.errors import RatingError

__all__ = ["RATINGS_FILE", "PAIRS", "REAL_OR_FAKE", "MODES", "PAIR_CHOICES", "CANT_TELL",
           "REAL_CHOICES", "REAL", "GENERATED", "REAL_RUN", "RATER_MAX_LENGTH", "clean_rater",
           "check_rating", "append_rating", "read_ratings", "RatingLog", "ratings_files",
           "source_ratings"]

PAIRS, REAL_OR_FAKE = "pairs", "real-or-fake"
MODES = (PAIRS, REAL_OR_FAKE)
CANT_TELL = "can't tell"
PAIR_CHOICES = ("left", "right", CANT_TELL)
REAL, GENERATED = "real", "generated"
REAL_CHOICES = (REAL, GENERATED)
REAL_RUN = "real"            # the "run" of a real test image
RATER_MAX_LENGTH = 40
_COMMON = {"mode": str, "sweep": str, "choice": str, "time": str, "response_ms": (int, float),
           "rater": str, "session": str}
_BY_MODE = {PAIRS: {"left": str, "right": str},
            REAL_OR_FAKE: {"run": str, "dataset": str, "truth": str}}
_CHOICES = {PAIRS: PAIR_CHOICES, REAL_OR_FAKE: REAL_CHOICES}


def clean_rater(name) -> str:
    """A rater's name, stripped: 1 to :data:`RATER_MAX_LENGTH` printable characters, else
    ``ValueError`` saying what is allowed."""
    if not isinstance(name, str):
        raise ValueError("rater must be a text")
    name = name.strip()
    if not 1 <= len(name) <= RATER_MAX_LENGTH or not name.isprintable():
        raise ValueError(f"rater name must be 1 to {RATER_MAX_LENGTH} printable characters")
    return name


def _check_types(entry: dict, fields: dict, origin: str) -> None:
    for key, kind in fields.items():
        value = entry.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            what = getattr(kind, "__name__", "number")
            raise RatingError(f"{origin}: field {key!r} missing or not a {what}")


def check_rating(entry, origin: str = "rating") -> dict:
    """``entry`` if it is a rating line of a known mode with every field, else :class:`RatingError`."""
    if not isinstance(entry, dict):
        raise RatingError(f"{origin}: a rating must be a JSON object")
    mode = entry.get("mode")
    if mode not in MODES:
        raise RatingError(f"{origin}: mode {mode!r} unknown; allowed: {', '.join(MODES)}")
    _check_types(entry, {**_COMMON, **_BY_MODE[mode]}, origin)
    if entry["choice"] not in _CHOICES[mode]:
        raise RatingError(f"{origin}: choice {entry['choice']!r} unknown for {mode}; allowed: "
                          f"{', '.join(_CHOICES[mode])}")
    if mode == REAL_OR_FAKE and entry["truth"] not in REAL_CHOICES:
        raise RatingError(f"{origin}: truth {entry['truth']!r} unknown; allowed: {', '.join(REAL_CHOICES)}")
    return entry


def append_rating(path: str | os.PathLike, entry: dict) -> None:
    """Append one rating as one line: O_APPEND, exclusive flock, a single ``os.write``."""
    data = (json.dumps(check_rating(entry), ensure_ascii=True) + "\n").encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            written = os.write(fd, data)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    if written != len(data):
        raise OSError(f"{path}: wrote {written} of {len(data)} bytes of a rating")


def _parse_lines(text: str, origin: str, first_line: int = 1) -> list[dict]:
    entries = []
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise RatingError(f"{origin}:{number}: not a JSON line ({err}); ratings.jsonl is "
                              f"append-only, remove or fix that line") from None
        entries.append(check_rating(entry, f"{origin}:{number}"))
    return entries


def read_ratings(path: str | os.PathLike) -> list[dict]:
    """Every rating in ``path`` ([] when absent); a last line without its newline (a write in
    progress) is left for later, a broken line before it is a :class:`RatingError`."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="ascii", errors="replace")
    complete = text[:text.rfind("\n") + 1]
    return _parse_lines(complete, str(path))


def ratings_files(root: str | os.PathLike) -> list[Path]:
    """The ratings files a report over ``root`` reads: ``root/ratings.jsonl`` and those of the
    sweep folders directly below (a rating session started on ``DIR/<sweep>``)."""
    root = Path(root)
    found = [root / RATINGS_FILE] + sorted(root.glob(f"*/{RATINGS_FILE}"))
    return [p for p in found if p.is_file()]


def source_ratings(source) -> list:
    """Every rating under a runs folder ``source`` (its ratings.jsonl and those of the sweep
    folders below it, :func:`ratings_files`); [] for a W&B source."""
    root = Path(str(source))
    if not root.is_dir():
        return []
    return [entry for path in ratings_files(root) for entry in read_ratings(path)]


class RatingLog:
    """The ratings file of one server: appends, and the entries of every writer so far.

    :meth:`entries` re-reads only what other writers appended since the last call.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._offset, self._line, self._entries = 0, 1, []

    def entries(self) -> list[dict]:
        with self._lock:
            if self.path.exists():
                with open(self.path, "rb") as f:
                    f.seek(self._offset)
                    new = f.read()
                complete = new[:new.rfind(b"\n") + 1]
                text = complete.decode("ascii", errors="replace")
                self._entries += _parse_lines(text, str(self.path), self._line)
                self._offset += len(complete)
                self._line += text.count("\n")
            return list(self._entries)

    def append(self, entry: dict) -> None:
        append_rating(self.path, entry)
