"""Checks of the parts of a :class:`lsa.SurveyDesign` (ids, weights per level, PV sets,
benchmarks), called once when a design is built. Each raises :class:`lsa.errors.DesignError`
naming the argument or column, the value received and what is allowed."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import DesignError
from .validation import check_numbers, numeric_column

__all__ = ["short", "check_ids", "check_weight_spec", "check_constant_within", "check_pvs", "check_benchmarks",
           "check_nesting"]


def short(items: Sequence[Any], n: int = 8) -> str:
    items = list(items)
    return str(items[:n])[:-1] + (f", … (+{len(items) - n} more)]" if len(items) > n else "]")


def _check_level_column(data: pd.DataFrame, level: Any, col: Any, arg: str, noun: str) -> None:
    """One ``level → column`` entry of ``ids=`` or ``weights=``: both strings, the column in the data."""
    if not isinstance(level, str) or not isinstance(col, str):
        raise DesignError(f"{arg} must map level names to {noun} column names (strings); got {level!r}: {col!r}.")
    if col not in data.columns:
        raise DesignError(f"{noun} column {col!r} for level {level!r} is not in the data.")


def check_ids(data: pd.DataFrame, ids: Any) -> dict[str, str]:
    if ids is None:
        return {}
    if not isinstance(ids, Mapping):
        raise DesignError(f"ids must be a mapping level → id column, top level first, e.g. {{'school': "
                          f"'schoolid'}}; got {type(ids).__name__} {ids!r:.80}.")
    ids = dict(ids)
    for level, col in ids.items():
        _check_level_column(data, level, col, "ids", "id")
        if data[col].isna().any():
            raise DesignError(f"id column {col!r} ({level} level) has {int(data[col].isna().sum())} missing values.")
    for (upper_level, upper), (lower_level, lower) in zip(list(ids.items()), list(ids.items())[1:]):
        parents = data.groupby(lower, observed=True)[upper].nunique()
        bad = parents[parents > 1]
        if len(bad):
            raise DesignError(
                f"ids are not nested: {len(bad)} {lower_level} ids in {lower!r} occur in more than one "
                f"{upper_level} ({upper!r}), e.g. {bad.index[:5].tolist()}. If {lower_level} ids are only "
                f"unique within a {upper_level}, combine them first, e.g. "
                f"df[{lower!r}] = df[{upper!r}].astype(str) + ':' + df[{lower!r}].astype(str).")
    return ids


def check_weight_spec(data: pd.DataFrame, weights, ids: dict[str, str]) -> tuple[dict[str, str], str]:
    if weights is None:
        return {}, "observation"
    if isinstance(weights, str):
        weights = {"observation": weights}
    if not isinstance(weights, Mapping):
        one = (f" For a single weight write weights={weights[0]!r}."
               if isinstance(weights, (list, tuple)) and len(weights) == 1 and isinstance(weights[0], str) else "")
        raise DesignError(f"weights must be a mapping level → weight column (e.g. {{'student': 'W_FSTUWT', "
                          f"'school': 'W_FSCHWT'}}) or a single weight column name; got {type(weights).__name__} "
                          f"{weights!r:.80}.{one}")
    weights = dict(weights)
    for level, col in weights.items():
        _check_level_column(data, level, col, "weights", "weight")
    obs = [lv for lv in weights if lv not in ids]
    if len(obs) != 1:
        raise DesignError(f"weights must name exactly one observation-level weight (a level not among the id "
                          f"levels {list(ids)}); got levels {list(weights)}.")
    ordered = {lv: weights[lv] for lv in list(ids) + obs if lv in weights}
    return ordered, obs[0]


def check_constant_within(data: pd.DataFrame, idcol: str, wcol: str, level: str) -> None:
    spread = data.groupby(idcol, observed=True)[wcol].agg(["min", "max"])
    varies = spread[~np.isclose(spread["min"], spread["max"], rtol=1e-10, atol=0)]
    if len(varies):
        ex = varies.head(3)
        detail = "; ".join(f"{i}: {r['min']:g}…{r['max']:g}" for i, r in ex.iterrows())
        raise DesignError(f"{level} weight {wcol!r} varies within {len(varies)} {level}s of {idcol!r} "
                          f"({detail}); a {level}-level weight must be constant within each {level}.")


def check_pvs(data: pd.DataFrame, pvs: Any) -> dict[str, tuple[str, ...]]:
    if pvs is None:
        return {}
    if not isinstance(pvs, Mapping):
        raise DesignError(f"pvs must be a mapping set name → list of plausible-value columns, e.g. "
                          f"{{'MATH': ['PV1MATH', ..., 'PV5MATH']}}; got {type(pvs).__name__} {pvs!r:.80}.")
    out: dict[str, tuple[str, ...]] = {}
    for name, cols in pvs.items():
        if not isinstance(name, str):
            raise DesignError(f"PV set names must be strings; got {name!r}.")
        if isinstance(cols, str):
            raise DesignError(f"PV set {name!r} must list its columns; got the string {cols!r}.")
        if not isinstance(cols, Sequence) or not cols or not all(isinstance(c, str) for c in cols):
            raise DesignError(f"PV set {name!r} must be a non-empty list of column names; got {cols!r:.80}.")
        cols = tuple(cols)
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise DesignError(f"PV set {name!r}: columns missing from the data: {short(missing)}.")
        for c in cols:                                    # numeric and without inf, once per design
            numeric_column(data, c, f"pvs[{name!r}]")
        if name in data.columns and name not in cols:
            raise DesignError(f"PV set name {name!r} is also a column of the data; choose another name.")
        out[name] = cols
    lengths = {n: len(c) for n, c in out.items()}
    if len(set(lengths.values())) > 1:
        raise DesignError(f"PV sets have unequal lengths {lengths}; every set must have the same number "
                          f"of plausible values so that PV m of one set pairs with PV m of the others.")
    return out


def check_benchmarks(bench: Any) -> dict[str, dict[str, list]]:
    if bench is not None and not isinstance(bench, Mapping):
        raise DesignError(f"benchmarks must be a mapping PV set → cut points; got {type(bench).__name__}.")
    out = {}
    for name, spec in (bench or {}).items():
        where = f"benchmarks[{name!r}]"
        if isinstance(spec, Mapping):
            if "cuts" not in spec:
                raise DesignError(f"{where} needs 'cuts' (and optionally 'labels'); got keys {list(spec)}.")
            cuts = check_numbers(spec["cuts"], f"{where}['cuts']")
            labels = list(spec.get("labels") or [])
        else:
            cuts, labels = check_numbers(spec, where), []
        if labels and len(labels) != len(cuts):
            raise DesignError(f"{where}: {len(cuts)} cut points but {len(labels)} labels; give one label per cut.")
        if sorted(cuts) != cuts:
            raise DesignError(f"benchmark cut points for {name!r} must increase; got {cuts}.")
        out[name] = {"cuts": cuts, "labels": labels}
    return out


def check_nesting(data: pd.DataFrame, replicates, ids: Mapping[str, str]) -> None:
    """Replicates nested within a country column: that column must be constant within every unit
    of the top sampling level (schools: a school belongs to one country), or nesting would split
    a sampling unit between two countries' replicates."""
    country = getattr(replicates, "country", None)
    if country is None:
        return
    replicates.country_schemes(data)           # the country column is complete; every country has a scheme
    if not ids:
        return
    top_level, top = next(iter(ids.items()))
    if top == country:
        return
    spread = data.groupby(top, observed=True)[country].nunique()
    bad = spread[spread > 1]
    if len(bad):
        raise DesignError(f"replicates are nested within {country!r}, but {country!r} is not constant within "
                          f"{len(bad)} {top_level} units of {top!r} (e.g. {bad.index[:3].tolist()}); nest within "
                          f"the country column, which is constant within every {top_level}.")
