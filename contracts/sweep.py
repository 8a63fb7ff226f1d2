"""The question inside a sweep file: ``description`` (question, expected, prediction, note).

A sweep YAML is a W&B sweep config whose ``description`` is itself a YAML string (read with
``yaml.safe_load``)::

    question: Does scaling data to [-1, 1] help a DCGAN?
    expected: Yes, lower FID than [0, 1].
    prediction: {metric: eval/fid, kind: pairwise, parameter: scaling,
                 better: minus_one_one, worse: zero_one, group_by: model}
    note: free text

Prediction kinds (:data:`PREDICTION_KINDS`): ``pairwise`` (``better``/``worse`` values of
``parameter``), ``trend`` (``direction: increasing|decreasing`` of the metric's raw value
with a numeric ``parameter``), ``ordering`` (``order``: values best first) and
``equivalence`` (``values`` that should show *no measurable difference*, within ``margin``);
each may name ``group_by``, a parameter whose values are compared separately. ``margin``
(required for ``equivalence``, optional for ``pairwise`` and ``ordering``) is the largest
difference that does not matter: a number in the metric's units or a percentage of the
compared means (``"5%"``); with it, a difference prediction can also come out "no
measurable difference" (two one-sided tests).

This module is the one parser of that block. ``study validate`` (before anything runs) and
the analysis (after) both call :func:`parse_sweep_config`, so a file the study accepts is a
file the analysis can test: a pairwise or ordering metric must have a known better
direction in the metric registry, a trend metric must be a registered metric or a
``train/...`` curve, the compared values must be in the parameter's grid, ``better`` must
differ from ``worse``, an ``order`` must not repeat a value, and ``group_by`` must be a
parameter. Every error names the file and the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import yaml

from lgm.evaluation import registry

__all__ = ["SweepSpecError", "Prediction", "SweepSpec", "PREDICTION_KINDS", "TREND_DIRECTIONS",
           "DESCRIPTION_KEYS", "parameter_values", "parse_prediction", "parse_description",
           "parse_sweep_config"]

DESCRIPTION_KEYS = ("question", "expected", "prediction", "note")
REQUIRED_DESCRIPTION_KEYS = ("question", "expected", "prediction")
# kind -> the keys it requires besides metric and kind; every kind may add OPTIONAL_KEYS
PREDICTION_KINDS = {"pairwise": ("parameter", "better", "worse"),
                    "trend": ("parameter", "direction"),
                    "ordering": ("parameter", "order"),
                    "equivalence": ("parameter", "values", "margin")}
OPTIONAL_KEYS = {"pairwise": ("group_by", "margin"), "trend": ("group_by",),
                 "ordering": ("group_by", "margin"), "equivalence": ("group_by",)}
_PERCENT = re.compile(r"^(?P<number>\d+(\.\d*)?|\.\d+)\s*%$")
TREND_DIRECTIONS = ("increasing", "decreasing")
TRAIN_NAMESPACE = "train/"  # curves logged by the training loop; free names, no direction
_WHERE = "description.prediction"


class SweepSpecError(ValueError):
    """A sweep file's description block is missing or malformed (names the file and key)."""


@dataclass(frozen=True)
class Prediction:
    """What the sweep expects, in a form the statistics can test."""

    metric: str
    kind: str
    parameter: str
    better: object = None
    worse: object = None
    direction: str | None = None
    order: tuple = ()
    group_by: str | None = None
    values: tuple = ()       # equivalence: the values that should not differ
    margin: object = None    # a number (metric units) or "x%" of the compared means

    @property
    def compared(self) -> tuple:
        """The parameter values compared, in order (adjacent pairs are the comparisons)."""
        if self.kind == "pairwise":
            return (self.better, self.worse)
        return tuple(self.order or self.values)

    def describe(self) -> str:
        """One line, e.g. ``eval/fid: scaling=minus_one_one better than scaling=zero_one``."""
        within = f" (within each {self.group_by})" if self.group_by else ""
        if self.kind == "pairwise":
            text = f"{self.parameter}={self.better} better than {self.parameter}={self.worse}"
        elif self.kind == "trend":
            text = f"{self.direction} with {self.parameter}"
        elif self.kind == "ordering":
            text = "order " + " > ".join(f"{self.parameter}={v}" for v in self.order) + " (best first)"
        else:
            text = "no measurable difference between " + ", ".join(
                f"{self.parameter}={v}" for v in self.values)
        margin = f" (margin ±{self.margin})" if self.margin is not None else ""
        return f"{self.metric}: {text}{within}{margin}"


@dataclass(frozen=True)
class SweepSpec:
    """A sweep file's name, question, expectation, prediction and parameter grid."""

    name: str
    question: str
    expected: str
    prediction: Prediction
    note: str | None = None
    metric: str | None = None  # the W&B sweep's own `metric.name`
    parameters: dict = field(default_factory=dict)  # name -> values in file order (None: a distribution)


def _error(origin: str, message: str) -> SweepSpecError:
    return SweepSpecError(f"{origin}: {message}")


def parameter_values(parameters) -> dict:
    """W&B parameter specs → ``{name: [values]}``: ``{values: [...]}`` as listed,
    ``{value: x}`` as ``[x]``, anything else (a distribution such as ``{min, max}``) None."""
    if not isinstance(parameters, dict):
        return {}
    out = {}
    for name, spec in parameters.items():
        if isinstance(spec, dict) and isinstance(spec.get("values"), list):
            out[name] = list(spec["values"])
        elif isinstance(spec, dict) and "value" in spec:
            out[name] = [spec["value"]]
        else:
            out[name] = None
    return out


# --------------------------------------------------------------------------- prediction

def _check_keys(block: dict, kind: str, origin: str) -> None:
    required = PREDICTION_KINDS[kind]
    missing = [key for key in ("metric", *required) if block.get(key) is None]
    if missing:
        raise _error(origin, f"{_WHERE}: a {kind} prediction lacks {', '.join(missing)} "
                            f"(required: metric, {', '.join(required)})")
    allowed = ("metric", "kind", *required, *OPTIONAL_KEYS[kind])
    unknown = sorted(set(block) - set(allowed))
    if unknown:
        raise _error(origin, f"{_WHERE}: a {kind} prediction has unknown key(s) "
                            f"{', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _check_metric(metric, kind: str, origin: str) -> str:
    if not isinstance(metric, str):
        raise _error(origin, f"{_WHERE}.metric: expected a metric key such as eval/fid, got {metric!r}")
    if kind in ("trend", "equivalence"):
        # About the raw value (a trend's sign, a difference's size): no direction needed,
        # but the key must exist.
        if metric.startswith(TRAIN_NAMESPACE) or registry.metric_name(metric) in registry.OUTPUTS:
            return metric
        raise _error(origin, f"{_WHERE}.metric: {metric!r} is not a registered metric nor a "
                            f"{TRAIN_NAMESPACE}... curve; registered: "
                            f"{', '.join(sorted(registry.OUTPUTS))} (as eval/<name>)")
    try:
        registry.goal(metric)  # better/worse needs to know which way is better
    except ValueError as err:
        raise _error(origin, f"{_WHERE}.metric: {err}") from None
    return metric


def _check_values(block: dict, kind: str, origin: str) -> tuple:
    if kind == "pairwise" and block["better"] == block["worse"]:
        raise _error(origin, f"{_WHERE}: a pairwise prediction compares {block['better']!r} with itself")
    if kind == "trend" and block["direction"] not in TREND_DIRECTIONS:
        raise _error(origin, f"{_WHERE}.direction: {block['direction']!r} unknown; "
                            f"allowed: {', '.join(TREND_DIRECTIONS)}")
    key = {"ordering": "order", "equivalence": "values"}.get(kind)
    listed = tuple(block.get(key) or ()) if key else ()
    if key and (not isinstance(block[key], list) or len(listed) < 2
                or len(set(map(repr, listed))) != len(listed)):
        raise _error(origin, f"{_WHERE}.{key}: an {kind} needs at least two distinct values, "
                            f"got {block[key]!r}")
    if block.get("margin") is not None:
        _check_margin(block["margin"], origin)
    return listed


def _check_margin(margin, origin: str) -> None:
    """A positive number, or a percentage ``"x%"`` with 0 < x < 100."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float, str)):
        raise _error(origin, f"{_WHERE}.margin: expected a positive number (metric units) or a "
                            f"percentage such as \"5%\", got {margin!r}")
    if isinstance(margin, str):
        match = _PERCENT.match(margin.strip())
        if match is None or not 0 < float(match["number"]) < 100:
            raise _error(origin, f"{_WHERE}.margin: {margin!r} is not a percentage in (0, 100) "
                                f"such as \"5%\"")
    elif not (math.isfinite(margin) and margin > 0):
        raise _error(origin, f"{_WHERE}.margin: must be > 0, got {margin!r}")


def _check_grid(prediction: Prediction, grid: dict, origin: str) -> None:
    """The prediction against the sweep's parameter grid."""
    parameter = prediction.parameter
    values = grid.get(parameter)
    if values is None or len(values) < 2:
        raise _error(origin, f"{_WHERE}.parameter: {parameter!r} must be a swept parameter with "
                            f"at least two values")
    compared = {"pairwise": (("better", prediction.better), ("worse", prediction.worse)),
                "ordering": tuple(("order", v) for v in prediction.order),
                "equivalence": tuple(("values", v) for v in prediction.values)}.get(prediction.kind, ())
    for key, value in compared:
        if value not in values:
            raise _error(origin, f"{_WHERE}.{key}: {value!r} is not one of {parameter}'s values {values}")
    if prediction.kind == "trend" and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise _error(origin, f"{_WHERE}.parameter: a trend needs numeric values, {parameter} has {values}")
    if prediction.group_by is not None and prediction.group_by not in grid:
        raise _error(origin, f"{_WHERE}.group_by: {prediction.group_by!r} is not a parameter of "
                            f"this sweep; allowed: {', '.join(grid)}")


def parse_prediction(block, *, origin: str = "sweep", parameters: dict | None = None) -> Prediction:
    """Validate a ``prediction`` mapping; with ``parameters`` (from :func:`parameter_values`)
    also against the sweep's grid. Every problem names the key and the allowed values."""
    if not isinstance(block, dict):
        raise _error(origin, f"{_WHERE}: must be a mapping with metric, kind and parameter, "
                            f"got {type(block).__name__}")
    kind = block.get("kind")
    if kind not in PREDICTION_KINDS:
        raise _error(origin, f"{_WHERE}.kind: {kind!r} unknown; allowed: {', '.join(PREDICTION_KINDS)}")
    _check_keys(block, kind, origin)
    metric = _check_metric(block["metric"], kind, origin)
    listed = _check_values(block, kind, origin)
    group_by = block.get("group_by")
    margin = block.get("margin")
    prediction = Prediction(metric=metric, kind=kind, parameter=str(block["parameter"]),
                            better=block.get("better"), worse=block.get("worse"),
                            direction=block.get("direction"),
                            order=listed if kind == "ordering" else (),
                            values=listed if kind == "equivalence" else (),
                            group_by=None if group_by is None else str(group_by),
                            margin=margin.strip() if isinstance(margin, str) else margin)
    if parameters is not None:
        _check_grid(prediction, parameters, origin)
    return prediction


# --------------------------------------------------------------------------- description

def parse_description(description, *, origin: str = "sweep", parameters: dict | None = None) -> dict:
    """The ``description`` string → ``{question, expected, prediction: Prediction, note}``."""
    if not isinstance(description, str) or not description.strip():
        raise _error(origin, "description: missing; a sweep needs a 'description' block string "
                            "holding question, expected and prediction (no 'description' found)")
    try:
        inner = yaml.safe_load(description)
    except yaml.YAMLError as err:
        raise _error(origin, f"description: not valid YAML inside the string: {err}") from None
    if not isinstance(inner, dict):
        raise _error(origin, "description: expected a mapping with question, expected, prediction")
    unknown = sorted(set(inner) - set(DESCRIPTION_KEYS))
    if unknown:
        raise _error(origin, f"description.{unknown[0]}: unknown key; allowed: {', '.join(DESCRIPTION_KEYS)}")
    missing = [key for key in REQUIRED_DESCRIPTION_KEYS
               if inner.get(key) is None or (key != "prediction" and not str(inner[key]).strip())]
    if missing:
        raise _error(origin, f"description lacks {', '.join(missing)} (missing or empty)")
    note = inner.get("note")
    return {"question": str(inner["question"]).strip(), "expected": str(inner["expected"]).strip(),
            "prediction": parse_prediction(inner["prediction"], origin=origin, parameters=parameters),
            "note": None if note is None else str(note).strip()}


def _check_wandb_metric(metric, origin: str) -> str | None:
    """The W&B sweep's ``metric: {name, goal}`` must agree with the registry's direction."""
    if not isinstance(metric, dict) or metric.get("name") is None:
        return None
    name, wanted = str(metric["name"]), metric.get("goal")
    known = registry.known_goal(name)
    if wanted is not None and known is not None and wanted != known:
        raise _error(origin, f"metric.goal: {wanted!r} contradicts the registry ({name} is "
                            f"better when you {known} it)")
    return name


def parse_sweep_config(config, *, origin: str = "sweep") -> SweepSpec:
    """A W&B sweep config (the dict of a sweep YAML) → :class:`SweepSpec`, fully checked."""
    if not isinstance(config, dict):
        raise _error(origin, f"a sweep config must be a mapping, got {type(config).__name__}")
    grid = parameter_values(config.get("parameters"))
    parsed = parse_description(config.get("description"), origin=origin, parameters=grid)
    return SweepSpec(name=str(config.get("name") or origin), question=parsed["question"],
                     expected=parsed["expected"], prediction=parsed["prediction"],
                     note=parsed["note"], metric=_check_wandb_metric(config.get("metric"), origin),
                     parameters=grid)
