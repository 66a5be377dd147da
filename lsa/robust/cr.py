"""Cluster-robust covariance estimators CR0-CR3: small classes behind one interface.

Every estimator is a sandwich ``V = c * sum_j E_j' e_j e_j' E_j`` with per-cluster
*estimating matrices* ``E_j = A_j' W_j X_j M`` (n_j x p), an adjustment matrix ``A_j``
applied to the cluster's residuals and a scalar factor ``c`` (notation of
:mod:`lsa.robust.blocks`; Pustejovsky & Tipton 2018, eq. 5). The same ``E_j`` feed the
Satterthwaite degrees of freedom (:mod:`lsa.robust.satterthwaite`).

Choose a type by name from :data:`COVARIANCE_TYPES` (``get_covariance_type("CR2")``).
Names follow clubSandwich: ``CR1`` is G/(G-1) only; Stata's and CR2::clustSE's "CR1"
is ``CR1S``.
"""

from __future__ import annotations

from abc import ABC

import numpy as np

from ..errors import LsaError, LsaWarning, warn
from ._linalg import chol_upper, sym_power
from .blocks import ClusterBlocks, as_matrix, wmul


class SingularAdjustmentWarning(LsaWarning):
    """A cluster's CR2/CR3 adjustment matrix is singular; a pseudo-inverse was used."""


class CovarianceType(ABC):
    """One cluster-robust covariance estimator.

    Subclasses give ``name``, the adjustment (:meth:`adjustments`) and the factor
    (:meth:`factor`); :meth:`vcov` is shared.
    """

    name: str = ""

    def adjustments(self, b: ClusterBlocks) -> list[np.ndarray | None]:
        """Per-cluster ``A_j`` (None = identity)."""
        return [None] * b.n_clusters

    def factor(self, b: ClusterBlocks) -> float:
        return 1.0

    def estimating_matrices(self, b: ClusterBlocks) -> list[np.ndarray]:
        """``E_j = A_j' W_j X_j M`` for every cluster j (n_j x p)."""
        out = []
        for j, (x, a) in enumerate(zip(b.X, self.adjustments(b))):
            wxm = wmul(b.w(j), x) @ b.bread
            out.append(wxm if a is None else a.T @ wxm)
        return out

    def vcov(self, b: ClusterBlocks, E: list[np.ndarray] | None = None) -> np.ndarray:
        """``c * sum_j (E_j' e_j)(E_j' e_j)'`` computed cluster by cluster."""
        E = self.estimating_matrices(b) if E is None else E
        U = np.vstack([Ej.T @ ej for Ej, ej in zip(E, b.e)])  # G x p
        return self.factor(b) * (U.T @ U)

    def __repr__(self) -> str:
        return f"<{self.name}>"


class CR0(CovarianceType):
    """Liang-Zeger sandwich: ``A_j = I``, ``c = 1``:
    ``V = M (sum_j X_j' W_j e_j e_j' W_j X_j) M`` (Liang & Zeger 1986)."""

    name = "CR0"


class CR1(CovarianceType):
    """CR0 times ``G / (G - 1)`` (clubSandwich ``CR1``; Cameron & Miller 2015, eq. 11)."""

    name = "CR1"

    def factor(self, b):
        G = b.n_clusters
        return G / (G - 1)


class CR1S(CovarianceType):
    """CR0 times ``G (n - 1) / ((G - 1)(n - p))``: Stata's small-sample factor, the "CR1" of
    CR2::clustSE and ``sandwich::vcovCL(type = "HC1")`` (Cameron & Miller 2015, sec. VI.B)."""

    name = "CR1S"

    def factor(self, b):
        G, n, p = b.n_clusters, b.nobs, b.n_params
        return G * (n - 1) / ((G - 1) * (n - p))


class CR2(CovarianceType):
    """Bias-reduced linearisation (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, eq. 6).

    With ``Theta_j = U_j'U_j`` (Cholesky) the adjustment is
    ``A_j = U_j' G_j^{-1/2} U_j`` where

    * inverse-variance weights (OLS, GLM working scale, LMM, GEE):
      ``G_j = U_j (I - X_j M X_j' W_j) Theta_j U_j'``; for OLS ``A_j = (I - H_jj)^{-1/2}``;
    * other weights (WLS with sampling weights, ``Theta = I``):
      ``G_j = Theta_j - H_jj Theta_j - Theta_j H_jj' + X_j M F M X_j'`` with
      ``H_jj = X_j M X_j' W_j`` and ``F = sum_k X_k' W_k Theta_k W_k X_k``.

    This is clubSandwich's ``CR2`` and, for mixed models, CR2::robust_mixed's
    ``A_j = U_j' MatSqrtInverse(U_j (I - H_jj) V_j U_j') U_j``. ``G_j^{-1/2}`` is the symmetric
    pseudo-inverse square root (eigenvalues <= 1e-12 set to 0, as clubSandwich's
    ``Sym_power``); a :class:`SingularAdjustmentWarning` names the clusters where this
    happens (e.g. a regressor that is nonzero in one cluster only).
    """

    name = "CR2"

    def estimating_matrices(self, b):
        """``E_j = A_j' W_j X_j M``. For inverse-variance weights with a full working matrix
        (mixed models, GEE) ``A_j`` is never formed: with ``Theta_j = U'U``,
        ``B_j = U (Theta_j - X_j M X_j') U' = (UU')^2 - (UX) M (UX)'`` and
        ``E_j = U' B_j^{-1/2} U W_j X_j M`` from the eigen-decomposition of ``B_j`` applied to
        ``n_j x p`` matrices (same result, about half the ``n_j^3`` work)."""
        from ._linalg import EIGEN_TOL

        M = b.bread
        out, singular = [], []
        if b.inverse_var and b.Theta is None and b.W is None:
            # OLS / GLM working scale: H_jj = X_j M X_j' has rank <= p. With X_j = QR (thin)
            # and R M R' = P diag(lam) P', H_jj = K diag(lam) K' (K = QP orthonormal), so
            # (I - H_jj)^{-1/2} = I + K diag((1 - lam)^{-1/2} - 1) K': O(n_j p^2), not O(n_j^3).
            # Eigenvalues 1 - lam <= 1e-12 are treated as zero (pseudo-inverse), as sym_power.
            for j, x in enumerate(b.X):
                q, r = np.linalg.qr(x)
                lam, p_ = np.linalg.eigh(r @ M @ r.T)
                k = q @ p_
                one_minus = 1.0 - lam
                keep = one_minus > EIGEN_TOL
                c = np.where(keep, np.where(keep, one_minus, 1.0) ** -0.5, 0.0) - 1.0   # no 0 ** -0.5
                xm = x @ M
                out.append(xm + k @ (c[:, None] * (k.T @ xm)))
                if (~keep).any():
                    singular.append(b.labels[j])
            self._warn_singular(singular)
            return out
        if not (b.inverse_var and b.Theta is not None
                and all(t is not None and t.ndim == 2 for t in b.Theta)):
            return super().estimating_matrices(b)
        for j, x in enumerate(b.X):
            u = chol_upper(b.Theta[j])
            k = u @ x
            c = u @ u.T
            B = c @ c - k @ M @ k.T
            d, q = np.linalg.eigh(0.5 * (B + B.T))
            keep = d > EIGEN_TOL
            dp = np.zeros_like(d)
            dp[keep] = d[keep] ** -0.5
            y = u @ (wmul(b.W[j], x) @ M)
            out.append(u.T @ (q @ (dp[:, None] * (q.T @ y))))
            if (~keep).any():
                singular.append(b.labels[j])
        self._warn_singular(singular)
        return out

    @staticmethod
    def _warn_singular(singular) -> None:
        if singular:
            warn(
                f"CR2: the adjustment matrix (I - H_jj) is singular in {len(singular)} "
                f"cluster(s) {list(singular)[:10]}; using the pseudo-inverse square root "
                "(eigenvalues <= 1e-12 set to 0) as clubSandwich does",
                SingularAdjustmentWarning
            )

    def adjustments(self, b):
        M = b.bread
        F = None
        if not b.inverse_var:
            F = sum(
                x.T @ wmul(b.w(j), wmul(b.theta(j), wmul(b.w(j), x))) for j, x in enumerate(b.X)
            )
        out, singular = [], []
        for j, x in enumerate(b.X):
            nj = x.shape[0]
            theta = b.theta(j)
            th = as_matrix(theta, nj)
            xm = x @ M
            if b.inverse_var:
                ih_theta = th - xm @ x.T  # (I - X M X' W) Theta = Theta - X M X'  (W Theta = I)
            else:
                h = xm @ wmul(b.w(j), x).T  # H_jj = X_j M X_j' W_j
                ht = h @ th
                ih_theta = th - ht - ht.T + xm @ F @ xm.T
            if theta is None:
                a, nzero = sym_power(ih_theta, -0.5)
            else:
                u = chol_upper(th)
                g, nzero = sym_power(u @ ih_theta @ u.T, -0.5)
                a = u.T @ g @ u
            if nzero:
                singular.append(b.labels[j])
            out.append(a)
        self._warn_singular(singular)
        return out


class CR3(CovarianceType):
    """Jackknife (leave-one-cluster-out) estimator: ``A_j = (I - X_j M X_j' W_j)^{-1}``, so
    ``E_j' e_j = beta_hat - beta_hat_(-j)`` and ``V = sum_j (beta_hat - beta_hat_(-j))(...)'``
    (clubSandwich / ``sandwich::vcovCL(type = "HC3")``; Bell & McCaffrey 2002). For GEE this is
    the Mancl-DeRouen (2001) bias-corrected sandwich."""

    name = "CR3"

    def adjustments(self, b):
        out, singular = [], []
        for j, x in enumerate(b.X):
            ih = np.eye(x.shape[0]) - x @ b.bread @ wmul(b.w(j), x).T
            try:
                if np.linalg.cond(ih) > 1e12:
                    raise np.linalg.LinAlgError
                out.append(np.linalg.inv(ih))
            except np.linalg.LinAlgError:
                singular.append(b.labels[j])
                out.append(np.linalg.pinv(ih))
        if singular:
            warn(
                f"CR3: I - H_jj is singular in cluster(s) {singular[:10]} (dropping the cluster "
                "makes the design singular); using the pseudo-inverse",
                SingularAdjustmentWarning
            )
        return out


class CR3J(CR3):
    """CR3 times ``(G - 1) / G``: the classical jackknife variance, as Huang's ``fhutils::cr3``
    (``adj = TRUE``); Cameron & Miller (2015, sec. VI.B)."""

    name = "CR3J"

    def factor(self, b):
        G = b.n_clusters
        return (G - 1) / G


#: Registry of covariance types by name.
COVARIANCE_TYPES: dict[str, CovarianceType] = {
    c.name: c for c in (CR0(), CR1(), CR1S(), CR2(), CR3(), CR3J())
}


def get_covariance_type(name) -> CovarianceType:
    """Look up a covariance type (case-insensitive) or pass an instance through."""
    if isinstance(name, CovarianceType):
        return name
    key = str(name).upper()
    if key not in COVARIANCE_TYPES:
        raise LsaError(
            f"type must be one of {sorted(COVARIANCE_TYPES)}; got {name!r}"
        )
    return COVARIANCE_TYPES[key]
