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

This module also owns the pooled t-table (:func:`t_table`, the one builder used by the
design-based estimators, :class:`lsa.MixPVResult` and :func:`lsa.impute.pool`), the rule for
the complete-data df of a multilevel fit (:func:`mixed_df_complete`) and the check of a
PV × imputation grid (:func:`pv_imputation_grid`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .errors import LsaError
from .results import TIDY_COLUMNS, WaldTest
from .validation import check_number

DfMethod = Literal["barnard_rubin", "rubin", "johnson_rust", "welch_satterthwaite"]
#: the df rules of the design-based estimators (``df_method=``): the two rules of multiple
#: imputation (:func:`pooled_df`) and the two replicate rules of :func:`replicate_df`
DF_METHODS = ("barnard_rubin", "rubin", "johnson_rust", "welch_satterthwaite")


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


def replicate_df(full: np.ndarray, replicates: np.ndarray, factors: float | np.ndarray = 1.0,
                 method: str = "johnson_rust") -> np.ndarray:
    """Degrees of freedom of a replicate variance, per statistic, as EdSurvey's
    ``DoFCorrection`` (Statistical Methods Used in EdSurvey, "Estimation of Degrees of Freedom").

    With d_{m,r} = √c_r (θ_{m,r} − θ_{m,0}) the deviation of replicate r of PV m (c_r the
    replicate factor; a common c cancels), M PVs and R replicates:

        Welch–Satterthwaite:  ν_WS = (1/M) (Σ_m Σ_r d²_{m,r})² / Σ_m Σ_r d⁴_{m,r}
        Johnson–Rust:         ν_JR = (3.16 − 2.77 / √R) ν_WS

    ν_WS is Satterthwaite's (1946) effective df of a sum of R one-df variance components
    (Welch 1947); the factor is Johnson & Rust's (1992, J. Educ. Stat. 17, 175–190) small-sample
    correction for NAEP's jackknife. Both ignore the imputation variance (as EdSurvey, whose
    ``lm.sdf``/``glm.sdf`` use ν_JR and whose ``DoFCorrection`` defaults to ν_WS). Replicates with
    a NaN estimate are left out (R counts the rest); a statistic without replicate variation has
    df 0, as in EdSurvey.

    Parameters
    ----------
    full : (M, k) full-sample estimates; replicates : (M, R, k) replicate estimates.
    factors : c, scalar or (R,). method : ``"johnson_rust"`` or ``"welch_satterthwaite"``.
    """
    if method not in ("johnson_rust", "welch_satterthwaite"):
        raise LsaError(f"replicate_df: method must be 'johnson_rust' or 'welch_satterthwaite'; got {method!r}.")
    theta = np.asarray(replicates, dtype=float)
    m, r, _ = theta.shape
    c = np.broadcast_to(np.asarray(factors, dtype=float), (r,))
    d2 = c[None, :, None] * (theta - np.asarray(full, dtype=float)[:, None, :]) ** 2      # (M, R, k)
    num, den = np.nansum(d2, axis=(0, 1)), np.nansum(d2**2, axis=(0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(den > 0, num**2 / den / m, 0.0)
    if method == "johnson_rust":
        count = np.isfinite(d2).sum(axis=(0, 1)) / m                    # replicates per PV
        with np.errstate(divide="ignore"):
            df = (3.16 - 2.77 / np.sqrt(count)) * df
    return df


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


def wald_d1(estimates: np.ndarray, covariances: np.ndarray, null: np.ndarray | None = None, *,
            within: np.ndarray | None = None, df_complete: float = np.inf) -> WaldTest:
    """Pooled Wald test D1 of Q = Q0 for all k parameters (Li, Raghunathan & Rubin 1991).

    D1 = (Q̄ − Q0)' Ū⁻¹ (Q̄ − Q0) / (k (1 + r₁)),  r₁ = (1 + 1/M) tr(B Ū⁻¹) / k;
    reference F(k, ν₁) with t = k (M − 1): ν₁ = 4 + (t − 4) (1 + (1 − 2/t) / r₁)² if t > 4,
    else t (1 + 1/k) (1 + 1/r₁)² / 2 (as mitml ``testModels(method = "D1")`` without ``df.com``).

    ``within`` replaces Ū (the study rule that takes the sampling variance from the first PV, as
    :func:`rubin`). With one draw (M = 1) the test is the complete-data Wald F test
    Q' U⁻¹ Q / k on (k, ``df_complete``) df (``survey::regTermTest``'s F with the design df);
    ``df_complete`` is not used when M > 1.
    """
    q = np.atleast_2d(np.asarray(estimates, dtype=float))
    m, k = q.shape
    u = _as_covariances(covariances, q.shape)
    pooled = rubin(q, u, within=within)
    d = pooled.estimate - (np.zeros(k) if null is None else np.asarray(null, dtype=float))
    if not np.isfinite(pooled.within).all() or not np.isfinite(d).all():
        raise LsaError("the Wald test needs finite estimates and sampling covariances of the constraints; "
                       "some are NaN (a term without replicate variance, or a design without replicates).")
    scale = np.sqrt(np.clip(np.diag(pooled.within), 0, None))
    if (scale == 0).any() or np.linalg.cond(pooled.within / np.outer(scale, scale)) > 1e12:
        raise LsaError("the Wald test's covariance of the constraints is singular: the constraints are "
                       "linearly dependent (or a term has no sampling variance).")
    uinv = np.linalg.inv(pooled.within)
    r1 = (1 + 1 / m) * np.trace(pooled.between @ uinv) / k
    stat = float(d @ uinv @ d / (k * (1 + r1)))
    t = k * (m - 1)
    if m == 1 and np.isfinite(df_complete):
        return WaldTest(stat, k, float(df_complete), float(stats.f.sf(stat, k, df_complete)), "F",
                        Q=stat * k)
    if r1 == 0:
        nu = np.inf
    elif t > 4:
        nu = 4 + (t - 4) * (1 + (1 - 2 / t) / r1) ** 2
    else:
        nu = t * (1 + 1 / k) * (1 + 1 / r1) ** 2 / 2
    return WaldTest(stat, k, nu, float(stats.f.sf(stat, k, nu)), "D1", riv=r1)


def linear_combination(pooled: Pooled, estimates: np.ndarray, covariances: np.ndarray, weights: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, Pooled]:
    """Rubin's rules for q linear combinations L Q of k pooled parameters, from the same draws.

    Per draw the combination is L Q_m with sampling covariance L U_m L' — the replicate
    covariance of the combined replicate estimates, c Σ_r L(θ_r − θ)(θ_r − θ)'L', so it is exact
    and needs no delta method. Pooled: L Q̄, L Ū L', L B L' (B of the combined draws) and
    T = L Ū L' + (1 + 1/M) L B L' = L T L', with the df of :func:`pooled_df` and the same ν_com.
    Terms with weight 0 in every row of L are left out, so their NaN (co)variances do not spread.

    Parameters
    ----------
    pooled : the :class:`Pooled` of the k parameters (flat pooling; a nested one is refused).
    estimates : (M, k) the draws' estimates; covariances : (M, k, k) their sampling covariances.
    weights : (q, k) the matrix L.

    Returns
    -------
    (M, q) estimates, (M, q, q) covariances and the :class:`Pooled` of the combinations.
    """
    L = np.atleast_2d(np.asarray(weights, dtype=float))
    q = np.atleast_2d(np.asarray(estimates, dtype=float))
    u = _as_covariances(covariances, q.shape)
    m, k = q.shape
    if L.shape[1] != k:
        raise LsaError(f"the weights of a linear combination need {k} columns (one per term); got shape {L.shape}.")
    flat = pooled.within + (1 + 1 / pooled.m) * pooled.between
    if not np.allclose(np.nan_to_num(flat), np.nan_to_num(pooled.total), rtol=1e-9, atol=0):
        raise LsaError("a linear combination needs T = Ū + (1 + 1/M) B, which this pooled result does not have "
                       "(nested pooling, or completed data sets mixing PV and non-PV terms); form the "
                       "combination on each data set's result and pool those.")
    used = np.flatnonzero((L != 0).any(axis=0))
    Lu = L[:, used]

    def sandwich(a):
        return Lu @ a[np.ix_(used, used)] @ Lu.T

    est = q[:, used] @ Lu.T
    cov = np.einsum("ij,mjk,lk->mil", Lu, u[:, used][:, :, used], Lu)
    within, between = sandwich(pooled.within), sandwich(pooled.between)
    total = within + (1 + 1 / pooled.m) * between
    df = pooled_df(np.diag(between), np.diag(total), pooled.m, pooled.df_complete)
    return est, cov, Pooled(L[:, used] @ pooled.estimate[used], within, between, total, df, pooled.m,
                            pooled.df_complete)


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
    return WaldTest(float(stat), float(k), float(df2), float(stats.f.sf(stat, k, df2)), "D2", riv=float(r))


# -- the pooled t-table -------------------------------------------------------------------------

#: columns of every result table after ``term`` (AGENTS.md, :data:`lsa.results.TIDY_COLUMNS`)
TABLE_COLUMNS = TIDY_COLUMNS[1:]
#: the same, then RIV and FMI: a pooled model table (``summary.mixPV`` / broom order)
MODEL_TABLE_COLUMNS = (*TABLE_COLUMNS, "riv", "fmi")


def t_table(pooled: Pooled, terms: Sequence[str] | None = None, *, alpha: float = 0.05,
            columns: Sequence[str] = TABLE_COLUMNS) -> pd.DataFrame:
    """The pooled t-table, one row per parameter (``term`` first when ``terms`` are given).

        estimate = Q̄,   std_error = √diag(T),   statistic t = Q̄ / std_error,   df = ν,
        p_value = 2 P(t_ν > |t|),   conf_low, conf_high = Q̄ ∓ t_{ν, 1−α/2} · std_error,
        riv = (1 + 1/M) B / Ū,   fmi = (riv + 2/(ν + 3)) / (riv + 1)   (as mitml).

    The one builder of a pooled table: the design-based estimators (``TABLE_COLUMNS``),
    :class:`lsa.MixPVResult` and :func:`lsa.impute.pool` (``MODEL_TABLE_COLUMNS``) call it.
    ``columns`` chooses and orders any of these nine. A zero standard error gives an infinite
    or NaN statistic without a numpy warning.
    """
    check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    unknown = [c for c in columns if c not in MODEL_TABLE_COLUMNS]
    if unknown:
        raise LsaError(f"t_table: columns must be among {list(MODEL_TABLE_COLUMNS)}; got {unknown}.")
    with np.errstate(divide="ignore", invalid="ignore"):
        se = pooled.std_error
        stat = pooled.estimate / se
        q = stats.t.ppf(1 - alpha / 2, pooled.df)
        values = {"estimate": pooled.estimate, "std_error": se, "statistic": stat, "df": pooled.df,
                  "p_value": 2 * stats.t.sf(np.abs(stat), pooled.df),
                  "conf_low": pooled.estimate - q * se, "conf_high": pooled.estimate + q * se}
        if "riv" in columns or "fmi" in columns:
            values["riv"], values["fmi"] = pooled.riv, pooled.fmi
    out = {"term": list(terms)} if terms is not None else {}
    out.update({c: np.asarray(values[c], dtype=float) for c in columns})
    return pd.DataFrame(out)


# -- complete-data df of a multilevel fit ------------------------------------------------------

def mixed_df_complete(nobs: int, n_fixed: int, n_variances: int) -> tuple[float, float]:
    """Complete-data df (ν_com) of the fixed-effect block and of the variance-component block of a
    multilevel fit, for the Barnard–Rubin df of its pooled estimates. The one rule, used by
    :func:`lsa.mix_pv` (PVs or completed data sets) and :func:`lsa.impute.pool`:

        ν_com,fixed = n − p,        ν_com,random = n − v,

    n the level-1 observations of the (first) fit, p the number of fixed effects, v the number
    of *variances* (random-effect variances and the residual variance; covariances between
    random effects are not counted). Every row of a block, covariance rows included, gets its
    block's ν_com.

    This is ``MLMusingR::summary.mixPV`` (``pool_pv(Bs, SEs, ns2, dfadj = TRUE)``: ν_com =
    ns2 − length(Bs), on its table of fixed effects and on its table of variances, which has no
    covariance rows; Huang 2024). It reproduces the published mixPV tables: the PISA 2012
    random-intercept and random-slope models of ``tests/test_mix_pv.py``
    (``tests/reference/mixpv_pisa2012_ri.json``; random slope: residual df 302.6).
    """
    n = float(nobs)
    return n - int(n_fixed), n - int(n_variances)


def variance_component_rows(vc: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Term names of the rows of a ``variance_components`` table (``group.term1`` for a
    variance, ``group.term1.term2`` for a covariance, ``Residual``) and a mask of the variances
    (what :func:`mixed_df_complete` counts)."""
    t1 = vc["term1"].fillna("").astype(str).to_numpy() if "term1" in vc else np.full(len(vc), "")
    t2 = vc["term2"].fillna("").astype(str).to_numpy() if "term2" in vc else np.full(len(vc), "")
    names = []
    for group, a, b in zip(vc["group"].astype(str), t1, t2):
        name = f"{group}.{a}" + (f".{b}" if b else "")
        names.append(name.rstrip(".") if group == "Residual" else name)
    return names, t2 == ""


# -- flat or nested pooling over a PV × imputation grid -----------------------------------------

def pv_imputation_grid(pv_index: Sequence[int], imp_index: Sequence[int]) -> tuple[np.ndarray, int, int]:
    """Check that the draws form a full PV × imputation grid (every PV with the same imputation
    numbers, ≥ 2 of each) and return (order putting them PV-major, number of PVs, number of
    imputations per PV) for :func:`nested`."""
    pv, imp = np.asarray(pv_index), np.asarray(imp_index)
    if pv.ndim != 1 or pv.shape != imp.shape:
        raise LsaError(f"nested pooling needs one PV and one imputation number per draw; got pv_index of shape "
                       f"{pv.shape} and imp_index of shape {imp.shape}.")
    pvs, imps = np.unique(pv), np.unique(imp)
    if len(pvs) < 2 or len(imps) < 2:
        raise LsaError(f"nested pooling needs at least 2 PVs and 2 imputations per PV; got {len(pvs)} PV(s) "
                       f"and imputation numbers {imps.tolist()}. Use method='flat'.")
    if len(pv) != len(pvs) * len(imps) or not all(set(imp[pv == p]) == set(imps) for p in pvs):
        raise LsaError("nested pooling needs the same imputation numbers for every PV (a full PV × "
                       "imputation grid).")
    return np.lexsort((imp, pv)), len(pvs), len(imps)


def pool_estimates(estimates: np.ndarray, covariances: np.ndarray, *, method: str = "flat",
                   df_complete: float = np.inf, within: np.ndarray | None = None,
                   grid: tuple[Sequence[int], Sequence[int]] | None = None) -> Pooled:
    """Pool M draws flat (:func:`rubin`, with ``df_complete`` and ``within``) or nested
    (:func:`nested`, PVs between and imputations within; ``grid = (pv_index, imp_index)``
    checked by :func:`pv_imputation_grid`, in any order)."""
    if method == "flat":
        return rubin(estimates, covariances, df_complete=df_complete, within=within)
    if method != "nested":
        raise LsaError(f"method must be 'flat' or 'nested'; got {method!r}.")
    if grid is None:
        raise LsaError("nested pooling needs the PV and imputation number of every draw (pv_index, imp_index).")
    order, m, n = pv_imputation_grid(*grid)
    q = np.asarray(estimates, dtype=float)[order]
    u = np.asarray(covariances, dtype=float)[order]
    return nested(q.reshape(m, n, -1), u.reshape(m, n, *u.shape[1:]))


def _as_covariances(cov: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    c = np.asarray(cov, dtype=float)
    m, k = shape
    if c.shape == (m, k):
        return np.einsum("mi,ij->mij", c, np.eye(k))
    if c.shape == (m, k, k):
        return c
    raise LsaError(f"covariances must have shape ({m}, {k}) or ({m}, {k}, {k}); got {c.shape}.")


def mean_over_draws(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool a descriptive quantity without a sampling variance over M draws (PVs, imputations):
    the mean over draws and the SD between them (divisor M − 1; NaN when M = 1). ``values``:
    (M, k). NaN in a draw makes that entry NaN.

    This is the rule for the R² of mixed models over PVs (:meth:`lsa.MixPVResult.r2`), as for
    :func:`lsa.r_squared` (EdSurvey's ``lm.sdf``): a mean keeps the Rights & Sterba components
    additive (the pooled f1 + f2 + v + m equals the pooled fvm; pooled within shares still sum to
    the pooled fv). Harel (2009) instead averages Fisher's z of √R² and back-transforms, which
    corrects the skew of one R²'s sampling distribution in small samples but is not additive; with
    thousands of students and PVs whose R² differ by hundredths the two agree to about 1e-4.
    Harel, O. (2009). The estimation of R² and adjusted R² in incomplete data sets using multiple
    imputation. Journal of Applied Statistics 36(10), 1109–1118.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[0] == 0:
        raise LsaError(f"values must be an (M, k) array with M >= 1 draws; got shape {v.shape}.")
    sd = v.std(axis=0, ddof=1) if v.shape[0] > 1 else np.full(v.shape[1], np.nan)
    return v.mean(axis=0), sd
