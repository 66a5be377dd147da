"""Per-cluster blocks of a linear mixed model for the cluster-robust estimators (CR0-CR3).

The algebra (working covariance ``W_k``, working model ``Theta_k`` for CR2 with sampling
weights, ``target``) is documented in :mod:`lsa.robust.mixed`; this module builds the
:class:`lsa.robust.blocks.ClusterBlocks` of a fit so that both :func:`lsa.robust.robust_mixed`
and the covariance registry of :class:`lsa.mixed.MixedResult` (:mod:`lsa.mixed.covariance`)
use one construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lsa.errors import DesignError, LsaError
from lsa.robust.blocks import ClusterBlocks, cluster_codes, safe_inverse, split_by_cluster
from lsa.robust.satterthwaite import BetweenWithin, DfMethod, get_df_method

__all__ = ["TARGETS", "mixed_blocks", "fit_frame", "random_cov_matrices", "cluster_values",
           "fit_weights", "fit_blocks", "mixed_df_method"]

TARGETS = ("model", "weighted")


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
    target : "model" or "weighted" working model for CR2 / df with weights (see
        :mod:`lsa.robust.mixed`).
    cluster : (n,) cluster ids nesting the top-level groups; None = the top level.

    Returns (blocks, beta) with beta the (weighted) GLS estimate given the variance components.
    """
    if target not in TARGETS:
        raise LsaError(f"target must be one of {TARGETS}; got {target!r}")
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


def fit_frame(fit, data):
    frame = getattr(fit, "model_frame", None)
    if frame is not None:
        return frame
    if data is None:
        raise LsaError("this fit does not carry its model frame (fitted by an older lsa.mixed); "
                       "pass the data it was fitted to as data=")
    from lsa.mixed.formula import model_frame, parse_formula

    return model_frame(parse_formula(fit.formula), data, tuple(getattr(fit, "weights", None) or ()))


def random_cov_matrices(fit, frame) -> list[np.ndarray]:
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


def cluster_values(cluster, frame, data):
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


def fit_weights(fit) -> tuple[np.ndarray | None, list[np.ndarray] | None]:
    """(conditional level-1 weights per row, conditional group weights per level) as the fit
    used them, or (None, None) for an unweighted fit."""
    if not getattr(fit, "weights", None):
        return None, None
    lw = getattr(fit, "level_weights", None)
    if lw is None:
        raise LsaError("robust_mixed needs the weights as the fit used them (fit.level_weights, "
                       "lsa.mixed with model-frame access); refit with the current lsa.mixed")
    return np.asarray(lw.w1, float), [np.asarray(g, float) for g in lw.groups]


def fit_blocks(fit, data=None, cluster=None, target: str = "model"):
    """(blocks, GLS beta, model frame, cluster values or None) of a :class:`MixedResult` at its
    estimated variance components (see :func:`mixed_blocks`)."""
    frame = fit_frame(fit, data)
    T = random_cov_matrices(fit, frame)
    w1, gw = fit_weights(fit)
    cl = cluster_values(cluster, frame, data)
    lw = getattr(fit, "level_weights", None)
    cl_used = cl
    if lw is not None and not np.all(lw.w1 > 0):    # rows outside a domain (lsa.model_inputs)
        from lsa.mixed.fit import weighted_rows     # weigh 0: left out, with their empty groups

        cl_used = None if cl is None else cl[lw.w1 > 0]
        frame, lw = weighted_rows(frame, lw)
        if w1 is not None:
            w1, gw = lw.w1, list(lw.groups)
    b, beta = mixed_blocks(frame.y, frame.X, frame.xnames, frame.Z, frame.codes, T,
                           float(fit.scale), labels=frame.group_ids[-1], w1=w1,
                           group_weights=gw, target=target, cluster=cl_used)
    return b, beta, frame, cl


def mixed_df_method(df) -> DfMethod:
    """The df method of a name, with CR2::robust_mixed's between-within convention (the
    intercept counts as level 2, level-2 df ``G - L2``)."""
    if isinstance(df, str) and df.lower() == "between-within":
        return BetweenWithin(intercept_level1=False)
    return get_df_method(df, "df_method")
