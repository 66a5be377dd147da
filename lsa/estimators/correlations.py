"""Spearman, polychoric and polyserial correlations and covariance matrices over PVs and replicates.

Each statistic is computed for every plausible value and every weight column (full sample and
replicates) on the pair's complete rows, and pooled as every design-based estimator
(:mod:`lsa.estimators._core`: replicate variance per PV, Rubin's rules over PVs).

Spearman
    the weighted Pearson correlation of weighted ranks (EdSurvey's ``cor.sdf(method =
    "Spearman")``, wCorr's ``wrank``): a run of t tied values with total weight T above a
    weight S of smaller values gets rank S + (t + 1)/(2t)·T (rows with positive weight counted).
Polychoric (two-step ML; Olsson 1979; R's ``polycor::polychor(ML = FALSE)``)
    thresholds from the weighted marginal cumulative shares, aₖ = Φ⁻¹(Σ_{j≤k} n_{j·}/n) and
    bₗ likewise; then ρ maximises Σ n_{kl} log π_{kl}(ρ), π_{kl} the bivariate normal probability
    of the cell, n_{kl} weighted counts. The score Σ n_{kl} π'_{kl}/π_{kl} (π' from the bivariate
    normal density at the cell's corners) is solved by bisection on [−0.9999, 0.9999] for all
    weight columns at once; Φ₂ through Owen's T (Owen 1956).
Polyserial (two-step; Olsson, Drasgow & Dorans 1982; ``polycor::polyserial(ML = FALSE)``)
    ρ = s_y r_xy / Σₖ φ(aₖ), with y the ordinal variable coded 1..K in level order, s_y its
    weighted (population) SD, r_xy the weighted Pearson correlation and aₖ the thresholds above.
Covariance
    Σ w (x − x̄)(y − ȳ) / Σ w over the pair's rows (the population form of :func:`lsa.sd`, whose
    square is the diagonal; survey's ``svyvar`` multiplies by n/(n − 1)).

Ordinal variables are numeric columns with at most ``MAX_ORDINAL_LEVELS`` distinct values, levels
in numeric order, or categorical columns (levels in category order; set codes such as "Missing"
to NaN first).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import owens_t

from ..design import SurveyDesign
from ..errors import DesignError
from ..validation import check_choice, check_names, reads_named_columns
from ._core import DesignResult, DfMethod, Draws, counts, numeric_matrix, over_completed, pv_columns, run_by_groups

METHODS = ("pearson", "spearman", "polychoric", "polyserial")
MAX_ORDINAL_LEVELS = 20
MAX_RHO = 0.9999


# -- the bivariate normal ------------------------------------------------------------------------
def bvn_cdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Φ₂(h, k; ρ) = ½[Φ(h) + Φ(k)] − T(h, a_h) − T(k, a_k) − β, a_h = (k − ρh)/(h√(1 − ρ²)),
    a_k = (h − ρk)/(k√(1 − ρ²)), β = ½ unless hk > 0 or (hk = 0 and h + k ≥ 0) (Owen 1956);
    ±∞ arguments give the margins. Broadcasts."""
    h, k, rho = np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float), np.asarray(rho, float))
    out = np.zeros(h.shape)
    fin = np.isfinite(h) & np.isfinite(k)
    out[np.isposinf(h) & np.isposinf(k)] = 1.0
    hi = np.isposinf(h) & np.isfinite(k)
    out[hi] = stats.norm.cdf(k[hi])
    ki = np.isposinf(k) & np.isfinite(h)
    out[ki] = stats.norm.cdf(h[ki])
    hh, kk, r = h[fin], k[fin], rho[fin]
    hh = np.where(hh == 0, 1e-15, hh)
    kk = np.where(kk == 0, 1e-15, kk)
    s = np.sqrt(1 - r * r)
    beta = np.where(hh * kk > 0, 0.0, 0.5)
    out[fin] = (0.5 * (stats.norm.cdf(hh) + stats.norm.cdf(kk)) - owens_t(hh, (kk - r * hh) / (hh * s))
                - owens_t(kk, (hh - r * kk) / (kk * s)) - beta)
    return out


def bvn_pdf(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """φ₂(h, k; ρ) = exp(−(h² − 2ρhk + k²)/(2(1 − ρ²))) / (2π√(1 − ρ²)); 0 at an infinite corner."""
    h, k, rho = np.broadcast_arrays(np.asarray(h, float), np.asarray(k, float), np.asarray(rho, float))
    fin = np.isfinite(h) & np.isfinite(k)
    hh, kk, r = np.where(fin, h, 0.0), np.where(fin, k, 0.0), rho
    q = (hh * hh - 2 * r * hh * kk + kk * kk) / (2 * (1 - r * r))
    return np.where(fin, np.exp(-q) / (2 * np.pi * np.sqrt(1 - r * r)), 0.0)


def thresholds(table: np.ndarray) -> np.ndarray:
    """Φ⁻¹ of the cumulative shares of (C, K) weighted counts, padded with ∓∞: (C, K + 1)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = np.cumsum(table, axis=1) / table.sum(axis=1, keepdims=True)
    inner = stats.norm.ppf(np.clip(cum[:, :-1], 0, 1))
    c = table.shape[0]
    return np.concatenate([np.full((c, 1), -np.inf), inner, np.full((c, 1), np.inf)], axis=1)


def polychoric_rho(table: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Two-step polychoric ρ of (C, K, L) weighted tables (one per weight column): (C,)."""
    a, b = thresholds(table.sum(axis=2)), thresholds(table.sum(axis=1))
    A, B = a[:, :, None], b[:, None, :]                                   # corners (C, K+1, L+1)

    def score(rho):
        r = rho[:, None, None]
        cdf, pdf = bvn_cdf(A, B, r), bvn_pdf(A, B, r)
        cell = lambda f: f[:, 1:, 1:] - f[:, :-1, 1:] - f[:, 1:, :-1] + f[:, :-1, :-1]   # noqa: E731
        p, dp = cell(cdf), cell(pdf)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            terms = np.where(table > 0, table * dp / np.maximum(p, 1e-300), 0.0)   # p ≤ 0: rounding at |ρ| → 1
        return terms.sum(axis=(1, 2))

    c = table.shape[0]
    lo, hi = np.full(c, -MAX_RHO), np.full(c, MAX_RHO)
    for _ in range(iterations):                # a maximum at a bound is reached as the bracket closes on it
        mid = (lo + hi) / 2
        up = score(mid) > 0                                                # likelihood still rising
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    rho = (lo + hi) / 2
    rows = (table.sum(axis=2) > 0).sum(axis=1)
    cols = (table.sum(axis=1) > 0).sum(axis=1)
    return np.where((rows >= 2) & (cols >= 2), rho, np.nan)


# -- per-pair statistics for all weight columns ---------------------------------------------------
def _pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray, cov_only: bool = False) -> np.ndarray:
    """Weighted Pearson r (or covariance) of x, y (n,) or (n, C) for weight columns w (n, C)."""
    x = x if x.ndim == 2 else x[:, None]
    y = y if y.ndim == 2 else y[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        tot = w.sum(axis=0)
        mx, my = (w * x).sum(axis=0) / tot, (w * y).sum(axis=0) / tot
        dx, dy = x - mx, y - my
        cxy = (w * dx * dy).sum(axis=0) / tot
        if cov_only:
            return cxy
        return cxy / np.sqrt((w * dx * dx).sum(axis=0) / tot * (w * dy * dy).sum(axis=0) / tot)


def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """wCorr's ``wrank`` for every weight column: (n, C) ranks (rows of zero weight rank but do not
    count in their tie's t)."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    new = np.r_[True, xs[1:] != xs[:-1]]
    starts, run = np.flatnonzero(new), np.cumsum(new) - 1
    total = np.add.reduceat(ws, starts, axis=0)                          # (runs, C)
    ties = np.add.reduceat((ws > 0).astype(float), starts, axis=0)
    below = np.cumsum(total, axis=0) - total
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = np.where(ties > 0, below + (ties + 1) / (2 * ties) * total, below)
    out = np.empty_like(ws)
    out[order] = rank[run]
    return out


def _codes(v: np.ndarray, levels: np.ndarray) -> np.ndarray:
    return np.searchsorted(levels, v)


def _pair_stat(method: str, x: np.ndarray, y: np.ndarray, w: np.ndarray, levels: tuple) -> np.ndarray:
    """The statistic for every weight column on the complete rows x, y (n,), w (n, C): (C,)."""
    if len(x) == 0:
        return np.full(w.shape[1], np.nan)
    if method == "pearson":
        return _pearson(x, y, w)
    if method == "covariance":
        return _pearson(x, y, w, cov_only=True)
    if method == "spearman":
        return _pearson(weighted_ranks(x, w), weighted_ranks(y, w), w)
    lx, ly = levels
    if method == "polychoric":
        cell = _codes(x, lx) * len(ly) + _codes(y, ly)
        onehot = (cell[:, None] == np.arange(len(lx) * len(ly))).astype(float)
        table = (onehot.T @ w).T.reshape(w.shape[1], len(lx), len(ly))
        return polychoric_rho(table)
    code = _codes(y, ly).astype(float)                                   # polyserial: y ordinal
    onehot = (code[:, None] == np.arange(len(ly))).astype(float)
    a = thresholds((onehot.T @ w).T)[:, 1:-1]
    sd = np.sqrt(_pearson(code, code, w, cov_only=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sd * _pearson(x, code, w) / stats.norm.pdf(a).sum(axis=1)


# -- entry points ---------------------------------------------------------------------------------
def _levels(design: SurveyDesign, name: str, data: np.ndarray, method: str, role: str) -> np.ndarray:
    values = np.unique(data[~np.isnan(data)])
    if len(values) > MAX_ORDINAL_LEVELS:
        raise DesignError(f"variables: {name!r} has {len(values)} distinct values; a {method} correlation needs "
                          f"an ordinal {role} with at most {MAX_ORDINAL_LEVELS} levels. For a continuous variable "
                          f"use method='pearson'" + (" (or 'polyserial' against an ordinal one)." if method ==
                                                     "polychoric" else "."))
    return values


def _pairs(design: SurveyDesign, names: list[str], data: dict, method: str) -> list[tuple]:
    """(a, b, levels) for each pair; for polyserial (continuous, ordinal) in that order."""
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if method == "polychoric":
                out.append((a, b, (_levels(design, a, data[a], method, "variable"),
                                   _levels(design, b, data[b], method, "variable"))))
            elif method == "polyserial":
                few = [len(np.unique(data[v][~np.isnan(data[v])])) <= MAX_ORDINAL_LEVELS and not design.is_pv(v)
                       for v in (a, b)]
                if few[0] == few[1]:
                    kind = "ordinal" if few[0] else "continuous"
                    raise DesignError(f"variables: a polyserial correlation pairs a continuous variable (a PV set or "
                                      f"more than {MAX_ORDINAL_LEVELS} values) with an ordinal one; {a!r} and {b!r} "
                                      f"are both {kind}: use method='"
                                      f"{'polychoric' if few[0] else 'pearson'}'.")
                cont, ordn = (b, a) if few[0] else (a, b)
                out.append((cont, ordn, (None, _levels(design, ordn, data[ordn], method, "variable"))))
            else:
                out.append((a, b, (None, None)))
    return out


def _matrix(design: SurveyDesign, columns: Sequence[str], method: str) -> np.ndarray:
    """Numeric columns as floats; for polychoric/polyserial an ordered categorical column gives its
    category codes (level order, missing NaN)."""
    cats = [isinstance(design.data[c].dtype, pd.CategoricalDtype) for c in columns]
    if method not in ("polychoric", "polyserial") or not any(cats):
        return numeric_matrix(design, columns, "variables")
    out = np.empty((design.n, len(columns)))
    for j, (c, cat) in enumerate(zip(columns, cats)):
        codes = design.data[c].cat.codes.to_numpy().astype(float) if cat else design.numeric(c, "variables")
        out[:, j] = np.where(codes < 0, np.nan, codes) if cat else codes
    return out


def _draws_compute(design: SurveyDesign, variables, method: str, diagonal: bool = False):
    names = check_names(variables, "variables")
    if len(set(names)) != len(names):
        raise DesignError(f"variables names a variable more than once: {names}.")
    if len(names) < 2 and not diagonal:
        raise DesignError(f"variables: a correlation needs at least two variables; got {names}.")
    m, cols = pv_columns(design, names, "variables")
    data = {n: _matrix(design, cols[n], method) for n in names}
    pairs = _pairs(design, names, data, method)
    if diagonal:
        pairs = [(a, a, (None, None)) for a in names] + pairs
        pairs = sorted(pairs, key=lambda p: (names.index(p[0]), names.index(p[1])))
    terms = [f"{a} ~ {b}" for a, b, _ in pairs]

    def compute(w: np.ndarray) -> Draws:
        theta = np.empty((m, w.shape[1], len(pairs)))
        for j, (a, b, levels) in enumerate(pairs):
            for i in range(m):
                ok = ~np.isnan(data[a][:, i]) & ~np.isnan(data[b][:, i])
                theta[i, :, j] = _pair_stat(method, data[a][ok, i], data[b][ok, i], w[ok], levels)
        cnt = [counts(~np.isnan(data[a]) & ~np.isnan(data[b]), w[:, 0]) for a, b, _ in pairs]
        return Draws(theta, terms, np.array([c[0] for c in cnt]), np.array([c[1] for c in cnt]), design.df,
                     {"row": [a for a, _, _ in pairs], "column": [b for _, b, _ in pairs]})

    return compute


def correlation_result(design: SurveyDesign, variables: Sequence[str], by, method: str,
                       df_method: DfMethod) -> DesignResult:
    """The body of :func:`lsa.correlation` for ``method`` other than ``"pearson"``."""
    check_choice(method, METHODS, "method")
    compute = _draws_compute(design, variables, method)
    return run_by_groups(design, by, compute, statistic=f"Correlation ({method})", df_method=df_method)


@over_completed
@reads_named_columns
def covariance(design: SurveyDesign, variables: Sequence[str], by=None, *,
               df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted covariance matrix Σ w (x − x̄)(y − ȳ)/Σ w of variables or PV sets (pairwise complete
    rows), one term ``"a ~ b"`` per entry of the upper triangle with the variances ``"a ~ a"``;
    columns ``row`` and ``column`` name the entry. Replicate SEs pooled over PVs."""
    compute = _draws_compute(design, variables, "covariance", diagonal=True)
    return run_by_groups(design, by, compute, statistic="Covariance", df_method=df_method)
