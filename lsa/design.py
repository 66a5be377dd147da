"""SurveyDesign: the data together with everything known about how they were sampled.

A design holds a pandas DataFrame plus

* ids per level, top level first (``{"school": "schoolid", "class": "idclass"}``); the
  observation level (student, teacher, adult) is implicit: one row each;
* weights per level, given as total (unconditional) weights or, with
  ``conditional_weights=True``, as conditional weights; the other form is derived
  (conditional weight of a level = its total weight / the total weight of the level above);
* plausible-value sets (name → ordered columns);
* a replicate scheme (:class:`lsa.Replicates`) and optional strata;
* a domain: the rows an analysis is restricted to. A domain never drops rows: outside it
  the weights (full and replicate) are zero, so variances keep the whole design
  (Lumley 2010, §2.3; OECD PISA Data Analysis Manual ch. 4).

Designs are immutable: :meth:`subset` returns a new design.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from . import dictionaries
from .errors import DesignError, warn
from .replicates import Replicates
from .validation import check_frame, check_name, check_numbers, check_numeric_dtypes, numeric_column

PvVariance = Literal["all", "first"]


class SurveyDesign:
    """Data plus weights at every level, plausible values and replicate weights.

    Parameters
    ----------
    data : DataFrame, one row per observation (student, teacher, adult).
    ids : mapping level → id column, top level first, e.g. ``{"school": "schoolid"}``.
    weights : mapping level → weight column. The one level not named in ``ids`` is the
        observation level; its total weight is the final (analysis) weight. With no weights
        every row weighs 1.
    pvs : mapping set name → list of plausible-value columns, e.g.
        ``{"MATH": ["PV1MATH", ..., "PV5MATH"]}``. All sets must have the same length.
    replicates : a :class:`lsa.Replicates` scheme, or None (no design-based variances).
    strata : explicit or variance strata column (informational; replicate weights carry it).
    conditional_weights : the weights of levels below the top are conditional (default: total).
    pv_variance : ``"all"`` averages the sampling variance over all PVs (PISA; TIMSS/PIRLS
        2015+); ``"first"`` takes it from the first PV only (TIMSS/PIRLS up to 2011).
    benchmarks : mapping PV set → cut points (list) or ``{"cuts": [...], "labels": [...]}``.
    study, cycle : labels set by :meth:`from_study`.

    Examples
    --------
    >>> design = lsa.SurveyDesign(
    ...     df,
    ...     ids={"school": "schoolid"},
    ...     weights={"student": "w_fstuwt", "school": "w_fschwt"},
    ...     pvs={"MATH": [f"pv{i}math" for i in range(1, 6)]},
    ...     replicates=lsa.Replicates.fay([f"w_fsturwt{r}" for r in range(1, 81)], k=0.5),
    ... )                                                                   # doctest: +SKIP
    """

    def __init__(
        self,
        data: pd.DataFrame,
        ids: Mapping[str, str] | None = None,
        weights: Mapping[str, str] | str | None = None,
        pvs: Mapping[str, Sequence[str]] | None = None,
        replicates: Replicates | None = None,
        strata: str | None = None,
        *,
        conditional_weights: bool = False,
        pv_variance: PvVariance = "all",
        benchmarks: Mapping[str, Any] | None = None,
        study: str | None = None,
        cycle: str | int | None = None,
        domain: np.ndarray | None = None,
    ) -> None:
        check_frame(data)
        self._data = data
        self._ids = _check_ids(data, ids)
        self._weights, self._obs_level = _check_weight_spec(data, weights, self._ids)
        if not isinstance(conditional_weights, (bool, np.bool_)):
            raise DesignError(f"conditional_weights must be True or False; got {conditional_weights!r}.")
        self._conditional = bool(conditional_weights)
        self._pvs = _check_pvs(data, pvs)
        if replicates is not None and not isinstance(replicates, Replicates):
            raise DesignError(f"replicates must be an lsa.Replicates scheme (e.g. lsa.Replicates.fay([...], k=0.5)); "
                              f"got {type(replicates).__name__}.")
        self._replicates = replicates
        if strata is not None and (not isinstance(strata, str) or strata not in data.columns):
            raise DesignError(f"strata must be the name of a column of the data; got {strata!r}.")
        self._strata = strata
        if pv_variance not in ("all", "first"):
            raise DesignError(f"pv_variance must be 'all' or 'first'; got {pv_variance!r}.")
        self._pv_variance = pv_variance
        self._benchmarks = _check_benchmarks(benchmarks)
        self.study = study
        self.cycle = cycle
        domain = np.ones(len(data), dtype=bool) if domain is None else domain
        if np.shape(domain) != (len(data),):
            raise DesignError(f"domain must be a boolean mask with one value per row ({len(data)}); "
                              f"got shape {np.shape(domain)}.")
        self._domain = np.asarray(domain, dtype=bool).copy()
        self._domain.setflags(write=False)
        self._check_weights()
        self.__dict__["_cache_numeric"] = {c for cols in self._pvs.values() for c in cols}  # checked in _check_pvs
        if replicates is not None:
            missing = [c for c in replicates.needed_columns if c not in data.columns]
            if missing:
                raise DesignError(f"replicate columns missing from the data: {_short(missing)} "
                                  f"({len(missing)} of {len(replicates.needed_columns)}).")
            check_numeric_dtypes(data, replicates.columns, "replicates")
        self._frozen = True

    # -- immutability -------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False) and not name.startswith("_cache"):
            raise AttributeError("SurveyDesign is immutable; use subset() or build a new design.")
        object.__setattr__(self, name, value)

    @classmethod
    def from_study(cls, study: str, cycle: Any, data: pd.DataFrame, grade: Any = None, **overrides: Any) -> "SurveyDesign":
        """The design of :func:`lsa.dictionaries.design_spec` (``grade``, ``overrides`` as there)."""
        return cls(**dictionaries.design_spec(study, cycle, data, grade, **overrides).arguments())

    # -- read-only views ----------------------------------------------------------------
    @property
    def data(self) -> pd.DataFrame:
        """The full data (never shrunk by a domain)."""
        return self._data

    @property
    def ids(self) -> dict[str, str]:
        return dict(self._ids)

    @property
    def weights(self) -> dict[str, str]:
        """Level → weight column, as given (total unless ``conditional_weights``)."""
        return dict(self._weights)

    @property
    def conditional_weights(self) -> bool:
        return self._conditional

    @property
    def levels(self) -> tuple[str, ...]:
        """Level names, top first, ending with the observation level."""
        return tuple(self._ids) + (self._obs_level,)

    @property
    def observation_level(self) -> str:
        return self._obs_level

    @property
    def pvs(self) -> dict[str, tuple[str, ...]]:
        return dict(self._pvs)

    @property
    def n_pvs(self) -> int:
        """Number of plausible values per set (1 when there are none)."""
        return len(next(iter(self._pvs.values()))) if self._pvs else 1

    @property
    def replicates(self) -> Replicates | None:
        return self._replicates

    @property
    def strata(self) -> str | None:
        return self._strata

    @property
    def pv_variance(self) -> PvVariance:
        return self._pv_variance

    @property
    def benchmarks(self) -> dict[str, dict[str, list]]:
        return dict(self._benchmarks)

    @property
    def domain(self) -> np.ndarray:
        """Boolean mask of the rows in the analysed domain (read-only)."""
        return self._domain

    @property
    def n(self) -> int:
        return len(self._data)

    @property
    def n_replicates(self) -> int:
        return 0 if self._replicates is None else self._replicates.n_replicates(self._data)

    @property
    def df(self) -> float:
        """Design degrees of freedom: R − 1 replicates, or the number of zones for JK2 from zones."""
        rep = self._replicates
        if rep is None:
            return np.inf
        if rep.zone is not None:
            return float(self._data[rep.zone].nunique())
        return float(len(rep.columns) - 1)

    # -- weights ------------------------------------------------------------------------
    def total_weight(self, level: str | None = None) -> np.ndarray:
        """Total (unconditional) weight of ``level`` (default: the observation level), row-aligned."""
        level = self._obs_level if level is None else level
        self._check_level(level)
        if not self._weights:
            return np.ones(self.n)
        if level not in self._weights:
            raise DesignError(f"no weight was given for level {level!r}; weights are given for {list(self._weights)}.")
        if not self._conditional:
            return self._column(self._weights[level])
        out = np.ones(self.n)
        for lev in self.levels[: self.levels.index(level) + 1]:
            if lev in self._weights:
                out = out * self._column(self._weights[lev])
        return out

    def conditional_weight(self, level: str | None = None) -> np.ndarray:
        """Weight of ``level`` given the level above: total(level) / total(nearest weighted level above)."""
        level = self._obs_level if level is None else level
        self._check_level(level)
        if self._conditional:
            return self._column(self._weights[level])
        above = [lv for lv in self.levels[: self.levels.index(level)] if lv in self._weights]
        total = self.total_weight(level)
        return total if not above else total / self.total_weight(above[-1])

    def full_weight(self) -> np.ndarray:
        """The final (observation-level total) weight, ignoring the domain."""
        return self._cache("full_weight", lambda: self.total_weight(self._obs_level))

    def replicate_weights(self) -> np.ndarray:
        """The n × R replicate weight matrix (domain not applied)."""
        if self._replicates is None:
            raise DesignError("this design has no replicate weights.")
        return self._cache("replicate_weights", lambda: self._replicates.weights(self._data, self.full_weight()))

    def weight_matrix(self, mask: np.ndarray | None = None) -> np.ndarray:
        """n × (1 + R) matrix: the full weight then the replicate weights, zero outside the domain
        (and outside ``mask`` when given)."""
        full = self._cache("weight_matrix", self._build_weight_matrix)
        keep = self._domain if mask is None else self._domain & mask
        return full * keep[:, None]

    def _build_weight_matrix(self) -> np.ndarray:
        w = self.full_weight()[:, None]
        if self._replicates is None:
            return w
        return np.concatenate([w, self.replicate_weights()], axis=1)

    # -- domains ------------------------------------------------------------------------
    def subset(self, where: np.ndarray | pd.Series | str) -> "SurveyDesign":
        """A design restricted to a domain, keeping every row and the replicate structure.

        ``where`` is a boolean mask aligned with the data, or a query string evaluated on the
        data (``"ST04Q01 == 'Female'"``). Rows where it is missing are outside the domain.
        """
        if isinstance(where, str):
            try:
                mask = self._data.eval(where)
            except Exception as exc:  # pandas raises many types
                raise DesignError(f"cannot evaluate domain {where!r}: {exc}") from exc
        else:
            mask = where
        mask = pd.Series(mask).fillna(False).to_numpy() if not isinstance(mask, np.ndarray) else mask
        if mask.shape != (self.n,):
            raise DesignError(f"a domain mask must have one value per row ({self.n}); got shape {np.shape(mask)}.")
        mask = mask.astype(bool)
        if not (self._domain & mask).any():
            raise DesignError("the domain is empty: no row satisfies the condition.")
        new = object.__new__(SurveyDesign)
        for k, v in self.__dict__.items():
            if k not in ("_frozen", "_domain"):
                object.__setattr__(new, k, v)
        dom = self._domain & mask
        dom.setflags(write=False)
        object.__setattr__(new, "_domain", dom)
        object.__setattr__(new, "_frozen", True)
        return new

    def with_data(self, data: pd.DataFrame) -> "SurveyDesign":
        """The same design (ids, weights, PV sets, replicates, domain) on other data of the same
        rows — e.g. a completed data set of a multiple imputation. Weights and ids are re-checked."""
        if not isinstance(data, pd.DataFrame) or len(data) != self.n:
            raise DesignError(f"with_data needs a DataFrame with the design's {self.n} rows; got "
                              f"{len(data) if isinstance(data, pd.DataFrame) else type(data).__name__}.")
        return SurveyDesign(data, self._ids, self._weights, self._pvs, self._replicates, self._strata,
                            conditional_weights=self._conditional, pv_variance=self._pv_variance,
                            benchmarks=self._benchmarks, study=self.study, cycle=self.cycle, domain=self._domain)

    # -- variables ----------------------------------------------------------------------
    def resolve(self, name: str, argument: str = "variables") -> tuple[str, ...]:
        """Columns behind a name: the PV columns of a PV set, or the column itself."""
        check_name(name, argument)
        if name in self._pvs:
            return self._pvs[name]
        if name in self._data.columns:
            return (name,)
        import difflib

        close = difflib.get_close_matches(name, list(self._pvs) + [str(c) for c in self._data.columns], n=3)
        raise DesignError(f"{argument}: {name!r} is neither a column nor a plausible-value set"
                          + (f" (did you mean {close}?)" if close else "")
                          + f"; PV sets: {list(self._pvs)}; columns include {_short(list(self._data.columns))}.")

    def numeric(self, column: str, argument: str = "variables") -> np.ndarray:
        """The column as float (NaN = missing), refusing text, numbers stored as text and inf
        (:func:`lsa.validation.numeric_column`). Each column is checked once per design."""
        checked = self.__dict__.setdefault("_cache_numeric", set())
        if column in checked:
            return self._data[column].to_numpy(dtype=float, na_value=np.nan)
        out = numeric_column(self._data, column, argument)
        checked.add(column)
        return out

    def is_pv(self, name: str) -> bool:
        return name in self._pvs

    # -- display ------------------------------------------------------------------------
    def describe(self) -> str:
        lines = ["SurveyDesign" + (f" ({self.study} {self.cycle})" if self.study else "")]
        lines.append(f"  rows: {self.n:,}" + ("" if self._domain.all() else f" (domain: {int(self._domain.sum()):,})"))
        for lev, col in self._ids.items():
            lines.append(f"  {lev}: {col} ({self._data[col].nunique():,} units)")
        wtype = "conditional" if self._conditional else "total"
        if self._weights:
            lines.append(f"  weights ({wtype}): " + ", ".join(f"{k}={v}" for k, v in self._weights.items()))
        else:
            lines.append("  weights: none (every row weighs 1)")
        for name, cols in self._pvs.items():
            lines.append(f"  PVs {name}: {cols[0]} … {cols[-1]} ({len(cols)})")
        if self._replicates is not None:
            lines.append(f"  replicates: {self.n_replicates} — {self._replicates.describe()}")
            lines.append(f"  PV sampling variance: {'average over all PVs' if self._pv_variance == 'all' else 'first PV only'}")
        return "\n".join(lines)

    __repr__ = describe

    # -- internals ----------------------------------------------------------------------
    def warn_once(self, message: str, category: type[Warning]) -> None:
        """Issue a warning about this design once per design, however many analyses use it."""
        warned = self.__dict__.setdefault("_cache_warned", set())
        if (category, message) not in warned:
            warned.add((category, message))
            warn(message, category)

    def _cache(self, key: str, build):
        store = self.__dict__.setdefault("_cache_store", {})
        if key not in store:
            store[key] = build()
        return store[key]

    def _column(self, col: str) -> np.ndarray:
        return self._data[col].to_numpy(dtype=float, na_value=np.nan)

    def _check_level(self, level: str) -> None:
        if level not in self.levels:
            raise DesignError(f"unknown level {level!r}; the design's levels are {list(self.levels)}.")

    def _check_weights(self) -> None:
        for level, col in self._weights.items():
            w = numeric_column(self._data, col, f"weights[{level!r}]")      # text and inf are errors
            bad = np.isnan(w)
            if bad.any():
                rows = np.flatnonzero(bad)
                raise DesignError(f"weight {col!r} ({level} level) has {len(rows)} missing values (rows "
                                  f"{rows[:5].tolist()}); every row needs a weight (drop those rows first).")
            if (w < 0).any():
                rows = np.flatnonzero(w < 0)
                raise DesignError(f"weight {col!r} ({level} level) has {len(rows)} negative values "
                                  f"(e.g. {w[rows[:5]].tolist()} in rows {rows[:5].tolist()}).")
            if w.sum() <= 0:
                raise DesignError(f"weight {col!r} ({level} level) sums to zero.")
            if level in self._ids:
                _check_constant_within(self._data, self._ids[level], col, level)


# -- validation helpers ---------------------------------------------------------------------
def _short(items: Sequence[Any], n: int = 8) -> str:
    items = list(items)
    return str(items[:n])[:-1] + (f", … (+{len(items) - n} more)]" if len(items) > n else "]")


def _check_ids(data: pd.DataFrame, ids: Any) -> dict[str, str]:
    if ids is None:
        return {}
    if not isinstance(ids, Mapping):
        raise DesignError(f"ids must be a mapping level → id column, top level first, e.g. {{'school': "
                          f"'schoolid'}}; got {type(ids).__name__} {ids!r:.80}.")
    ids = dict(ids)
    for level, col in ids.items():
        if not isinstance(level, str) or not isinstance(col, str):
            raise DesignError(f"ids must map level names to id column names (strings); got {level!r}: {col!r}.")
        if col not in data.columns:
            raise DesignError(f"id column {col!r} for level {level!r} is not in the data.")
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


def _check_weight_spec(data: pd.DataFrame, weights, ids: dict[str, str]) -> tuple[dict[str, str], str]:
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
        if not isinstance(level, str) or not isinstance(col, str):
            raise DesignError(f"weights must map level names to weight column names (strings); got {level!r}: {col!r}.")
        if col not in data.columns:
            raise DesignError(f"weight column {col!r} for level {level!r} is not in the data.")
    obs = [lv for lv in weights if lv not in ids]
    if len(obs) != 1:
        raise DesignError(f"weights must name exactly one observation-level weight (a level not among the id "
                          f"levels {list(ids)}); got levels {list(weights)}.")
    ordered = {lv: weights[lv] for lv in list(ids) + obs if lv in weights}
    return ordered, obs[0]


def _check_constant_within(data: pd.DataFrame, idcol: str, wcol: str, level: str) -> None:
    spread = data.groupby(idcol, observed=True)[wcol].agg(["min", "max"])
    varies = spread[~np.isclose(spread["min"], spread["max"], rtol=1e-10, atol=0)]
    if len(varies):
        ex = varies.head(3)
        detail = "; ".join(f"{i}: {r['min']:g}…{r['max']:g}" for i, r in ex.iterrows())
        raise DesignError(f"{level} weight {wcol!r} varies within {len(varies)} {level}s of {idcol!r} "
                          f"({detail}); a {level}-level weight must be constant within each {level}.")


def _check_pvs(data: pd.DataFrame, pvs: Any) -> dict[str, tuple[str, ...]]:
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
            raise DesignError(f"PV set {name!r}: columns missing from the data: {_short(missing)}.")
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


def _check_benchmarks(bench: Any) -> dict[str, dict[str, list]]:
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


design_from_study = dictionaries.design_from_study = SurveyDesign.from_study  # old home kept; it never imports us
