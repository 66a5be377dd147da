"""Dense n x n reference implementation of CR2 + Satterthwaite df (OLS only).

For verification and benchmarking ONLY: it forms the n x n hat matrix exactly as the R
function ``CR2::clustSE`` does (``G_j = (S_j - X M X_j') A_j X_j M``). Never used by the
package's estimators, which work cluster by cluster.
"""

from __future__ import annotations

import numpy as np

from ._linalg import sym_power


def naive_cr2_ols(X, y, cluster):
    """Returns (vcov, df) for OLS CR2 with Satterthwaite df, using n x n matrices."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n, p = X.shape
    M = np.linalg.inv(X.T @ X)
    e = y - X @ (M @ X.T @ y)
    IH = np.eye(n) - X @ M @ X.T  # n x n
    labels = np.unique(cluster)
    meat = np.zeros((p, p))
    Gs = []
    for g in labels:
        idx = np.flatnonzero(cluster == g)
        A, _ = sym_power(IH[np.ix_(idx, idx)], -0.5)
        u = X[idx].T @ A @ e[idx]
        meat += np.outer(u, u)
        Gs.append(IH[:, idx] @ A @ X[idx] @ M)  # n x p
    V = M @ meat @ M
    df = np.empty(p)
    for c in range(p):
        Gmat = np.column_stack([G[:, c] for G in Gs])  # n x J
        GG = Gmat.T @ Gmat
        df[c] = np.trace(GG) ** 2 / np.sum(GG * GG)
    return V, df
