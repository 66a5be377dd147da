"""``Imputed``: a sequence of completed data sets tagged with plausible-value and imputation number.

The pipeline (:func:`lsa.impute.impute`) returns one; users who imputed elsewhere (Blimp, mice,
mitml, Stata) build one with :func:`from_long` or :meth:`Imputed.from_frames`. Everything
downstream (:func:`lsa.impute.analyze`, :func:`lsa.impute.pool`, ``lsa.mix_pv``) takes it, or
simply the list of DataFrames it iterates over.

Data sets are ordered PV-major, as in Huang & Keller (2025): (PV 1, imp 1), (PV 1, imp 2), …,
(PV 2, imp 1), … The pipeline stores only the imputed cells and builds each DataFrame on access,
so 10 × 20 completed copies of a large file do not have to sit in memory at once.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import LsaError, MissingDataWarning, warn
from ..validation import check_frame, check_name, numeric_column

__all__ = ["Fill", "Imputed", "from_long"]


@dataclass(frozen=True)
class Fill:
    """Imputed cells of one column in one data set: row positions and values (category codes
    for categorical columns)."""

    rows: np.ndarray
    values: np.ndarray


class Imputed(Sequence[pd.DataFrame]):
    """M × m completed data sets (M plausible values, m imputations per PV).

    Iterating yields DataFrames (every original row, the original column order, categorical
    columns as pandas ``category``); ``imputed[k]`` is the k-th set (PV-major order).

    Attributes
    ----------
    pv_index, imp_index : (M·m,) 1-based PV and imputation numbers of each data set (PV 1
        throughout when there are no plausible values).
    pv_column : with plausible values, the column that holds the PV the set was imputed with
        (e.g. ``"math"``; analyse ``"math ~ ..."``); None otherwise.
    pv_columns : the original PV columns (PV p is ``pv_columns[p-1]``), or ().
    variables : the columns in the imputation model (level 1 and level 2, weight, outcome).
    imputed_variables : the columns that had missing values and were imputed.
    cluster, level2, weight : the specification used.
    trace : :class:`lsa.impute.convergence.Trace` of the chains (None for user imputations).
    info : dict of notes (seed, iterations, run time, cells filled within clusters, ...).
    design : the :class:`lsa.SurveyDesign` imputed, if one was given (see :meth:`designs`).
    """

    def __init__(self, *, base: pd.DataFrame | None = None, fills: Sequence[dict[str, Fill]] | None = None,
                 frames: Sequence[pd.DataFrame] | None = None, pv_index: Sequence[int] | None = None,
                 imp_index: Sequence[int] | None = None, pv_column: str | None = None,
                 pv_columns: Sequence[str] = (), variables: Sequence[str] = (),
                 imputed_variables: Sequence[str] = (), cluster: str | None = None,
                 level2: Sequence[str] = (), weight: str | None = None, trace: Any = None,
                 info: dict | None = None, design: Any = None,
                 dtypes: dict[str, Any] | None = None) -> None:
        if (frames is None) == (base is None):
            raise LsaError("Imputed needs either frames= or base= with fills=.")
        n = len(frames) if frames is not None else len(fills or [])
        if n == 0:
            raise LsaError("Imputed needs at least one completed data set.")
        self._frames = list(frames) if frames is not None else None
        self._base = base
        self._fills = list(fills) if fills is not None else None
        self._dtypes = dict(dtypes or {})
        self.pv_index = np.asarray(pv_index if pv_index is not None else np.ones(n), dtype=int)
        self.imp_index = np.asarray(imp_index if imp_index is not None else np.arange(1, n + 1), dtype=int)
        if self.pv_index.shape != (n,) or self.imp_index.shape != (n,):
            raise LsaError(f"pv_index and imp_index need one entry per data set ({n}); got "
                           f"{self.pv_index.shape} and {self.imp_index.shape}.")
        pairs = set(zip(self.pv_index.tolist(), self.imp_index.tolist()))
        if len(pairs) != n:
            raise LsaError("pv_index/imp_index pairs must be unique: a (PV, imputation) pair occurs twice.")
        self.pv_column = pv_column
        self.pv_columns = tuple(pv_columns)
        self.variables = tuple(variables)
        self.imputed_variables = tuple(imputed_variables)
        self.cluster = cluster
        self.level2 = tuple(level2)
        self.weight = weight
        self.trace = trace
        self.info = dict(info or {})
        self.design = design

    # -- construction from user imputations ------------------------------------------------
    @classmethod
    def from_frames(cls, frames: Sequence[pd.DataFrame], pv_index: Sequence[int] | None = None,
                    imp_index: Sequence[int] | None = None, **kwargs: Any) -> "Imputed":
        """Wrap a list of completed DataFrames (all with the same columns and rows)."""
        if isinstance(frames, pd.DataFrame):
            raise LsaError("frames must be a list of completed pandas DataFrames; got one DataFrame (a single "
                           "data set: nothing to pool).")
        if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
            raise LsaError(f"frames must be a non-empty list of completed pandas DataFrames; got "
                           f"{type(frames).__name__}.")
        frames = list(frames)
        if not frames or not all(isinstance(f, pd.DataFrame) for f in frames):
            bad = next((type(f).__name__ for f in frames if not isinstance(f, pd.DataFrame)), "an empty list")
            raise LsaError(f"frames must be a non-empty list of pandas DataFrames; got {bad}.")
        for k, f in enumerate(frames, start=1):
            check_frame(f, f"completed data set {k}")
        cols = list(frames[0].columns)
        for k, f in enumerate(frames[1:], start=2):
            if list(f.columns) != cols:
                raise LsaError(f"completed data set {k} has columns {list(f.columns)[:8]}… but data set 1 has "
                               f"{cols[:8]}…; all data sets must have the same columns.")
            if len(f) != len(frames[0]):
                raise LsaError(f"completed data set {k} has {len(f)} rows but data set 1 has {len(frames[0])}.")
        return cls(frames=frames, pv_index=pv_index, imp_index=imp_index, **kwargs)

    # -- sequence protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else len(self._fills)

    def __getitem__(self, k):  # type: ignore[override]
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = int(k)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(f"data set {k} out of range (there are {len(self)}).")
        if self._frames is not None:
            return self._frames[k]
        return self._build(k)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for k in range(len(self)):
            yield self[k]

    def _build(self, k: int) -> pd.DataFrame:
        df = self._base.copy()
        for col, fill in self._fills[k].items():
            s = df[col]
            if isinstance(s.dtype, pd.CategoricalDtype):
                codes = s.cat.codes.to_numpy().copy()
                codes[fill.rows] = fill.values
                df[col] = pd.Categorical.from_codes(codes, dtype=s.dtype)
            else:
                v = s.astype("float64").to_numpy(copy=True)
                v[fill.rows] = fill.values
                df[col] = v
        if self.pv_column is not None:
            df[self.pv_column] = df[self.pv_columns[self.pv_index[k] - 1]].to_numpy(dtype=float)
        return df

    # -- views ---------------------------------------------------------------------------------
    @property
    def n_pvs(self) -> int:
        """Number of distinct plausible values (1 without PVs)."""
        return len(np.unique(self.pv_index))

    @property
    def n_imputations(self) -> int:
        """Imputations per plausible value (the largest count when unbalanced)."""
        return int(pd.Series(self.pv_index).value_counts().max())

    @property
    def shape(self) -> tuple[int, int]:
        """(M plausible values, m imputations per PV)."""
        return self.n_pvs, self.n_imputations

    @property
    def is_grid(self) -> bool:
        """Every PV has the same imputation numbers (needed for nested pooling)."""
        sets = pd.Series(self.imp_index).groupby(self.pv_index).apply(lambda s: tuple(sorted(s)))
        return sets.nunique() == 1

    def items(self) -> Iterator[tuple[int, int, pd.DataFrame]]:
        """(pv, imp, DataFrame) triples."""
        for k in range(len(self)):
            yield int(self.pv_index[k]), int(self.imp_index[k]), self[k]

    def frames(self) -> list[pd.DataFrame]:
        """All completed data sets as a list (materialises them)."""
        return list(self)

    def by_pv(self) -> list[list[pd.DataFrame]]:
        """Nested list: one inner list of m data sets per plausible value."""
        return [[self[k] for k in np.flatnonzero(self.pv_index == p)] for p in np.unique(self.pv_index)]

    def long(self, pv: str = ".pv", imp: str = ".imp", implist: str | None = None) -> pd.DataFrame:
        """All data sets stacked (rows PV-major), with ``pv`` and ``imp`` index columns
        (``implist``: optionally also the running number 1..M·m, as Huang's ``.implist``)."""
        parts = []
        for k, (p, i, df) in enumerate(self.items(), start=1):
            df = df.copy()
            df[pv] = p
            df[imp] = i
            if implist:
                df[implist] = k
            parts.append(df)
        return pd.concat(parts, ignore_index=True)

    def designs(self, design: Any = None) -> list:
        """Completed :class:`lsa.SurveyDesign` objects: the design given (or the one imputed) with
        its data replaced by each completed data set (ids, weights, PV sets, replicates, domain
        unchanged)."""
        design = design if design is not None else self.design
        if design is None:
            raise LsaError("no design to complete: pass design= (an lsa.SurveyDesign on the original data).")
        return [design.with_data(df) for df in self]

    def __repr__(self) -> str:
        m, n = self.shape
        what = f"{m} PV × {n} imputations" if self.pv_column else f"{n} imputations"
        rows = len(self._base) if self._base is not None else len(self._frames[0])
        imp = ", ".join(self.imputed_variables) or "(none recorded)"
        return f"<Imputed: {len(self)} completed data sets ({what}) of {rows} rows; imputed: {imp}>"


def from_long(df: pd.DataFrame, imp: str = ".imp", pv: str | None = None, *, original: int | None = 0,
              drop: Sequence[str] = (".id",), **kwargs: Any) -> Imputed:
    """Completed data sets from a long (stacked) DataFrame, e.g. ``mice::complete(imp, "long")``,
    Blimp/rblimp via ``as.mitml``, or Huang's stacked ``impdat``.

    Parameters
    ----------
    df : stacked completed data sets, each with the same rows in the same order.
    imp : column with the imputation number (mice: ``.imp``; Huang: ``.implist``).
    pv : optional column with the plausible-value number (imputations nested in PVs).
    original : the imputation number that marks the incomplete original data (mice
        ``include = TRUE`` writes it as imputation 0); those rows are excluded with a warning.
        None: keep every imputation number.
    drop : further index columns to remove if present (mice's ``.id``).
    kwargs : passed to :class:`Imputed` (``pv_column``, ``pv_columns``, ``variables``, ...).
    """
    check_frame(df, "df")
    check_name(imp, "imp")
    if pv is not None:
        check_name(pv, "pv")
    if original is not None and (isinstance(original, bool) or not isinstance(original, numbers.Integral)):
        raise LsaError(f"original must be None or the imputation number of the original data (an integer); got "
                       f"{original!r} ({type(original).__name__}).")
    drop = [drop] if isinstance(drop, str) else drop
    if not isinstance(drop, (list, tuple)) or not all(isinstance(c, str) for c in drop):
        raise LsaError(f"drop must be a column name or a list of column names; got {drop!r}.")
    for arg, col in [("imp", imp)] + ([("pv", pv)] if pv else []):
        if col not in df.columns:
            raise LsaError(f"{arg}: index column {col!r} is not in the data; columns are {list(df.columns)[:12]}.")
        if df[col].isna().any():
            raise LsaError(f"{arg}: index column {col!r} has {int(df[col].isna().sum())} missing values.")
        if not pd.api.types.is_numeric_dtype(df[col].dtype) or pd.api.types.is_bool_dtype(df[col].dtype):
            raise LsaError(f"{arg}: index column {col!r} must hold imputation/PV numbers (integers); got dtype "
                           f"{df[col].dtype} (e.g. {df[col].iloc[:3].tolist()}).")
        values = numeric_column(df, col, arg)           # inf: an error naming the column
        if (values != np.round(values)).any():
            raise LsaError(f"{arg}: index column {col!r} holds non-integer numbers (e.g. "
                           f"{values[values != np.round(values)][:3].tolist()}); imputation and PV numbers are "
                           f"integers.")
    if original is not None and (df[imp] == original).any():
        warn(f"rows with {imp} == {original} (the incomplete original data) are excluded "
             f"({int((df[imp] == original).sum())} rows).", MissingDataWarning)
        df = df.loc[df[imp] != original]
        if len(df) == 0:
            raise LsaError(f"df holds only the original data ({imp} == {original}); no completed data set is left.")
    keys = [pv, imp] if pv else [imp]
    groups = list(df.groupby(keys, sort=True, observed=True))
    dropcols = [c for c in keys + list(drop) if c in df.columns]
    frames, pvs, imps = [], [], []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        frames.append(g.drop(columns=dropcols).reset_index(drop=True))
        pvs.append(int(key[0]) if pv else 1)
        imps.append(int(key[-1]))
    sizes = {len(f) for f in frames}
    if len(sizes) > 1:
        raise LsaError(f"the completed data sets have different numbers of rows {sorted(sizes)}; each "
                       f"({'PV, ' if pv else ''}imputation) group must hold the same rows.")
    if not pv:  # renumber 1..m in order
        imps = list(range(1, len(frames) + 1)) if len(set(imps)) != len(imps) else imps
    return Imputed.from_frames(frames, pv_index=pvs, imp_index=imps, **kwargs)
