"""Joint Wald tests with cluster-robust covariance (clubSandwich ``Wald_test``).

For ``H0: C beta = r`` (C is q x p) the statistic is ``Q = (C b - r)' (C V C')^{-1} (C b - r)``.

* ``chi2``: ``Q ~ chi2(q)``.
* ``naive-F``: ``Q / q ~ F(q, G - 1)``.
* ``HTZ`` (Pustejovsky & Tipton 2018, sec. 3.2): ``C V C'`` is approximated by a Wishart with
  ``nu`` df, so ``F = (nu - q + 1) / (nu q) * Q ~ F(q, nu - q + 1)``. ``nu`` matches the total
  variance of ``Omega^{-1/2} C V C' Omega^{-1/2}`` under the working model:
  ``nu = q (q + 1) / sum_{s,t} Var_st`` with
  ``Var_st = sum_{j,l} B[s,t,j,l] B[t,s,j,l] + B[s,s,j,l] B[t,t,j,l]``,
  ``B = Omega^{-1/2} P Omega^{-1/2}``, ``P`` the array of :meth:`PArrayStats.p_array` and
  ``Omega = sum_j P[., ., j, j]``. For q = 1 HTZ is the Satterthwaite t test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import LsaError
from ..formula import constraint_matrix
from ._linalg import sym_power
from .satterthwaite import PArrayStats


@dataclass(frozen=True)
class WaldTestResult:
    """Result of a joint test: ``statistic`` (F, or chi2 for ``test="chi2"``), ``df_num``,
    ``df_denom`` (inf for chi2), ``p_value``, the Wald ``Q``, and the HTZ ``delta`` factor."""

    test: str
    statistic: float
    df_num: int
    df_denom: float
    p_value: float
    Q: float
    delta: float
    hypotheses: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"Wald test ({self.test}) of {', '.join(self.hypotheses)}: "
            f"F = {self.statistic:.4f}, df = ({self.df_num}, {self.df_denom:.2f}), "
            f"p = {self.p_value:.4g}"
        )


def wald_test(beta, vcov, pstats: PArrayStats, n_clusters: int, constraints, terms,
              rhs=None, test: str = "HTZ") -> WaldTestResult:
    """Joint Wald test (see module docstring). ``pstats`` comes from the fitted result."""
    C, labels = constraint_matrix(constraints, terms)
    q = C.shape[0]
    r = np.zeros(q) if rhs is None else np.asarray(rhs, float).reshape(q)
    diff = C @ np.asarray(beta) - r
    cvc = C @ np.asarray(vcov) @ C.T
    Q = float(diff @ np.linalg.solve(cvc, diff))
    key = test.lower()
    if key in ("chi2", "chi-sq"):
        return WaldTestResult("chi2", Q, q, np.inf, float(stats.chi2.sf(Q, q)), Q, 1.0, labels)
    if key == "naive-f":
        df2 = n_clusters - 1.0
        return WaldTestResult("naive-F", Q / q, q, df2, float(stats.f.sf(Q / q, q, df2)), Q, 1.0, labels)
    if key != "htz":
        raise LsaError(f"test must be 'HTZ', 'chi2' or 'naive-F'; got {test!r}")
    P = pstats.p_array(C)
    G = P.shape[2]
    jj = np.arange(G)
    omega = P[:, :, jj, jj].sum(axis=2)
    om_ns, _ = sym_power(omega, -0.5)
    B = np.einsum("as,stjl,tb->abjl", om_ns, P, om_ns)
    var = np.einsum("stjl,tsjl->st", B, B) + np.einsum("ssjl,ttjl->st", B, B)
    nu = q * (q + 1) / var.sum()
    delta = (nu - q + 1) / nu
    df2 = nu - q + 1
    F = delta * Q / q
    p = float(stats.f.sf(F, q, df2)) if df2 > 0 else np.nan
    return WaldTestResult("HTZ", F, q, df2, p, Q, delta, labels)
