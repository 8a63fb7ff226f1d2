"""Which configurations to show next: balanced, never repeating a pair before all were shown.

Pure functions of what was rated so far (read from ratings.jsonl, so a new session continues
where the last one stopped) plus what is being shown right now, and a seeded generator.

- **Pairs.** The candidates are all unordered pairs of configurations within each question
  (sweep). The next pair is one of those shown least often so far, so no pair repeats before
  every pair was shown once (a *round*); among those, the pair whose two configurations were
  compared least often in total, so that within a round every configuration is compared about
  equally often (after each full round a question's configurations have all been compared
  exactly k − 1 times per round); ties at random. Sides are random. Each configuration is
  represented by its run (seed) shown least often so far, ties at random.
- **Real or generated.** Trials come in shuffled blocks of :data:`BLOCK` real and as many
  generated images, so half are real and the sequence gives nothing away. A generated image
  comes from the configuration shown least often (then its least-shown run, then a random
  image of it not shown before); a real one from the question with the fewest real images,
  a random test image not shown before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from analysis.rating.store import GENERATED, PAIRS, REAL, REAL_RUN

__all__ = ["BLOCK", "Configuration", "Counts", "count_shown", "choose_pair", "choose_run",
           "real_or_fake_block", "choose_generated", "choose_real_sweep", "unseen_index"]

BLOCK = 5  # real images per shuffled block (as many generated ones)


@dataclass(frozen=True)
class Configuration:
    """One configuration of one question: its label (never sent to the page) and run ids."""

    sweep: str
    label: str
    runs: tuple


@dataclass
class Counts:
    """How often each pair, configuration, run, image and real question was shown."""

    pairs: Counter
    configurations: Counter
    runs: Counter
    images: Counter         # (run id, sample index) or ("real", dataset, test index)
    real: Counter           # sweep → real images shown


def _pair(a: Configuration, b: Configuration) -> tuple:
    return (a.sweep, *sorted((a.label, b.label)))


def count_shown(shown: list[dict], config_of: dict, *, mode: str) -> Counts:
    """Counts over ``shown`` (rating lines, or trials being shown, of ``mode``).

    ``config_of``: run id → :class:`Configuration`; runs it lacks (deleted, set aside) are
    not counted.
    """
    counts = Counts(Counter(), Counter(), Counter(), Counter(), Counter())
    for entry in shown:
        if entry.get("mode") != mode:
            continue
        if mode == PAIRS:
            a, b = config_of.get(entry["left"]), config_of.get(entry["right"])
            if a is None or b is None or a.sweep != b.sweep:
                continue
            counts.pairs[_pair(a, b)] += 1
            counts.configurations.update([(a.sweep, a.label), (b.sweep, b.label)])
            counts.runs.update([entry["left"], entry["right"]])
        elif entry["run"] == REAL_RUN:
            counts.real[entry["sweep"]] += 1
            counts.images[(REAL_RUN, entry.get("dataset"), entry.get("test_index"))] += 1
        elif entry["run"] in config_of:
            config = config_of[entry["run"]]
            counts.configurations[(config.sweep, config.label)] += 1
            counts.runs[entry["run"]] += 1
            counts.images[(entry["run"], entry.get("sample_index"))] += 1
    return counts


def _least(items: list, key, rng: np.random.Generator):
    """A random one among the ``items`` with the smallest ``key``."""
    values = [key(item) for item in items]
    best = min(values)
    ties = [item for item, value in zip(items, values) if value == best]
    return ties[int(rng.integers(len(ties)))]


def choose_pair(configurations: list[Configuration], counts: Counts,
                rng: np.random.Generator) -> tuple[Configuration, Configuration]:
    """The next two configurations, in random side order (module docstring for the rule)."""
    by_sweep = {}
    for config in configurations:
        by_sweep.setdefault(config.sweep, []).append(config)
    candidates = [pair for group in by_sweep.values() for pair in combinations(group, 2)]
    if not candidates:
        raise ValueError("no question has two configurations to compare")
    shown = lambda pair: counts.pairs[_pair(*pair)]  # noqa: E731
    total = lambda pair: sum(counts.configurations[(c.sweep, c.label)] for c in pair)  # noqa: E731
    left, right = _least(candidates, lambda pair: (shown(pair), total(pair)), rng)
    return (left, right) if rng.random() < 0.5 else (right, left)


def choose_run(config: Configuration, counts: Counts, rng: np.random.Generator) -> str:
    """The configuration's run shown least often so far (ties at random)."""
    return _least(list(config.runs), lambda run: counts.runs[run], rng)


def real_or_fake_block(rng: np.random.Generator, size: int = BLOCK) -> list[str]:
    """``size`` × "real" and ``size`` × "generated", shuffled."""
    block = [REAL] * size + [GENERATED] * size
    return [block[i] for i in rng.permutation(len(block))]


def choose_generated(configurations: list[Configuration], counts: Counts,
                     rng: np.random.Generator) -> Configuration:
    """The configuration whose generated images were shown least often (ties at random)."""
    return _least(configurations, lambda c: counts.configurations[(c.sweep, c.label)], rng)


def choose_real_sweep(sweeps: list[str], counts: Counts, rng: np.random.Generator) -> str:
    """The question that had the fewest real images so far (ties at random)."""
    return _least(sorted(sweeps), lambda s: counts.real[s], rng)


def unseen_index(size: int, seen, rng: np.random.Generator) -> int:
    """A random index in ``range(size)`` not in ``seen``, or any index once all were seen."""
    seen = {int(i) for i in seen if i is not None}
    if len(seen) >= size:
        return int(rng.integers(size))
    while True:
        index = int(rng.integers(size))
        if index not in seen:
            return index


