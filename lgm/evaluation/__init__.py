"""Evaluation of generative models with one fixed classifier per dataset.

``evaluate(sample_fn=..., dataset=...)`` is the entry point a run calls; the metric
functions (``fid``, ``inception_score``, ``kid``, ``precision_recall``,
``density_coverage``) work on any feature arrays; ``lgm.evaluation.registry`` is the one
table of metrics (function, settings, output keys, which way is better);
``classifier(dataset)`` gives the SHA-256-checked network whose features and probabilities
the metrics are computed from. Samples that exist as files or arrays are scored by
``score``/``compare`` (``lgm.evaluation.scoring``, the library behind
``python -m lgm.evaluation``); ``interop.feature_extractor`` lends the classifier to
torchmetrics.

Importing this package (or ``lgm.evaluation.registry``) does not import torch: the names
that need it (``evaluate``, ``classifier``, ``extract``, ...) are loaded on first use, so
the analysis can read the registry without a deep-learning framework.
"""

from __future__ import annotations

import importlib

from lgm.evaluation.metrics import (data_copying, density_coverage, feature_statistics, fid,
                                    fid_from_statistics, frechet_distance, inception_score, kid,
                                    precision_recall, vendi_score)

# name -> submodule that defines it (imported on first access, PEP 562)
_LAZY = {
    "evaluate": "evaluator", "SAMPLE_METRICS": "evaluator", "score_features": "evaluator",
    "score": "scoring", "compare": "scoring",
    "classifier": "classifiers", "classifier_sha256": "classifiers",
    "verify_classifier": "classifiers", "ClassifierNet": "classifiers",
    "ClassifierWeightsError": "classifiers",
    "extract": "features", "reference_statistics": "features",
    "ReferenceStatistics": "features",
}

__all__ = [
    "evaluate", "SAMPLE_METRICS", "classifier", "classifier_sha256", "verify_classifier",
    "ClassifierNet", "ClassifierWeightsError", "extract", "reference_statistics",
    "ReferenceStatistics", "feature_statistics", "frechet_distance", "fid",
    "fid_from_statistics", "inception_score", "kid", "precision_recall", "density_coverage",
    "data_copying", "vendi_score", "score_features", "score", "compare",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'lgm.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lgm.evaluation.{_LAZY[name]}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
