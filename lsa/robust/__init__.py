"""Cluster-robust inference that holds with few clusters (``lsa.robust``).

* :func:`clustered` -- OLS/WLS/GLM with CR0, CR1, CR1S, CR2, CR3, CR3J covariance and
  Satterthwaite (Bell-McCaffrey), between-within or naive df; ``wald_test`` with HTZ.
* :func:`effective_clusters`, :func:`effective_clusters_simple`, :func:`check_effective_clusters`
  -- effective number of clusters (Carter, Schnepel & Steigerwald 2017) and a warning helper.
* :func:`gee` -- GEE (independence / exchangeable) with Liang-Zeger, Mancl-DeRouen (CR3) and
  CR2 (Kauermann-Carroll-type) corrections.
* :func:`lpm`, :func:`modified_poisson` -- risk differences and risk ratios for binary outcomes.
* :func:`robust_mixed` -- CR0/CR2 for linear mixed models (``lsa.mixed`` fits, weighted or
  not, two or three levels, clustered at the top level) with Satterthwaite df.
* :func:`random_slope_diagnostic`, :func:`h_test`, :func:`ncv_mlm` -- model-based vs robust SEs
  (omitted random slopes) and level-1 heteroskedasticity tests (spec 10).
"""

from .binary import lpm, modified_poisson, risk_ratios
from .blocks import ClusterBlocks
from .clustered import ClusteredResult, clustered
from .effective import (FewClustersWarning, check_effective_clusters, effective_clusters,
                        effective_clusters_simple)
from .gee import gee
from .diagnostics import HTestResult, NcvResult, h_test, ncv_mlm
from .cr import COVARIANCE_TYPES, CovarianceType, SingularAdjustmentWarning, get_covariance_type
from .satterthwaite import DF_METHODS, get_df_method
from ..results import WaldTest
from ..errors import warn as _warn


# loaded on first use: lsa.robust.mixed needs lsa.mixed, whose modules import lsa.robust.blocks /
# .satterthwaite / .cr (which run this __init__); importing it here would make ``import lsa.mixed``
# (before lsa.robust) a cycle through this package's __init__
_FROM_MIXED = ("random_slope_diagnostic", "robust_mixed", "robust_mixed_components", "se_ratio")


def __getattr__(name: str):
    if name in _FROM_MIXED:
        from . import mixed

        value = getattr(mixed, name)
        globals()[name] = value
        return value
    if name == "WaldTestResult":                     # the old name of lsa.results.WaldTest
        _warn("lsa.robust.WaldTestResult is deprecated; use lsa.results.WaldTest (the one test result).",
              DeprecationWarning)
        return WaldTest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "COVARIANCE_TYPES",
    "FewClustersWarning",
    "check_effective_clusters",
    "effective_clusters",
    "effective_clusters_simple",
    "gee",
    "h_test",
    "HTestResult",
    "ncv_mlm",
    "NcvResult",
    "random_slope_diagnostic",
    "lpm",
    "modified_poisson",
    "risk_ratios",
    "robust_mixed",
    "robust_mixed_components",
    "se_ratio",
    "DF_METHODS",
    "ClusterBlocks",
    "ClusteredResult",
    "CovarianceType",
    "SingularAdjustmentWarning",
    "WaldTest",
    "clustered",
    "get_covariance_type",
    "get_df_method",
]
