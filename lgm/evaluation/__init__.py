"""Evaluation of generative models with one fixed classifier per dataset.

``evaluate(sample_fn=..., dataset=...)`` is the entry point a run calls; the metric
functions (``fid``, ``inception_score``, ``kid``, ``precision_recall``,
``density_coverage``) work on any feature arrays; ``classifier(dataset)`` gives the
SHA-256-checked network whose features and probabilities they are computed from.

Naming trap: the functions ``classifier`` and ``evaluate`` shadow the submodules of the
same name as attributes of this package, so ``import lgm.evaluation.classifier as m``
yields the *function*. Import from the submodules with ``from lgm.evaluation.classifier
import ...`` (that form always resolves the module).
"""

from lgm.evaluation.classifier import (ClassifierNet, ClassifierWeightsError, classifier,
                                       classifier_sha256)
from lgm.evaluation.evaluate import METRICS, evaluate
from lgm.evaluation.features import ReferenceStatistics, extract, reference_statistics
from lgm.evaluation.metrics import (density_coverage, feature_statistics, fid,
                                    fid_from_statistics, frechet_distance, inception_score, kid,
                                    precision_recall)

__all__ = [
    "evaluate", "METRICS", "classifier", "classifier_sha256", "ClassifierNet",
    "ClassifierWeightsError", "extract", "reference_statistics", "ReferenceStatistics",
    "feature_statistics", "frechet_distance", "fid", "fid_from_statistics", "inception_score",
    "kid", "precision_recall", "density_coverage",
]
