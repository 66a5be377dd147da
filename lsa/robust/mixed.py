"""CR0/CR2 cluster-robust inference for linear mixed models (CR2::robust_mixed; spec section 7).

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
omitted random slopes; with three levels cluster at the top level (Huang & Zhang 2025, CSTM).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import LsaError
from .blocks import ClusterBlocks, safe_inverse, split_by_cluster
from .clustered import ClusteredResult, _finish
from .satterthwaite import BetweenWithin


def mixed_blocks(y, X, terms, Zs, codes, T, sigma2, labels=None) -> tuple[ClusterBlocks, np.ndarray]:
    """Blocks of an LMM clustered at the top level.

    Parameters
    ----------
    y (n,), X (n, p), terms : response, fixed design, names.
    Zs : per level bottom-up, (n, q_l) random-effect designs.
    codes : per level bottom-up, (n,) group codes (the last is the top-level cluster).
    T : per level, (q_l, q_l) random-effect covariance. sigma2 : residual variance.

    Returns (blocks, beta) with beta the GLS estimate given V.
    """
    top = np.asarray(codes[-1])
    idx, (Xb, yb) = split_by_cluster(top, np.asarray(X, float), np.asarray(y, float))
    Vs, Vinvs = [], []
    for rows in idx:
        V = sigma2 * np.eye(len(rows))
        for Z, c, Tl in zip(Zs, codes, T):
            Zr, cr = Z[rows], np.asarray(c)[rows]
            for k in np.unique(cr):
                r = np.flatnonzero(cr == k)
                V[np.ix_(r, r)] += Zr[r] @ Tl @ Zr[r].T
        L = np.linalg.cholesky(V)
        Li = np.linalg.inv(L)
        Vs.append(V)
        Vinvs.append(Li.T @ Li)
    xtvx = sum(x.T @ vi @ x for x, vi in zip(Xb, Vinvs))
    M = safe_inverse(xtvx, terms)
    beta = M @ sum(x.T @ vi @ yy for x, vi, yy in zip(Xb, Vinvs, yb))
    e = tuple(yy - x @ beta for x, yy in zip(Xb, yb))
    labels = np.unique(top) if labels is None else np.asarray(labels)
    b = ClusterBlocks(X=Xb, e=e, W=tuple(Vinvs), Theta=tuple(Vs), inverse_var=True,
                      labels=labels, terms=tuple(terms), X_raw=Xb, bread=M)
    return b, beta


def robust_mixed_components(y, X, terms, Zs, codes, T, sigma2, type="CR2", df="satterthwaite",
                            labels=None) -> ClusteredResult:
    """:func:`robust_mixed` from explicit pieces (design, variance components)."""
    b, beta = mixed_blocks(y, X, terms, Zs, codes, T, sigma2, labels)
    dfm = BetweenWithin(intercept_level1=False) if str(df).lower() == "between-within" else df
    return _finish(b, beta, terms, type, dfm, np.sqrt(np.diag(b.bread)), 0, "lmm", "robust_mixed")


def robust_mixed(fit, data: pd.DataFrame, type: str = "CR2", df: str = "satterthwaite") -> ClusteredResult:
    """CR0/CR2 robust SEs with Satterthwaite (or between-within) df for an unweighted
    ``lsa.mixed.mixed`` fit (ML or REML), clustered at the top grouping level.

    ``data`` must be the data the model was fitted to (the fit object does not keep its model
    matrices). ``result.se_model`` holds the model-based SEs; ``se_ratio(result)`` gives
    robust / model-based (the random-slope diagnostic of spec 10.1).
    """
    from lsa.mixed.formula import model_frame, parse_formula

    if getattr(fit, "weights", None):
        raise LsaError("robust_mixed supports unweighted fits only; the weighted (pseudo-likelihood) "
                       "CR2 is not implemented yet")
    frame = model_frame(parse_formula(fit.formula), data)
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
    return robust_mixed_components(frame.y, frame.X, frame.xnames, frame.Z, frame.codes, T,
                                   float(fit.scale), type=type, df=df, labels=frame.group_ids[-1])


def se_ratio(result: ClusteredResult) -> pd.Series:
    """Robust / model-based SE per fixed effect: values well above 1 for a level-1 predictor
    suggest an omitted random slope (Huang & Zhang 2025, JXE; spec 10.1)."""
    return (result.bse / result.se_model).rename("se_ratio")
