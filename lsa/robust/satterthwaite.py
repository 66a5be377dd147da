"""Degrees of freedom for cluster-robust t and F tests: small classes behind one interface.

* ``satterthwaite`` -- Bell & McCaffrey (2002) / Pustejovsky & Tipton (2018, eq. 11):
  for contrast ``c``, ``c'V c = sum_j (g_j' y)^2`` with
  ``g_j = (I - H)'_{.,j} E_j c`` (n-vectors) and, under the working model ``Var(y) = Theta``,
  ``df = (sum_j P_jj)^2 / sum_{j,l} P_jl^2`` with ``P_jl = g_j' Theta g_l``.
  The n-vectors are never formed: with ``a_j = E_j c``, ``d_j = X_j' a_j``,
  ``f_j = X_j' W_j Theta_j a_j`` and ``F = sum_k X_k' W_k Theta_k W_k X_k``,

      P_jl = [j = l] a_j' Theta_j a_j - f_j' M d_l - d_j' M f_l + d_j' M F M d_l,

  which costs O(G^2 p) per coefficient. Computed with the adjustment matrices of the chosen
  covariance type (clubSandwich ``coef_test(test = "Satterthwaite")``).
* ``bell-mccaffrey`` -- the same with the CR2 adjustment whatever the covariance type
  (CR2::clustSE ``dfBM``, which it uses for CR0/CR1/CR2 alike).
* ``between-within`` -- HLM-style: a term is level 2 when it does not vary within any cluster
  (sum of within-cluster variances 0); level-1 terms get ``n - L1 - G``, level-2 terms
  ``G - L2 - 1`` (CR2::clustSE: the intercept is counted as level 1 but gets the level-2 df).
* ``naive`` -- ``G - 1`` (clubSandwich ``naive-t``); ``residual`` -- ``n - p``; ``z`` -- infinite.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import LsaError
from ..results import renamed_option
from .blocks import ClusterBlocks, wmul
from .cr import CR2, CovarianceType


@dataclass(frozen=True)
class PArrayStats:
    """Per-cluster p x p summaries from which every Satterthwaite / HTZ quantity follows.

    D[j] = X_j' E_j, Fm[j] = X_j' W_j Theta_j E_j, T[j] = E_j' Theta_j E_j (each (G, p, p));
    M = bread; MFM = M F M with F = sum_j X_j' W_j Theta_j W_j X_j.
    """

    D: np.ndarray
    Fm: np.ndarray
    T: np.ndarray
    M: np.ndarray
    MFM: np.ndarray

    @classmethod
    def from_blocks(cls, b: ClusterBlocks, E: list[np.ndarray]) -> "PArrayStats":
        G, p = b.n_clusters, b.n_params
        D = np.empty((G, p, p))
        Fm = np.empty((G, p, p))
        T = np.empty((G, p, p))
        F = np.zeros((p, p))
        for j, (x, e) in enumerate(zip(b.X, E)):
            th_e = wmul(b.theta(j), e)
            D[j] = x.T @ e
            wx = wmul(b.w(j), x)
            Fm[j] = wx.T @ th_e
            T[j] = e.T @ th_e
            F += wx.T @ wmul(b.theta(j), wx)
        M = b.bread
        return cls(D=D, Fm=Fm, T=T, M=M, MFM=M @ F @ M)

    def p_array(self, C: np.ndarray) -> np.ndarray:
        """``P[s, t, j, l] = g_js' Theta g_lt`` for the rows of contrast matrix C (q x p)."""
        d = np.einsum("jab,qb->jaq", self.D, C)
        f = np.einsum("jab,qb->jaq", self.Fm, C)
        T = np.einsum("sa,jab,tb->jst", C, self.T, C)
        fMd = np.einsum("jas,ab,lbt->stjl", f, self.M, d)
        dMFMd = np.einsum("jas,ab,lbt->stjl", d, self.MFM, d)
        P = dMFMd - fMd - fMd.transpose(1, 0, 3, 2)
        G = self.D.shape[0]
        jj = np.arange(G)
        P[:, :, jj, jj] += T.transpose(1, 2, 0)
        return P

    def coef_df(self) -> np.ndarray:
        """Satterthwaite df for each coefficient (q = 1 contrasts e_c)."""
        p = self.M.shape[0]
        out = np.empty(p)
        for c in range(p):
            d = self.D[:, :, c]  # G x p
            f = self.Fm[:, :, c]
            fMd = f @ self.M @ d.T
            P = d @ self.MFM @ d.T - fMd - fMd.T
            P[np.diag_indices_from(P)] += self.T[:, c, c]
            out[c] = np.trace(P) ** 2 / np.sum(P * P)
        return out


class DfMethod(ABC):
    """How the degrees of freedom of the per-coefficient t tests are obtained."""

    name: str = ""

    @abstractmethod
    def df(self, b: ClusterBlocks, cov_type: CovarianceType, E: list[np.ndarray]) -> np.ndarray:
        """(p,) degrees of freedom."""


class Satterthwaite(DfMethod):
    """Satterthwaite df with the chosen type's own adjustment (clubSandwich)."""

    name = "satterthwaite"

    def df(self, b, cov_type, E):
        return PArrayStats.from_blocks(b, E).coef_df()


class BellMcCaffrey(DfMethod):
    """Satterthwaite df with the CR2 adjustment for every type (CR2::clustSE ``dfBM``)."""

    name = "bell-mccaffrey"

    def df(self, b, cov_type, E):
        if not isinstance(cov_type, CR2):
            E = CR2().estimating_matrices(b)
        return PArrayStats.from_blocks(b, E).coef_df()


class BetweenWithin(DfMethod):
    """Between-within df; ``intercept_level1=True`` is CR2::clustSE's convention, False is
    CR2::robust_mixed's (intercept counted as level 2, level-2 df ``G - L2``)."""

    name = "between-within"

    def __init__(self, intercept_level1: bool = True):
        self.intercept_level1 = intercept_level1

    def df(self, b, cov_type, E):
        level2 = level2_terms(b)
        n, G = b.nobs, b.n_clusters
        icpt = np.array([t == "(Intercept)" for t in b.terms])
        if self.intercept_level1:
            n_l1 = int((~level2 | icpt).sum())
            n_l2 = int((level2 & ~icpt).sum())
            df1, df2 = n - n_l1 - G, G - n_l2 - 1
            return np.where(level2 | icpt, df2, df1).astype(float)
        lev2 = level2 | icpt
        df1, df2 = n - int((~lev2).sum()) - G, G - int(lev2.sum())
        return np.where(lev2, df2, df1).astype(float)


def level2_terms(b: ClusterBlocks) -> np.ndarray:
    """True for columns of the (unweighted) design that are constant within every cluster."""
    p = b.n_params
    within = np.zeros(p)
    scale = np.zeros(p)
    for x in b.X_raw:
        if x.shape[0] > 1:
            within += ((x - x.mean(axis=0)) ** 2).sum(axis=0)
        scale = np.maximum(scale, np.abs(x).max(axis=0))
    return within <= 1e-20 * np.maximum(scale, 1.0) ** 2 * b.nobs


class Naive(DfMethod):
    """``G - 1`` for every coefficient (clubSandwich ``naive-t``)."""

    name = "naive"

    def df(self, b, cov_type, E):
        return np.full(b.n_params, b.n_clusters - 1.0)


class Residual(DfMethod):
    """``n - p`` (the model's residual df)."""

    name = "residual"

    def df(self, b, cov_type, E):
        return np.full(b.n_params, float(b.nobs - b.n_params))


class Normal(DfMethod):
    """Infinite df: z tests."""

    name = "z"

    def df(self, b, cov_type, E):
        return np.full(b.n_params, np.inf)


#: Registry of df methods by name (aliases included).
DF_METHODS: dict[str, DfMethod] = {
    "satterthwaite": Satterthwaite(),
    "bell-mccaffrey": BellMcCaffrey(),
    "bm": BellMcCaffrey(),
    "between-within": BetweenWithin(),
    "naive": Naive(),
    "residual": Residual(),
    "z": Normal(),
}


def get_df_method(name, argument: str = "df") -> DfMethod:
    """The df method called ``name`` (a :class:`DfMethod` is returned as is); an unknown name is
    an :class:`~lsa.errors.LsaError` naming ``argument``, the option it was given as."""
    if isinstance(name, DfMethod):
        return name
    key = str(name).lower()
    if key not in DF_METHODS:
        raise LsaError(f"{argument} must be one of {sorted(DF_METHODS)}; got {name!r}")
    return DF_METHODS[key]


def df_method_option(function: str, df_method, df=None, default="satterthwaite"):
    """The df method of a robust function, given as ``df_method=`` or under its deprecated name
    ``df=`` (:func:`lsa.results.renamed_option`: ``DeprecationWarning``; both given is an error
    naming both). Checked by :func:`get_df_method`, whose error names the option the caller
    used; returns the value as given (a name keeps its meaning in
    :func:`lsa.mixed.cluster_blocks.mixed_df_method`). ``None`` (keep the current method) passes."""
    value = renamed_option(function, "df", "df_method", df, df_method, default)
    if value is not None:
        get_df_method(value, "df" if df is not None else "df_method")
    return value
