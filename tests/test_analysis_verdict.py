"""The verdict rule on hand-made tables: each verdict for each prediction kind; spec parsing."""

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.errors import SweepSpecError
from contracts.sweep import Prediction, parse_prediction, parse_sweep_config
from analysis.stats import holm
from analysis.verdict import Comparison, evaluate_prediction, judge, overall_verdict



def table(parameter: str, data: dict, *, metric: str = "eval/fid", extra: dict | None = None) -> pd.DataFrame:
    """Usable runs: ``data`` maps a parameter value to its per-seed metric values."""
    rows = []
    for value, values in data.items():
        for seed, y in enumerate(values):
            rows.append({"run_id": f"r-{value}-{seed}", "sweep": "s", "status": "finished",
                         "set_aside": None, parameter: value, "seed": seed, metric: y,
                         **(extra or {})})
    return pd.DataFrame(rows)


PAIRWISE = Prediction(metric="eval/fid", kind="pairwise", parameter="scaling",
                      better="minus_one_one", worse="zero_one")
TREND = Prediction(metric="eval/fid", kind="trend", parameter="beta", direction="increasing")
ORDERING = Prediction(metric="eval/fid", kind="ordering", parameter="loss",
                      order=("hinge", "non_saturating", "minimax"))

LOW, MID, HIGH = (10.0, 11.0, 12.0), (20.0, 21.0, 22.0), (30.0, 31.0, 32.0)
NOISE = [(10.0, 20.0, 15.0), (15.0, 10.0, 20.0), (20.0, 15.0, 10.0)]
CASES = [
    # kind: pairwise, FID lower is better
    (PAIRWISE, {"minus_one_one": LOW, "zero_one": MID}, "supported"),
    (PAIRWISE, {"minus_one_one": MID, "zero_one": LOW}, "contradicted"),
    (PAIRWISE, {"minus_one_one": (10.0, 15.0, 20.0), "zero_one": (11.0, 16.0, 21.0)}, "inconclusive"),
    (PAIRWISE, {"minus_one_one": LOW[:2], "zero_one": MID}, "inconclusive"),  # 2 seeds only
    # kind: trend, raw value increasing with beta
    (TREND, {0.5: LOW, 1.0: MID, 4.0: HIGH}, "supported"),
    (TREND, {0.5: HIGH, 1.0: MID, 4.0: LOW}, "contradicted"),
    (TREND, {0.5: NOISE[0], 1.0: NOISE[1], 4.0: NOISE[2]}, "inconclusive"),
    (TREND, {0.5: LOW, 1.0: MID, 4.0: HIGH[:2]}, "inconclusive"),
    # kind: ordering, best (lowest FID) first
    (ORDERING, {"hinge": LOW, "non_saturating": MID, "minimax": HIGH}, "supported"),
    (ORDERING, {"hinge": HIGH, "non_saturating": MID, "minimax": LOW}, "contradicted"),
    (ORDERING, {"hinge": NOISE[0], "non_saturating": NOISE[1], "minimax": HIGH}, "inconclusive"),
    (ORDERING, {"hinge": LOW, "non_saturating": MID[:1], "minimax": HIGH}, "inconclusive"),
]


@pytest.mark.parametrize("prediction, data, expected", CASES,
                         ids=[f"{p.kind}-{e}-{i}" for i, (p, _, e) in enumerate(CASES)])
def test_each_verdict_for_each_kind(prediction, data, expected):
    result = evaluate_prediction(table(prediction.parameter, data), prediction)
    assert result.verdict == expected, result.reason
    assert len(result.table) == len(data)


@pytest.mark.parametrize("better, worse, expected", [((7.0, 7.2, 7.1), (5.0, 5.1, 5.2), "supported"),
                                                     ((5.0, 5.1, 5.2), (7.0, 7.2, 7.1), "contradicted")])
def test_pairwise_on_a_metric_where_higher_is_better(better, worse, expected):
    prediction = Prediction(metric="eval/is", kind="pairwise", parameter="scaling",
                            better="minus_one_one", worse="zero_one")
    runs = table("scaling", {"minus_one_one": better, "zero_one": worse}, metric="eval/is")
    assert evaluate_prediction(runs, prediction).verdict == expected


def test_group_by_tests_each_group_and_combines():
    prediction = Prediction(metric="eval/fid", kind="pairwise", parameter="conditional",
                            better=True, worse=False, group_by="model")
    gan = table("conditional", {True: LOW, False: MID}, extra={"model": "gan"})
    vae_clear = table("conditional", {True: LOW, False: MID}, extra={"model": "vae"})
    vae_flat = table("conditional", {True: (10.0, 15.0, 20.0), False: (11.0, 16.0, 21.0)}, extra={"model": "vae"})
    vae_worse = table("conditional", {True: MID, False: LOW}, extra={"model": "vae"})
    both = evaluate_prediction(pd.concat([gan, vae_clear]), prediction)
    assert both.verdict == "supported" and [c.context for c in both.comparisons] == ["model=gan", "model=vae"]
    assert evaluate_prediction(pd.concat([gan, vae_flat]), prediction).verdict == "inconclusive"
    assert evaluate_prediction(pd.concat([gan, vae_worse]), prediction).verdict == "contradicted"


def test_family_defaults_that_follow_the_parameter_do_not_split_the_comparison():
    # gan_vs_vae: lr and arch are resolved per model, so they vary exactly with `model`.
    prediction = Prediction(metric="eval/fid", kind="pairwise", parameter="model", better="gan", worse="vae")
    gan = table("model", {"gan": LOW}, extra={"lr": 2e-4, "arch": "dcgan"})
    vae = table("model", {"vae": MID}, extra={"lr": 1e-3, "arch": "conv"})
    result = evaluate_prediction(pd.concat([gan, vae]), prediction)
    assert result.verdict == "supported" and [c.context for c in result.comparisons] == [""]
    assert list(result.table.columns[:2]) == ["model", "n"]


def test_holm_is_applied_across_the_comparisons_of_a_question():
    runs = table("loss", {"hinge": LOW, "non_saturating": (10.5, 21.0, 19.0), "minimax": HIGH})
    result = evaluate_prediction(runs, ORDERING)
    raw = [c.details["p_t_raw"] for c in result.comparisons]
    assert [c.p_expected for c in result.comparisons] == pytest.approx(list(holm(raw)))
    assert all("Holm" in c.test for c in result.comparisons)


def test_a_trend_grid_value_without_runs_makes_it_inconclusive():
    runs = table("beta", {0.5: LOW, 1.0: MID, 4.0: HIGH})
    assert evaluate_prediction(runs, TREND).verdict == "supported"
    result = evaluate_prediction(runs, TREND, grid=[0.5, 1.0, 4.0, 8.0])
    assert result.verdict == "inconclusive" and "n = 0" in result.judgements[0].reason


def test_a_trend_on_a_categorical_parameter_says_so():
    runs = table("scaling", {"zero_one": LOW, "minus_one_one": MID})
    prediction = Prediction(metric="eval/fid", kind="trend", parameter="scaling", direction="increasing")
    result = evaluate_prediction(runs, prediction)
    assert result.verdict == "inconclusive" and "numeric" in result.reason


@pytest.mark.parametrize("prediction, reason", [
    (Prediction(metric="eval/fid", kind="pairwise", parameter="scaling", better="a", worse="b",
                group_by="model"), "config key(s) model not found"),
    (Prediction(metric="eval/fid", kind="ordering", parameter="width", order=(1, 2)), "config key(s) width not found"),
    (Prediction(metric="eval/is", kind="pairwise", parameter="scaling", better="a", worse="b"),
     "'eval/is' was not logged"),
])
def test_what_cannot_be_tested_is_said(prediction, reason):
    result = evaluate_prediction(table("scaling", {"a": LOW, "b": MID}), prediction)
    assert result.verdict == "inconclusive" and reason in result.reason and not result.comparisons


def test_a_yaml_string_number_matches_a_numeric_config_column():
    prediction = Prediction(metric="eval/fid", kind="pairwise", parameter="lr", better="1e-3", worse="1e-2")
    runs = table("lr", {0.001: LOW, 0.01: MID})
    assert evaluate_prediction(runs, prediction).verdict == "supported"


def comparison(**overrides) -> Comparison:
    base = dict(context="", first="a", second="b", expected_sign=-1, n_min=3, mean_first=1.0,
                mean_second=2.0, interval_first=(0.5, 1.5), interval_second=(1.2, 2.5),
                p_expected=0.5, p_opposite=0.5, test="Welch t")
    return Comparison(**{**base, **overrides})


@pytest.mark.parametrize("overrides, expected", [
    ({}, "inconclusive"),                                            # overlap, nothing significant
    ({"p_expected": 0.01}, "supported"),                             # overlap, significant test
    # intervals describe, they never decide (issue 14: with 3 seeds disjoint ranges are a
    # test of their own): disjoint intervals without a significant test stay inconclusive
    ({"interval_second": (1.6, 2.5)}, "inconclusive"),
    ({"mean_first": 3.0, "interval_first": (2.6, 3.5)}, "inconclusive"),
    ({"p_opposite": 0.01}, "contradicted"),
    ({"p_expected": 0.01, "n_min": 2}, "inconclusive"),              # never from too few seeds
    ({"p_expected": math.nan, "p_opposite": math.nan,
      "interval_first": (math.nan, math.nan)}, "inconclusive"),
    # with a margin: equivalence when nothing is significant and the 90 % interval is inside
    ({"margin": 1.0, "equivalent": True}, "no measurable difference"),
    ({"margin": 1.0, "equivalent": True, "p_expected": 0.01}, "supported"),  # small but real
    ({"margin": 1.0, "equivalent": False}, "inconclusive"),
    # an equivalence prediction (expected sign 0)
    ({"expected_sign": 0, "margin": 1.0, "equivalent": True}, "supported"),
    ({"expected_sign": 0, "margin": 1.0, "equivalent": False, "p_opposite": 0.01}, "contradicted"),
    ({"expected_sign": 0, "margin": 1.0, "equivalent": False}, "inconclusive"),
])
def test_the_rule_on_single_comparisons(overrides, expected):
    assert judge(comparison(**overrides)).verdict == expected


def test_overall_verdict_combination():
    s, c, i = (judge(comparison(p_expected=0.01)), judge(comparison(p_opposite=0.01)), judge(comparison()))
    e = judge(comparison(margin=1.0, equivalent=True))
    assert overall_verdict([s, s]).verdict == "supported"
    assert overall_verdict([s, i]).verdict == "inconclusive"
    assert overall_verdict([s, c]).verdict == "contradicted"
    assert overall_verdict([e, e]).verdict == "no measurable difference"
    assert overall_verdict([e, s]).verdict == "inconclusive"
    assert overall_verdict([]).verdict == "inconclusive"


# --------------------------------------------------------------------------- spec parsing

def sweep_config(prediction: dict, **extra) -> dict:
    inner = {"question": "Q?", "expected": "E.", "prediction": prediction, **extra}
    return {"name": "s", "method": "grid", "description": yaml.safe_dump(inner),
            "parameters": {"scaling": {"values": ["a", "b"]}, "model": {"values": ["vae", "gan"]},
                           "seed": {"values": [0, 1, 2]}}}


def test_parse_a_valid_sweep_config():
    spec = parse_sweep_config(sweep_config({"metric": "eval/fid", "kind": "pairwise", "parameter": "scaling",
                                            "better": "a", "worse": "b", "group_by": "model"}, note="n"))
    assert (spec.name, spec.question, spec.expected, spec.note) == ("s", "Q?", "E.", "n")
    assert spec.prediction == Prediction(metric="eval/fid", kind="pairwise", parameter="scaling",
                                         better="a", worse="b", group_by="model")
    assert spec.parameters == {"scaling": ["a", "b"], "model": ["vae", "gan"], "seed": [0, 1, 2]}


@pytest.mark.parametrize("prediction, message", [
    ({"kind": "ranking", "metric": "eval/fid", "parameter": "p"}, "'ranking' unknown; allowed: pairwise, trend, ordering"),
    ({"kind": "pairwise", "metric": "eval/fid", "parameter": "p", "better": "a"}, "lacks worse"),
    ({"kind": "pairwise", "metric": "eval/fid", "parameter": "p", "better": "a", "worse": "a"}, "with itself"),
    ({"kind": "pairwise", "metric": "eval/sharp", "parameter": "p", "better": "a", "worse": "b"}, "'eval/sharp'"),
    ({"kind": "trend", "metric": "eval/fid", "parameter": "p", "direction": "up"}, "'up' unknown; allowed: increasing, decreasing"),
    ({"kind": "ordering", "metric": "eval/fid", "parameter": "p", "order": ["a"]}, "at least two"),
    ({"kind": "trend", "metric": "eval/fid", "parameter": "p", "direction": "increasing", "better": "a"},
     "unknown key\\(s\\) better"),
    ("eval/fid lower", "must be a mapping"),
])
def test_bad_predictions_are_named(prediction, message):
    with pytest.raises(SweepSpecError, match=message):
        parse_prediction(prediction, origin="test.yaml")


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_the_repository_sweep_files_parse(path):
    # The study writes these; the analysis must be able to test every one of them.
    spec = parse_sweep_config(yaml.safe_load(path.read_text()), origin=str(path))
    assert spec.question and spec.expected and spec.prediction.parameter in spec.parameters


@pytest.mark.parametrize("config, message", [
    ({"name": "s"}, "no 'description'"),
    ({"name": "s", "description": "question: [unclosed"}, "not valid YAML"),
    ({"name": "s", "description": "question: Q?\nexpected: E."}, "lacks prediction"),
    (["not", "a", "mapping"], "must be a mapping"),
])
def test_bad_sweep_configs_are_named(config, message):
    with pytest.raises(SweepSpecError, match=message):
        parse_sweep_config(config, origin="test.yaml")


EQUIVALENCE = Prediction(metric="eval/fid", kind="equivalence", parameter="loss",
                         values=("hinge", "non_saturating"), margin=2.0)


@pytest.mark.parametrize("prediction, data, expected", [
    # equal within 0.1 FID, seed spread 0.1: the 90 % interval of the difference is ±0.2 < 2
    (EQUIVALENCE, {"hinge": (20.0, 20.1, 20.2), "non_saturating": (20.1, 20.0, 20.2)}, "supported"),
    (EQUIVALENCE, {"hinge": LOW, "non_saturating": MID}, "contradicted"),        # 10 apart
    (EQUIVALENCE, {"hinge": (10.0, 20.0, 30.0), "non_saturating": (12.0, 22.0, 28.0)}, "inconclusive"),
    # a difference predicted, none found beyond the margin: the fourth verdict
    (Prediction(metric="eval/fid", kind="pairwise", parameter="loss", better="hinge",
                worse="non_saturating", margin=2.0),
     {"hinge": (20.0, 20.1, 20.2), "non_saturating": (20.1, 20.0, 20.2)}, "no measurable difference"),
    # a margin in percent of the mean: 10 % of ~20 = 2
    (Prediction(metric="eval/fid", kind="equivalence", parameter="loss",
                values=("hinge", "non_saturating"), margin="10%"),
     {"hinge": (20.0, 20.1, 20.2), "non_saturating": (20.1, 20.0, 20.2)}, "supported"),
])
def test_equivalence_and_no_measurable_difference(prediction, data, expected):
    result = evaluate_prediction(table("loss", data), prediction)
    assert result.verdict == expected, result.reason


def test_a_margin_is_checked_by_the_one_parser():
    for bad in (0, -1, "0%", "120%", "five", True):
        with pytest.raises(SweepSpecError, match="margin"):
            parse_prediction({"metric": "eval/fid", "kind": "equivalence", "parameter": "p",
                              "values": ["a", "b"], "margin": bad}, origin="t.yaml")
    with pytest.raises(SweepSpecError, match="lacks margin"):
        parse_prediction({"metric": "eval/fid", "kind": "equivalence", "parameter": "p",
                          "values": ["a", "b"]}, origin="t.yaml")
    with pytest.raises(SweepSpecError, match="unknown key\\(s\\) margin"):
        parse_prediction({"metric": "eval/fid", "kind": "trend", "parameter": "p",
                          "direction": "increasing", "margin": 1.0}, origin="t.yaml")
