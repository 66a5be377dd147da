"""Design-based descriptive statistics with plausible values and replicate weights.

Every function takes the design first, accepts a plausible-value set name wherever a variable
may appear, and returns a :class:`~lsa.estimators._core.DesignResult`. Each statistic is
computed for all PVs and all replicate weights at once as matrix products (n × M data against
n × (1 + R) weights); see :mod:`lsa.estimators._core` for the variance and pooling formulas.
Rows with a missing value are excluded from that statistic only, counted in ``n_missing``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import DesignError
from ..validation import (MAX_FACTOR_LEVELS, check_categories, check_finite, check_name, check_names, check_number,
                          check_numbers, reads_named_columns)
from . import influence
from ._core import (DesignResult, DfMethod, Draws, counts, numeric_matrix, over_completed, pv_columns,
                    run_by_groups, weighted_means)
from .correlations import correlation_result
from .percentiles import quantiles_result

DEFAULT_PROBS = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


def _variables(design: SurveyDesign, variables, argument: str = "variables"
               ) -> tuple[list[str], int, dict[str, np.ndarray]]:
    """Names (checked: strings naming columns or PV sets) and their numeric (n, M) matrices."""
    names = check_names(variables, argument)
    if len(set(names)) != len(names):
        raise DesignError(f"{argument} names a variable more than once: {names}.")
    m, cols = pv_columns(design, names, argument)
    return names, m, {n: numeric_matrix(design, cols[n], argument) for n in names}


def _count_all(ys: list[np.ndarray], w_full: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [counts(~np.isnan(y), w_full) for y in ys]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


@over_completed
@reads_named_columns
def mean(design: SurveyDesign, variables: str | Sequence[str], by=None, *,
         df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted mean Σ w y / Σ w of each variable or PV set, with replicate + PV variance.

    Examples
    --------
    >>> lsa.mean(design, "MATH", by="gender").tidy()                      # doctest: +SKIP
    """
    names, m, data = _variables(design, variables)

    def compute(w: np.ndarray, rows=slice(None)) -> Draws:
        ys = [data[n][rows] for n in names]
        theta = np.stack([weighted_means(y, ~np.isnan(y), w) for y in ys], axis=-1)
        n_obs, n_miss = _count_all(ys, w[:, 0])
        infl = None
        if influence.wanted(design):
            infl = np.stack([influence.ratio(data[n], ~np.isnan(data[n]), w[:, 0], theta[:, 0, j])
                             for j, n in enumerate(names)], axis=-1)
        return Draws(theta, names, n_obs, n_miss, design.df, {"variable": names}, infl)

    return run_by_groups(design, by, compute, statistic="Mean", df_method=df_method, rows=True)


@over_completed
@reads_named_columns
def sd(design: SurveyDesign, variables: str | Sequence[str], by=None, *,
       df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted standard deviation √(Σ w (y − ȳ)² / Σ w) (population form, as PISA/TIMSS reports)."""
    names, m, data = _variables(design, variables)

    def one(y: np.ndarray, w: np.ndarray) -> np.ndarray:
        valid = ~np.isnan(y)
        shift = np.nanmean(y) if valid.any() else 0.0
        yc = y - shift
        mu = weighted_means(yc, valid, w)
        m2 = weighted_means(yc**2, valid, w)
        return np.sqrt(np.maximum(m2 - mu**2, 0.0))

    def compute(w: np.ndarray, rows=slice(None)) -> Draws:
        theta = np.stack([one(data[n][rows], w) for n in names], axis=-1)
        n_obs, n_miss = _count_all([data[n][rows] for n in names], w[:, 0])
        infl = None
        if influence.wanted(design):
            infl = np.stack([influence.sd(data[n], ~np.isnan(data[n]), w[:, 0],
                                          weighted_means(data[n], ~np.isnan(data[n]), w[:, :1])[:, 0],
                                          theta[:, 0, j]) for j, n in enumerate(names)], axis=-1)
        return Draws(theta, names, n_obs, n_miss, design.df, {"variable": names}, infl)

    return run_by_groups(design, by, compute, statistic="Standard deviation", df_method=df_method, rows=True)


def _categories(values: list[pd.Series]) -> list:
    first = values[0]
    seen = set().union(*(set(v.dropna().unique()) for v in values))
    if isinstance(first.dtype, pd.CategoricalDtype):
        return [c for c in first.cat.categories if c in seen]
    try:
        return sorted(seen)
    except TypeError:                                     # mixed types (numbers and text): order as text
        return sorted(seen, key=str)


def _codes(s: pd.Series, cats: list) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.set_categories(cats).cat.codes.to_numpy()
    return pd.Categorical(s, categories=cats).codes


@over_completed
@reads_named_columns
def percentages(design: SurveyDesign, variable: str, by=None, *, max_levels: int = MAX_FACTOR_LEVELS,
                df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted percentage of each category of ``variable`` among rows with a valid value:
    100 Σ w 1[y = c] / Σ w. Categories are those observed in the data, in category order.
    A variable with more than ``max_levels`` distinct values is refused (a continuous variable or
    a number stored as text would need one column per value)."""
    check_number(max_levels, "max_levels", low=1, integer=True)
    m, cols = pv_columns(design, [check_name(variable, "variable")], "variable")
    series = [design.data[c] for c in cols[variable]]
    for c, s in zip(cols[variable], series):
        check_categories(s, c, "variable", limit=max_levels)
        if pd.api.types.is_float_dtype(s.dtype):
            check_finite(s.to_numpy(dtype=float, na_value=np.nan), c, "variable")
    cats = _categories(series)
    if not cats:
        raise DesignError(f"{variable!r} has no non-missing values.")
    codes = np.stack([_codes(s, cats) for s in series], axis=1)          # (n, M), −1 = missing
    terms = [str(c) for c in cats]

    def compute(w: np.ndarray, rows=slice(None)) -> Draws:
        cs = codes[rows]
        theta = np.empty((m, w.shape[1], len(cats)))
        infl = np.empty((m, design.n, len(cats))) if influence.wanted(design) else None
        for i in range(m):
            onehot = (cs[:, i, None] == np.arange(len(cats))).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                theta[i] = 100 * (onehot.T @ w).T / (onehot.sum(axis=1) @ w)[:, None]
            if infl is not None:
                valid = np.repeat(cs[:, i, None] >= 0, len(cats), axis=1)
                infl[i] = influence.ratio(onehot, valid, w[:, 0], theta[i, 0], 100.0).T
        used, miss = counts(cs >= 0, w[:, 0])
        k = len(cats)
        return Draws(theta, terms, np.full(k, used), np.full(k, miss), design.df, {"variable": [variable] * k}, infl)

    return run_by_groups(design, by, compute, statistic="Percentages", df_method=df_method, rows=True)


def _weighted_quantiles(y: np.ndarray, w: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Inverse of the weighted empirical CDF, for every weight column: the smallest y with
    Σ_{y_i ≤ y} w_i / Σ w ≥ p (survey's ``qrule = "math"``). y: (n,) without NaN; w: (n, C).
    Returns (C, len(probs))."""
    if len(y) == 0:
        return np.full((w.shape[1], len(probs)), np.nan)
    order = np.argsort(y, kind="stable")
    ys = y[order]
    cw = np.cumsum(w[order], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = cw / cw[-1]
    out = np.empty((w.shape[1], len(probs)))
    for j, p in enumerate(probs):
        idx = np.minimum((share < p).sum(axis=0), len(ys) - 1)
        out[:, j] = ys[idx]
    out[cw[-1] <= 0, :] = np.nan
    return out


@over_completed
@reads_named_columns
def quantiles(design: SurveyDesign, variable: str, probs: Sequence[float] = DEFAULT_PROBS, by=None, *,
              method: str = "math", interval: str | None = None,
              df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted quantiles (percentiles) of a variable or PV set.

    The quantile is the inverse of the weighted empirical CDF (survey's ``qrule = "math"``);
    its sampling variance is the replicate variance of the replicate quantiles (survey's
    ``interval.type = "quantile"``; the approach of the PISA and TIMSS manuals).
    ``method="symmetric" | "unbiased"``: EdSurvey's other definitions; ``interval="woodruff"``:
    Woodruff's interval and SE, survey's default (:mod:`lsa.estimators.percentiles`).
    ``interval=None`` (default): ``"quantile"`` with replicate weights, ``"woodruff"`` on a
    Taylor-linearisation design (ids, no replicates), where there are no replicate quantiles.
    """
    if (method, interval) not in (("math", "quantile"), ("math", None)) or influence.wanted(design):
        return quantiles_result(design, variable, probs, by, method, interval, df_method)
    probs_arr = np.asarray(check_numbers(probs, "probs", low=0, high=1, low_open=True, high_open=True), dtype=float)
    names, m, data = _variables(design, [check_name(variable, "variable")], "variable")
    y = data[variable]
    terms = [f"p{100 * p:g}" for p in probs_arr]

    def compute(w: np.ndarray, rows=slice(None)) -> Draws:
        yg = y[rows]
        theta = np.empty((m, w.shape[1], len(probs_arr)))
        for i in range(m):
            valid = ~np.isnan(yg[:, i])
            theta[i] = _weighted_quantiles(yg[valid, i], w[valid], probs_arr)
        used, miss = counts(~np.isnan(yg), w[:, 0])
        k = len(terms)
        return Draws(theta, terms, np.full(k, used), np.full(k, miss), design.df,
                     {"variable": [variable] * k, "probability": list(probs_arr)})

    return run_by_groups(design, by, compute, statistic="Quantiles", df_method=df_method, rows=True)


@over_completed
@reads_named_columns
def benchmarks(design: SurveyDesign, pv_set: str, cuts: Sequence[float] | None = None,
               labels: Sequence[str] | None = None, *, cumulative: bool = False, by=None,
               df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Percentage of students at each proficiency level / international benchmark.

    A student is at or above a cut point when the PV is ≥ the cut (TIMSS/PIRLS convention;
    PISA's "above the lower bound" differs only on ties, which continuous PVs do not have).
    Discrete levels: below the first cut, between consecutive cuts, at or above the last.
    ``cumulative=True``: percentage at or above each cut. Cut points default to the design's
    (from the study dictionary).
    """
    check_name(pv_set, "pv_set")
    if cuts is None:
        spec = design.benchmarks.get(pv_set)
        if spec is None:
            raise DesignError(f"no cut points given and the design has none for {pv_set!r} "
                              f"(design benchmarks: {list(design.benchmarks)}); pass cuts=[...].")
        cuts, labels = spec["cuts"], labels or spec["labels"] or None
    cuts_arr = np.asarray(check_numbers(cuts, "cuts"), dtype=float)
    if np.any(np.diff(cuts_arr) <= 0):
        raise DesignError(f"cuts: cut points must increase; got {list(cuts)}.")
    if labels is not None and (isinstance(labels, str) or len(labels) != len(cuts_arr)):
        raise DesignError(f"labels: give a list with one label per cut point ({len(cuts_arr)} cuts); got {labels!r}.")
    if not isinstance(cumulative, (bool, np.bool_)):
        raise DesignError(f"cumulative must be True or False; got {cumulative!r}.")
    names, m, data = _variables(design, [pv_set], "pv_set")
    y = data[pv_set]
    terms = _level_terms(cuts_arr, labels, cumulative)

    def compute(w: np.ndarray, rows=slice(None)) -> Draws:
        yg = y[rows]
        theta = np.empty((m, w.shape[1], len(terms)))
        infl = np.empty((m, design.n, len(terms))) if influence.wanted(design) else None
        for i in range(m):
            valid = ~np.isnan(yg[:, i])
            level = np.searchsorted(cuts_arr, np.where(valid, yg[:, i], -np.inf), side="right")
            if cumulative:
                ind = (level[:, None] >= np.arange(1, len(cuts_arr) + 1)).astype(float)
            else:
                ind = (level[:, None] == np.arange(len(cuts_arr) + 1)).astype(float)
            ind[~valid] = 0.0
            with np.errstate(invalid="ignore", divide="ignore"):
                theta[i] = 100 * (ind.T @ w).T / (valid.astype(float) @ w)[:, None]
            if infl is not None:
                infl[i] = influence.ratio(ind, np.repeat(valid[:, None], len(terms), axis=1), w[:, 0],
                                          theta[i, 0], 100.0).T
        used, miss = counts(~np.isnan(yg), w[:, 0])
        k = len(terms)
        return Draws(theta, terms, np.full(k, used), np.full(k, miss), design.df, {"variable": [pv_set] * k},
                     influence=infl)

    kind = "cumulative" if cumulative else "discrete"
    return run_by_groups(design, by, compute, statistic=f"Benchmarks ({kind})", df_method=df_method, rows=True)


def _level_terms(cuts: np.ndarray, labels, cumulative: bool) -> list[str]:
    if labels is not None:
        return [f"At or above {l}" for l in labels] if cumulative else [f"Below {labels[0]}"] + list(labels)
    fmt = [f"{c:g}" for c in cuts]
    if cumulative:
        return [f">= {c}" for c in fmt]
    return [f"< {fmt[0]}"] + [f"{a}–{b}" for a, b in zip(fmt, fmt[1:])] + [f">= {fmt[-1]}"]


@over_completed
@reads_named_columns
def correlation(design: SurveyDesign, variables: Sequence[str], by=None, *, method: str = "pearson",
                df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted Pearson correlations of every pair of variables (pairwise complete rows).

    r = Σ w (x − x̄)(y − ȳ) / √(Σ w (x − x̄)² Σ w (y − ȳ)²), with means over the pair's rows.
    ``method="spearman" | "polychoric" | "polyserial"``: :mod:`lsa.estimators.correlations`.
    """
    if method != "pearson":
        return correlation_result(design, variables, by, method, df_method)
    names, m, data = _variables(design, variables)
    if len(names) < 2:
        raise DesignError("correlation needs at least two variables.")
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    terms = [f"{a} ~ {b}" for a, b in pairs]

    def one(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        valid = ~np.isnan(x) & ~np.isnan(y)
        x = x - np.nanmean(x)
        y = y - np.nanmean(y)
        mx, my = weighted_means(x, valid, w), weighted_means(y, valid, w)
        cxy = weighted_means(x * y, valid, w) - mx * my
        vx = weighted_means(x * x, valid, w) - mx**2
        vy = weighted_means(y * y, valid, w) - my**2
        with np.errstate(invalid="ignore", divide="ignore"):
            return cxy / np.sqrt(vx * vy)

    def compute(w: np.ndarray, rows=slice(None)) -> Draws:
        theta = np.stack([one(data[a][rows], data[b][rows], w) for a, b in pairs], axis=-1)
        cnt = [counts(~np.isnan(data[a][rows]) & ~np.isnan(data[b][rows]), w[:, 0]) for a, b in pairs]
        infl = None
        if influence.wanted(design):
            infl = np.stack([influence.pearson(data[a], data[b], ~np.isnan(data[a]) & ~np.isnan(data[b]), w[:, 0])
                             for a, b in pairs], axis=-1)
        return Draws(theta, terms, np.array([c[0] for c in cnt]), np.array([c[1] for c in cnt]), design.df,
                     influence=infl)

    return run_by_groups(design, by, compute, statistic="Correlation", df_method=df_method, rows=True)
