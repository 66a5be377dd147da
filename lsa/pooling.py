"""Pooling of estimates over plausible values and multiple imputations (Rubin's rules).

One module serves plausible values, imputations and both nested. For M draws with estimates
Q_m and complete-data covariances U_m:

    Q̄ = (1/M) Σ_m Q_m                       pooled estimate
    Ū = (1/M) Σ_m U_m                       within (sampling) variance
    B = Σ_m (Q_m − Q̄)(Q_m − Q̄)' / (M − 1)   between (imputation) variance
    T = Ū + (1 + 1/M) B                     total variance            (Rubin 1987)

Per parameter: RIV r = (1 + 1/M) B / Ū, λ = (1 + 1/M) B / T = r / (1 + r),
Rubin df ν_old = (M − 1) / λ², and with a complete-data df ν_com the Barnard & Rubin (1999) df

    ν_obs = (ν_com + 1) / (ν_com + 3) · ν_com (1 − λ),     ν = ν_old ν_obs / (ν_old + ν_obs).

FMI as mitml reports it: (r + 2 / (ν + 3)) / (r + 1).

Nested imputation (Rubin 2003; miceadds::NMIcombine), M between-draws × N within-draws:

    T = Ū + (1 + 1/M) B_b + (1 − 1/N) W̄,
    ν = [ ((1 + 1/M) B_b)² / ((M − 1) T²) + ((1 − 1/N) W̄)² / (M (N − 1) T²) ]⁻¹,

with B_b the variance of the M group means and W̄ the mean within-group variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from .errors import LsaError

DfMethod = Literal["barnard_rubin", "rubin"]


@dataclass(frozen=True)
class Pooled:
    """Pooled estimates (k parameters) with their variance decomposition.

    Attributes
    ----------
    estimate : (k,) Q̄.
    within : (k, k) Ū (the sampling variance used; PV1's alone under the PV1 shortcut).
    between : (k, k) B (zero when M = 1).
    total : (k, k) T.
    df : (k,) degrees of freedom per parameter.
    m : number of draws pooled.
    df_complete : complete-data df used (inf for Rubin 1987).
    """

    estimate: np.ndarray
    within: np.ndarray
    between: np.ndarray
    total: np.ndarray
    df: np.ndarray
    m: int
    df_complete: float

    @property
    def std_error(self) -> np.ndarray:
        return np.sqrt(np.diag(self.total))

    @property
    def riv(self) -> np.ndarray:
        """Relative increase in variance r = (1 + 1/M) B / Ū."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (1 + 1 / self.m) * np.diag(self.between) / np.diag(self.within)

    @property
    def fmi(self) -> np.ndarray:
        """Fraction of missing information (r + 2/(ν + 3)) / (r + 1), as mitml."""
        r = self.riv
        return (r + 2 / (self.df + 3)) / (r + 1)

    def statistic(self, null: float | np.ndarray = 0.0) -> np.ndarray:
        return (self.estimate - null) / self.std_error

    def p_value(self, null: float | np.ndarray = 0.0) -> np.ndarray:
        return 2 * stats.t.sf(np.abs(self.statistic(null)), self.df)

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        q = stats.t.ppf(1 - alpha / 2, self.df)
        se = self.std_error
        return np.column_stack([self.estimate - q * se, self.estimate + q * se])


def rubin(
    estimates: np.ndarray,
    covariances: np.ndarray,
    *,
    df_complete: float = np.inf,
    within: np.ndarray | None = None,
) -> Pooled:
    """Pool M sets of k estimates by Rubin's rules.

    Parameters
    ----------
    estimates : (M, k) estimates, one row per draw.
    covariances : (M, k, k) covariance matrices, or (M, k) variances.
    df_complete : complete-data df ν_com; ``inf`` gives Rubin's (1987) df, a finite value
        the Barnard–Rubin (1999) small-sample df (mice, mitml ``df.com``, mixPV ``dfadj``).
    within : optional (k, k) Ū to use instead of the mean of ``covariances`` (the study
        rule that takes the sampling variance from the first plausible value only).

    Returns
    -------
    Pooled
    """
    q = np.atleast_2d(np.asarray(estimates, dtype=float))
    u = _as_covariances(covariances, q.shape)
    m, k = q.shape
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0) if within is None else np.asarray(within, dtype=float).reshape(k, k)
    if m > 1:
        d = q - qbar
        b = d.T @ d / (m - 1)
    else:
        b = np.zeros((k, k))
    t = ubar + (1 + 1 / m) * b
    df = pooled_df(np.diag(b), np.diag(t), m, df_complete)
    return Pooled(qbar, ubar, b, t, df, m, float(df_complete))


def pooled_df(between: np.ndarray, total: np.ndarray, m: int, df_complete: float = np.inf) -> np.ndarray:
    """Rubin (ν_com = ∞) or Barnard–Rubin degrees of freedom per parameter.

    With one draw the df is ν_com; with no between-draw variance (B = 0) the limit ν_obs (∞ for Rubin).
    """
    between = np.asarray(between, dtype=float)
    total = np.asarray(total, dtype=float)
    if m == 1:
        return np.full(between.shape, float(df_complete))
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(total > 0, (1 + 1 / m) * between / total, 0.0)
        nu_old = np.where(lam > 0, (m - 1) / lam**2, np.inf) if m > 1 else np.full_like(lam, np.inf)
        if np.isinf(df_complete):
            return nu_old
        nu_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        return np.where(np.isinf(nu_old), nu_obs, nu_old * nu_obs / (nu_old + nu_obs))


def nested(
    estimates: np.ndarray,
    covariances: np.ndarray,
) -> Pooled:
    """Nested multiple imputation (Rubin 2003; ``miceadds::NMIcombine``).

    Parameters
    ----------
    estimates : (M, N, k): M between-draws (e.g. plausible values), N within-draws
        (imputations within each) and k parameters.
    covariances : (M, N, k, k) or (M, N, k) complete-data (co)variances.
    """
    q = np.asarray(estimates, dtype=float)
    if q.ndim != 3:
        raise LsaError(f"nested pooling needs estimates of shape (M, N, k); got {q.shape}.")
    m, n, k = q.shape
    if m < 2 or n < 2:
        raise LsaError(f"nested pooling needs at least 2 between- and 2 within-draws; got M={m}, N={n}.")
    u = _as_covariances(covariances.reshape(m * n, *covariances.shape[2:]), (m * n, k))
    qbar = q.mean(axis=(0, 1))
    ubar = u.mean(axis=0)
    group_means = q.mean(axis=1)                                   # (M, k)
    db = group_means - qbar
    b_between = db.T @ db / (m - 1)
    dw = q - group_means[:, None, :]
    w_within = np.einsum("mni,mnj->ij", dw, dw) / (m * (n - 1))
    t = ubar + (1 + 1 / m) * b_between + (1 - 1 / n) * w_within
    tb = (1 + 1 / m) * np.diag(b_between)
    tw = (1 - 1 / n) * np.diag(w_within)
    tt = np.diag(t)
    with np.errstate(divide="ignore"):
        df = 1 / (tb**2 / ((m - 1) * tt**2) + tw**2 / (m * (n - 1) * tt**2))
    return Pooled(qbar, ubar, b_between + w_within, t, df, m * n, np.inf)


@dataclass(frozen=True)
class WaldTest:
    """A pooled multivariate Wald test: F statistic on (df_num, df_den)."""

    statistic: float
    df_num: float
    df_den: float
    p_value: float
    riv: float
    method: str

    def __str__(self) -> str:
        return (f"{self.method}: F = {self.statistic:.4f} on ({self.df_num:g}, {self.df_den:.2f}) df, "
                f"p = {self.p_value:.4g} (ARIV = {self.riv:.4f})")


def wald_d1(estimates: np.ndarray, covariances: np.ndarray, null: np.ndarray | None = None) -> WaldTest:
    """Pooled Wald test D1 of Q = Q0 for all k parameters (Li, Raghunathan & Rubin 1991).

    D1 = (Q̄ − Q0)' Ū⁻¹ (Q̄ − Q0) / (k (1 + r₁)),  r₁ = (1 + 1/M) tr(B Ū⁻¹) / k;
    reference F(k, ν₁) with t = k (M − 1): ν₁ = 4 + (t − 4) (1 + (1 − 2/t) / r₁)² if t > 4,
    else t (1 + 1/k) (1 + 1/r₁)² / 2 (as mitml ``testModels(method = "D1")``).
    """
    q = np.atleast_2d(np.asarray(estimates, dtype=float))
    m, k = q.shape
    u = _as_covariances(covariances, q.shape)
    pooled = rubin(q, u)
    d = pooled.estimate - (np.zeros(k) if null is None else np.asarray(null, dtype=float))
    uinv = np.linalg.inv(pooled.within)
    r1 = (1 + 1 / m) * np.trace(pooled.between @ uinv) / k
    stat = float(d @ uinv @ d / (k * (1 + r1)))
    t = k * (m - 1)
    if r1 == 0:
        nu = np.inf
    elif t > 4:
        nu = 4 + (t - 4) * (1 + (1 - 2 / t) / r1) ** 2
    else:
        nu = t * (1 + 1 / k) * (1 + 1 / r1) ** 2 / 2
    return WaldTest(stat, k, nu, float(stats.f.sf(stat, k, nu)), r1, "D1")


def lrt_d2(deviances: np.ndarray, k: int) -> WaldTest:
    """Likelihood-ratio test pooled over M draws by the D2 rule (Li, Meng, Raghunathan & Rubin
    1991), as ``MLMusingR::lrtPV``.

    With d_m = −2 (ℓ_reduced,m − ℓ_full,m) and k the difference in parameters:
    d̄ = mean(d_m), r = (1 + 1/M) var(√d_m), F = (d̄/k − (M + 1)/(M − 1) r) / (1 + r),
    referred to F(k, ν₂) with ν₂ = k^(−3/M) (M − 1) (1 + 1/r)².
    """
    d = np.asarray(deviances, dtype=float)
    m = len(d)
    if m < 2:
        raise LsaError("the D2 test needs the likelihood-ratio statistics of at least two draws.")
    if (d < 0).any():
        raise LsaError(f"a likelihood-ratio statistic is negative ({d[d < 0].tolist()}): the larger model fits "
                       f"worse for some draw; check that the models are nested and converged.")
    r = (1 + 1 / m) * np.var(np.sqrt(d), ddof=1)
    stat = (d.mean() / k - (m + 1) / (m - 1) * r) / (1 + r)
    df2 = k ** (-3 / m) * (m - 1) * (1 + 1 / r) ** 2
    return WaldTest(float(stat), float(k), float(df2), float(stats.f.sf(stat, k, df2)), float(r), "D2")


def _as_covariances(cov: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    c = np.asarray(cov, dtype=float)
    m, k = shape
    if c.shape == (m, k):
        return np.einsum("mi,ij->mij", c, np.eye(k))
    if c.shape == (m, k, k):
        return c
    raise LsaError(f"covariances must have shape ({m}, {k}) or ({m}, {k}, {k}); got {c.shape}.")
