"""One rating session: the runs that can be rated, the trials being shown, the answers saved.

Checks everything before any serving: a runs folder with finished, comparable runs that
have samples.npz; a known ``sweep``; two configurations for pairs; the test images for
real-or-fake. A trial is what one page shows: an opaque token, the images under opaque
tokens of their own, and (only here, never sent) which runs they come from. The runs behind
a trial are written to ratings.jsonl with the answer.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.record import SAMPLES_ARRAY_FILE, utc_now

from analysis.errors import RatingError
from analysis.load import load_runs, usable_runs
from analysis.rating.images import image_png, load_samples, pair_arrays, grid_png
from analysis.rating.schedule import (Configuration, choose_generated, choose_pair, choose_real_sweep,
                                      choose_run, count_shown, real_or_fake_block, unseen_index)
from analysis.rating.store import (GENERATED, MODES, PAIR_CHOICES, PAIRS, RATINGS_FILE, REAL,
                                   REAL_CHOICES, REAL_RUN, RatingLog, clean_rater)
from analysis.stats import naming_columns
from analysis.comparisons import config_label

__all__ = ["RatingSession", "AnswerError", "TOKEN", "rateable_configurations", "MAX_RESPONSE_MS"]

TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")   # secrets.token_urlsafe(16)
PENDING_S = 600          # a trial shown but not answered counts as shown for this long
MAX_TRIALS = 500         # trials (and their images) kept for late answers
MAX_RESPONSE_MS = 3_600_000
_ANSWER_FIELDS = {"trial", "choice", "response_ms", "rater"}


class AnswerError(ValueError):
    """A bad answer; ``status`` is the HTTP status to send (400, 404, 409)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Trial:
    token: str
    sweep: str
    shown: dict              # the rating line's run fields (left/right, or run/index/truth)
    images: tuple            # image tokens
    created: float = field(default_factory=time.monotonic)
    answered: bool = False


def _sweep_configurations(name: str, group: pd.DataFrame) -> list[Configuration]:
    by = naming_columns(group, [])
    labels = group[by].apply(lambda row: config_label(row.to_dict()), axis=1) if by else \
        pd.Series("all runs", index=group.index)
    return [Configuration(sweep=name, label=str(label), runs=tuple(sorted(runs["run_id"])))
            for label, runs in group.groupby(labels, sort=True)]


def rateable_configurations(root, *, mode: str, sweep: str | None = None) -> tuple[list, pd.DataFrame]:
    """``(configurations, runs)`` that ``mode`` can show from ``root``, or :class:`RatingError`."""
    if mode not in MODES:
        raise RatingError(f"mode {mode!r} unknown; allowed: {', '.join(MODES)}")
    if not Path(root).is_dir():
        raise RatingError(f"rating needs a runs folder; {str(root)!r} is not a folder")
    runs = usable_runs(load_runs(root))
    runs = runs[runs["samples_array_path"].notna()]
    if runs.empty:
        raise RatingError(f"no finished runs with {SAMPLES_ARRAY_FILE} in {root} (rating needs "
                          f"finished, comparable runs; the study writes {SAMPLES_ARRAY_FILE} "
                          f"beside samples.png)")
    configs = {name: _sweep_configurations(str(name), group)
               for name, group in runs.groupby("sweep", sort=True)}
    if sweep is not None and sweep not in configs:
        raise RatingError(f"unknown sweep {sweep!r}; available: {', '.join(configs)}")
    chosen = {sweep: configs[sweep]} if sweep is not None else configs
    if mode == PAIRS:
        few = [f"{name} ({len(c)} configuration{'s' if len(c) != 1 else ''})" for name, c in chosen.items()]
        chosen = {name: c for name, c in chosen.items() if len(c) >= 2}
        if not chosen:
            raise RatingError(f"pairs need a sweep with at least 2 configurations with samples; "
                              f"found {', '.join(few)} (or use --mode real-or-fake)")
    found = [c for group in chosen.values() for c in group]
    return found, runs[runs["run_id"].isin({r for c in found for r in c.runs})]


def _load_test_images(dataset: str) -> np.ndarray:
    """The test split's images, uint8 N×C×H×W (``lgm.data.load_dataset``)."""
    from lgm.data import DataError, load_dataset

    try:
        return load_dataset(dataset, "test").images.numpy()
    except DataError as err:
        raise RatingError(f"real-or-fake needs the {dataset} test images: {err}".replace("\n", " ")) from None


class RatingSession:
    """The state behind one rating server (thread-safe)."""

    def __init__(self, root, *, mode: str = PAIRS, sweep: str | None = None,
                 rater: str | None = None, seed: int | None = None,
                 real_images: Callable[[str], np.ndarray] = _load_test_images):
        self.root, self.mode = Path(root), mode
        try:
            self.rater = clean_rater(rater) if rater is not None else None
        except ValueError as err:
            raise RatingError(f"--rater: {err}") from None
        self.configurations, runs = rateable_configurations(root, mode=mode, sweep=sweep)
        self.config_of = {run: c for c in self.configurations for run in c.runs}
        self._paths = dict(zip(runs["run_id"], runs["samples_array_path"]))
        self.log = RatingLog(self.root / RATINGS_FILE)
        self.log.entries()  # a broken ratings file is bad input, before any serving
        self._datasets = {name: sorted(map(str, group["dataset"].dropna().unique()))
                          for name, group in runs.groupby("sweep")} if "dataset" in runs else {}
        self._real = {}
        if mode != PAIRS:
            for dataset in sorted({d for ds in self._datasets.values() for d in ds}):
                self._real[dataset] = real_images(dataset)
            if not self._real:
                raise RatingError("real-or-fake needs the runs' dataset (config key 'dataset')")
        self.session = secrets.token_hex(4)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._trials: dict[str, Trial] = {}
        self._images: dict[str, bytes] = {}
        self._samples = {}
        self._block: list[str] = []
        self.answered = 0
        grid_png(np.zeros((1, 1, 1, 1), dtype=np.uint8), 1)  # imports torch now, not at the first page

    # ------------------------------------------------------------------ trials

    def _samples_of(self, run: str):
        if run not in self._samples:
            self._samples[run] = load_samples(self._paths[run])
        return self._samples[run]

    def _counts(self):
        now = time.monotonic()
        pending = [{"mode": self.mode, "sweep": t.sweep, **t.shown} for t in self._trials.values()
                   if not t.answered and now - t.created < PENDING_S]
        return count_shown(self.log.entries() + pending, self.config_of, mode=self.mode)

    def _pair_trial(self, counts) -> tuple[str, dict, list]:
        left, right = choose_pair(self.configurations, counts, self._rng)
        runs = [choose_run(c, counts, self._rng) for c in (left, right)]
        a, b, columns = pair_arrays(*(self._samples_of(r) for r in runs), self._rng)
        return left.sweep, {"left": runs[0], "right": runs[1]}, [grid_png(a, columns), grid_png(b, columns)]

    def _real_or_fake_trial(self, counts) -> tuple[str, dict, list]:
        if not self._block:
            self._block = real_or_fake_block(self._rng)
        if self._block.pop() == REAL:
            sweep = choose_real_sweep(list(self._datasets), counts, self._rng)
            dataset = self._datasets[sweep][int(self._rng.integers(len(self._datasets[sweep])))]
            seen = [key[2] for key in counts.images if key[0] == REAL_RUN and key[1] == dataset]
            index = unseen_index(len(self._real[dataset]), seen, self._rng)
            shown = {"run": REAL_RUN, "dataset": dataset, "test_index": index, "sample_index": None,
                     "truth": REAL}
            return sweep, shown, [image_png(self._real[dataset][index])]
        config = choose_generated(self.configurations, counts, self._rng)
        run = choose_run(config, counts, self._rng)
        samples = self._samples_of(run)
        index = unseen_index(len(samples.images), [k[1] for k in counts.images if k[0] == run], self._rng)
        dataset = self._datasets.get(config.sweep, [None])[0]
        shown = {"run": run, "dataset": dataset, "test_index": None, "sample_index": index,
                 "truth": GENERATED}
        return config.sweep, shown, [image_png(samples.images[index])]

    def _forget_old(self) -> None:
        while len(self._trials) >= MAX_TRIALS:
            oldest = min(self._trials.values(), key=lambda t: t.created)
            for token in oldest.images:
                self._images.pop(token, None)
            del self._trials[oldest.token]

    def _drop(self, token: str | None) -> None:
        """Forget an unanswered trial its page replaced (reloaded), so it is not pending."""
        trial = self._trials.get(token) if isinstance(token, str) else None
        if trial is not None and not trial.answered:
            for image in trial.images:
                self._images.pop(image, None)
            del self._trials[token]

    def next_trial(self, *, replaces: str | None = None) -> dict:
        """A new trial for the page: its token, its image URLs, and answer counts.

        ``replaces``: the page's previous trial, dropped if unanswered (a reload); a trial
        shown and neither answered nor replaced counts as shown for ``PENDING_S`` seconds, so
        two raters at once get different pairs.
        """
        with self._lock:
            self._drop(replaces)
            counts = self._counts()
            make = self._pair_trial if self.mode == PAIRS else self._real_or_fake_trial
            sweep, shown, pngs = make(counts)
            self._forget_old()
            images = tuple(secrets.token_urlsafe(16) for _ in pngs)
            self._images.update(zip(images, pngs))
            trial = Trial(token=secrets.token_urlsafe(16), sweep=sweep, shown=shown, images=images)
            self._trials[trial.token] = trial
            total = sum(1 for e in self.log.entries() if e["mode"] == self.mode)
            return {"trial": trial.token, "images": [f"/img/{t}.png" for t in images],
                    "answered": self.answered, "total": total}

    def image(self, token: str) -> bytes | None:
        """The PNG behind an image token, or None for any other token."""
        with self._lock:
            return self._images.get(token)

    # ------------------------------------------------------------------ answers

    def _check_answer(self, payload) -> tuple[Trial, str, float, str]:
        if not isinstance(payload, dict):
            raise AnswerError(400, "the answer must be a JSON object")
        if set(payload) != _ANSWER_FIELDS:
            raise AnswerError(400, f"the answer needs exactly the fields {', '.join(sorted(_ANSWER_FIELDS))}")
        token, choice, ms = payload["trial"], payload["choice"], payload["response_ms"]
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            raise AnswerError(400, "trial must be a trial token")
        allowed = PAIR_CHOICES if self.mode == PAIRS else REAL_CHOICES
        if choice not in allowed:
            raise AnswerError(400, f"choice must be one of: {', '.join(allowed)}")
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) \
                or not 0 <= ms <= MAX_RESPONSE_MS:
            raise AnswerError(400, f"response_ms must be a number from 0 to {MAX_RESPONSE_MS}")
        try:
            rater = clean_rater(payload["rater"])
        except ValueError as err:
            raise AnswerError(400, str(err)) from None
        trial = self._trials.get(token)
        if trial is None:
            raise AnswerError(404, "unknown trial (answered long ago, or from another server)")
        if trial.answered:
            raise AnswerError(409, "this trial was answered already")
        return trial, choice, float(ms), rater

    def answer(self, payload) -> dict:
        """Validate ``payload`` ({trial, choice, response_ms, rater}) and append its rating."""
        with self._lock:
            trial, choice, ms, rater = self._check_answer(payload)
            entry = {"mode": self.mode, "sweep": trial.sweep, **trial.shown, "choice": choice,
                     "time": utc_now(), "response_ms": round(ms), "rater": rater,
                     "session": self.session}
            self.log.append(entry)
            trial.answered = True
            for token in trial.images:
                self._images.pop(token, None)
            self.answered += 1
            return {"saved": True, "answered": self.answered}
