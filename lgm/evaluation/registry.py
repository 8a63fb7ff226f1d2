"""The metric registry: one entry per metric owns its function, fixed settings, output keys
and the direction in which each output is better (after stylegan2-ada's ``metric_main.py``).

``lgm.evaluation.evaluate`` dispatches over :data:`METRICS`; every consumer that needs to
know which way a key is better (the study's sweep validation, the analysis's verdicts,
plots and sample ranking) asks :func:`goal` here. Importing this module does not import
torch (the metric functions work on numpy arrays or tensors alike), so the analysis can
read directions without loading a deep-learning framework.

A metric's *inputs* (:class:`MetricInputs`) are computed once per evaluation and shared:
the classifier's features and class probabilities of the generated samples, the cached
real reference, the requested labels (conditional models), the features of reconstructions
(VAEs) and the summed ELBO terms of real test images (VAEs). Which of them an entry needs
is its ``needs``:

- ``samples``: always available; ``evaluate(metrics=...)`` chooses among these entries;
- ``labels``: computed whenever the evaluation is conditional;
- ``reconstructions``: whenever a ``reconstruct_fn`` is given;
- ``elbo``: whenever an ``elbo_fn`` is given;
- ``test_reference``: cached features of real *test* images (the held-out sample of the
  data-copying test), computed when an entry that needs it is chosen; such entries are
  sample metrics too (:data:`SAMPLE_NEEDS`: ``metrics=`` chooses among them);
- ``pixels``: per-packet wavelet statistics of the samples and of the real reference images
  (no network: the extractor-free ``fwd``), computed whenever the images themselves pass
  through the evaluation (not from a statistics file); a sample metric too.

Extractors. Every entry above is computed in the primary extractor's feature space (the
``cnn`` classifier: ``eval/fid`` ...). The entries in :data:`EXTRACTOR_METRICS` are also
computed in each other shipped extractor's space (:data:`EXTRACTORS`) and logged under
``<namespace>/<extractor>/<name>`` (``eval/mlp/fid``, ``curve/mlp/fid``), with that
extractor's weights' SHA-256 as ``eval/<extractor>/classifier_sha256``. The naming lives
only here: :func:`extractor_key` spells a key for an extractor, :func:`extractor_keys`
maps a metric to its key under every extractor, :func:`split_key` reads one back, and
:func:`robustness_keys` lists the keys a verdict is recomputed on for the report's
"extractor" check (another classifier, no classifier, the class histogram matched).

An entry's ``min_samples`` is the fewest samples (per class for a ``labels`` entry) it can
be computed from; :func:`min_samples` derives it from the settings when the entry gives none.

Keys are ``<namespace>[/<extractor>]/<name>[/<class>]``: the final evaluation logs
``eval/fid``, and ``goal("curve/fid")``, ``goal("eval/mlp/fid")`` or
``goal("eval/fid_class/3")`` read the same entry (the namespace says when or on what a
metric was measured, the extractor in whose feature space, not what it is).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from lgm.evaluation.metrics import (feature_statistics, fid, fid_from_statistics,
                                    inception_score, kid)
from lgm.evaluation.metrics.class_histogram import class_histogram_tv, histogram_matched_indices
from lgm.evaluation.metrics.data_copying import data_copying
from lgm.evaluation.metrics.fid_extrapolation import (SIZE_FRACTIONS, fid_bootstrap_se,
                                                     fid_infinity)
from lgm.evaluation.metrics.fwd import fwd_from_statistics
from lgm.evaluation.metrics.manifold import manifold_metrics
from lgm.evaluation.metrics.vendi import vendi_score

__all__ = ["MINIMIZE", "MAXIMIZE", "GOALS", "NEEDS", "Output", "Metric", "MetricInputs",
           "METRICS", "SAMPLE_METRICS", "OUTPUTS", "CLASSIFIER_KEY", "NUM_SAMPLES_KEY",
           "PROVENANCE_KEYS", "HEADLINE_KEY", "KNN_KS", "RESAMPLING_SE", "se_key",
           "EVAL_NAMESPACE", "CURVE_NAMESPACE", "SAMPLE_NEEDS", "metric_name", "goal",
           "known_goal", "outputs_of", "compute", "min_samples", "PRIMARY_EXTRACTOR",
           "EXTRACTORS", "EXTRACTOR_METRICS", "check_extractor", "split_key", "extractor_of",
           "extractor_key", "extractor_keys", "extractor_namespace", "robustness_keys",
           "ROBUSTNESS_ALTERNATIVES", "FWD_LEVEL", "EXTRACTOR_FREE_NEEDS",
           "EXTRACTOR_OUTPUTS"]

MINIMIZE, MAXIMIZE = "minimize", "maximize"
# The feature extractors: one fixed, shipped network per (extractor, dataset). The primary
# defines every headline number (``eval/fid`` ...); each other extractor logs the cheap
# feature-space metrics again under its own keys (``extractor_key``) as a robustness check.
PRIMARY_EXTRACTOR = "cnn"
EXTRACTORS = (PRIMARY_EXTRACTOR, "mlp")
# Logged beside every evaluation: numbers are comparable only between runs that agree on both
# (FID is biased in the sample count; another classifier is another feature space).
CLASSIFIER_KEY, NUM_SAMPLES_KEY = "eval/classifier_sha256", "eval/num_samples"
PROVENANCE_KEYS = (CLASSIFIER_KEY, NUM_SAMPLES_KEY)
# Training curves (evaluations during training, at one fixed sample count per curve) log the
# same outputs under this namespace: curve/fid is eval/fid's function at the curve's N.
EVAL_NAMESPACE, CURVE_NAMESPACE = "eval", "curve"
# The headline sample-quality number: what sample grids are ranked by and what a table shows
# when a sweep states no prediction.
HEADLINE_KEY = "eval/fid"
GOALS = (MINIMIZE, MAXIMIZE)
NEEDS = ("samples", "labels", "reconstructions", "elbo", "test_reference", "pixels")
# The needs of the entries ``evaluate(metrics=...)`` chooses among: the generated samples and
# cached real data alone.
SAMPLE_NEEDS = ("samples", "test_reference", "pixels")
# Entries computed from no extractor's features: one key (``eval/fwd``) whatever the extractor.
EXTRACTOR_FREE_NEEDS = ("pixels",)
# FWD's Haar packet level: the deepest at which a 28×28 (or 32×32) image's packets are still
# 4×4 (28 → 14 → 7 → 4): 64 frequency bands of 16 coefficients (the paper's level 4 at
# 256×256 gives 16×16 packets; at level 4 ours would be 2×2).
FWD_LEVEL = 3
# k of the k-NN radii (the authors' recommendations): precision/recall k=3 (Kynkäänniemi et
# al. 2019), density/coverage k=5 (Naeem et al. 2020). The reference caches its radii for them.
K_PRECISION_RECALL, K_DENSITY_COVERAGE = 3, 5
KNN_KS = (K_PRECISION_RECALL, K_DENSITY_COVERAGE)


@dataclass(frozen=True)
class Output:
    """One logged number: its name (the key without namespace) and which way is better.

    ``goal`` None marks a diagnostic with no better direction (a standard deviation over
    splits, a KL term). ``per_class``: logged once per class as ``<namespace>/<name>/<k>``.
    """

    name: str
    goal: str | None
    per_class: bool = False


@dataclass(frozen=True)
class MetricInputs:
    """What the metrics of one evaluation are computed from (see the module docstring)."""

    features: object           # generated samples' classifier features, N×D
    probs: object              # their class probabilities, N×K
    reference: object          # lgm.evaluation.features.ReferenceStatistics of real images
    seed: int
    num_classes: int
    labels: object = None      # requested classes of the samples (conditional), N
    reconstruction_features: object = None
    elbo_terms: dict | None = None  # {"elbo", "kl", "recon"} means, "dims", "dequantized"
    test_reference: object = None  # ReferenceStatistics of real test images (held out)
    pixels: object = None  # (mu, sigma) wavelet packet statistics of the samples (fwd)
    pixel_reference: object = None  # the same of the real reference images
    shared: dict = field(default_factory=dict)  # work several entries use, computed once


@dataclass(frozen=True)
class Metric:
    """A registry entry: ``compute(inputs, **settings)`` returns ``{name: value}`` for the
    entry's outputs (per-class outputs as ``{"fid_class/3": ...}``)."""

    name: str
    compute: Callable[..., dict]
    outputs: tuple
    settings: dict = field(default_factory=dict)
    needs: str = "samples"
    citation: str = ""
    on_curve: bool = True  # also measured at every training-curve point
    min_samples: int | None = None  # None: derived from the settings (see min_samples)

    def __call__(self, inputs: MetricInputs) -> dict:
        return self.compute(inputs, **self.settings)


# --------------------------------------------------------------------------- entries
# Each adapter only unpacks the shared inputs and names the results; the formula lives in
# lgm.evaluation.metrics.

def _fid(x: MetricInputs) -> dict:
    return {"fid": fid_from_statistics(feature_statistics(x.features), x.reference.statistics)}


def _inception_score(x: MetricInputs, *, splits: int) -> dict:
    mean, std = inception_score(x.probs, splits=splits, seed=x.seed)
    return {"is": mean, "is_std": std}


def _kid(x: MetricInputs, *, num_subsets: int, subset_size: int) -> dict:
    mean, std = kid(x.features, x.reference.features, num_subsets=num_subsets,
                    subset_size=subset_size, seed=x.seed)
    return {"kid": mean, "kid_std": std}


def _manifold(x: MetricInputs, k_pr: int, k_dc: int):
    """The four k-NN metrics from one pass over the distances, shared by two entries; the
    real radii come from the reference's cache when it has them."""
    key = ("manifold", k_pr, k_dc)
    if key not in x.shared:
        radii = getattr(x.reference, "radii", None) or {}
        have = {k: radii[k] for k in (k_pr, k_dc) if k in radii}
        x.shared[key] = manifold_metrics(x.reference.features, x.features, k_precision_recall=k_pr,
                                         k_density_coverage=k_dc,
                                         real_radii=have if len(have) == len({k_pr, k_dc}) else None)
    return x.shared[key]


def _precision_recall(x: MetricInputs, *, k: int) -> dict:
    m = _manifold(x, k, METRICS["density_coverage"].settings["k"])
    return {"precision": m.precision, "recall": m.recall}


def _density_coverage(x: MetricInputs, *, k: int) -> dict:
    m = _manifold(x, METRICS["precision_recall"].settings["k"], k)
    return {"density": m.density, "coverage": m.coverage}


def _conditional_accuracy(x: MetricInputs) -> dict:
    hits = (x.probs.argmax(1) == x.labels).double().mean()
    return {"conditional_accuracy": float(hits)}


def _fid_class(x: MetricInputs) -> dict:
    ref = x.reference
    return {f"fid_class/{k}": fid(ref.features[ref.labels == k], x.features[x.labels == k])
            for k in range(x.num_classes)}


def _fid_recon(x: MetricInputs) -> dict:
    stats = feature_statistics(x.reconstruction_features)
    return {"fid_recon": fid_from_statistics(stats, x.reference.statistics)}


def _elbo(x: MetricInputs) -> dict:
    """Test-set ELBO in nats per image, bits per dimension, KL and reconstruction term.

    For densities trained on dequantized data ``(x + u) / 256`` the ELBO is shifted by
    ``-D·log 256``, so that it bounds the 8-bit image's log-probability (Theis et al. 2016):
    ``bpd = -elbo / (D·ln 2)``.
    """
    t = x.elbo_terms
    shift = t["dims"] * math.log(256.0) if t["dequantized"] else 0.0
    elbo = t["elbo"] - shift
    return {"elbo": elbo, "bpd": -elbo / (t["dims"] * math.log(2.0)), "kl": t["kl"],
            "recon": t["recon"] - shift}


def _data_copying(x: MetricInputs, *, max_cells: int, samples_per_cell: int,
                  min_cell_samples: int, alpha: float, partition_seed: int,
                  kmeans_iterations: int) -> dict:
    """Train = the reference (a seeded subset of the training split), held out = the test
    reference; the k-means cells are seeded by ``partition_seed``, not the run's seed, so
    every run is tested on the same partition. Copies of training images outside the
    reference look held out (see docs/architecture.md: measured effect at N = 10,000)."""
    result = data_copying(x.reference.features, x.test_reference.features, x.features,
                          max_cells=max_cells, samples_per_cell=samples_per_cell,
                          min_cell_samples=min_cell_samples, alpha=alpha, seed=partition_seed,
                          kmeans_iterations=kmeans_iterations)
    return {"ct": result.ct, "copy_fraction": result.copy_fraction}


def _fwd(x: MetricInputs, *, wavelet: str, level: int) -> dict:
    """Extractor-free: Haar packet statistics of the samples vs the real reference's
    (``wavelet`` is recorded; the Haar transform is the one implemented)."""
    return {"fwd": fwd_from_statistics(x.pixels, x.pixel_reference)}


def _fid_hm(x: MetricInputs) -> dict:
    """FID of the samples resampled so that their predicted-class histogram matches the
    reference's (Kynkäänniemi et al. 2023; ``metrics.class_histogram``), and the total
    variation distance between the two histograms before matching."""
    rows = histogram_matched_indices(x.probs, x.reference.probs, x.num_classes, seed=x.seed)
    matched = feature_statistics(x.features[rows])
    return {"fid_hm": fid_from_statistics(matched, x.reference.statistics),
            "class_tv": class_histogram_tv(x.probs, x.reference.probs, x.num_classes)}


def _vendi(x: MetricInputs) -> dict:
    return {"vendi": vendi_score(x.features)}


def _fid_infinity(x: MetricInputs, *, fractions: tuple) -> dict:
    """Not logged at all (rather than NaN) when the smallest subset would have fewer samples
    than feature dimensions (e.g. a 200-sample smoke evaluation in 128 dimensions)."""
    value = fid_infinity(x.features, x.reference.statistics, fractions=fractions, seed=x.seed)
    return {} if math.isnan(value) else {"fid_inf": value}


def _fid_se(x: MetricInputs, *, resamples: int) -> dict:
    return {"fid_se": fid_bootstrap_se(x.features, x.reference.statistics, resamples=resamples, seed=x.seed)}


def _real_baseline(x: MetricInputs) -> dict:
    """What held-out real images score against the reference on the k-NN metrics: the
    level a model's precision/recall/density/coverage should be read against (a 93 %
    classifier's feature space does not give real data recall 1). Cached on disk per
    (reference, held-out set): it depends on no model."""
    from lgm.evaluation.features import cached_numbers

    def compute() -> dict:
        m = manifold_metrics(x.reference.features, x.test_reference.features,
                             k_precision_recall=K_PRECISION_RECALL, k_density_coverage=K_DENSITY_COVERAGE,
                             real_radii=getattr(x.reference, "radii", None) or None)
        return {"real_precision": m.precision, "real_recall": m.recall,
                "real_density": m.density, "real_coverage": m.coverage}
    key = {"baseline": "manifold", "ks": list(KNN_KS), "train": x.reference.key(),
           "held_out": x.test_reference.key()}
    return cached_numbers(key, compute)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", _fid, (Output("fid", MINIMIZE),), citation="Heusel et al. 2017"),
    Metric("is", _inception_score, (Output("is", MAXIMIZE), Output("is_std", None)),
           settings={"splits": 10}, citation="Salimans et al. 2016"),
    Metric("kid", _kid, (Output("kid", MINIMIZE), Output("kid_std", None)),
           settings={"num_subsets": 100, "subset_size": 1000}, citation="Bińkowski et al. 2018"),
    Metric("precision_recall", _precision_recall,
           (Output("precision", MAXIMIZE), Output("recall", MAXIMIZE)),
           settings={"k": K_PRECISION_RECALL},
           citation="Kynkäänniemi et al. 2019"),
    Metric("density_coverage", _density_coverage,
           (Output("density", MAXIMIZE), Output("coverage", MAXIMIZE)),
           settings={"k": K_DENSITY_COVERAGE},
           citation="Naeem et al. 2020"),
    Metric("conditional_accuracy", _conditional_accuracy,
           (Output("conditional_accuracy", MAXIMIZE),), needs="labels"),
    Metric("fid_class", _fid_class, (Output("fid_class", MINIMIZE, per_class=True),),
           needs="labels", citation="FID per requested class", on_curve=False),
    Metric("fid_recon", _fid_recon, (Output("fid_recon", MINIMIZE),), needs="reconstructions"),
    Metric("elbo", _elbo, (Output("elbo", MAXIMIZE), Output("bpd", MINIMIZE),
                           Output("kl", None), Output("recon", MAXIMIZE)), needs="elbo",
           citation="Kingma & Welling 2014; Theis et al. 2016"),
    # C_T has no better direction a maximize/minimize goal can express (≈ 0 is best: ≪ 0
    # copying, ≫ 0 underfitting), so it is a diagnostic. copy_fraction: lower is better down
    # to held-out data's level alpha (below it, samples are farther from the training set
    # than real data are: C_T > 0 says so).
    Metric("data_copying", _data_copying, (Output("ct", None), Output("copy_fraction", MINIMIZE)),
           settings={"max_cells": 50, "samples_per_cell": 200, "min_cell_samples": 20,
                     "alpha": 0.05, "partition_seed": 0, "kmeans_iterations": 10},
           needs="test_reference", min_samples=21, citation="Meehan et al. 2020",
           on_curve=False),  # a property of the final model, not followed along training
    Metric("vendi", _vendi, (Output("vendi", MAXIMIZE),), citation="Friedman & Dieng 2022"),
    Metric("fid_inf", _fid_infinity, (Output("fid_inf", MINIMIZE),),
           settings={"fractions": SIZE_FRACTIONS}, citation="Chong & Forsyth 2020", on_curve=False),
    Metric("fid_se", _fid_se, (Output("fid_se", None),), settings={"resamples": 30},
           citation="bootstrap over the generated features"),
    Metric("real_baseline", _real_baseline,
           tuple(Output(f"real_{name}", None) for name in ("precision", "recall", "density", "coverage")),
           needs="test_reference", on_curve=False,
           citation="held-out real images against the reference (calibrates the k-NN metrics)"),
    # Robustness to the extractor (the report's "extractor" check): no network at all, and
    # FID with the class histogram taken out.
    Metric("fwd", _fwd, (Output("fwd", MINIMIZE),), settings={"wavelet": "haar", "level": FWD_LEVEL},
           needs="pixels", citation="Veeramacheneni et al. 2025 (Fréchet Wavelet Distance)"),
    Metric("fid_hm", _fid_hm, (Output("fid_hm", MINIMIZE), Output("class_tv", None)),
           citation="Kynkäänniemi et al. 2023 (FID with the predicted-class histogram matched)"),
)}
SAMPLE_METRICS = tuple(name for name, m in METRICS.items() if m.needs in SAMPLE_NEEDS)
OUTPUTS: dict[str, Output] = {o.name: o for m in METRICS.values() for o in m.outputs}


def check_extractor(name: str) -> str:
    """``name`` if it is a shipped extractor, else ``ValueError`` listing the shipped ones
    (called on a run's config and the command line before any work)."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; shipped extractors: {', '.join(EXTRACTORS)} "
                         f"(primary: {PRIMARY_EXTRACTOR})")
    return name


def min_samples(name: str) -> int:
    """The fewest samples entry ``name`` is computed from (per class for a ``labels``
    entry): its own ``min_samples``, else from its settings: ``splits`` parts (IS),
    ``k + 1`` points for k neighbours other than the point itself (precision/recall,
    density/coverage), and at least 2 (a covariance, an unbiased MMD)."""
    metric = METRICS[name]
    if metric.min_samples is not None:
        return metric.min_samples
    s = metric.settings
    return max(2, int(s.get("splits", 0)), int(s.get("k", 0)) + 1)


# --------------------------------------------------------------------------- key names
# The one place that spells a metric's key under an extractor.

# The entries logged again in every other extractor's feature space: FID and its bootstrap SE
# (what a verdict and its variance floor need) cost ~1 s at N = 10,000; KID and
# precision/recall would add ~15 s per extractor under load (benchmarks/metrics.py), so they
# are left to ``python -m lgm.evaluation score --extractor NAME`` (every metric, any space).
EXTRACTOR_METRICS = ("fid", "fid_se")
# their output names, and the weights' hash each extractor logs beside them
EXTRACTOR_OUTPUTS = frozenset({o.name for n in EXTRACTOR_METRICS for o in METRICS[n].outputs}
                              | {CLASSIFIER_KEY.split("/")[-1]})
assert not set(EXTRACTORS) & set(OUTPUTS), "an extractor name would read as a metric name"


def split_key(key: str) -> tuple[str | None, str, str]:
    """``(namespace, extractor, rest)`` of a logged key: ``eval/mlp/fid`` → ``("eval",
    "mlp", "fid")``, ``eval/fid_class/3`` → ``("eval", "cnn", "fid_class/3")`` (no
    extractor part: the primary), a bare ``fid`` → ``(None, "cnn", "fid")``."""
    parts = str(key).split("/")
    if len(parts) == 1:
        return None, PRIMARY_EXTRACTOR, parts[0]
    if len(parts) > 2 and parts[1] in EXTRACTORS and parts[1] != PRIMARY_EXTRACTOR:
        return parts[0], parts[1], "/".join(parts[2:])
    return parts[0], PRIMARY_EXTRACTOR, "/".join(parts[1:])


def metric_name(key: str) -> str:
    """The output name of a logged key: ``eval/fid`` → ``fid``, ``eval/fid_class/3`` →
    ``fid_class``, ``curve/kid`` → ``kid``, ``eval/mlp/fid`` → ``fid``; a bare ``fid`` is
    its own name."""
    return split_key(key)[2].split("/")[0]


def extractor_of(key: str) -> str:
    """The extractor in whose feature space ``key`` was measured (the primary when the key
    names none)."""
    return split_key(key)[1]


def extractor_namespace(namespace: str, extractor: str) -> str:
    """The key prefix of ``extractor``'s metrics: ``eval`` (primary) or ``eval/mlp``."""
    check_extractor(extractor)
    return namespace if extractor == PRIMARY_EXTRACTOR else f"{namespace}/{extractor}"


def extractor_key(key: str, extractor: str) -> str:
    """``key`` measured with ``extractor``: ``extractor_key("eval/fid", "mlp")`` →
    ``eval/mlp/fid``; the primary's key is the plain one. ``ValueError`` for an unknown
    extractor or a metric not logged per extractor (:data:`EXTRACTOR_METRICS`)."""
    namespace, _, rest = split_key(key)
    if namespace is None:
        raise ValueError(f"{key!r} has no namespace; give a logged key such as eval/fid")
    check_extractor(extractor)
    if extractor != PRIMARY_EXTRACTOR and metric_name(key) not in EXTRACTOR_OUTPUTS:
        raise ValueError(f"{key!r} is not logged per extractor; per-extractor metrics: "
                         f"{', '.join(sorted(EXTRACTOR_OUTPUTS))}")
    return f"{extractor_namespace(namespace, extractor)}/{rest}"


def extractor_keys(key: str) -> dict[str, str]:
    """``{extractor: key}`` of a metric under every shipped extractor, the primary first:
    ``extractor_keys("eval/fid")`` → ``{"cnn": "eval/fid", "mlp": "eval/mlp/fid"}`` (any
    extractor's spelling of the key may be given)."""
    return {extractor: extractor_key(key, extractor) for extractor in EXTRACTORS}


# What the report's "extractor" check recomputes a FID verdict on, besides the other
# extractors' FID: the extractor-free distance and the class-histogram-matched FID.
ROBUSTNESS_ALTERNATIVES = {"fid": ("fwd", "fid_hm")}


def robustness_keys(key: str) -> dict[str, str]:
    """``{label: key}`` the verdict on ``key`` is recomputed on to check the extractor:
    the metric under each *other* extractor, then for FID the extractor-free FWD and the
    histogram-matched FID. ``robustness_keys("eval/fid")`` → ``{"mlp": "eval/mlp/fid",
    "fwd": "eval/fwd", "fid_hm": "eval/fid_hm"}``; empty for a metric with none."""
    namespace, extractor, _ = split_key(key)
    name = metric_name(key)
    out = {}
    if name in EXTRACTOR_OUTPUTS:
        out.update({e: k for e, k in extractor_keys(key).items() if e != extractor})
    for alternative in ROBUSTNESS_ALTERNATIVES.get(name, ()):
        out[alternative] = f"{namespace}/{alternative}" if namespace else alternative
    return out


def goal(key: str) -> str:
    """``"minimize"`` or ``"maximize"`` for a logged metric key; ``ValueError`` for a key the
    registry does not know or that has no better direction (a diagnostic)."""
    output = OUTPUTS.get(metric_name(key))
    if output is None or output.goal is None:
        known = sorted(name for name, o in OUTPUTS.items() if o.goal is not None)
        what = "has no better direction (a diagnostic)" if output else "is not a registered metric"
        raise ValueError(f"metric {key!r} {what}; metrics with a direction: "
                         f"{', '.join(known)} (as eval/<name>)")
    return output.goal


# Outputs whose evaluation logs a resampling standard error (the spread of the metric over
# redraws of the generated samples of one trained model), by output name.
RESAMPLING_SE = {"fid": "fid_se"}


def se_key(key: str | None) -> str | None:
    """The key of ``key``'s resampling standard error (``eval/fid`` → ``eval/fid_se``), or
    None when the metric has none."""
    if key is None or metric_name(key) not in RESAMPLING_SE:
        return None
    return key.rsplit("/", 1)[0] + "/" + RESAMPLING_SE[metric_name(key)] if "/" in key \
        else RESAMPLING_SE[metric_name(key)]


def known_goal(key: str) -> str | None:
    """:func:`goal`, or ``None`` where it would raise."""
    try:
        return goal(key)
    except ValueError:
        return None


def outputs_of(name: str, *, namespace: str = "eval", num_classes: int | None = None,
               extractor: str = PRIMARY_EXTRACTOR) -> list[str]:
    """The keys an entry logs, e.g. ``outputs_of("is")`` → ``["eval/is", "eval/is_std"]``,
    ``outputs_of("fid", extractor="mlp")`` → ``["eval/mlp/fid"]``."""
    namespace = extractor_namespace(namespace, extractor)
    keys = []
    for output in METRICS[name].outputs:
        if output.per_class:
            keys += [f"{namespace}/{output.name}/{k}" for k in range(num_classes or 0)]
        else:
            keys.append(f"{namespace}/{output.name}")
    return keys


def compute(names, inputs: MetricInputs, *, namespace: str = "eval") -> dict:
    """Run the entries ``names`` on ``inputs``; keys prefixed with ``namespace``, values float."""
    out = {}
    for name in names:
        for key, value in METRICS[name](inputs).items():
            out[f"{namespace}/{key}"] = float(value)
    return out
