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

import numpy as np
from scipy import stats

from ..errors import EstimationError, LsaError, warn
from ..results import WaldTest
from ..formula import constraint_matrix
from ._linalg import sym_power
from ..validation import check_numbers
from .satterthwaite import PArrayStats

_TESTS = ("HTZ", "chi2", "naive-F")


def __getattr__(name: str):
    if name == "WaldTestResult":                     # the old name of lsa.results.WaldTest
        warn("lsa.robust.WaldTestResult is deprecated; use lsa.results.WaldTest (the one test result).",
             DeprecationWarning)
        return WaldTest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def wald_test(beta, vcov, pstats: PArrayStats, n_clusters: int, constraints, terms,
              rhs=None, test: str = "HTZ") -> WaldTest:
    """Joint Wald test (see module docstring). ``pstats`` comes from the fitted result.

    Bad input is an :class:`~lsa.errors.LsaError` naming the argument: an unknown ``test``, no
    constraint, a term named twice, a constraint matrix that is not a finite q x p matrix of
    linearly independent rows, an ``rhs`` that is not q numbers. A singular ``C V C'`` (more
    hypotheses than the clusters can carry) is an :class:`~lsa.errors.EstimationError`. Terms
    without a covariance (diverging under separation, NaN) give NaN statistic and p-value."""
    if not isinstance(test, str) or test.lower() not in ("htz", "chi2", "chi-sq", "naive-f"):
        raise LsaError(f"test must be one of {list(_TESTS)}; got {test!r}")
    C, labels = constraint_matrix(_check_constraints(constraints, terms), terms)
    q = C.shape[0]
    if np.linalg.matrix_rank(C) < q:
        raise LsaError(f"constraints: the {q} hypotheses {list(labels)} are linearly dependent (one is "
                       f"repeated or a combination of the others); drop the redundant ones.")
    if rhs is None:
        r = np.zeros(q)
    else:
        r = np.array(check_numbers(rhs, "rhs"), float)
        if r.size != q:
            raise LsaError(f"rhs must hold one number per constraint ({q}); got {r.size}.")
    used = np.any(C != 0, axis=0)                         # NaN rows of untested terms must not leak in
    diff = C[:, used] @ np.asarray(beta)[used] - r
    cvc = C[:, used] @ np.asarray(vcov)[np.ix_(used, used)] @ C[:, used].T
    if not np.all(np.isfinite(cvc)):                      # diverging terms (separation): no test
        return WaldTest(np.nan, q, np.nan, np.nan, _name(test), Q=np.nan, delta=np.nan, hypotheses=labels)
    d = np.sqrt(np.diag(cvc))
    ev = np.linalg.eigvalsh(cvc / np.outer(d, d)) if np.all(d > 0) else np.zeros(1)
    if ev[0] <= 1e-12 * ev[-1]:
        raise EstimationError(f"constraints {list(labels)}: their cluster-robust covariance C V C' is singular "
                              f"(with {n_clusters} clusters it cannot carry {q} hypotheses, or a tested "
                              f"combination has zero variance); test fewer hypotheses.")
    Q = float(diff @ np.linalg.solve(cvc, diff))
    key = test.lower()
    if key in ("chi2", "chi-sq"):
        return WaldTest(Q, q, np.inf, float(stats.chi2.sf(Q, q)), "chi2", Q=Q, delta=1.0, hypotheses=labels)
    if key == "naive-f":
        df2 = n_clusters - 1.0
        return WaldTest(Q / q, q, df2, float(stats.f.sf(Q / q, q, df2)), "naive-F", Q=Q, delta=1.0,
                        hypotheses=labels)
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
    return WaldTest(F, q, df2, p, "HTZ", Q=Q, delta=delta, hypotheses=labels)


def _name(test: str) -> str:
    return {"htz": "HTZ", "chi2": "chi2", "chi-sq": "chi2", "naive-f": "naive-F"}[test.lower()]


def _check_constraints(constraints, terms):
    """Term names (each at most once) or a finite numeric q x p matrix (see :func:`wald_test`)."""
    if isinstance(constraints, str):
        return constraints
    try:
        arr = np.asarray(constraints)
    except ValueError:                                        # ragged nested lists
        raise LsaError(f"constraints must be term names or a q x {len(terms)} matrix; got {constraints!r:.80}")
    if arr.size == 0:
        raise LsaError(f"constraints must name at least one term (or give a q x {len(terms)} matrix); got "
                       f"{constraints!r}")
    if arr.dtype.kind in "US" or arr.dtype == object and all(isinstance(c, str) for c in arr.ravel()):
        names = [str(c) for c in arr.ravel()]
        twice = sorted({c for c in names if names.count(c) > 1})
        if twice:
            raise LsaError(f"constraints name term(s) {twice} more than once")
        return names
    if arr.dtype.kind not in "biuf" or arr.ndim > 2:
        raise LsaError(f"constraints must be term names or a numeric q x {len(terms)} matrix; got an array "
                       f"of shape {arr.shape} and dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise LsaError("constraints: the constraint matrix has non-finite (NaN or inf) entries")
    return arr
