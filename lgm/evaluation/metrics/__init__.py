"""Sample-quality metrics as pure functions of features or class probabilities.

Every function takes numpy arrays or torch tensors (converted once to float64 numpy) and
returns plain Python floats, or a small named tuple of floats. Registry names:

- ``fid``: ``fid(features_a, features_b)``, Heusel et al. 2017 (also
  ``feature_statistics``, ``frechet_distance``, ``fid_from_statistics`` for cached stats);
- ``is``: ``inception_score(probs, splits, seed)``, Salimans et al. 2016 (takes class
  probabilities, not features);
- ``kid``: ``kid(features_a, features_b, num_subsets, subset_size, seed)``,
  Bińkowski et al. 2018;
- ``precision_recall``: ``precision_recall(real, fake, k, block_size)``,
  Kynkäänniemi et al. 2019;
- ``density_coverage``: ``density_coverage(real, fake, k, block_size)``, Naeem et al. 2020;
- ``data_copying``: ``data_copying(train, test, generated, ...)``: the three-sample test C_T
  of Meehan et al. 2020 and the copy fraction;
- ``vendi``: ``vendi_score(features)``, Friedman & Dieng 2022 (no reference needed).

Which way each logged number is better, the fixed settings a run uses and the output
keys belong to the registry entries in ``lgm.evaluation.registry``, not here. None of these
modules imports torch (tensors are accepted once torch is loaded).

Naming trap: the function ``fid`` shadows the submodule ``fid`` as an attribute of this
package; reach the module with ``from lgm.evaluation.metrics.fid import ...``.
"""

from __future__ import annotations

from ._arrays import ScoreWithStd
from .data_copying import DataCopying, data_copying
from .density_coverage import DensityCoverage, density_coverage
from .fid import (FeatureStatistics, RankDeficientCovarianceWarning, feature_statistics, fid,
                  fid_from_statistics, frechet_distance)
from .inception_score import inception_score
from .kid import kid
from .precision_recall import PrecisionRecall, precision_recall
from .vendi import vendi_score

__all__ = [
    "ScoreWithStd", "FeatureStatistics", "PrecisionRecall", "DensityCoverage",
    "RankDeficientCovarianceWarning",
    "feature_statistics", "frechet_distance", "fid", "fid_from_statistics",
    "inception_score", "kid",
    "precision_recall", "density_coverage", "DataCopying", "data_copying", "vendi_score",
]
