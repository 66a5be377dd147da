"""CR0/CR2 cluster-robust inference for linear mixed models (CR2::robust_mixed; spec section 7).

Unweighted fits
---------------
The fixed effects of an LMM are GLS estimates ``beta = M X'V^{-1} y`` with the model-implied
marginal covariance ``V_j = sigma^2 I + sum_levels Z T Z'`` of each top-level cluster j. The
sandwich uses ``V_j`` as the working covariance (Liang & Zeger 1986): ``W_j = V_j^{-1}``,
``Theta_j = V_j`` in :mod:`lsa.robust.blocks`, bread ``M = (sum_j X_j' V_j^{-1} X_j)^{-1}``
(the model-based covariance, lme4's ``vcov``), meat from ``u_j = X_j' V_j^{-1} A_j e_j`` with
marginal residuals ``e = y - X beta`` and, for CR2,
``A_j = U_j' [U_j (I - X_j M X_j' V_j^{-1}) V_j U_j']^{-1/2} U_j`` (``V_j = U_j'U_j``;
Bell & McCaffrey 2002; McCaffrey, Bell & Botts 2001; Pustejovsky & Tipton 2018). Satterthwaite
df use ``V`` as the working model (CR2::satdf, computed here cluster by cluster); between-within
df follow robust_mixed (intercept counted as level 2, level-2 df ``J - L2``). Huang, Wiedermann &
Zhang (2023, MBR 58:637) and Huang & Zhang (2025, JXE) motivate this for heteroskedasticity and
omitted random slopes; with three levels cluster at the top level (Huang & Zhang 2025, CSTM):
``V_j`` is then the full nested covariance of the top-level cluster.

Weighted fits (pseudo-maximum likelihood; definition used here)
---------------------------------------------------------------
For a Gaussian LMM the pseudo-likelihood of Rabe-Hesketh & Skrondal (2006) (``lsa.mixed`` /
WeMix) has, for top-level cluster k, the fixed-effect score ``s_k = X_k' W_k e_k`` with

    W_k = w_k * Vw_k^{-1},   Vw_k = blockdiag_j[(sigma^2 W1_j^{-1} + Z_2j T_2 Z_2j') / w_{j|k}]
                                     + Z_3k T_3 Z_3k'              (three levels)
                             Vw_k = sigma^2 W1_k^{-1} + Z_k T Z_k'   (two levels, no w_{j|k})

(``W1 = diag(w_{i|j})`` the conditional level-1 weights after any scaling, ``w_{j|k}`` the
conditional level-2 weights, ``w_k`` the top-level weights): raising a Gaussian density to the
power ``w`` divides its covariance by ``w``. The estimating equation ``sum_k s_k = 0`` is linear
in ``beta``, so the weighted fit is an M-estimator of the form in :mod:`lsa.robust.blocks` with
this ``W_k`` and bread ``M = (sum_k X_k' W_k X_k)^{-1}`` (the inverse pseudo-Hessian, the
engine's ``bse_model``). CR0 is then the engine's own sandwich without its G/(G-1) factor.

The CR2 adjustment needs a *working model* ``Theta_k`` for ``Var(y_k)`` (Pustejovsky & Tipton
2018, eq. 6, with weights that are not inverse-variance). ``target="model"`` (default) takes the
model-implied covariance of the population model, ``Theta_k = V_k = sigma^2 I + sum Z T Z'``
(unweighted): sampling weights change the estimator, not the distribution of the outcome under
the model, so CR2 is exactly unbiased when the fitted model holds. This is how clubSandwich
treats sampling weights in ``lm`` (``W = diag(w)``, target ``I``), and with no random effects
it reduces to :func:`lsa.robust.clustered` with weights ``w_{i|j} w_{j|k} w_k``.
``target="weighted"`` takes ``Theta_k = W_k^{-1}`` (inverse-variance working model, i.e. the
weights read as precision weights, as clubSandwich on an ``lmer`` fit with ``weights=``).
Both reduce to the unweighted robust_mixed when all weights are 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..mixed.cluster_blocks import TARGETS, mixed_blocks, mixed_df_method
from ..mixed.vcov import get_vcov_estimator
from ..threads import single_blas_thread
from ..validation import check_choice, check_frame, check_number
from .checks import check_alpha, check_mixed_fit, check_result
from .clustered import ClusteredResult
from .clustered import finish_result as _finish
from .cr import get_covariance_type
from .satterthwaite import df_method_option, level2_terms

__all__ = ["mixed_blocks", "robust_mixed", "robust_mixed_components", "se_ratio",
           "random_slope_diagnostic"]


@single_blas_thread
def robust_mixed_components(y, X, terms, Zs, codes, T, sigma2, type="CR2", df_method="satterthwaite",
                            labels=None, w1=None, group_weights=None, target="model",
                            cluster=None, *, df=None) -> ClusteredResult:
    """:func:`robust_mixed` from explicit pieces (design, variance components, weights); see
    :func:`mixed_blocks` for the arguments (``df=`` is the deprecated name of ``df_method``)."""
    df_method = df_method_option("robust_mixed_components", df_method, df)
    b, beta = mixed_blocks(y, X, terms, Zs, codes, T, sigma2, labels, w1, group_weights,
                           target, cluster)
    dfm = mixed_df_method(df_method)
    extra = {"weighted": w1 is not None or group_weights is not None, "target": target}
    return _finish(b, beta, terms, type, dfm, np.sqrt(np.diag(b.bread)), 0, "lmm",
                   "robust_mixed", extra)


@single_blas_thread
def robust_mixed(fit, data: pd.DataFrame | None = None, type: str = "CR2",
                 df_method: str = "satterthwaite", cluster=None, target: str = "model", *,
                 df: str | None = None) -> ClusteredResult:
    """CR0/CR2 cluster-robust SEs with Satterthwaite (or between-within) df for an
    ``lsa.mixed.mixed`` fit (ML or REML, weighted or not), clustered at the top level.

    Parameters
    ----------
    fit : :class:`lsa.mixed.MixedResult`.
    data : optional. Not needed when the fit carries its model frame (``fit.model_frame``);
        otherwise the data the model was fitted to. Also used to look up ``cluster``.
    type : "CR0", "CR1", "CR2" (default) or "CR3" (see :mod:`lsa.robust.cr`).
    df_method : "satterthwaite" (default; CR2::satdf), "between-within" (CR2::robust_mixed
        ``satt = FALSE``), "naive" (G - 1), "z".
    cluster : None (the model's top grouping factor; three-level models cluster at the highest
        level, as ``Gname``), or a column name / values of a coarser clustering that nests the
        top-level groups.
    target : working model of the CR2 adjustment for weighted fits: "model" (default) or
        "weighted" (see the module docstring). Ignored for unweighted fits.
    df : deprecated name of ``df_method`` (the same values; ``DeprecationWarning``).

    A thin alias over the covariance registry of :class:`lsa.mixed.MixedResult`: the same
    estimator as ``fit.with_vcov(type, df_method=df_method, cluster=cluster, target=target)``
    (:mod:`lsa.mixed.covariance`), packed as a ClusteredResult.

    Returns
    -------
    ClusteredResult: ``tidy()``, ``cov_params()``, ``se_model`` (model-based, lme4's ``vcov``
    / the inverse pseudo-Hessian), ``wald_test()`` (HTZ); :func:`random_slope_diagnostic` gives
    the model-based vs robust table of spec 10.1.
    """
    df_method = df_method_option("robust_mixed", df_method, df)
    check_mixed_fit(fit)
    if data is not None:
        check_frame(data, "data")
    get_covariance_type(type)
    check_choice(target, TARGETS, "target")
    e = get_vcov_estimator(get_covariance_type(type).name).compute(
        fit, df_method=df_method, cluster=cluster, target=target, data=data)
    pc = e.details
    b = pc.blocks
    return ClusteredResult(
        terms=tuple(b.terms), beta=pc.beta, cov=e.cov, df_values=e.df, cov_type=e.name,
        df_method=e.df_method, blocks=b, estimating=pc.estimating,
        se_model_values=np.sqrt(np.diag(b.bread)), nobs=b.nobs, n_clusters=b.n_clusters,
        n_dropped=0, family="lmm", label="robust_mixed",
        extra={"weighted": pc.weighted, "target": target})


def se_ratio(result: ClusteredResult) -> pd.Series:
    """Robust / model-based SE per fixed effect: values well above 1 for a level-1 predictor
    suggest an omitted random slope (Huang & Zhang 2025, JXE; spec 10.1)."""
    check_result(result, "result", ClusteredResult, "a result of lsa.robust.robust_mixed (or clustered)")
    return (result.bse / result.se_model).rename("se_ratio")


def random_slope_diagnostic(result: ClusteredResult, rs_fit=None, alpha: float = 0.05,
                            min_ratio: float = 1.0) -> pd.DataFrame:
    """Model-based vs cluster-robust SEs side by side, with a flag (spec 10.1).

    ``result`` is :func:`robust_mixed` on a random-intercept fit (CR2 recommended).
    Columns: term, level (1 = varies within top-level clusters, 2 = constant within them),
    estimate, se_model, se_robust, ratio = se_robust / se_model, df (Satterthwaite),
    ratio_crit, flagged; with ``rs_fit`` (the random-slope model) also se_model_rs.

    Flag rule (a heuristic; Huang gives no formal threshold): under a correct model the robust
    variance estimate is approximately ``se_model^2 * chi2_df / df`` with the Satterthwaite df
    of the robust SE, so a term is flagged when

        ratio > ratio_crit = max(min_ratio, sqrt(chi2_{1-alpha}(df) / df)),

    i.e. the robust variance exceeds the model-based one by more than sampling noise at level
    ``alpha`` explains. A flagged **level-1** term (or cross-level interaction) suggests an
    omitted random slope for it (or level-1 heteroskedasticity across clusters); keep the RI
    model with CR2 SEs, or add the slope (Huang & Zhang 2025, JXE). Level-2 terms are flagged
    by the same rule but point to misspecified level-2 variance, not a slope.
    """
    check_alpha(alpha, "alpha")
    check_number(min_ratio, "min_ratio", low=0)
    ratio = se_ratio(result).to_numpy()
    dfv = result.df_values
    crit = np.sqrt(stats.chi2.ppf(1 - alpha, dfv) / dfv)
    crit = np.maximum(crit, min_ratio)
    level = np.where(level2_terms(result.blocks), 2, 1)
    tab = pd.DataFrame({
        "term": list(result.terms), "level": level, "estimate": result.beta,
        "se_model": result.se_model_values, "se_robust": result.bse.to_numpy(),
        "ratio": ratio, "df": dfv, "ratio_crit": crit, "flagged": ratio > crit,
    })
    if rs_fit is not None:
        bm = getattr(rs_fit, "bse_model", None)
        bm = bm if bm is not None else rs_fit.bse
        tab.insert(5, "se_model_rs", pd.Series(bm).reindex(list(result.terms)).to_numpy())
    return tab
