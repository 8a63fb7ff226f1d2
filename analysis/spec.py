"""The question, expectation and machine-readable prediction inside a sweep file.

A sweep YAML's ``description`` is itself a YAML string (read with ``yaml.safe_load``)::

    question: Does scaling data to [-1, 1] help a DCGAN?
    expected: Yes, lower FID than [0, 1].
    prediction: {metric: eval/fid, kind: pairwise, parameter: scaling,
                 better: minus_one_one, worse: zero_one, group_by: model}
    note: free text

Prediction kinds: ``pairwise`` (``better``/``worse`` values of ``parameter``, optional
``group_by``), ``trend`` (``direction: increasing|decreasing`` of the metric's raw value
with the numeric ``parameter``) and ``ordering`` (``order``: values best first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from analysis.errors import SweepSpecError
from analysis.metrics import metric_goal

__all__ = ["Prediction", "SweepSpec", "PREDICTION_KINDS", "TREND_DIRECTIONS",
           "parse_sweep_config", "parse_prediction"]

PREDICTION_KINDS = ("pairwise", "trend", "ordering")
TREND_DIRECTIONS = ("increasing", "decreasing")
_REQUIRED = {"pairwise": ("metric", "parameter", "better", "worse"),
             "trend": ("metric", "parameter", "direction"),
             "ordering": ("metric", "parameter", "order")}
_ALLOWED = {"pairwise": {"metric", "kind", "parameter", "better", "worse", "group_by"},
            "trend": {"metric", "kind", "parameter", "direction", "group_by"},
            "ordering": {"metric", "kind", "parameter", "order", "group_by"}}


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

    def describe(self) -> str:
        """One line, e.g. ``eval/fid: scaling=minus_one_one better than scaling=zero_one``."""
        within = f" (within each {self.group_by})" if self.group_by else ""
        if self.kind == "pairwise":
            text = f"{self.parameter}={self.better} better than {self.parameter}={self.worse}"
        elif self.kind == "trend":
            text = f"{self.direction} with {self.parameter}"
        else:
            text = "order " + " > ".join(f"{self.parameter}={v}" for v in self.order) + " (best first)"
        return f"{self.metric}: {text}{within}"


@dataclass(frozen=True)
class SweepSpec:
    """A sweep file's name, question, expectation, prediction and parameter grid."""

    name: str
    question: str
    expected: str
    prediction: Prediction
    note: str | None = None
    metric: str | None = None
    parameters: dict = field(default_factory=dict)  # name -> list of values in file order


def _fail(origin: str, message: str) -> SweepSpecError:
    return SweepSpecError(f"{origin}: {message}")


def parse_prediction(block: object, *, origin: str = "sweep") -> Prediction:
    """Validate a ``prediction`` mapping; every problem names the key and the allowed values."""
    if not isinstance(block, dict):
        raise _fail(origin, f"prediction must be a mapping, got {type(block).__name__}")
    kind = block.get("kind")
    if kind not in PREDICTION_KINDS:
        raise _fail(origin, f"prediction kind {kind!r} unknown; allowed: {', '.join(PREDICTION_KINDS)}")
    missing = [key for key in _REQUIRED[kind] if block.get(key) is None]
    if missing:
        raise _fail(origin, f"{kind} prediction lacks {', '.join(missing)} "
                            f"(required: {', '.join(_REQUIRED[kind])})")
    unknown = sorted(set(block) - _ALLOWED[kind])
    if unknown:
        raise _fail(origin, f"{kind} prediction has unknown key(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(sorted(_ALLOWED[kind]))}")
    metric = str(block["metric"])
    if kind != "trend":  # trend is about the raw value, so it needs no notion of "better"
        try:
            metric_goal(metric)
        except ValueError as err:
            raise _fail(origin, str(err)) from None
    if kind == "pairwise" and block["better"] == block["worse"]:
        raise _fail(origin, f"pairwise prediction compares {block['better']!r} with itself")
    if kind == "trend" and block["direction"] not in TREND_DIRECTIONS:
        raise _fail(origin, f"trend direction {block['direction']!r} unknown; "
                            f"allowed: {', '.join(TREND_DIRECTIONS)}")
    order = tuple(block.get("order") or ())
    if kind == "ordering" and (len(order) < 2 or len(set(map(repr, order))) != len(order)):
        raise _fail(origin, f"ordering needs at least two distinct values, got {list(order)!r}")
    return Prediction(metric=metric, kind=kind, parameter=str(block["parameter"]),
                      better=block.get("better"), worse=block.get("worse"),
                      direction=block.get("direction"), order=order,
                      group_by=None if block.get("group_by") is None else str(block["group_by"]))


def _parameter_values(parameters: object) -> dict:
    if not isinstance(parameters, dict):
        return {}
    values = {}
    for name, spec in parameters.items():
        if isinstance(spec, dict) and "values" in spec:
            values[name] = list(spec["values"])
        elif isinstance(spec, dict) and "value" in spec:
            values[name] = [spec["value"]]
    return values


def parse_sweep_config(config: object, *, origin: str = "sweep") -> SweepSpec:
    """A W&B sweep config (the dict of a sweep YAML) → :class:`SweepSpec`."""
    if not isinstance(config, dict):
        raise _fail(origin, f"a sweep config must be a mapping, got {type(config).__name__}")
    description = config.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _fail(origin, "no 'description' holding question/expected/prediction")
    try:
        inner = yaml.safe_load(description)
    except yaml.YAMLError as err:
        raise _fail(origin, f"description is not valid YAML: {err}") from None
    if not isinstance(inner, dict):
        raise _fail(origin, "description must be a YAML mapping with question, expected, prediction")
    missing = [key for key in ("question", "expected", "prediction") if inner.get(key) is None]
    if missing:
        raise _fail(origin, f"description lacks {', '.join(missing)}")
    metric = config.get("metric", {})
    return SweepSpec(
        name=str(config.get("name") or origin), question=str(inner["question"]).strip(),
        expected=str(inner["expected"]).strip(),
        prediction=parse_prediction(inner["prediction"], origin=origin),
        note=None if inner.get("note") is None else str(inner["note"]).strip(),
        metric=metric.get("name") if isinstance(metric, dict) else None,
        parameters=_parameter_values(config.get("parameters")))
