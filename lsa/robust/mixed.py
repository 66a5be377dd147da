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

from ..errors import DesignError, LsaError
from .blocks import ClusterBlocks, cluster_codes, safe_inverse, split_by_cluster
from ..validation import check_choice, check_frame, check_number
from .checks import check_alpha, check_mixed_fit, check_result
from .clustered import ClusteredResult, _finish
from .cr import get_covariance_type
from .satterthwaite import BetweenWithin, get_df_method, level2_terms

_TARGETS = ("model", "weighted")


def _chol_inverse(V: np.ndarray) -> np.ndarray:
    Li = np.linalg.inv(np.linalg.cholesky(V))  # numpy only: no second BLAS thread pool
    return Li.T @ Li


def _nest_check(top_codes: np.ndarray, cl_codes: np.ndarray, top_labels, cl_labels) -> None:
    """Every top-level group of the model must lie in exactly one cluster."""
    pairs = pd.DataFrame({"g": top_codes, "c": cl_codes}).drop_duplicates()
    bad = pairs["g"][pairs["g"].duplicated()].unique()
    if len(bad):
        g = bad[0]
        cls = pairs.loc[pairs["g"] == g, "c"].to_numpy()
        raise DesignError(
            f"the cluster variable does not nest the model's groups: top-level group "
            f"{top_labels[g]!r} (and {len(bad) - 1} other(s)) spans clusters "
            f"{[cl_labels[c] for c in cls[:5]]}; cluster at the model's top level or at a "
            "coarser level that contains whole groups"
        )


def mixed_blocks(y, X, terms, Zs, codes, T, sigma2, labels=None, w1=None, group_weights=None,
                 target: str = "model", cluster=None) -> tuple[ClusterBlocks, np.ndarray]:
    """Blocks of an LMM clustered at the top level (or at a coarser ``cluster``).

    Parameters
    ----------
    y (n,), X (n, p), terms : response, fixed design, names.
    Zs : per level bottom-up, (n, q_l) random-effect designs.
    codes : per level bottom-up, (n,) group codes (the last is the top-level cluster).
    T : per level, (q_l, q_l) random-effect covariance. sigma2 : residual variance.
    labels : labels of the top-level groups (by code), used to name clusters.
    w1 : (n,) conditional level-1 weights, or None (unweighted).
    group_weights : per level bottom-up, weights of each group (conditional on the parent,
        the top level unconditional), indexed by that level's 0-based codes (= the sorted
        group ids when ``codes`` holds ids); None = all 1.
    target : "model" or "weighted" working model for CR2 / df with weights (module docstring).
    cluster : (n,) cluster ids nesting the top-level groups; None = the top level.

    Returns (blocks, beta) with beta the (weighted) GLS estimate given the variance components.
    """
    if target not in _TARGETS:
        raise LsaError(f"target must be one of {_TARGETS}; got {target!r}")
    fact = [pd.factorize(np.asarray(c), sort=True) for c in codes]  # ids or 0-based codes
    codes = [f[0] for f in fact]
    top = codes[-1]
    labels = np.asarray(fact[-1][1]) if labels is None else np.asarray(labels)
    if cluster is None:
        cl = top
    else:
        cl, cl_labels = cluster_codes(cluster, "cluster")
        if len(cl) != len(top):
            raise DesignError(f"cluster has {len(cl)} values but the model uses {len(top)} rows")
        _nest_check(top, cl, labels, cl_labels)
        labels = cl_labels
    weighted = w1 is not None or group_weights is not None
    n = len(y)
    if weighted:
        w1 = np.ones(n) if w1 is None else np.asarray(w1, float)
        gw = [np.ones(int(c.max()) + 1) for c in codes] if group_weights is None else \
            [np.asarray(g, float) for g in group_weights]
    idx, (Xb, yb) = split_by_cluster(cl, np.asarray(X, float), np.asarray(y, float))
    Ws, Thetas = [], []
    for rows in idx:
        nj = len(rows)
        V = sigma2 * np.eye(nj)
        Vw = np.diag(sigma2 / w1[rows]) if weighted else None
        for lev, (Z, c, Tl) in enumerate(zip(Zs, codes, T)):
            Zr, cr = np.asarray(Z)[rows], c[rows]
            same = cr[:, None] == cr[None, :]
            ZTZ = (Zr @ Tl @ Zr.T) * same
            V += ZTZ
            if weighted:
                Vw += ZTZ
                Vw /= gw[lev][cr][:, None]  # nonzero entries lie within one group of this level
        if not weighted:
            Ws.append(_chol_inverse(V))
            Thetas.append(V)
        elif target == "weighted":
            Ws.append(_chol_inverse(Vw))
            Thetas.append(Vw)
        else:
            Ws.append(_chol_inverse(Vw))
            Thetas.append(V)
    xtwx = sum(x.T @ w @ x for x, w in zip(Xb, Ws))
    M = safe_inverse(xtwx, terms)
    beta = M @ sum(x.T @ w @ yy for x, w, yy in zip(Xb, Ws, yb))
    e = tuple(yy - x @ beta for x, yy in zip(Xb, yb))
    inverse_var = not weighted or target == "weighted"
    b = ClusterBlocks(X=Xb, e=e, W=tuple(Ws), Theta=tuple(Thetas), inverse_var=inverse_var,
                      labels=labels, terms=tuple(terms), X_raw=Xb, bread=M)
    return b, beta


def robust_mixed_components(y, X, terms, Zs, codes, T, sigma2, type="CR2", df="satterthwaite",
                            labels=None, w1=None, group_weights=None, target="model",
                            cluster=None) -> ClusteredResult:
    """:func:`robust_mixed` from explicit pieces (design, variance components, weights); see
    :func:`mixed_blocks` for the arguments."""
    b, beta = mixed_blocks(y, X, terms, Zs, codes, T, sigma2, labels, w1, group_weights,
                           target, cluster)
    dfm = BetweenWithin(intercept_level1=False) if str(df).lower() == "between-within" else df
    extra = {"weighted": w1 is not None or group_weights is not None, "target": target}
    return _finish(b, beta, terms, type, dfm, np.sqrt(np.diag(b.bread)), 0, "lmm",
                   "robust_mixed", extra)


def _frame_of(fit, data):
    frame = getattr(fit, "model_frame", None)
    if frame is not None:
        return frame
    if data is None:
        raise LsaError("this fit does not carry its model frame (fitted by an older lsa.mixed); "
                       "pass the data it was fitted to as data=")
    from lsa.mixed.formula import model_frame, parse_formula

    return model_frame(parse_formula(fit.formula), data, tuple(getattr(fit, "weights", None) or ()))


def _random_cov(fit, frame) -> list[np.ndarray]:
    rc = getattr(fit, "random_cov", None)
    if rc:
        return [np.asarray(rc[g].loc[list(zn), list(zn)], float)
                for g, zn in zip(frame.group_names, frame.znames)]
    vc = fit.variance_components
    T = []
    for g, zn in zip(frame.group_names, frame.znames):
        rows = vc[vc["group"] == g]
        Tl = np.zeros((len(zn), len(zn)))
        for _, r in rows.iterrows():
            a = zn.index(r["term1"])
            bb = a if pd.isna(r["term2"]) else zn.index(r["term2"])
            Tl[a, bb] = Tl[bb, a] = r["estimate"]
        T.append(Tl)
    return T


def _cluster_values(cluster, frame, data):
    if cluster is None:
        return None
    if isinstance(cluster, str):
        if cluster in frame.group_names:
            lev = frame.group_names.index(cluster)
            if lev != len(frame.group_names) - 1:
                raise DesignError(
                    f"cluster {cluster!r} is not the model's top level ({frame.group_names[-1]!r}): "
                    "cluster-robust SEs for a mixed model cluster at the highest level (spec 9; "
                    "Huang & Zhang 2025)"
                )
            return None
        if data is None:
            raise LsaError(f"cluster {cluster!r} is not a grouping factor of the model; pass data= "
                           "holding that column")
        if cluster not in data.columns:
            raise DesignError(f"cluster column {cluster!r} is not in the data")
        return data[cluster].loc[frame.row_index].to_numpy()
    if np.ndim(cluster) != 1:
        raise DesignError(f"cluster must be a column name or an array with one id per model row "
                          f"({len(frame.y)}); got {cluster!r:.80}")
    vals = np.asarray(cluster)
    if len(vals) != len(frame.y):
        raise DesignError(f"cluster has {len(vals)} values but the model uses {len(frame.y)} rows "
                          "(give values in model-frame order, fit.rows_used)")
    return vals


def robust_mixed(fit, data: pd.DataFrame | None = None, type: str = "CR2",
                 df: str = "satterthwaite", cluster=None, target: str = "model") -> ClusteredResult:
    """CR0/CR2 cluster-robust SEs with Satterthwaite (or between-within) df for an
    ``lsa.mixed.mixed`` fit (ML or REML, weighted or not), clustered at the top level.

    Parameters
    ----------
    fit : :class:`lsa.mixed.MixedResult`.
    data : optional. Not needed when the fit carries its model frame (``fit.model_frame``);
        otherwise the data the model was fitted to. Also used to look up ``cluster``.
    type : "CR0", "CR1", "CR2" (default) or "CR3" (see :mod:`lsa.robust.cr`).
    df : "satterthwaite" (default; CR2::satdf), "between-within" (CR2::robust_mixed
        ``satt = FALSE``), "naive" (G - 1), "z".
    cluster : None (the model's top grouping factor; three-level models cluster at the highest
        level, as ``Gname``), or a column name / values of a coarser clustering that nests the
        top-level groups.
    target : working model of the CR2 adjustment for weighted fits: "model" (default) or
        "weighted" (see the module docstring). Ignored for unweighted fits.

    Returns
    -------
    ClusteredResult: ``tidy()``, ``cov_params()``, ``se_model`` (model-based, lme4's ``vcov``
    / the inverse pseudo-Hessian), ``wald_test()`` (HTZ); :func:`random_slope_diagnostic` gives
    the model-based vs robust table of spec 10.1.
    """
    check_mixed_fit(fit)
    if data is not None:
        check_frame(data, "data")
    get_covariance_type(type)
    get_df_method(df)
    check_choice(target, _TARGETS, "target")
    frame = _frame_of(fit, data)
    T = _random_cov(fit, frame)
    w1 = gw = None
    if getattr(fit, "weights", None):
        lw = getattr(fit, "level_weights", None)
        if lw is None:
            raise LsaError("robust_mixed needs the weights as the fit used them (fit.level_weights, "
                           "lsa.mixed with model-frame access); refit with the current lsa.mixed")
        w1, gw = np.asarray(lw.w1, float), [np.asarray(g, float) for g in lw.groups]
    cl = _cluster_values(cluster, frame, data)
    r = robust_mixed_components(frame.y, frame.X, frame.xnames, frame.Z, frame.codes, T,
                                float(fit.scale), type=type, df=df, labels=frame.group_ids[-1],
                                w1=w1, group_weights=gw, target=target, cluster=cl)
    return r


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
