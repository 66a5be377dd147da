"""SurveyDesign: the data together with everything known about how they were sampled.

A design holds a pandas DataFrame plus

* ids per level, top level first (``{"school": "schoolid", "class": "idclass"}``); the
  observation level (student, teacher, adult) is implicit: one row each;
* weights per level, given as total (unconditional) weights or, with
  ``conditional_weights=True``, as conditional weights; the other form is derived
  (conditional weight of a level = its total weight / the total weight of the level above);
* plausible-value sets (name → ordered columns);
* a replicate scheme (:class:`lsa.Replicates`) and optional strata; without replicates, a
  design with ids (or strata) gets Taylor-series linearisation variances over its top-level
  units (:mod:`lsa.taylor`: strata, ``fpc``, ``lonely_psu``), and :meth:`with_replicates`
  builds jackknife or bootstrap replicates from it (:mod:`lsa.build_replicates`);
* a domain: the rows an analysis is restricted to. A domain never drops rows: outside it
  the weights (full and replicate) are zero, so variances keep the whole design
  (Lumley 2010, §2.3; OECD PISA Data Analysis Manual ch. 4).

Designs are immutable: :meth:`subset` returns a new design.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from . import dictionaries
from .errors import DesignError, warn
from .build_replicates import replicate_columns
from .replicates import ReplicateBlock, Replicates, assemble
from .design_checks import (check_benchmarks, check_constant_within, check_ids, check_nesting, check_pvs,
                            check_weight_spec, short)
from .taylor import TaylorStructure, check_lonely_psu, taylor_structure
from .validation import (check_frame, check_name, check_numeric_dtypes, ensure_expression_columns, has_column,
                         numeric_column)

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
    strata : explicit or variance strata column (replicate weights carry it; without replicates
        the strata of the Taylor linearisation, :mod:`lsa.taylor`).
    fpc : without replicates: column with each stratum's population number of first-stage units
        (or the sampling fraction), for the finite-population correction (``survey``'s ``fpc``).
    lonely_psu : without replicates: the rule for a stratum with one first-stage unit,
        ``"fail"`` (default, as survey), ``"remove"``, ``"adjust"``, ``"certainty"``, ``"average"``.
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
        fpc: str | None = None,
        lonely_psu: str = "fail",
    ) -> None:
        check_frame(data)
        self._data = data
        self._ids = check_ids(data, ids)
        self._weights, self._obs_level = check_weight_spec(data, weights, self._ids)
        if not isinstance(conditional_weights, (bool, np.bool_)):
            raise DesignError(f"conditional_weights must be True or False; got {conditional_weights!r}.")
        self._conditional = bool(conditional_weights)
        self._pvs = check_pvs(data, pvs)
        if replicates is not None and not isinstance(replicates, Replicates):
            raise DesignError(f"replicates must be an lsa.Replicates scheme (e.g. lsa.Replicates.fay([...], k=0.5)); "
                              f"got {type(replicates).__name__}.")
        self._replicates = replicates
        if strata is not None and (not isinstance(strata, str) or strata not in data.columns):
            raise DesignError(f"strata must be the name of a column of the data; got {strata!r}.")
        self._strata = strata
        if fpc is not None and (not isinstance(fpc, str) or fpc not in data.columns):
            raise DesignError(f"fpc must be the name of a column of the data; got {fpc!r}.")
        self._fpc = fpc
        self._lonely_psu = check_lonely_psu(lonely_psu)
        if pv_variance not in ("all", "first"):
            raise DesignError(f"pv_variance must be 'all' or 'first'; got {pv_variance!r}.")
        self._pv_variance = pv_variance
        self._benchmarks = check_benchmarks(benchmarks)
        self.study = study
        self.cycle = cycle
        domain = np.ones(len(data), dtype=bool) if domain is None else domain
        if np.shape(domain) != (len(data),):
            raise DesignError(f"domain must be a boolean mask with one value per row ({len(data)}); "
                              f"got shape {np.shape(domain)}.")
        self._domain = np.asarray(domain, dtype=bool).copy()
        self._domain.setflags(write=False)
        self._check_weights()
        self.__dict__["_cache_numeric"] = {c for cols in self._pvs.values() for c in cols}  # checked in check_pvs
        if replicates is not None:
            missing = [c for c in replicates.needed_columns if c not in data.columns]
            if missing:
                raise DesignError(f"replicate columns missing from the data: {short(missing)} "
                                  f"({len(missing)} of {len(replicates.needed_columns)}).")
            check_numeric_dtypes(data, replicates.weight_columns, "replicates")
            check_nesting(data, replicates, self._ids)
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
        return 0 if self._replicates is None else self._cache("n_replicates", lambda: self._replicates.n_replicates(self._data))

    @property
    def df(self) -> float:
        """Design degrees of freedom: R − 1 replicates, or the number of zones for JK2 from zones;
        with replicates nested within country, the sum over countries; Taylor linearisation:
        first-stage units − strata (``survey::degf``); ∞ without either."""
        rep = self._replicates
        if rep is None:
            return self.taylor().df if self.variance_method == "taylor" else np.inf
        return self._cache("df", lambda: rep.df(self._data))

    @property
    def fpc(self) -> str | None:
        return self._fpc

    @property
    def lonely_psu(self) -> str:
        return self._lonely_psu

    @property
    def variance_method(self) -> str:
        """``"replicate"`` (a replicate scheme), ``"taylor"`` (no replicates, ids or strata:
        linearisation over the top-level units, :mod:`lsa.taylor`) or ``"none"``."""
        if self._replicates is not None:
            return "replicate"
        return "taylor" if (self._ids or self._strata) else "none"

    def taylor(self) -> TaylorStructure:
        """The first stage of the Taylor linearisation: top-level id within ``strata``, ``fpc``,
        ``lonely_psu`` (:func:`lsa.taylor.taylor_structure`; a lonely PSU under ``"fail"`` raises)."""
        psu = next(iter(self._ids.values()), None)
        return self._cache("taylor", lambda: taylor_structure(self._data, psu, self._strata, self._fpc,
                                                              self._lonely_psu))

    def with_replicates(self, method: str, replicates: int | None = None, *, seed=None,
                        prefix: str | None = None) -> "SurveyDesign":
        """A replicate design built from this design's first stage, as ``survey::as.svrepdesign``:
        ``"jk1"`` (delete one PSU; within strata when the design has strata, survey's JKn),
        ``"jk2"`` (two PSUs per stratum) or ``"bootstrap"`` (Rao–Wu rescaling, ``replicates``
        resamples, ``seed``). See :mod:`lsa.build_replicates`."""
        columns, scheme = replicate_columns(self, method, replicates, seed=seed, prefix=prefix)
        return SurveyDesign(pd.concat([self._data, columns], axis=1), self._ids, self._weights or None, self._pvs,
                            scheme, self._strata, conditional_weights=self._conditional,
                            pv_variance=self._pv_variance, benchmarks=self._benchmarks, study=self.study,
                            cycle=self.cycle, domain=self._domain)

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
        return self._cache("replicate_weights", lambda: assemble(self.replicate_blocks(), self.full_weight()))

    def replicate_blocks(self) -> list[ReplicateBlock]:
        """The replicates per country (one block when not nested): rows, weights, factors, df."""
        if self._replicates is None:
            raise DesignError("this design has no replicate weights.")
        return self._cache("replicate_blocks", self._build_blocks)

    def _build_blocks(self) -> list[ReplicateBlock]:
        """Each block's weights are the columns 1.. of its (rows × (1 + R_c)) matrix of full then
        replicate weights (:meth:`block_matrices`), so the two share memory (one copy of the
        replicate weights, converted to float one country at a time)."""
        blocks = self._replicates.blocks(self._data, self.full_weight())
        full = self.full_weight()
        mats = []
        for i, b in enumerate(blocks):
            m = np.empty((b.weights.shape[0], 1 + b.weights.shape[1]))
            m[:, 0] = full if b.rows is None else full[b.rows]
            m[:, 1:] = b.weights
            blocks[i] = replace(b, weights=m[:, 1:])      # drops the block's own copy
            mats.append(m)
        self._cache("block_matrices", lambda: mats)
        return blocks

    def block_matrices(self) -> list[np.ndarray]:
        """Per replicate block (:meth:`replicate_blocks`): its rows × (1 + R_c) matrix, the full
        weight then the block's replicate weights (domain not applied). Not nested: the n × (1 + R)
        weight matrix."""
        self.replicate_blocks()
        return self._cache("block_matrices", lambda: None)

    def replicate_factors(self) -> np.ndarray:
        """(R,) variance factor c_r of each replicate (V = Σ_r c_r (θ_r − θ)²); all equal to
        ``replicates.factor`` unless countries have schemes of their own."""
        if self._replicates is None:
            return np.empty(0)
        return self._cache("replicate_factors", lambda: np.concatenate([b.factors for b in self.replicate_blocks()]))

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
        if not self._replicates.nested:
            return self.block_matrices()[0]               # shared with the replicate block
        return np.concatenate([w, self.replicate_weights()], axis=1)

    def weight_rows(self, rows: slice | np.ndarray) -> np.ndarray:
        """Rows of the n × (1 + R) weight matrix, domain not applied (a view for a slice); for a
        design without replicates or with a single replicate block only (not nested)."""
        if self._replicates is not None and self._replicates.nested:
            raise DesignError("weight_rows: replicates nested within country have one matrix per country "
                              "(block_matrices).")
        return self._cache("weight_matrix", self._build_weight_matrix)[rows]

    # -- domains ------------------------------------------------------------------------
    def subset(self, where: np.ndarray | pd.Series | str) -> "SurveyDesign":
        """A design restricted to a domain, keeping every row and the replicate structure.

        ``where`` is a boolean mask aligned with the data, or a query string evaluated on the
        data (``"ST04Q01 == 'Female'"``). Rows where it is missing are outside the domain.
        """
        if isinstance(where, str):
            ensure_expression_columns(self._data, where)   # a study frame reads the columns it names
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
                            benchmarks=self._benchmarks, study=self.study, cycle=self.cycle, domain=self._domain,
                            fpc=self._fpc, lonely_psu=self._lonely_psu)

    # -- variables ----------------------------------------------------------------------
    def resolve(self, name: str, argument: str = "variables") -> tuple[str, ...]:
        """Columns behind a name: the PV columns of a PV set, or the column itself."""
        check_name(name, argument)
        if name in self._pvs:
            return self._pvs[name]
        if has_column(self._data, name):               # a study frame reads it from its files here
            return (name,)
        import difflib

        close = difflib.get_close_matches(name, list(self._pvs) + [str(c) for c in self._data.columns], n=3)
        raise DesignError(f"{argument}: {name!r} is neither a column nor a plausible-value set"
                          + (f" (did you mean {close}?)" if close else "")
                          + f"; PV sets: {list(self._pvs)}; columns include {short(list(self._data.columns))}.")

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
        elif self.variance_method == "taylor":
            psu = next(iter(self._ids.values()), "rows")
            lines.append(f"  variance: Taylor linearisation over {psu}"
                         + (f" within strata {self._strata}" if self._strata else "")
                         + (f", fpc {self._fpc}" if self._fpc else "") + f", lonely_psu={self._lonely_psu!r}")
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
                check_constant_within(self._data, self._ids[level], col, level)




design_from_study = dictionaries.design_from_study = SurveyDesign.from_study  # old home kept; it never imports us
