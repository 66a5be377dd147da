"""Weighted linear mixed models by multilevel pseudo-maximum likelihood (WeMix-compatible).

``mixed(formula, data, weights=[level1, level2(, level3)])`` — see :func:`lsa.mixed.fit.mixed`.
The steps are public: :func:`parse_formula` → :func:`model_frame` → :func:`level_weights` →
:func:`build_stats` → :func:`optimize` (over :func:`lsa.mixed.pml.profiled`) → result.
"""
from lsa.mixed.fit import MixedControl, build_stats, level_weights, mixed, optimize
from lsa.mixed.formula import model_frame, parse_formula
from lsa.mixed.pml import ThetaMap, profiled
from lsa.mixed.results import MixedResult
from lsa.mixed.stats import ClusterStats, cluster_stats
from lsa.mixed import covariance  # noqa: F401  (registers the with_vcov estimators)

__all__ = ["mixed", "MixedControl", "MixedResult", "parse_formula", "model_frame",
           "level_weights", "build_stats", "optimize", "profiled", "ThetaMap", "ClusterStats",
           "cluster_stats"]
