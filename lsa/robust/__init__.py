"""Cluster-robust inference that holds with few clusters (``lsa.robust``).

* :func:`clustered` -- OLS/WLS/GLM with CR0, CR1, CR1S, CR2, CR3, CR3J covariance and
  Satterthwaite (Bell-McCaffrey), between-within or naive df; ``wald_test`` with HTZ.
* :func:`effective_clusters`, :func:`effective_clusters_simple`, :func:`check_effective_clusters`
  -- effective number of clusters (Carter, Schnepel & Steigerwald 2017) and a warning helper.
* :func:`gee` -- GEE (independence / exchangeable) with Liang-Zeger, Mancl-DeRouen (CR3) and
  CR2 (Kauermann-Carroll-type) corrections.
* :func:`lpm`, :func:`modified_poisson` -- risk differences and risk ratios for binary outcomes.
* :func:`robust_mixed` -- CR0/CR2 for linear mixed models (``lsa.mixed`` fits).
"""

from .binary import lpm, modified_poisson, risk_ratios
from .blocks import ClusterBlocks
from .clustered import ClusteredResult, clustered
from .effective import (FewClustersWarning, check_effective_clusters, effective_clusters,
                        effective_clusters_simple)
from .gee import gee
from .mixed import robust_mixed, robust_mixed_components, se_ratio
from .cr import COVARIANCE_TYPES, CovarianceType, SingularAdjustmentWarning, get_covariance_type
from .satterthwaite import DF_METHODS, get_df_method
from .wald import WaldTestResult

__all__ = [
    "COVARIANCE_TYPES",
    "FewClustersWarning",
    "check_effective_clusters",
    "effective_clusters",
    "effective_clusters_simple",
    "gee",
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
    "WaldTestResult",
    "clustered",
    "get_covariance_type",
    "get_df_method",
]
