"""Sampling weights for multilevel models of large-scale assessment data.

* conditional weights from total weights or from study components (:func:`conditional`,
  :func:`timss_weights`, :func:`pisa_weights`);
* scaling of level-1 weights within clusters (:func:`scale_within`; Mplus ``cluster`` /
  ``ecluster``, Asparouhov 2006; Carle 2009 methods A/B; MLMusingR ``wscale``);
* the named weight specifications of Huang's studies (:func:`weight_spec`);
* diagnostics per level (:func:`diagnostics`: sums, Kish effective n and design effect,
  share of clusters whose level-1 weights vary);
* informativeness tests (:func:`dumouchel_duncan`, :func:`pfeffermann_sverchkov`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from lsa.errors import DesignError
from lsa.formula import model_matrices
from lsa.validation import (check_choice, check_columns_exist, check_finite, check_formula, check_frame, check_names,
                            has_column, numeric_column)

__all__ = ["conditional", "timss_weights", "pisa_weights", "scale_within", "scale_weights",
           "weight_spec", "WeightSpec", "diagnostics", "kish_neff", "dumouchel_duncan",
           "pfeffermann_sverchkov", "InformativenessTest", "check_constant_within"]


# -- conditional weights -------------------------------------------------------------------

def conditional(data: pd.DataFrame, total: Sequence[str]) -> pd.DataFrame:
    """Conditional weights from total weights, level 1 first:
    w_{i|j} = w_i / w_j, w_{j|k} = w_j / w_k, top level unchanged.

    >>> conditional(df, ["w_fstuwt", "w_fschwt"])          # doctest: +SKIP
    """
    cols = _weight_columns(data, total, "total")
    out = {f"{c}_cond": data[c] / data[cols[k + 1]] for k, c in enumerate(cols[:-1])}
    out[cols[-1]] = data[cols[-1]]
    return pd.DataFrame(out, index=data.index)


def _weight_columns(data: pd.DataFrame, columns: Sequence[str], argument: str) -> list[str]:
    """Weight columns given by name: the frame, the names, their presence, numeric and without inf."""
    check_frame(data)
    cols = check_names(columns, argument)
    check_columns_exist(data, cols, argument)
    for c in cols:
        numeric_column(data, c, argument)
    return cols


def _product(data: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    missing = [c for c in cols if not has_column(data, c)]
    if missing:
        raise DesignError(f"weight component column(s) {missing} not in the data")
    _weight_columns(data, cols, "weight components")
    out = pd.Series(1.0, index=data.index)
    for c in cols:
        out = out * data[c]
    return out


def timss_weights(data: pd.DataFrame, prefix_case: str = "upper") -> pd.DataFrame:
    """TIMSS/PIRLS weights from components (user guide; spec §5.2):

    school SCHWGT = WGTFAC1·WGTADJ1; class (conditional) = WGTFAC2·WGTADJ2;
    student (conditional on class) = WGTFAC3·WGTADJ3; student given school STUWGT =
    WGTFAC2·WGTADJ2·WGTFAC3·WGTADJ3; total TOTWGT = product of all six.
    Columns returned: ``schwgt``, ``clswgt_cond``, ``stuwgt_cls_cond``, ``stuwgt_cond``,
    ``clswgt`` (total class weight), ``totwgt``.
    """
    check_choice(prefix_case, ["upper", "lower"], "prefix_case")
    f = (lambda s: s.upper()) if prefix_case == "upper" else (lambda s: s.lower())
    sch = _product(data, [f("wgtfac1"), f("wgtadj1")])
    cls = _product(data, [f("wgtfac2"), f("wgtadj2")])
    stu = _product(data, [f("wgtfac3"), f("wgtadj3")])
    return pd.DataFrame({"schwgt": sch, "clswgt_cond": cls, "stuwgt_cls_cond": stu,
                         "stuwgt_cond": cls * stu, "clswgt": sch * cls,
                         "totwgt": sch * cls * stu}, index=data.index)


def pisa_weights(data: pd.DataFrame, student: str = "W_FSTUWT",
                 school: str = "W_FSCHWT") -> pd.DataFrame:
    """PISA: conditional student weight W_FSTUWT / school weight (2018+: W_SCHGRNRABWT)."""
    _weight_columns(data, [student, school], "student/school")
    return pd.DataFrame({"stuwgt_cond": data[student] / data[school], "schwgt": data[school],
                         "totwgt": data[student]}, index=data.index)


# -- checks --------------------------------------------------------------------------------

def check_constant_within(values: np.ndarray, codes: np.ndarray, column: str, level: str,
                          ids: np.ndarray | None = None, rtol: float = 1e-10) -> None:
    """Raise :class:`DesignError` if ``values`` vary within groups ``codes`` (0..G-1)."""
    s = pd.Series(values)
    g = s.groupby(np.asarray(codes))
    spread = (g.max() - g.min()).to_numpy()
    scale = np.maximum(np.abs(g.max().to_numpy()), 1e-300)
    bad = np.flatnonzero(spread > rtol * scale)
    if bad.size:
        names = list(ids[bad[:5]]) if ids is not None else list(bad[:5])
        raise DesignError(f"weight column {column!r} must be constant within groups of "
                          f"{level!r} but varies within {bad.size} group(s), e.g. {names}")


# -- scaling -------------------------------------------------------------------------------

ScaleType = Literal["none", "cluster", "ecluster"]


def scale_within(w: np.ndarray, cluster: np.ndarray, type: ScaleType = "cluster") -> np.ndarray:
    """Scale level-1 weights within clusters (MLMusingR ``wscale``; Mplus; spec §5.3).

    ``"cluster"``: w*_ij = w_ij n_j / Σ_i w_ij (sums to the cluster size n_j);
    ``"ecluster"``: w*_ij = w_ij Σ_i w_ij / Σ_i w_ij² (sums to n*_j = (Σw)²/Σw²);
    ``"none"``: unchanged. Scaling total or conditional weights gives the same result.
    """
    if type not in ("none", "cluster", "ecluster"):
        raise DesignError(f"scaling type must be 'none', 'cluster' or 'ecluster'; got {type!r}")
    try:
        w = np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        raise DesignError("scale_within: w must be numeric weights (convert text with pd.to_numeric)") from None
    if w.ndim != 1 or np.shape(cluster) != w.shape:
        raise DesignError(f"scale_within: w and cluster must be 1-d and of equal length; got shapes {w.shape} "
                          f"and {np.shape(cluster)}")
    check_finite(w, "w", "scale_within")
    if type == "none":
        return w
    codes = pd.factorize(np.asarray(cluster))[0]
    if np.any(codes < 0) or not np.all(np.isfinite(w)):
        raise DesignError("missing value(s) in cluster or weight: scaling needs complete data")
    s1 = np.bincount(codes, weights=w)
    if type == "cluster":
        return w * (np.bincount(codes) / s1)[codes]
    s2 = np.bincount(codes, weights=w * w)
    return w * (s1 / s2)[codes]


def scale_weights(data: pd.DataFrame, cluster: str, weight: str,
                  type: ScaleType = "cluster") -> pd.Series:
    """:func:`scale_within` on DataFrame columns (the call shape of MLMusingR ``wscale``)."""
    check_frame(data)
    for arg, c in (("cluster", cluster), ("weight", weight)):
        if not isinstance(c, str) or not has_column(data, c):
            raise DesignError(f"{arg} column {c!r} is not in the data")
    w = numeric_column(data, weight, "weight")
    return pd.Series(scale_within(w, data[cluster].to_numpy(), type),
                     index=data.index, name=f"{weight}_{type}")


# -- named specifications ------------------------------------------------------------------

@dataclass(frozen=True)
class WeightSpec:
    """Columns to pass to :func:`lsa.mixed.mixed` (level 1 first) and whether they are
    conditional; ``data`` is the input with any derived columns added."""

    name: str
    weights: list[str] | None
    conditional_weights: bool
    data: pd.DataFrame


def weight_spec(data: pd.DataFrame, name: str, total: Sequence[str]) -> WeightSpec:
    """The weight specifications of spec §5.2 (Huang; Atasever, Huang & Rutkowski 2025).

    ``total`` = total weight columns, level 1 first (``["w_fstuwt", "w_fschwt"]``).
    ``"both"``: total weights at both levels; ``"level2"`` (school weights only: level-1
    conditional weight 1); ``"level1"`` (normalised total student weight w·n/Σw at level 1,
    1 above); ``"none"``: all 1 (the unweighted fit).
    """
    if name not in ("both", "level2", "level1", "none"):
        raise DesignError(f"weight specification must be 'both', 'level2', 'level1' or 'none'; got {name!r}")
    total = _weight_columns(data, total, "total")
    d = data.copy()
    d["_one"] = 1.0
    if name == "both":
        return WeightSpec(name, total, False, data)
    if name == "level2":
        return WeightSpec(name, ["_one"] + total[1:], True, d)
    if name == "level1":
        w = d[total[0]]
        d["_nwt"] = w * w.notna().sum() / w.sum()
        return WeightSpec(name, ["_nwt"] + ["_one"] * (len(total) - 1), True, d)
    if name == "none":
        return WeightSpec(name, None, True, data)
    raise DesignError(f"weight specification must be 'both', 'level2', 'level1' or 'none'; "
                      f"got {name!r}")


# -- diagnostics ---------------------------------------------------------------------------

def kish_neff(w: np.ndarray) -> float:
    """Kish effective sample size (Σw)²/Σw²; the design effect of unequal weighting is
    n / n_eff = 1 + CV²(w)."""
    w = np.asarray(w, float)
    return float(w.sum() ** 2 / (w * w).sum())


def diagnostics(data: pd.DataFrame, ids: Sequence[str], weights: Sequence[str],
                conditional_weights: bool = False) -> pd.DataFrame:
    """Weight summary per level (rows: level 1, then the group levels bottom-up).

    ``ids``: group id columns bottom-up (level 2 first); ``weights``: level 1 first.
    Columns: level, column, n (units), sum, mean, min, max, n_eff (Kish), deff (= n/n_eff),
    share_varying (share of parent clusters within which the conditional weight of this
    level varies; NaN for the top level).
    """
    weights = _weight_columns(data, weights, "weights")
    ids = check_names(ids, "ids", allow_none=True)
    check_columns_exist(data, ids, "ids")
    if len(weights) != len(ids) + 1:
        raise DesignError(f"need one weight per level: {len(ids) + 1} levels, got {weights}")
    cond = data[weights].copy()
    if not conditional_weights:
        for k in range(len(weights) - 1):
            cond[weights[k]] = data[weights[k]] / data[weights[k + 1]]
    rows = []
    for k, col in enumerate(weights):
        unit = data.index if k == 0 else data.groupby(ids[k - 1]).head(1).index
        w = data.loc[unit, col].to_numpy(float)
        if k < len(ids):
            parent = ids[k]
            cu = cond.loc[unit, col].groupby(data.loc[unit, parent])
            share = float(((cu.max() - cu.min()) > 1e-10 * cu.max().abs()).mean())
        else:
            share = np.nan
        ne = kish_neff(w)
        rows.append({"level": k + 1, "column": col, "n": len(w), "sum": w.sum(),
                     "mean": w.mean(), "min": w.min(), "max": w.max(), "n_eff": ne,
                     "deff": len(w) / ne, "share_varying": share})
    return pd.DataFrame(rows)


# -- informativeness tests -----------------------------------------------------------------

@dataclass(frozen=True)
class InformativenessTest:
    """A test of whether weights are informative: ``statistic``, ``df`` (tuple), ``p_value``;
    ``table`` holds per-component detail (Pfeffermann–Sverchkov: one row per power)."""

    name: str
    statistic: float
    df: tuple
    p_value: float
    table: pd.DataFrame | None = None


def _ols(y, X):
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ beta
    return beta, r, float(r @ r), np.linalg.matrix_rank(X)


def _matrices(formula: str, data: pd.DataFrame, weight: str, function: str):
    """Response, model matrix (lsa.formula, R's columns) and weights of the complete rows."""
    check_formula(formula)
    check_frame(data)
    if not isinstance(weight, str) or not has_column(data, weight):
        raise DesignError(f"weight column {weight!r} is not in the data")
    numeric_column(data, weight, "weight")
    mm = model_matrices(formula, data, function)
    w = data[weight].to_numpy(float)[mm.rows]
    ok = np.isfinite(w)
    return mm.y[ok], mm.X[ok], w[ok]


def dumouchel_duncan(formula: str, data: pd.DataFrame, weight: str) -> InformativenessTest:
    """DuMouchel & Duncan (1983): OLS of y on X against y on X, w and all X·w interactions;
    F = [(RSS0 − RSS1)/k] / [RSS1/(n − p1)] (jtools ``weights_tests``; spec §5.4)."""
    y, X, w = _matrices(formula, data, weight, "lsa.weights.dumouchel_duncan")
    _, _, rss0, p0 = _ols(y, X)
    X1 = np.hstack([X, X * w[:, None]])
    _, _, rss1, p1 = _ols(y, X1)
    k, dfr = p1 - p0, len(y) - p1
    F = ((rss0 - rss1) / k) / (rss1 / dfr)
    return InformativenessTest("DuMouchel-Duncan", float(F), (int(k), int(dfr)),
                               float(scipy.stats.f.sf(F, k, dfr)))


def pfeffermann_sverchkov(formula: str, data: pd.DataFrame, weight: str,
                          powers: Sequence[int] = (1, 2, 3)) -> InformativenessTest:
    """Pfeffermann & Sverchkov (1999): correlations of the unweighted OLS residuals e, e², e³
    with the weight; each tested by the t test of the slope of ``e^k ~ w`` (= the test of the
    correlation). ``statistic``/``p_value`` report the first power; ``table`` all."""
    y, X, w = _matrices(formula, data, weight, "lsa.weights.pfeffermann_sverchkov")
    _, e, _, _ = _ols(y, X)
    rows = []
    for k in powers:
        r, p = scipy.stats.pearsonr(e**k, w)
        n = len(w)
        t = r * np.sqrt((n - 2) / (1 - r * r))
        rows.append({"power": k, "correlation": r, "t": t, "df": n - 2, "p_value": p})
    tab = pd.DataFrame(rows)
    return InformativenessTest("Pfeffermann-Sverchkov", float(tab.t[0]), (int(tab.df[0]),),
                               float(tab.p_value[0]), tab)
