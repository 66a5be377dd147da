"""Per-cluster pieces of a linear(ised) estimating equation, computed cluster by cluster.

Every estimator in :mod:`lsa.robust` reduces to the estimating equation

    sum_j X_j' W_j (y_j - X_j beta) = 0,       bread M = (sum_j X_j' W_j X_j)^-1,

with cluster blocks ``X_j`` (n_j x p), weights ``W_j`` (n_j x n_j; identity, diagonal or
full), residuals ``e_j`` and a *working* (target) covariance ``Theta_j`` used only by the
small-sample corrections (CR2 adjustment, Satterthwaite df):

* OLS: ``W_j = I``, ``Theta_j = I`` (``inverse_var``: W = Theta^-1).
* WLS with sampling weights: ``W_j = diag(w_j)``, ``Theta_j = I`` (clubSandwich ``vcovCR.lm``
  with weights: target identity, not inverse-variance).
* GLM (CR2::clustSE convention): ``X_j`` = rows of ``diag(sqrt(w)) X`` with the IRLS working
  weights ``w``, ``e_j`` = Pearson residuals, ``W_j = Theta_j = I``.
* Linear mixed model / GEE: ``W_j = V_j^-1``, ``Theta_j = V_j`` (inverse_var).

Nothing of size n x n is ever formed: all arrays are per cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError


def wmul(w, a: np.ndarray) -> np.ndarray:
    """``W a`` for W given as None (identity), a 1-d diagonal, or a full matrix."""
    if w is None:
        return a
    if w.ndim == 1:
        return w[:, None] * a if a.ndim == 2 else w * a
    return w @ a


def as_matrix(w, n: int) -> np.ndarray:
    """Dense ``n x n`` form of a per-cluster weight/working matrix (None = identity)."""
    if w is None:
        return np.eye(n)
    if w.ndim == 1:
        return np.diag(w)
    return w


@dataclass(frozen=True)
class ClusterBlocks:
    """Cluster-sorted pieces of one estimating equation (see module docstring).

    Attributes
    ----------
    X, e : tuples over clusters of (n_j, p) working-scale design blocks and (n_j,) residuals.
    W, Theta : tuples over clusters of weights / working covariance (each None, 1-d diagonal,
        or (n_j, n_j)); ``None`` for the whole tuple means identity everywhere.
    inverse_var : True when ``W_j = Theta_j^-1`` (OLS, GLM working scale, LMM, GEE).
    labels : (G,) cluster labels in sorted order (R's ``names(table(cluster))``).
    terms : p coefficient names.
    X_raw : tuple over clusters of the unweighted design blocks (between-within df).
    bread : M = (sum_j X_j' W_j X_j)^-1.
    """

    X: tuple
    e: tuple
    W: tuple | None
    Theta: tuple | None
    inverse_var: bool
    labels: np.ndarray
    terms: tuple
    X_raw: tuple
    bread: np.ndarray = field(repr=False)

    @property
    def n_clusters(self) -> int:
        return len(self.X)

    @property
    def nobs(self) -> int:
        return int(sum(x.shape[0] for x in self.X))

    @property
    def n_params(self) -> int:
        return self.bread.shape[0]

    def w(self, j: int):
        return None if self.W is None else self.W[j]

    def theta(self, j: int):
        return None if self.Theta is None else self.Theta[j]

    def with_residuals(self, e: tuple) -> "ClusterBlocks":
        """Same design, new residuals (a new object; the original is unchanged)."""
        from dataclasses import replace

        return replace(self, e=tuple(e))


def cluster_codes(cluster, name: str = "cluster") -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (sorted label order) for a cluster vector; errors on missing ids, on fewer
    than two clusters and on anything but one id per row."""
    if cluster is None or np.ndim(cluster) != 1:
        raise DesignError(f"cluster variable {name!r} must hold one id per row; got {cluster!r:.80}")
    if len(cluster) == 0:
        raise DesignError(f"cluster variable {name!r} is empty; cluster-robust variance needs at least 2 clusters")
    if not isinstance(cluster, pd.Series) and np.asarray(cluster).dtype.kind in "iu" and len(cluster) > 0:
        # integer ids (never missing): numpy's sorted unique ids are pandas' sorted codes
        ids, codes = np.unique(np.asarray(cluster), return_inverse=True)
        if len(ids) >= 2:
            return codes.astype(np.intp).reshape(-1), ids.astype(object)
    s = pd.Series(np.asarray(cluster, dtype=object) if not isinstance(cluster, pd.Series) else cluster)
    miss = s.isna().to_numpy()
    if miss.any():
        where = np.flatnonzero(miss)[:5].tolist()
        raise DesignError(
            f"cluster variable {name!r} has {int(miss.sum())} missing value(s) (rows {where}"
            f"{' ...' if miss.sum() > 5 else ''}); every row used by the model needs a cluster id"
        )
    codes, labels = pd.factorize(s, sort=True)
    if len(labels) < 2:
        raise DesignError(
            f"cluster variable {name!r} has a single cluster ({labels[0]!r}); cluster-robust "
            "variance needs at least 2 clusters (and, in practice, many more)"
        )
    return codes.astype(np.intp), np.asarray(labels)


def split_by_cluster(codes: np.ndarray, *arrays):
    """Split row-aligned arrays into per-cluster tuples (stable order within a cluster)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    idx = np.split(order, bounds)
    out = []
    for a in arrays:
        out.append(None if a is None else tuple(a[i] for i in idx))
    return idx, out


def make_blocks(
    X: np.ndarray,
    e: np.ndarray,
    cluster,
    terms,
    weights: np.ndarray | None = None,
    X_raw: np.ndarray | None = None,
    cluster_name: str = "cluster",
) -> ClusterBlocks:
    """Blocks for OLS (``weights=None``) or WLS (``W = diag(weights)``, ``Theta = I``).

    For GLMs pass the working-scale ``X`` and Pearson residuals with ``weights=None``.
    """
    X = np.asarray(X, dtype=float)
    e = np.asarray(e, dtype=float)
    codes, labels = cluster_codes(cluster, cluster_name)
    if len(codes) != X.shape[0]:
        raise DesignError(
            f"cluster variable {cluster_name!r} has {len(codes)} values but the model uses "
            f"{X.shape[0]} rows"
        )
    _, (Xb, eb, Wb, Rb) = split_by_cluster(
        codes, X, e, None if weights is None else np.asarray(weights, float),
        X if X_raw is None else np.asarray(X_raw, float),
    )
    xtwx = sum(x.T @ wmul(w, x) for x, w in zip(Xb, Wb if Wb is not None else [None] * len(Xb)))
    bread = safe_inverse(xtwx, terms)
    return ClusterBlocks(
        X=Xb, e=eb, W=Wb, Theta=None, inverse_var=weights is None,
        labels=labels, terms=tuple(terms), X_raw=Rb, bread=bread,
    )


def safe_inverse(xtwx: np.ndarray, terms) -> np.ndarray:
    """Inverse of X'WX, with a DesignError naming the aliased terms when it is singular."""
    p = xtwx.shape[0]
    rank = np.linalg.matrix_rank(xtwx, tol=None)
    if rank < p:
        # find a minimal set of columns that is linearly dependent on earlier columns
        bad = []
        keep = []
        for k in range(p):
            sub = xtwx[np.ix_(keep + [k], keep + [k])]
            if np.linalg.matrix_rank(sub) < len(keep) + 1:
                bad.append(terms[k])
            else:
                keep.append(k)
        raise DesignError(
            f"singular design: X'WX has rank {rank} < {p} columns; term(s) {bad} are linear "
            "combinations of earlier terms (or constant zero); drop them"
        )
    try:
        return np.linalg.inv(xtwx)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - rank check above
        raise EstimationError(f"cannot invert X'WX: {exc}") from exc
