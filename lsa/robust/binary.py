"""Binary outcomes with few clusters: linear probability model and modified Poisson (spec 13).

Huang (2022, JXE 90:...; doi 10.1080/00220973.2019.1699769) and Huang (2021, Prevention Science
22): for a binary outcome in a cluster-randomised trial, the LPM (risk differences) and the
modified Poisson model (log link, robust variance: risk ratios; Zou 2004; Zou & Donner 2013) with
CR2 and Bell-McCaffrey/Satterthwaite df keep the type I error near nominal with as few as
~20 clusters, and their effects are collapsible (odds ratios are not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import check_alpha, check_result
from ..results import renamed_option
from .clustered import DEFAULT_CLUSTER, ClusteredResult, clustered
from .satterthwaite import df_method_option


def lpm(formula, data, cluster=DEFAULT_CLUSTER, weights=None, type="CR2", df_method="satterthwaite", *,
        df=None) -> ClusteredResult:
    """Linear probability model: least squares on a 0/1 outcome; coefficients are risk
    differences. Same arguments and result as :func:`~lsa.robust.clustered` (``data`` a
    DataFrame or an :class:`lsa.SurveyDesign`: design weights, its top-level id as the default
    cluster, a domain by the rule of :mod:`lsa.model_inputs`; ``df=`` is the deprecated name of
    ``df_method``)."""
    df_method = df_method_option("lpm", df_method, df)
    return clustered(formula, data, cluster=cluster, family=None, weights=weights, type=type,
                     df_method=df_method)


def modified_poisson(formula, data, cluster=DEFAULT_CLUSTER, weights=None, type="CR2",
                     df_method="satterthwaite", *, df=None) -> ClusteredResult:
    """Modified Poisson regression (log link) with cluster-robust variance; ``exp(coef)`` are
    risk ratios (see :func:`risk_ratios`). CR2 follows CR2::clustSE's working-weight
    convention (see :func:`~lsa.robust.clustered`, also for ``data`` given as a design;
    ``df=`` is the deprecated name of ``df_method``)."""
    df_method = df_method_option("modified_poisson", df_method, df)
    return clustered(formula, data, cluster=cluster, family="poisson", weights=weights, type=type,
                     df_method=df_method)


def risk_ratios(result: ClusteredResult, conf_level: float | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
    """Exponentiated estimates and confidence limits (level 1 − ``alpha``) of a log-link fit
    (risk ratios), with the cluster-robust SE, df and p-value of the log-scale coefficient.
    ``conf_level`` (= 1 − alpha) is the deprecated name of the option."""
    check_result(result, "result", ClusteredResult, "a result of lsa.robust.modified_poisson (or clustered)")
    if conf_level is not None:
        alpha = 1 - check_alpha(renamed_option("risk_ratios", "conf_level", "alpha", conf_level, alpha, 0.05),
                                "conf_level")
    tab = result.tidy(alpha=alpha)
    out = tab[["term", "std_error", "df", "p_value"]].copy()
    out.insert(1, "risk_ratio", np.exp(tab["estimate"]))
    out["conf_low"] = np.exp(tab["conf_low"])
    out["conf_high"] = np.exp(tab["conf_high"])
    return out
