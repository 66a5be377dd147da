"""The design specification of study data: what :class:`lsa.SurveyDesign` needs, read from a
study dictionary and matched against the columns of the data.

:func:`build_spec` turns a :class:`lsa.dictionaries.StudyInfo` and a DataFrame into a frozen
:class:`DesignSpec` — ids per level, weights per level, PV sets, the replicate scheme with its
factor c (V = c Σ_r (θ_r − θ)²), the PV variance rule and the benchmarks. It never builds a
design: :meth:`lsa.SurveyDesign.from_study` does, from :meth:`DesignSpec.arguments`.

Column names are matched case-insensitively and the actual names of the data are used. Where
the dictionary's rule needs the data (PIAAC: ``VEMETHOD``/``VENREPS`` per country; several
countries with school ids numbered within country) the values are read here. Data of several
countries (the dictionary's ``ids.country`` column holds two or more values) get replicates
nested within country (:meth:`lsa.Replicates.within`; PIAAC: :meth:`lsa.Replicates.by_country`),
so that a pooled estimate perturbs one country's zone at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import pandas as pd

from .errors import DesignError, LsaWarning, StudyError, warn
from .replicates import Replicates

__all__ = ["DesignSpec", "ColumnMatcher", "resolve_columns", "build_spec", "country_column", "DESIGN_ARGS"]

#: the parts of a specification that ``design_from_study(..., **overrides)`` may replace
DESIGN_ARGS = ("ids", "weights", "pvs", "replicates", "strata", "conditional_weights", "pv_variance", "benchmarks")


@dataclass(frozen=True, eq=False)
class DesignSpec:
    """Everything a :class:`lsa.SurveyDesign` of study data needs, resolved against the data.

    Attributes
    ----------
    study, cycle, grade : the dictionary entry used.
    data : the data (a copy with a combined ``<id>_<country>`` column when school ids repeat
        across countries; otherwise the data given).
    ids : level -> id column, top level first (None: no levels above the observation).
    weights : level -> weight column (or one column name when overridden so).
    pvs : PV set -> columns (None: no PVs).
    replicates : the replicate scheme with its factor, or None.
    pv_variance : ``"all"`` or ``"first"``.
    benchmarks : PV set -> {"cuts", "labels"} (None: none).
    strata, conditional_weights : as given by the overrides (default None, False).
    """

    study: str
    cycle: str
    grade: int | None
    data: pd.DataFrame = field(repr=False)
    ids: Mapping[str, str] | None
    weights: Mapping[str, str] | str | None
    pvs: Mapping[str, Sequence[str]] | None
    replicates: Replicates | None
    pv_variance: str
    benchmarks: Mapping[str, Any] | None
    strata: str | None = None
    conditional_weights: bool = False

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of :class:`lsa.SurveyDesign` (data included)."""
        return dict(data=self.data, ids=self.ids, weights=self.weights, pvs=self.pvs, replicates=self.replicates,
                    strata=self.strata, conditional_weights=self.conditional_weights,
                    pv_variance=self.pv_variance, benchmarks=self.benchmarks, study=self.study, cycle=self.cycle)


class ColumnMatcher:
    """Case-insensitive lookup of the dictionary's names among the actual column names."""

    def __init__(self, columns: Sequence[Any]):
        self.columns = [str(c) for c in columns]
        self.exact = set(self.columns)
        self.upper: dict[str, list[str]] = {}
        for c in self.columns:
            self.upper.setdefault(c.upper(), []).append(c)

    def get(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name in self.exact:
            return name
        hits = self.upper.get(str(name).upper(), [])
        if len(hits) > 1:
            raise StudyError(f"column {name!r} matches several columns that differ only in case: {hits}.")
        return hits[0] if hits else None

    def all(self, names: Sequence[str]) -> list[str] | None:
        found = [self.get(n) for n in names]
        return None if any(f is None for f in found) else found  # type: ignore[return-value]

    def preview(self, k: int = 25) -> str:
        more = f", ... ({len(self.columns)} in all)" if len(self.columns) > k else ""
        return ", ".join(self.columns[:k]) + more


def resolve_columns(names: Sequence[str], columns: Sequence[Any]) -> dict[str, str | None]:
    """Map dictionary names onto actual column names, case-insensitively (None = not found)."""
    cols = ColumnMatcher(columns)
    return {n: cols.get(n) for n in names}


def _span(names: Sequence[str]) -> str:
    return f"{names[0]}..{names[-1]} ({len(names)} columns)" if len(names) > 3 else ", ".join(names)


def _pv_sets(info, cols: ColumnMatcher) -> dict[str, list[str]]:
    """Every PV domain whose columns are all present (first matching naming pattern wins)."""
    sets, partial = {}, []
    patterns = [info.pv_pattern, *info.pv_variants] if info.pv_pattern else []
    for root in info.pv_roots:
        best = None
        for pat in patterns:
            names = info.pv_names(root, pat)
            found = [cols.get(n) for n in names]
            if all(found):
                best = found
                break
            if any(found):
                partial.append(f"{root} ({sum(map(bool, found))} of {len(names)} as {pat.format(root=root, m='m')})")
        if best is not None:
            sets[root] = best
    left = [p for p in partial if p.split(" ")[0] not in sets]
    if left:
        warn(f"{info.name} {info.cycle}: incomplete plausible-value sets were left out: "
             f"{', '.join(left)}. Pass pvs= to use them.", LsaWarning)
    return sets


def _replicates(info, data: pd.DataFrame, cols: ColumnMatcher, missing: list[str]) -> Replicates | None:
    r = info.replication
    if info.method == "jk2" and r.get("zone"):
        zone, rep = cols.get(r["zone"]), cols.get(r["rep"])
        if zone is None or rep is None:
            missing.append(f"jackknife zone/replicate indicators {r['zone']}, {r['rep']}")
            return None
        return Replicates.jk2(zone=zone, rep=rep, both_halves=bool(r["both_halves"]),
                              factor=float(r["variance_factor"]))
    names = info.replicate_columns()
    if info.method == "country_specific":
        return _country_specific_replicates(info, data, cols, names, missing)
    found = cols.all(names)
    if found is None:
        absent = [n for n in names if cols.get(n) is None]
        missing.append(f"replicate weights {_span(names)} (absent: {_span(absent)})")
        return None
    if info.method == "fay":
        return Replicates.fay(found, k=float(r["k"]), factor=float(r["variance_factor"]))
    if info.method == "jk1":
        return Replicates.jk1(found, factor=float(r["variance_factor"]))
    if info.method == "brr":
        return Replicates.custom(found, factor=float(r["variance_factor"]))
    return Replicates.jk2(found, factor=float(r["variance_factor"]))


def _country_specific_replicates(info, data, cols, names, missing) -> Replicates | None:
    """The variance method per country (PIAAC: ``VEMETHOD``) over the first ``n_replicates_variable``
    replicates (``VENREPS``; unused replicates equal the final weight). JK2: c = 1; JK1: c = (R−1)/R;
    BRR/Fay: k from ``fay_variable``. With several countries every respondent's country gets its
    own scheme (JK1 and JK2 countries in one file, as Rrepest's PIAAC set-up), nested within the
    country column (:meth:`lsa.Replicates.by_country`)."""
    r = info.replication
    mcol, ncol = cols.get(r["method_variable"]), cols.get(r["n_replicates_variable"])
    if mcol is None or ncol is None:
        missing.append(f"variance-method variables {r['method_variable']}, {r['n_replicates_variable']} "
                       "(or pass replicates=Replicates.jk2([...]) yourself)")
        return None
    country = country_column(info, cols)
    if country is None or data[country].nunique() < 2:
        return _one_country_scheme(info, data, cols, names, missing, "")
    schemes = {}
    for value, rows in data.groupby(country, observed=True, sort=True).groups.items():
        scheme = _one_country_scheme(info, data.loc[rows], cols, names, missing, f" in {country} = {value!r}")
        if scheme is None:
            return None
        schemes[value] = scheme
    return Replicates.by_country(country, schemes)


def _one_country_scheme(info, data, cols, names, missing, where: str) -> Replicates | None:
    r = info.replication
    mcol, ncol = cols.get(r["method_variable"]), cols.get(r["n_replicates_variable"])
    methods = sorted({str(m).strip().upper() for m in data[mcol].dropna().unique()})
    nreps = sorted({int(v) for v in pd.to_numeric(data[ncol], errors="coerce").dropna().unique()})
    if len(methods) != 1 or not nreps:
        raise DesignError(
            f"{info.name} data{where} mix variance methods {methods} ({r['method_variable']}); the variance "
            f"method must be constant within a country, and the data need the country column "
            f"{info.ids.get('country')} to tell countries apart (or build one design per country).")
    method, R = methods[0], max(nreps)
    if not 2 <= R <= len(names):
        raise DesignError(f"{r['n_replicates_variable']}{where} = {R} is outside 2..{len(names)}.")
    found = cols.all(names[:R])
    if found is None:
        missing.append(f"replicate weights {_span(names[:R])}")
        return None
    if method.startswith("JK2"):
        return Replicates.jk2(found, factor=1.0)
    if method.startswith("JK1"):
        if len(nreps) > 1:
            raise DesignError(f"JK1 data{where} with different {r['n_replicates_variable']} {nreps} need "
                              "separate designs (the factor (R-1)/R differs).")
        return Replicates.jk1(found, factor=(R - 1) / R)
    fcol = cols.get(r.get("fay_variable"))
    k = float(data[fcol].dropna().iloc[0]) if fcol is not None and data[fcol].notna().any() else 0.0
    if method in ("BRR", "FAY") or k > 0:
        return Replicates.fay(found, k=k)
    raise DesignError(f"unknown {info.name} variance method {method!r} in {r['method_variable']}{where}; "
                      "pass replicates= explicitly.")


def country_column(info, cols: ColumnMatcher) -> str | None:
    """The data's country column named by the dictionary (``ids.country``, then
    ``country_alpha``, ``country_numeric``), or None."""
    return next((c for c in (cols.get(info.ids.get(k)) for k in ("country", "country_alpha", "country_numeric"))
                 if c is not None), None)


def _nest_within_country(info, data: pd.DataFrame, cols: ColumnMatcher, rep: Replicates | None) -> Replicates | None:
    """Data of several countries: replicates nested within the country column (zones and
    replicate columns are numbered within each country; see :mod:`lsa.replicates`)."""
    if rep is None or rep.nested:
        return rep
    country = country_column(info, cols)
    if country is None or data[country].nunique() < 2:
        return rep
    return rep.within(country)


def _ids_unique_across_countries(info, data: pd.DataFrame, cols: ColumnMatcher, ids: dict):
    """School (and class) ids are numbered within country in most studies (IDSCHOOL, SCHOOLID):
    with several countries in the data, a combined ``<country>:<school>`` id is added (as a new
    column of a copy of the data) so that schools of different countries are different units."""
    country = country_column(info, cols)
    if country is None or not ids or data[country].nunique() < 2:
        return data, ids
    new = {}
    for lvl, col in ids.items():
        if (data.groupby(col, observed=True)[country].nunique() > 1).any():
            name = f"{col}_{country}"
            new[name] = data[country].astype(str) + ":" + data[col].astype(str)
            ids = {**ids, lvl: name}
    return (data.assign(**new) if new else data), ids


def _weights(info, cols: ColumnMatcher, missing: list[str]) -> tuple[str, dict]:
    """The observation level and its final weight. With no final weight but the weight of the
    dictionary's ``school_replication`` block (TALIS principal files), the rows are schools."""
    obs, final = info.observation_level, cols.get(info.weights["final"])
    alt = info.raw.get("school_replication")
    if final is None and alt is not None and cols.get(alt["weight"]) is not None:
        obs, final = "school", cols.get(alt["weight"])
    if final is None:
        missing.append(f"final {obs} weight {info.weights['final']}")
    return obs, {obs: final}


def _ids(info, data, cols: ColumnMatcher, obs: str):
    ids = {}
    for lvl in ("school", "class"):
        c = cols.get(info.ids.get(lvl)) if lvl != obs else None
        if c is not None:
            ids[lvl] = c
    return _ids_unique_across_countries(info, data, cols, ids)


def _study_replicates(info, data, cols: ColumnMatcher, obs: str, missing: list[str]) -> Replicates | None:
    alt = info.raw.get("school_replication")
    if obs == "school" and alt is not None:   # school rows: the school replicate weights
        rep = MappingProxyType({**info.replication, "replicate_weights": alt["replicate_weights"]})
        info = replace(info, replication=rep)
    return _replicates(info, data, cols, missing)


def _benchmarks(info, pvs) -> dict:
    """Cut points of the PV sets present; a ``"default"`` entry applies to every score scale but
    not to PV sets of benchmark categories (roots ending in ``pv.category_suffix``)."""
    suffix = (info.raw.get("pv") or {}).get("category_suffix")
    bench = {}
    for name in pvs or {}:
        b = info.benchmarks.get(str(name).upper())
        if b is None and not (suffix and str(name).upper().endswith(suffix.upper())):
            b = info.benchmarks.get("default")
        if b is not None:
            bench[name] = {"cuts": list(b["cuts"]), "labels": [str(x) for x in b.get("labels") or ()]}
    return bench


def _cycle_hint(info, missing: list[str], cols: ColumnMatcher, other_cycles: Mapping[str, Sequence[str]]) -> str:
    """When the replicate weights are missing but those of other cycles of the study are present."""
    if not any("replicate" in m for m in missing):
        return ""
    ours = (info.replicate_columns() or [""])[0].upper()
    by_name: dict[str, list[str]] = {}
    for cyc, names in other_cycles.items():
        if names:
            by_name.setdefault(str(names[0]).upper(), []).append(cyc)
    present = [n for n in by_name if n != ours and cols.get(n)]
    if not present:
        return ""
    spans = ", ".join(f"{n.rstrip('0123456789')} = {c[0]}" + (f"-{c[-1]}" if len(c) > 1 else "")
                      for n, c in by_name.items())
    return f"(The data have {present[0]}: is the cycle right? {spans}.)"


def build_spec(info, data: pd.DataFrame, other_cycles: Mapping[str, Sequence[str]] | None = None,
               **overrides: Any) -> DesignSpec:
    """The design specification of ``data`` under the dictionary entry ``info``.

    ``other_cycles`` (cycle -> replicate-weight names of the other cycles of the study) lets the
    error for missing replicate weights say which cycle the data's weights belong to.
    ``overrides`` (:data:`DESIGN_ARGS`) replace what the dictionary gives and are not checked
    against the data here. Missing columns raise one :class:`StudyError` listing all of them and
    the columns found.
    """
    bad = sorted(set(overrides) - set(DESIGN_ARGS))
    if bad:
        raise DesignError(f"design_from_study got unknown arguments {bad}; allowed overrides: {list(DESIGN_ARGS)}.")
    cols, missing = ColumnMatcher(data.columns), []
    obs = info.observation_level
    if "weights" in overrides:
        weights = overrides.pop("weights")
    else:
        obs, weights = _weights(info, cols, missing)
    if "ids" in overrides:
        ids = overrides.pop("ids")
    else:
        data, ids = _ids(info, data, cols, obs)
    if isinstance(weights, dict) and "school" not in weights and "school" in (ids or {}) and obs != "school":
        sw = cols.get(info.weights.get("school"))
        if sw is not None:
            weights = {**weights, "school": sw}
    replicates = (overrides.pop("replicates") if "replicates" in overrides
                  else _nest_within_country(info, data, cols, _study_replicates(info, data, cols, obs, missing)))
    pvs = overrides.pop("pvs") if "pvs" in overrides else _pv_sets(info, cols)
    bench = overrides.pop("benchmarks") if "benchmarks" in overrides else _benchmarks(info, pvs)
    if missing:
        hint = _cycle_hint(info, missing, cols, other_cycles or {})
        raise StudyError(
            f"the data lack columns that {info.name} {info.cycle} needs: {'; '.join(missing)}. "
            f"Found columns: {cols.preview()}.{(' ' + hint) if hint else ''} "
            "Pass weights=/replicates=/pvs= to design_from_study to override the dictionary "
            "(replicates=None: standard errors by Taylor linearisation over the school ids).")
    return DesignSpec(study=info.study, cycle=info.cycle, grade=info.grade, data=data, ids=ids or None,
                      weights=weights, pvs=pvs or None, replicates=replicates,
                      pv_variance=overrides.pop("pv_variance", info.pv_variance or "all"),
                      benchmarks=bench or None, **overrides)
