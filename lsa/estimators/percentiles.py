"""Percentiles: the definitions of a weighted percentile, Woodruff intervals, the interquartile range.

Definitions (``method=``), each applied to the full-sample weight and to every replicate weight,
on the rows with positive weight (x₁ ≤ … ≤ xₙ sorted, w their weights, W = Σ w, Cᵢ = Σ_{j<i} wⱼ):

``"math"`` (alias ``"simple"``)
    the inverse of the weighted empirical CDF, the smallest xᵢ with (Cᵢ + wᵢ)/W ≥ p: R survey's
    ``qrule = "math"`` (Lumley 2010) and EdSurvey's ``pctMethod = "simple"``; with unit weights
    Hyndman & Fan (1996) type 1.
``"symmetric"``
    EdSurvey's ``pctMethod = "symmetric"`` (Bailey et al., *Statistical Methods Used in
    EdSurvey*): tied values share their mean weight; kᵢ = ½ + (n − 1)/(W − 1)·(Cᵢ + (wᵢ − 1)/2),
    clipped to [1, n − 1]; pᵢ = kᵢ/n; linear interpolation between the (pᵢ, xᵢ), x₁ below p₁,
    xₙ above pₙ. Unit weights: Hyndman & Fan type 5 (Hazen) for 1/n < p < (n − 1)/n.
``"unbiased"``
    EdSurvey's ``pctMethod = "unbiased"``: kᵢ = 1 + (n − 1)/(W − 1)·(Cᵢ + (wᵢ − 1)/2) clipped to
    [1, n − 1], pᵢ = (kᵢ − ⅓)/(n + ⅓), with the end points (0, x₁) and (1, xₙ) added and repeated
    pᵢ dropped (the first kept), then linear interpolation. Unit weights: Hyndman & Fan type 8
    (median-unbiased) for 2/(3n + 1) ≤ p ≤ (n − 4/3)/(n + ⅓).

Intervals (``interval=``), the sampling variance of each PV's percentile:

``"quantile"``
    the replicate variance of the replicate percentiles (survey's ``interval.type = "quantile"``;
    the PISA and TIMSS manuals).
``"woodruff"``
    Woodruff (1952), survey's default (``interval.type = "mean"``, ``woodruffCI``): with
    F̂ = Σ w 1[x ≤ q̂]/Σ w at the estimate q̂ and V its replicate variance, the interval is
    [Q(F̂ − t√V), Q(F̂ + t√V)] through the same definition Q (t = t_{0.975, df}, df the design's), and
    SE = (upper − lower)/(2t). It enters the pooling as linearised replicates
    q̂ + (F̂_r − F̂)·(upper − lower)/(2t√V), whose replicate variance is SE² exactly; covariances
    between percentiles follow as Cov(F̂ⱼ, F̂ₖ)/(f̂ⱼ f̂ₖ) with f̂ = 2t√V/(upper − lower) (Francisco &
    Fuller 1991). A bound outside [0, 1] gives NaN, as survey. On a design without replicates
    (Taylor linearisation) V is the linearisation variance of F̂ and the quantile's linearised values
    are F̂'s divided by f̂ (:func:`lsa.estimators.influence.woodruff`); t has the df of the PSUs and
    strata in the group, as ``svyquantile`` on a subset design. ``interval=None``: ``"woodruff"``
    there, ``"quantile"`` with replicates.

With plausible values each PV's estimate and sampling variance are pooled by Rubin's rules
(:mod:`lsa.pooling`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from ..design import SurveyDesign
from ..multicountry import group_weights
from ..replicates import replicate_variance
from ..validation import check_choice, check_name, check_numbers, reads_named_columns
from . import influence
from ._core import DesignResult, DfMethod, Draws, counts, numeric_matrix, over_completed, pv_columns, run_by_groups

METHODS = ("math", "simple", "symmetric", "unbiased")
INTERVALS = ("quantile", "woodruff")


def _ties(ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index of each run of equal sorted values, and the run of every row."""
    new = np.r_[True, ys[1:] != ys[:-1]]
    return np.flatnonzero(new), np.cumsum(new) - 1


def _interpolate(p: np.ndarray, x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Q(P): x at the first pₖ ≥ P interpolated linearly from (pₖ₋₁, xₖ₋₁); x₁ below p₁, xₙ above pₙ."""
    idx = np.searchsorted(p, probs, side="left")
    out = np.empty(len(probs))
    low, high = idx == 0, idx >= len(p)
    out[low], out[high] = x[0], x[-1]
    mid = ~(low | high)
    k = idx[mid]
    gamma = (probs[mid] - p[k - 1]) / (p[k] - p[k - 1])
    out[mid] = (1 - gamma) * x[k - 1] + gamma * x[k]
    return out


def _edsurvey(ys: np.ndarray, w: np.ndarray, probs: np.ndarray, method: str) -> np.ndarray:
    """EdSurvey's ``symmetric`` / ``unbiased`` percentiles of sorted ys (positive weights w)."""
    n, total = len(ys), w.sum()
    starts, run = _ties(ys)
    w = (np.add.reduceat(w, starts) / np.diff(np.r_[starts, n]))[run]      # tied values share their mean weight
    before = np.r_[0.0, np.cumsum(w)[:-1]]
    k = (0.5 if method == "symmetric" else 1.0) + (n - 1) / (total - 1) * (before + (w - 1) / 2)
    k = np.clip(k, 1, max(n - 1, 1))
    if method == "symmetric":
        return _interpolate(k / n, ys, probs)
    p = np.r_[0.0, (k - 1 / 3) / (n + 1 / 3), 1.0]
    x = np.r_[ys[0], ys, ys[-1]]
    first = np.r_[True, p[1:] != p[:-1]]                                 # R's !duplicated on sorted p
    return _interpolate(p[first], x[first], np.clip(probs, 0, 1))


def quantile_function(y: np.ndarray, w: np.ndarray, probs: np.ndarray, method: str = "math") -> np.ndarray:
    """Weighted percentiles of ``y`` (n,) without NaN for every weight column of ``w`` (n, C) under
    a definition of the module docstring. Returns (C, len(probs)); NaN for a column without
    positive weight."""
    probs = np.asarray(probs, dtype=float)
    out = np.full((w.shape[1], len(probs)), np.nan)
    if len(y) == 0:
        return out
    order = np.argsort(y, kind="stable")
    ys, ws = y[order], w[order]
    if method in ("math", "simple"):
        cw = np.cumsum(ws, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = cw / cw[-1]
        for j, p in enumerate(probs):
            out[:, j] = ys[np.minimum((share < p).sum(axis=0), len(ys) - 1)]
        out[cw[-1] <= 0, :] = np.nan
        return out
    for c in range(w.shape[1]):
        keep = ws[:, c] > 0
        if keep.any():
            out[c] = _edsurvey(ys[keep], ws[keep, c], probs, method)
    return out


def _cdf_at(y: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """F̂(q) = Σ w 1[y ≤ q] / Σ w for every weight column (n, C) and point q (k,): (C, k)."""
    below = (y[:, None] <= q[None, :]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (below.T @ w).T / w.sum(axis=0)[:, None]


def _interval(y: np.ndarray, w0: np.ndarray, cdf0: np.ndarray, var: np.ndarray, method: str, df: float,
              alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Woodruff's bounds (2, k) from F̂ (k,) at the estimates and its variance V (k,), and the slope
    (upper − lower)/(2t√V) = 1/f̂ (k,), 0 where V is 0 (as ``survey:::woodruffCI``, ``method = "mean"``)."""
    t = stats.norm.ppf(1 - alpha / 2) if np.isinf(df) else stats.t.ppf(1 - alpha / 2, df)
    half = t * np.sqrt(var)
    low_p, high_p = cdf0 - half, cdf0 + half
    bounds = np.full((2, len(cdf0)), np.nan)
    ok = (low_p >= 0) & (high_p <= 1)
    if ok.any():
        bounds[0, ok] = quantile_function(y, w0[:, None], low_p[ok], method)[0]
        bounds[1, ok] = quantile_function(y, w0[:, None], high_p[ok], method)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(var > 0, (bounds[1] - bounds[0]) / (2 * half), 0.0)
    return bounds, slope


def woodruff(y: np.ndarray, w: np.ndarray, probs: np.ndarray, method: str, factors: np.ndarray,
             df: float, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Woodruff's interval for one PV (y without NaN, w (n, 1 + R)).

    Returns the linearised replicates (1 + R, k) — column 0 the estimates q̂ — and the interval
    (2, k), as ``survey:::woodruffCI`` with ``method = "mean"``."""
    q = quantile_function(y, w[:, :1], probs, method)[0]
    cdf = _cdf_at(y, w, q)                                                 # (1 + R, k)
    if w.shape[1] == 1:
        return q[None, :], np.full((2, len(q)), np.nan)
    var = np.diagonal(replicate_variance(cdf[0], cdf[1:], factors)).copy()
    bounds, slope = _interval(y, w[:, 0], cdf[0], var, method, df, alpha)
    return q[None, :] + (cdf - cdf[0]) * slope, bounds


def woodruff_taylor(design: SurveyDesign, y: np.ndarray, w: np.ndarray, probs: np.ndarray, method: str,
                    alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Woodruff's interval for one PV under Taylor linearisation: y (n,) with NaN for missing, w (n,)
    the full weight (0 outside the group), rows aligned with the design's data. V(F̂) is the
    linearisation variance of F̂ at q̂ (:func:`lsa.estimators.influence.cdf`), t has the df of the
    PSUs and strata with rows in the group (``survey::degf`` of the subset design, as
    ``svyquantile`` uses). Returns q̂ (k,), the interval (2, k) and the quantiles' linearised
    values (n, k) (:func:`lsa.estimators.influence.woodruff`)."""
    valid = ~np.isnan(y) & (w > 0)
    q = quantile_function(y[valid], w[valid, None], probs, method)[0]
    cdf0, z = influence.cdf(y, valid, w, q)
    var = np.diagonal(influence.covariance(z[None], design, 1, len(q))[0]).copy()
    bounds, slope = _interval(y[valid], w[valid], cdf0, var, method, _taylor_df(design, valid), alpha)
    return q, bounds, influence.woodruff(z, slope)


def _taylor_df(design: SurveyDesign, rows: np.ndarray) -> float:
    """PSUs − strata among the PSUs with a row in ``rows`` (``survey::degf`` of a subset)."""
    structure = design.taylor()
    used = np.logical_or.reduceat(rows[structure.order], structure.starts)
    return float(used.sum() - len(np.unique(structure.stratum_of_psu[used])))


def resolve_interval(design: SurveyDesign, interval: str | None) -> str:
    """``interval=None``: Woodruff on a Taylor-linearisation design (no replicates: there are no
    replicate quantiles; survey's default), replicate quantiles otherwise."""
    if interval is None:
        return "woodruff" if influence.wanted(design) else "quantile"
    return interval


def quantile_compute(design: SurveyDesign, variable: str, probs: np.ndarray, method: str, interval: str):
    """``compute(W) -> Draws`` of the percentiles ``probs`` of ``variable`` (a column or a PV set)
    and their terms; the Woodruff interval of a single PV goes in the extras."""
    m, cols = pv_columns(design, [variable], "variable")
    y = numeric_matrix(design, cols[variable], "variable")
    terms = [f"p{100 * p:g}" for p in probs]
    factors = group_weights(design).factors if design.replicates is not None else np.empty(0)

    taylor = interval == "woodruff" and influence.wanted(design)

    def compute(w: np.ndarray) -> Draws:
        theta = np.empty((m, w.shape[1], len(probs)))
        bounds = np.full((m, 2, len(probs)), np.nan)
        infl = np.zeros((m, len(y), len(probs))) if taylor else None
        for i in range(m):
            valid = ~np.isnan(y[:, i])
            if taylor:
                theta[i, 0], bounds[i], infl[i] = woodruff_taylor(design, y[:, i], w[:, 0], probs, method)
            elif interval == "woodruff":
                df = _df(design, w)
                theta[i], bounds[i] = woodruff(y[valid, i], w[valid], probs, method, factors, df)
            else:
                theta[i] = quantile_function(y[valid, i], w[valid], probs, method)
        used, miss = counts(~np.isnan(y), w[:, 0])
        k = len(terms)
        extra = {"variable": [variable] * k, "probability": list(probs)}
        if interval == "woodruff":
            one = m == 1                       # with PVs: conf_int() on the pooled SE
            extra.update(woodruff_low=list(bounds[0, 0] if one else np.full(k, np.nan)),
                         woodruff_high=list(bounds[0, 1] if one else np.full(k, np.nan)))
        return Draws(theta, terms, np.full(k, used), np.full(k, miss), design.df, extra, infl)

    return compute, terms


def _df(design: SurveyDesign, w: np.ndarray) -> float:
    """The df of the group whose full weight is w[:, 0] (the countries with rows in it)."""
    if design.replicates is None or not design.replicates.nested:
        return design.df
    return group_weights(design, w[:, 0] > 0).df


def check_options(probs, method: str, interval: str) -> np.ndarray:
    check_choice(method, METHODS, "method")
    check_choice(interval, INTERVALS, "interval")
    return np.asarray(check_numbers(probs, "probs", low=0, high=1, low_open=True, high_open=True), dtype=float)


@over_completed
@reads_named_columns
def iqr(design: SurveyDesign, variable: str, by=None, *, method: str = "math", interval: str | None = None,
        df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Interquartile range Q(0.75) − Q(0.25) of a variable or PV set, formed per PV and replicate
    (so its replicate variance includes the covariance of the quartiles); ``method`` and
    ``interval`` as :func:`lsa.quantiles` (with ``"woodruff"`` the difference of the linearised
    replicates, or of the linearised values under Taylor: Var = SE₂₅² + SE₇₅² − 2 Cov)."""
    interval = resolve_interval(design, interval)
    probs = check_options((0.25, 0.75), method, interval)
    compute_q, _ = quantile_compute(design, check_name(variable, "variable"), probs, method, interval)

    def compute(w: np.ndarray) -> Draws:
        d = compute_q(w)
        theta = d.theta[:, :, 1:] - d.theta[:, :, :1]
        infl = None if d.influence is None else d.influence[:, :, 1:] - d.influence[:, :, :1]
        return Draws(theta, ["IQR"], d.n_obs[:1], d.n_missing[:1], d.df_complete, {"variable": [variable]}, infl)

    return run_by_groups(design, by, compute, statistic="Interquartile range", df_method=df_method)


def quantiles_result(design: SurveyDesign, variable: str, probs: Sequence[float], by, method: str,
                     interval: str, df_method: DfMethod) -> DesignResult:
    """The body of :func:`lsa.quantiles` (options checked here)."""
    interval = resolve_interval(design, interval)
    probs_arr = check_options(probs, method, interval)
    compute, _ = quantile_compute(design, check_name(variable, "variable"), probs_arr, method, interval)
    label = "Quantiles" if interval == "quantile" and method in ("math", "simple") else \
        f"Quantiles ({method}, {interval} SE)"
    return run_by_groups(design, by, compute, statistic=label, df_method=df_method)
