"""The imputation specification: the arguments of :func:`lsa.impute.impute` checked and resolved.

Every bad input is refused here, before any imputation work starts, with an :mod:`lsa.errors`
exception naming the argument or column, the value received and what is allowed (the shared
checks of :mod:`lsa.validation`). The rules:

* ``data`` is a DataFrame (or an :class:`lsa.SurveyDesign`) with rows and unique string column
  names; ``cluster``, ``weight``, ``pv_column`` are names, ``level2``, ``variables`` names or lists
  of names, ``pvs`` a list of PV columns (or a PV-set name of the design), each without repeats;
  every name is a column of the data; the cluster id is neither a variable nor a level-2 variable;
* non-finite values (the rule of :mod:`lsa.validation`): ``NaN`` is the missing value that gets
  imputed; ``inf``/``-inf`` in a variable to impute, a predictor, the weight or a PV is an error
  naming the column and the count (the cluster id, the weight and the PVs must be complete);
* the weight and the PVs are numeric (not text) and the weight is not negative;
* a text column holding numbers is an error that says how to convert it; other text columns are
  categorical (recorded in ``info["converted_to_category"]``);
* a categorical variable with more than :data:`lsa.validation.MAX_FACTOR_LEVELS` levels, or more
  than n/10, is an error naming it (almost always an id or a number stored as text: imputing it
  would fit a model with one class per level);
* a variable with every value missing is an error;
* ``m``, ``iterations`` are positive integers, ``n_jobs`` a non-zero integer or None (joblib), ``seed``
  None or a non-negative integer, ``mean_match_candidates`` a non-negative integer, ``progress`` and
  ``bootstrap`` booleans, ``numeric`` ``"norm"`` or ``"pmm"``, the LightGBM parameters dicts with
  string keys.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import DesignError, LsaError
from ..validation import (MAX_FACTOR_LEVELS, check_columns_exist, check_finite, check_frame, check_name,
                          check_n_jobs, check_names, check_number, factor_level_limit, holds_numbers_as_text,
                          numeric_column)
from .kernel import lgb_parameter_names

__all__ = ["Spec", "check_arguments", "check_flag", "check_name_list", "resolve"]


@dataclass
class Spec:
    """The resolved specification of one imputation run."""

    data: pd.DataFrame
    cluster: str
    weight: str | None
    pv_columns: tuple[str, ...]
    pv_column: str | None
    level1: list[str]            # level-1 model variables (not weight/PV/cluster)
    level2: list[str]
    imputed1: list[str] = field(default_factory=list)
    imputed2: list[str] = field(default_factory=list)
    design: Any = None
    converted: list[str] = field(default_factory=list)
    spread: dict[str, int] = field(default_factory=dict)


def _short(items, n=6) -> str:
    items = list(items)
    return str(items[:n])[:-1] + (f", … (+{len(items) - n} more)]" if len(items) > n else "]")


# -- scalar arguments --------------------------------------------------------------------------

def check_flag(value: Any, argument: str) -> bool:
    """``True`` or ``False`` (a string such as ``"no"`` would be truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise LsaError(f"{argument} must be True or False; got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_name_list(value: Any, argument: str) -> list[str]:
    """None or [] (no names), a column name, or a list of distinct column names (a tuple, pandas
    Index or 1-d array of names is taken as a list)."""
    if isinstance(value, (pd.Index, pd.Series, np.ndarray)) and np.ndim(value) == 1:
        value = list(value)
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return []
    names = check_names(value, argument)
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise LsaError(f"{argument} names {_short(repeated)} more than once; give each column once.")
    return names


def _lgb(value: Any, argument: str) -> dict:
    """A dict of LightGBM parameters; an unknown name is an error (LightGBM would ignore it
    silently with ``verbosity=-1``)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise LsaError(f"{argument} must be a dict of LightGBM parameters (string keys), e.g. "
                       f"{{'num_leaves': 8}}; got {value!r}.")
    known = lgb_parameter_names() if value else None
    unknown = [k for k in value if known is not None and k not in known]
    if unknown:
        import difflib

        hint = {k: difflib.get_close_matches(k, sorted(known), n=2) for k in unknown}
        raise LsaError(f"{argument}: {_short(unknown)} not LightGBM parameter name(s) (closest: {hint}); see "
                       f"https://lightgbm.readthedocs.io/en/latest/Parameters.html.")
    return value


def check_arguments(*, m: Any, iterations: Any, seed: Any, n_jobs: Any, progress: Any, bootstrap: Any,
                    numeric: Any, mean_match_candidates: Any, lgb_params: Any, lgb_params_level2: Any,
                    pv_column: Any) -> None:
    """The scalar arguments of :func:`lsa.impute.impute` (checked before the data are looked at)."""
    for name, value in (("m", m), ("iterations", iterations)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise LsaError(f"{name} must be a positive integer; got {value!r} ({type(value).__name__}).")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise LsaError(f"seed must be None or a non-negative integer; got {seed!r} ({type(seed).__name__}).")
    check_n_jobs(n_jobs)
    check_number(mean_match_candidates, "mean_match_candidates", low=0, integer=True)
    check_flag(progress, "progress")
    check_flag(bootstrap, "bootstrap")
    if not isinstance(numeric, str) or numeric not in ("norm", "pmm"):
        raise LsaError(f"numeric must be 'norm' (Bayesian linear-normal draw) or 'pmm' (LightGBM + predictive "
                       f"mean matching); got {numeric!r}.")
    _lgb(lgb_params, "lgb_params")
    _lgb(lgb_params_level2, "lgb_params_level2")
    if pv_column is not None:
        check_name(pv_column, "pv_column")


# -- columns -------------------------------------------------------------------------------------

def _check_levels(s: pd.Series, column: str, argument: str, n_rows: int) -> None:
    """A categorical (or text) variable with more levels than :func:`lsa.validation.factor_level_limit`
    (MAX_FACTOR_LEVELS, or n/10 but never below MIN_FACTOR_LIMIT) is refused before a multiclass model with one class per level is fitted."""
    levels = int(s.nunique(dropna=True))
    limit = factor_level_limit(n_rows)
    if levels > limit:
        raise DesignError(f"{argument}: categorical variable {column!r} has {levels} levels for {n_rows} rows (at "
                          f"most {int(limit)} allowed: {MAX_FACTOR_LEVELS} or n/10); it looks like an id or free "
                          f"text. Leave it out of the imputation model (variables=) or recode it into fewer "
                          f"categories.")


def _model_column(df: pd.DataFrame, c: str, argument: str) -> pd.Series | None:
    """Check one model variable; returns its converted values (bool → float, text → category)
    or None when it is used as it is."""
    s = df[c]
    if isinstance(s.dtype, pd.CategoricalDtype):
        _check_levels(s, c, argument, len(df))
        return None
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        check_finite(s.to_numpy(dtype=float, na_value=np.nan), c, argument)
        return None
    if pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        if holds_numbers_as_text(s):
            raise DesignError(f"{argument}: column {c!r} holds numbers stored as text (e.g. "
                              f"{s.dropna().iloc[:3].tolist()}); convert it first: df[{c!r}] = pd.to_numeric(df[{c!r}]) "
                              f"for a numeric variable, or df[{c!r}].astype('category') if the numbers are codes "
                              f"of categories.")
        _check_levels(s, c, argument, len(df))
        return s.astype("category")
    raise DesignError(f"{argument}: variable {c!r} has dtype {s.dtype}; imputation needs numeric or categorical "
                      f"(pandas category or string) columns.")


def _check_complete(df: pd.DataFrame, column: str, what: str, why: str) -> None:
    miss = df[column].isna().to_numpy()
    if miss.any():
        rows = np.flatnonzero(miss)
        raise DesignError(f"{what} {column!r} has {len(rows)} missing value(s) (rows {rows[:5].tolist()}); {why}")


# -- resolution ----------------------------------------------------------------------------------

def _frame_of(data) -> tuple[pd.DataFrame, Any]:
    """The DataFrame to impute and the design it came from (None for a DataFrame)."""
    design = None
    if isinstance(data, pd.DataFrame):
        df = data
    elif isinstance(data, SurveyDesign):     # recognised as in lsa.model_inputs, by type only
        design = data                          # (every row is imputed: a domain does not apply)
        df = design.data
    else:
        raise DesignError(f"data must be a pandas DataFrame or an lsa.SurveyDesign; got {type(data).__name__}.")
    check_frame(df, "data")
    if not all(isinstance(c, str) for c in df.columns):
        bad = [c for c in df.columns if not isinstance(c, str)]
        raise DesignError(f"data: column names must be strings; got {_short(bad)}.")
    return df, design


def _pv_columns(pvs, design) -> tuple[str | None, tuple[str, ...]]:
    """The PV-set name (if ``pvs`` named one of the design) and the PV columns."""
    if pvs is None:
        return None, ()
    if isinstance(pvs, str):
        if design is None or pvs not in design.pvs:
            known = list(design.pvs) if design is not None else []
            raise DesignError(f"pvs={pvs!r} is not a PV set of the design (PV sets: {known}); give a PV-set "
                              f"name of a SurveyDesign or the list of PV columns.")
        return pvs, tuple(design.pvs[pvs])
    if isinstance(pvs, (pd.Index, pd.Series, np.ndarray)) and np.ndim(pvs) == 1:
        pvs = list(pvs)
    if not isinstance(pvs, (list, tuple)):
        raise DesignError(f"pvs must be a list of plausible-value columns or the name of a PV set of the "
                          f"design; got {pvs!r} ({type(pvs).__name__}).")
    if len(pvs) == 0:
        raise DesignError("pvs is an empty list.")
    return None, tuple(check_name_list(list(pvs), "pvs"))


def _check_roles(df: pd.DataFrame, cluster: str, weight: str | None, pv_cols: tuple[str, ...], lv2: list[str],
                 variables: list[str] | None) -> None:
    """The named columns exist and do not clash; the cluster id, the weight and the PVs are
    complete, finite and numeric where they must be."""
    named = {"cluster": [cluster], "weight": [weight] if weight else [], "pvs": list(pv_cols),
             "level2": lv2, "variables": list(variables or [])}
    for what, cols in named.items():
        check_columns_exist(df, cols, what)
    for what in ("level2", "variables"):
        if cluster in named[what]:
            raise DesignError(f"{what}: {cluster!r} is the cluster id (cluster=); it cannot also be a variable of "
                              f"the imputation model.")
    clash = sorted(set(lv2) & (set(pv_cols) | ({weight} if weight else set())))
    if clash:
        raise DesignError(f"level2: {_short(clash)} is the weight or a plausible value; level2 lists the "
                          f"cluster-level variables to impute.")
    _check_complete(df, cluster, "cluster id", "every row needs its cluster. Fix or drop these rows explicitly.")
    if pd.api.types.is_numeric_dtype(df[cluster].dtype) and not pd.api.types.is_bool_dtype(df[cluster].dtype):
        check_finite(df[cluster].to_numpy(dtype=float, na_value=np.nan), cluster, "cluster")
    if weight:
        w = numeric_column(df, weight, "weight")           # text, inf: errors naming the column
        _check_complete(df, weight, "weight", "the weight is a predictor in the imputation model and must "
                                              "be complete.")
        if (w < 0).any():
            raise DesignError(f"weight {weight!r} has {int((w < 0).sum())} negative value(s) (rows "
                              f"{np.flatnonzero(w < 0)[:5].tolist()}); weights must be non-negative.")
    for c in pv_cols:
        numeric_column(df, c, "pvs")
        if df[c].isna().any():
            raise DesignError(f"plausible value {c!r} has {int(df[c].isna().sum())} missing value(s); PVs must "
                              f"be complete (rows without PVs are outside the tested population).")


def _model_variables(df: pd.DataFrame, design, cluster: str, weight: str | None, pv_cols: tuple[str, ...],
                     variables: list[str] | None, lv2: list[str]) -> list[str]:
    """The variables of the imputation model: ``variables`` (default: every column but the
    cluster id, the weights, the PVs and the design's replicate columns), then the level-2 ones."""
    exclude = {cluster, weight, *pv_cols}
    if design is not None:
        exclude |= set(design.weights.values()) | set(design.ids.values())
        for cols in design.pvs.values():
            exclude |= set(cols)
        rep = getattr(design, "replicates", None)
        if rep is not None:
            exclude |= set(getattr(rep, "needed_columns", ()))
    if variables is None:
        model = [c for c in df.columns if c not in exclude]
    else:
        model = [c for c in variables if c not in {cluster, weight, *pv_cols}]
    for c in lv2:
        if c not in model:
            model.append(c)
    return model


def _pv_column_name(df: pd.DataFrame, design, pv_cols: tuple[str, ...], pv_set: str | None,
                    pv_column: str | None) -> str | None:
    """The column that will hold the PV of each completed data set (None without PVs)."""
    if pv_cols and pv_column is None:
        base = pv_set or common_name(pv_cols)
        pv_column = base
        taken = set(df.columns) | (set(design.pvs) if design is not None else set())
        if pv_column in taken:
            pv_column = base + "_pv"
        if pv_column in taken:
            raise DesignError(f"cannot name the PV column {base!r} or {base + '_pv'!r}: taken; give pv_column=.")
    elif pv_column is not None and pv_column in df.columns:
        raise DesignError(f"pv_column {pv_column!r} is already a column of the data; choose another name.")
    return pv_column if pv_cols else None


def _converted(df: pd.DataFrame, model: list[str], lv2: list[str],
               variables: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """A copy of the data with every model variable checked (types, non-finite values, levels,
    emptiness) and converted (bool → float, text → category); the names converted to category."""
    default = "variables (default: every column but the cluster id, weights and PVs)"
    data_out = df.copy()
    converted = []
    for c in model:
        argument = "level2" if c in lv2 else ("variables" if variables is not None else default)
        new = _model_column(df, c, argument)
        if new is not None:
            data_out[c] = new
            if isinstance(new.dtype, pd.CategoricalDtype):
                converted.append(c)
    empty = [c for c in model if df[c].isna().all()]
    if empty:
        raise DesignError(f"variable(s) {empty} are entirely missing: nothing to impute them from. Remove them "
                          f"from the imputation model.")
    return data_out, converted


def resolve(data, cluster, level2, pvs, weight, variables, pv_column) -> Spec:
    """Check the data and the column arguments of :func:`lsa.impute.impute`; returns the
    specification (the data copied, bool columns as float, text columns as category)."""
    df, design = _frame_of(data)
    if cluster is not None:
        check_name(cluster, "cluster")
    if weight is not None:
        check_name(weight, "weight")
    lv2 = check_name_list(level2, "level2")
    variables = None if variables is None else check_name_list(variables, "variables")
    if cluster is None:
        if design is None or not design.ids:
            raise DesignError("give cluster= (the level-2 id column, e.g. 'cntschid').")
        cluster = next(iter(design.ids.values()))
    if weight is None and design is not None:
        weight = design.weights.get(design.observation_level)
    pv_set, pv_cols = _pv_columns(pvs, design)
    _check_roles(df, cluster, weight, pv_cols, lv2, variables)
    model = _model_variables(df, design, cluster, weight, pv_cols, variables, lv2)
    pv_column = _pv_column_name(df, design, pv_cols, pv_set, pv_column)
    data_out, converted = _converted(df, model, lv2, variables)
    spread = check_level2(data_out, cluster, lv2)
    level1 = [c for c in model if c not in lv2]
    spec = Spec(data_out, cluster, weight, pv_cols, pv_column, level1, lv2, design=design,
                converted=converted, spread=spread)
    spec.imputed1 = [c for c in level1 if data_out[c].isna().any()]
    spec.imputed2 = [c for c in lv2 if not data_out[c].notna().groupby(data_out[cluster].to_numpy()).any().all()]
    for c in spec.imputed1 + spec.imputed2:
        s = data_out[c]
        if isinstance(s.dtype, pd.CategoricalDtype) and s.dropna().nunique() < 2:
            raise DesignError(f"categorical variable {c!r} has fewer than two observed levels "
                              f"({s.dropna().unique().tolist()}); it cannot be imputed.")
    return spec


def common_name(cols: Sequence[str]) -> str:
    """The common stem of PV column names (``pv1math``…``pv10math`` → ``math``), else ``"pv"``."""
    stripped = {re.sub(r"(?i)^pv\d+_?|\d+$", "", c) for c in cols}
    if len(stripped) == 1 and next(iter(stripped)):
        return next(iter(stripped))
    return "pv"


def check_level2(df: pd.DataFrame, cluster: str, level2: list[str]) -> dict[str, int]:
    """A level-2 variable must be constant within clusters where observed; returns, per
    variable, the number of rows filled from an observed value of the same cluster."""
    spread = {}
    for c in level2:
        n_obs = df.groupby(cluster, observed=True)[c].nunique(dropna=True)
        bad = n_obs[n_obs > 1]
        if len(bad):
            ex = bad.index[:3].tolist()
            vals = {k: sorted(map(str, df.loc[df[cluster] == k, c].dropna().unique()))[:4] for k in ex}
            raise DesignError(f"level-2 variable {c!r} varies within {len(bad)} cluster(s) of {cluster!r} in its "
                              f"observed values, e.g. {vals}; a level-2 variable must be constant within "
                              f"each cluster (or impute it as a level-1 variable).")
        has_obs = df[c].notna().groupby(df[cluster].to_numpy()).transform("any").to_numpy(dtype=bool)
        spread[c] = int((df[c].isna().to_numpy() & has_obs).sum())
    return spread
