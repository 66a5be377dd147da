"""The two tables a chain imputes, built from the resolved specification, and the way back.

:func:`build_tables` turns a :class:`lsa.impute.spec.Spec` (and the PV of this run) into

* the **student table** ``l1`` (one row per student): the level-1 variables ``x0, x1, …``, the
  outcome ``y`` (the PV) and the weight ``w``; the cluster means of every level-1 variable
  (``x0_m`` for a numeric one, ``x0_m1, x0_m2, …`` = shares of the non-reference levels for a
  categorical one); the cluster size ``n``; the cluster's level-2 variables ``z0, z1, …``; and,
  for every imputed level-1 variable, its own leave-one-out observed cluster mean ``x0_o0, …``;
* the **cluster table** ``l2`` (one row per cluster): the level-2 variables, the cluster size
  and the cluster means of the level-1 variables;
* the **predictor schema** of every imputed variable: on the student table every column but the
  target and its own cluster means (replaced by its leave-one-out mean, so that a row's own value
  never predicts itself); on the cluster table every other column.

Internal names (``x0``, ``z1``, ``y``, ``w``) keep user column names out of the tree models.
:func:`to_fills` maps the imputed values of a chain back to the original columns as
:class:`lsa.impute.completed.Fill` records (level-2 values spread to every row of their
cluster). The method is described in :mod:`lsa.impute.pipeline`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .completed import Fill
from .spec import Spec

__all__ = ["Tables", "build_tables", "cluster_means", "loo_means", "to_fills"]


@dataclass
class Tables:
    """Everything a chain needs (built once per PV, pickled to workers)."""

    l1: pd.DataFrame                   # student table (internal column names)
    l2: pd.DataFrame                   # cluster table
    codes: np.ndarray                  # cluster code per row
    names: dict[str, str]              # internal name -> original column
    level1: list[str]                  # internal names of level-1 variables
    level2: list[str]
    imputed1: list[str]
    imputed2: list[str]
    cm: dict[str, list[str]]           # level-1 internal var -> its cluster-mean columns
    schema1: dict[str, list[str]]
    schema2: dict[str, list[str]]
    series: list[tuple[str, str | None]]  # traced (internal var, level or None)

    @property
    def empty(self) -> bool:
        """No variable of the model has a missing value."""
        return not self.imputed1 and not self.imputed2


def _cm_columns(name: str, s: pd.Series) -> list[str]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [f"{name}_m{k}" for k in range(1, len(s.cat.categories))]
    return [f"{name}_m"]


def cluster_means(s: pd.Series, codes: np.ndarray, ncl: int) -> np.ndarray:
    """(ncl, ncols) cluster means of the values (shares of non-reference levels if categorical),
    NaN ignored."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        c = s.cat.codes.to_numpy()
        ok = c >= 0
        cnt = np.bincount(codes[ok], minlength=ncl).astype(float)
        out = np.column_stack([np.bincount(codes[ok], weights=(c[ok] == k).astype(float), minlength=ncl)
                               for k in range(1, len(s.cat.categories))])
        with np.errstate(invalid="ignore", divide="ignore"):
            return out / cnt[:, None]
    v = s.to_numpy(dtype=float)
    ok = ~np.isnan(v)
    cnt = np.bincount(codes[ok], minlength=ncl).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.bincount(codes[ok], weights=v[ok], minlength=ncl) / cnt)[:, None]


def loo_means(s: pd.Series, codes: np.ndarray, ncl: int) -> np.ndarray:
    """(n, ncols) leave-one-out cluster means of the observed values of s (NaN if none)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        c = s.cat.codes.to_numpy()
        ok = (c >= 0).astype(float)
        ind = np.column_stack([(c == k).astype(float) for k in range(1, len(s.cat.categories))])
    else:
        v = s.to_numpy(dtype=float)
        ok = (~np.isnan(v)).astype(float)
        ind = np.nan_to_num(v)[:, None]
    cnt = np.bincount(codes, weights=ok, minlength=ncl)[codes] - ok
    tot = np.column_stack([np.bincount(codes, weights=ind[:, j] * ok, minlength=ncl)[codes] - ind[:, j] * ok
                           for j in range(ind.shape[1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt[:, None] > 0, tot / cnt[:, None], np.nan)


def _renamed_columns(df: pd.DataFrame, columns: list[str], prefix: str, names: dict[str, str]) -> dict:
    """``columns`` of ``df`` under internal names ``prefix0, prefix1, …`` (recorded in ``names``),
    on a 0..n-1 index; categorical columns kept, the others as float64."""
    out = {}
    for j, c in enumerate(columns):
        nm = f"{prefix}{j}"
        names[nm] = c
        s = df[c].reset_index(drop=True)
        out[nm] = s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("float64")
    return out


def _student_columns(spec: Spec, pv: str | None, names: dict[str, str]) -> tuple[dict, list[str], list[str]]:
    """The level-1 variables (x0, x1, …), the outcome y and the weight w of the student table."""
    df = spec.data
    l1 = _renamed_columns(df, spec.level1, "x", names)
    level1 = list(l1)
    fixed1 = []
    if pv is not None:
        l1["y"] = df[pv].reset_index(drop=True).astype(float)
        names["y"] = pv
        fixed1.append("y")
    if spec.weight and spec.weight not in spec.level1:
        l1["w"] = df[spec.weight].reset_index(drop=True).astype(float)
        names["w"] = spec.weight
        fixed1.append("w")
    return l1, level1, fixed1


def _cluster_columns(spec: Spec, codes: np.ndarray, ncl: int, names: dict[str, str]) -> tuple[dict, list[str]]:
    """The level-2 variables (z0, z1, …) of the cluster table: one value per cluster."""
    l2 = {nm: s.groupby(codes).first().reindex(range(ncl)).reset_index(drop=True)
          for nm, s in _renamed_columns(spec.data, spec.level2, "z", names).items()}
    return l2, list(l2)


def build_tables(spec: Spec, pv: str | None) -> Tables:
    """The student and cluster tables of one PV (``pv`` None: no outcome column), their
    predictor schemas and the traced series (see the module docstring)."""
    df = spec.data
    codes, uniq = pd.factorize(df[spec.cluster], sort=True)
    ncl = len(uniq)
    names: dict[str, str] = {}
    l1, level1, fixed1 = _student_columns(spec, pv, names)
    l1 = pd.DataFrame(l1)
    l2, level2 = _cluster_columns(spec, codes, ncl, names)
    l2 = pd.DataFrame(l2, index=range(ncl))
    size = np.bincount(codes, minlength=ncl).astype(float)
    l2["n"] = size
    cm: dict[str, list[str]] = {}
    for nm in level1 + fixed1:
        cols = _cm_columns(nm, l1[nm])
        cm[nm] = cols
        vals = cluster_means(l1[nm], codes, ncl)
        for k, col in enumerate(cols):
            l2[col] = vals[:, k]
    # student table: cluster means, size, level-2 variables, own leave-one-out means
    for nm, cols in cm.items():
        for col in cols:
            l1[col] = l2[col].to_numpy()[codes]
    l1["n"] = size[codes]
    for nm in level2:
        l1[nm] = l2[nm].iloc[codes].reset_index(drop=True)
    imputed1 = [f"x{spec.level1.index(c)}" for c in spec.imputed1]
    imputed2 = [f"z{spec.level2.index(c)}" for c in spec.imputed2]
    own = {}
    for nm in imputed1:
        lo = loo_means(l1[nm], codes, ncl)
        own[nm] = [f"{nm}_o{k}" for k in range(lo.shape[1])]
        for k, col in enumerate(own[nm]):
            l1[col] = lo[:, k]
    base1 = [c for c in l1.columns if not re.fullmatch(r"x\d+_o\d+", c)]
    schema1 = {nm: [c for c in base1 if c != nm and c not in cm[nm]] + own[nm] for nm in imputed1}
    schema2 = {nm: [c for c in l2.columns if c != nm] for nm in imputed2}
    series = []
    for nm in imputed1 + imputed2:
        s = l1[nm] if nm in l1 and nm.startswith("x") else l2[nm]
        if isinstance(s.dtype, pd.CategoricalDtype):
            series += [(nm, lev) for lev in s.cat.categories[1:]]
        else:
            series.append((nm, None))
    return Tables(l1, l2, codes, names, level1, level2, imputed1, imputed2, cm, schema1, schema2, series)


def to_fills(spec: Spec, t: Tables, out: dict[str, pd.Series]) -> dict[str, Fill]:
    """Imputed cells in original columns: level-1 at their rows; level-2 spread to the cluster
    (also to rows whose cluster had an observed value of the variable)."""
    df = spec.data
    fills = {}
    for nm, vals in out.items():
        col = t.names[nm]
        s = df[col]
        cat = isinstance(s.dtype, pd.CategoricalDtype)
        if nm.startswith("x"):
            rows = np.asarray(vals.index, dtype=np.int64)
            v = vals.cat.codes.to_numpy() if cat else vals.to_numpy(dtype=float)
            fills[col] = Fill(rows, v)
        else:
            per = pd.Series(vals.cat.codes.to_numpy() if cat else vals.to_numpy(dtype=float),
                            index=np.asarray(vals.index))
            fills[col] = per  # completed below
    for nm in t.level2:  # level-2: one value per cluster, for every row missing it
        col = t.names[nm]
        s = df[col]
        cat = isinstance(s.dtype, pd.CategoricalDtype)
        table = t.l2[nm]
        per_cluster = table.cat.codes.to_numpy().copy() if cat else table.to_numpy(dtype=float).copy()
        imp = fills.get(col)
        if isinstance(imp, pd.Series):
            per_cluster[imp.index.to_numpy()] = imp.to_numpy()
        rows = np.flatnonzero(s.isna().to_numpy())
        if len(rows):
            fills[col] = Fill(rows, per_cluster[t.codes[rows]])
    return fills
