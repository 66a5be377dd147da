"""Small dense linear-algebra helpers used cluster by cluster (never on n x n matrices)."""

from __future__ import annotations

import numpy as np

#: Eigenvalues at or below this are treated as zero by :func:`sym_power` (clubSandwich's
#: ``Sym_power`` threshold).
EIGEN_TOL = 1e-12


def sym_power(a: np.ndarray, power: float) -> tuple[np.ndarray, int]:
    """Symmetric matrix power ``A^p`` via the eigen-decomposition ``A = Q diag(d) Q'``.

    Eigenvalues ``d <= 1e-12`` are treated as zero, so for negative ``p`` this is the
    pseudo-inverse power (clubSandwich ``Sym_power``; Pustejovsky & Tipton 2018, note to eq. 6).

    Returns
    -------
    (matrix, n_zero): the power and the number of eigenvalues treated as zero.
    """
    a = 0.5 * (a + a.T)
    d, q = np.linalg.eigh(a)
    keep = d > EIGEN_TOL
    dp = np.zeros_like(d)
    dp[keep] = d[keep] ** power
    return (q * dp) @ q.T, int((~keep).sum())


def chol_upper(a: np.ndarray) -> np.ndarray:
    """Upper-triangular Cholesky factor ``U`` with ``A = U'U`` (R's ``chol``)."""
    return np.linalg.cholesky(a).T
