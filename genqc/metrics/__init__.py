"""Metrics: pure functions over feature matrices (NumPy arrays or torch tensors).

One module per metric family; each returns a flat ``dict[str, float]`` ready for
metrics.json (memorisation, modes and spectra also return per-item arrays for the
report). Conventions are in each module's docstring and in README. Importing this
package is cheap: torch is imported only inside the functions that use it.
"""

from genqc.metrics.bootstrap import bootstrap_ci, fd_bootstrap_ci, with_ci
from genqc.metrics.checks import MetricWarning, NumericalWarning, SingularCovarianceWarning, SubsetSizeWarning
from genqc.metrics.copying import data_copying_ct, shifted_copies
from genqc.metrics.fd_infinity import FD_INF, fd_infinity
from genqc.metrics.fid import FD, fd_from_features, features_to_stats, frechet_distance, frechet_distance_details
from genqc.metrics.inception_score import IS_MEAN, IS_STD, inception_score
from genqc.metrics.kid import KID_MEAN, KID_STD, kid_from_features
from genqc.metrics.memorization import memorization
from genqc.metrics.modes import mode_coverage
from genqc.metrics.prdc import COVERAGE, DENSITY, PRECISION, RECALL, prdc, realism_score
from genqc.metrics.reconstruction import reconstruction_metrics
from genqc.metrics.registry import compute
from genqc.metrics.spectral import spectral_distance
from genqc.metrics.stats import RunningStats

__all__ = [
    "COVERAGE",
    "DENSITY",
    "FD",
    "FD_INF",
    "IS_MEAN",
    "IS_STD",
    "KID_MEAN",
    "KID_STD",
    "PRECISION",
    "RECALL",
    "MetricWarning",
    "NumericalWarning",
    "RunningStats",
    "SingularCovarianceWarning",
    "SubsetSizeWarning",
    "bootstrap_ci",
    "compute",
    "data_copying_ct",
    "fd_bootstrap_ci",
    "fd_from_features",
    "fd_infinity",
    "features_to_stats",
    "frechet_distance",
    "frechet_distance_details",
    "inception_score",
    "kid_from_features",
    "memorization",
    "mode_coverage",
    "prdc",
    "realism_score",
    "reconstruction_metrics",
    "shifted_copies",
    "spectral_distance",
    "with_ci",
]
