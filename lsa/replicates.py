"""Replicate-weight schemes and the one replicate-variance function.

Every scheme reduces to a matrix of replicate weights ``W_r`` (n × R) and a variance factor ``c``:

    V(θ) = c · Σ_r (θ_r − θ)(θ_r − θ)'          (centred on the full-sample estimate θ,
                                                   as survey's ``mse = TRUE`` and the study manuals)

| scheme | factor c | used by |
|---|---|---|
| Fay BRR with coefficient k | 1 / (R (1 − k)²)  (PISA: R = 80, k = 0.5 → 1/20) | PISA, TALIS (R = 100 → 1/25) |
| BRR | 1 / R | |
| JK1 | (R − 1) / R | some PIAAC countries |
| JK2, one half per zone | 1 | TIMSS/PIRLS ≤ 2011, ICILS, ICCS, most PIAAC countries |
| JK2, both halves | 1/2 | TIMSS 2015+, PIRLS 2016+ |
| bootstrap | 1 / (R − 1) | |

JK2 replicates can be built from the zone/replicate indicators shipped by IEA studies
(``JKZONE``, ``JKREP``): replicate h multiplies the full weight by 2·JKREP inside zone h and
leaves other zones unchanged; with ``both_halves`` the complementary replicate 2·(1 − JKREP)
follows (TIMSS User Guide, ch. 8; Foy & LaRoche).

Several countries in one design (independent national samples)
---------------------------------------------------------------
IEA zones (``JKZONE``) and the replicate columns of PISA/PIAAC are numbered within each country:
replicate h of a pooled file perturbs zone h of *every* country at once, so a pooled estimate
would pick up cross-country products. :meth:`Replicates.within` nests a scheme within a country
column: country c's replicates perturb country c's rows only (full weight elsewhere), so zone h
of country c and zone h of country d are separate replicates (as IEA's IDB Analyzer and
ILSAstats do) and there are Σ_c R_c replicates. With each country's own factors c_r,

    V(θ) = Σ_c Σ_{r ∈ c} c_r (θ_r − θ)(θ_r − θ)'        (survey's ``rscales``)

which, for a total, is Σ_c V_c: the variance of independent national samples. A country's
estimate is unchanged (its rows keep their weights under the other countries' replicates, so
those replicates add 0), and so is its df. :meth:`Replicates.by_country` gives every country a
scheme of its own (PIAAC: ``VEMETHOD``/``VENREPS``/``VEFAYFAC`` per respondent, JK1 and JK2 in one
file, as Rrepest's PIAAC set-up). The design df of a nested scheme is Σ_c df_c.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import DesignError
from .validation import check_choice, check_number

Method = Literal["fay", "brr", "jk1", "jk2", "bootstrap", "custom", "by_country"]
METHODS = ("fay", "brr", "jk1", "jk2", "bootstrap", "custom", "by_country")


@dataclass(frozen=True, eq=False)
class ReplicateBlock:
    """The replicates of one country (or, not nested, of the whole data).

    label : the country value (None when not nested).
    rows : row positions the block perturbs (None: every row).
    weights : (rows, R_c) replicate weights of those rows; other rows keep the full weight.
    factors : (R_c,) variance factor of each replicate.
    df : the block's design df (zones, or R_c − 1).
    """

    label: Any
    rows: np.ndarray | None
    weights: np.ndarray
    factors: np.ndarray
    df: float


@dataclass(frozen=True)
class Replicates:
    """How replicate weights are obtained and how their spread becomes a variance.

    Build one with the class methods :meth:`fay`, :meth:`brr`, :meth:`jk1`, :meth:`jk2`,
    :meth:`bootstrap` or :meth:`custom`.

    Attributes
    ----------
    method : the scheme name.
    columns : replicate-weight columns shipped with the data (empty when built from zones).
    factor : the variance factor c in V = c Σ_r (θ_r − θ)².
    k : Fay coefficient (Fay BRR only).
    zone, rep : zone and half-indicator columns (JK2 built from zones).
    both_halves : JK2 from zones: also build the complementary replicate of every zone.
    country : replicates nested within this column (:meth:`within`, :meth:`by_country`).
    schemes : ``by_country``: (country value, scheme) pairs.
    rscales : per-replicate factors c_r (one per column; survey's ``rscales``, e.g. (n_h − 1)/n_h
        of a stratified jackknife); empty: every replicate has ``factor``.
    """

    method: Method
    columns: tuple[str, ...] = ()
    factor: float = 1.0
    k: float | None = None
    zone: str | None = None
    rep: str | None = None
    both_halves: bool = False
    country: str | None = None
    schemes: tuple[tuple[Any, "Replicates"], ...] = ()
    rscales: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_choice(self.method, list(METHODS), "Replicates: method")
        if self.method != "by_country" and not self.rscales:
            check_number(self.factor, f"Replicates.{self.method}: factor", low=0, low_open=True)
        if not isinstance(self.both_halves, (bool, np.bool_)):
            raise DesignError(f"Replicates.{self.method}: both_halves must be True or False; got {self.both_halves!r}.")

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def fay(cls, columns: Sequence[str], k: float = 0.5, factor: float | None = None) -> "Replicates":
        """Fay's balanced repeated replication: c = 1 / (R (1 − k)²) (PISA: 1/20); 0 ≤ k < 1."""
        cols = _columns(columns, "fay")
        check_number(k, "Replicates.fay: Fay coefficient k", low=0, high=1, high_open=True)
        c = 1.0 / (len(cols) * (1.0 - k) ** 2) if factor is None else _factor(factor, "fay")
        return cls("fay", cols, c, k=float(k))

    @classmethod
    def brr(cls, columns: Sequence[str]) -> "Replicates":
        """Balanced repeated replication: c = 1 / R."""
        cols = _columns(columns, "brr")
        return cls("brr", cols, 1.0 / len(cols))

    @classmethod
    def jk1(cls, columns: Sequence[str], factor: float | None = None) -> "Replicates":
        """Delete-one-group jackknife: c = (R − 1) / R."""
        cols = _columns(columns, "jk1")
        c = (len(cols) - 1) / len(cols) if factor is None else _factor(factor, "jk1")
        return cls("jk1", cols, c)

    @classmethod
    def jk2(
        cls,
        columns: Sequence[str] | None = None,
        *,
        zone: str | None = None,
        rep: str | None = None,
        both_halves: bool = False,
        factor: float | None = None,
    ) -> "Replicates":
        """Paired jackknife (JK2), from shipped replicate columns or from zone/half indicators.

        ``Replicates.jk2(zone="JKZONE", rep="JKREP")`` builds one replicate per zone (factor 1,
        TIMSS/PIRLS up to 2011); ``both_halves=True`` builds both (factor 1/2, TIMSS 2015+).
        """
        if columns is not None and zone is not None:
            raise DesignError("Replicates.jk2: give either replicate columns or zone/rep columns, not both.")
        if columns is not None:
            cols = _columns(columns, "jk2")
            return cls("jk2", cols, 1.0 if factor is None else _factor(factor, "jk2"))
        if zone is None or rep is None:
            raise DesignError("Replicates.jk2: give replicate columns, or both zone= and rep= columns "
                              "(e.g. zone='JKZONE', rep='JKREP').")
        for arg, value in (("zone", zone), ("rep", rep)):
            if not isinstance(value, str):
                raise DesignError(f"Replicates.jk2: {arg} must be a column name (a string); got {value!r}.")
        if not isinstance(both_halves, (bool, np.bool_)):
            raise DesignError(f"Replicates.jk2: both_halves must be True or False; got {both_halves!r}.")
        c = (0.5 if both_halves else 1.0) if factor is None else _factor(factor, "jk2")
        return cls("jk2", (), c, zone=zone, rep=rep, both_halves=both_halves)

    @classmethod
    def bootstrap(cls, columns: Sequence[str], factor: float | None = None) -> "Replicates":
        """Bootstrap replicate weights: c = 1 / (R − 1)."""
        cols = _columns(columns, "bootstrap")
        c = 1.0 / (len(cols) - 1) if factor is None else _factor(factor, "bootstrap")
        return cls("bootstrap", cols, c)

    @classmethod
    def custom(cls, columns: Sequence[str], factor: float | Sequence[float]) -> "Replicates":
        """Any replicate weights with a user-given factor c, or one factor c_r per column."""
        cols = _columns(columns, "custom")
        if np.ndim(factor) == 0:
            return cls("custom", cols, _factor(factor, "custom"))
        rs = tuple(float(_factor(f, "custom")) for f in factor)
        if len(rs) != len(cols):
            raise DesignError(f"Replicates.custom: factor must be one number or one per column ({len(cols)}); "
                              f"got {len(rs)}.")
        return cls("custom", cols, rs[0] if len(set(rs)) == 1 else float("nan"), rscales=rs)

    def _factor_vector(self, r: int) -> np.ndarray:
        return np.asarray(self.rscales, dtype=float) if self.rscales else np.full(r, float(self.factor))

    def within(self, country: str) -> "Replicates":
        """The same scheme nested within each value of the column ``country``: country c's
        replicates perturb its rows only, zone h of two countries are two replicates
        (Σ_c R_c replicates; see the module docstring)."""
        if self.method == "by_country":
            raise DesignError("Replicates.within: a by_country scheme is already nested within "
                              f"{self.country!r}.")
        return replace(self, country=_country_name(country, "Replicates.within: country"))

    @classmethod
    def by_country(cls, country: str, schemes: Mapping[Any, "Replicates"]) -> "Replicates":
        """A scheme per value of ``country`` (e.g. PIAAC: JK2 in one country, JK1 with R = VENREPS
        in another), each nested in its country; every replicate keeps its own country's factor."""
        country = _country_name(country, "Replicates.by_country: country")
        if not isinstance(schemes, Mapping) or not schemes:
            raise DesignError(f"Replicates.by_country: schemes must be a non-empty mapping country value → "
                              f"Replicates; got {type(schemes).__name__} {schemes!r:.60}.")
        for value, sch in schemes.items():
            if not isinstance(sch, Replicates) or sch.country is not None:
                raise DesignError(f"Replicates.by_country: the scheme for {country} = {value!r} must be a plain "
                                  f"lsa.Replicates scheme (not nested); got {sch!r:.80}.")
        fac = {float(s.factor) for s in schemes.values()}
        return cls("by_country", (), fac.pop() if len(fac) == 1 else float("nan"), country=country,
                   schemes=tuple(schemes.items()))

    # -- use ----------------------------------------------------------------------------
    @property
    def nested(self) -> bool:
        """Replicates are nested within the values of :attr:`country`."""
        return self.country is not None

    @property
    def weight_columns(self) -> tuple[str, ...]:
        """The replicate-weight columns read (of every country's scheme for by_country)."""
        if self.schemes:
            return tuple(dict.fromkeys(c for _, s in self.schemes for c in s.columns))
        return self.columns

    @property
    def needed_columns(self) -> tuple[str, ...]:
        """Columns of the data this scheme reads."""
        if self.schemes:
            cols = [c for _, s in self.schemes for c in s.needed_columns]
            return (self.country, *dict.fromkeys(cols))  # type: ignore[return-value]
        own = self.columns if self.columns else (self.zone, self.rep)
        return ((self.country,) if self.country else ()) + own  # type: ignore[return-value]

    def country_schemes(self, data: pd.DataFrame) -> list[tuple[Any, np.ndarray, "Replicates"]]:
        """(country value, row positions, plain scheme) per country of the data, sorted by value;
        an error names the country column and the countries without a scheme."""
        codes, values = _country_codes(data, self.country)
        if self.schemes:
            schemes = dict(self.schemes)
            found = [_lookup(schemes, v) for v in values]
            absent = [v for v, sch in zip(values, found) if sch is None]
            if absent:
                raise DesignError(f"Replicates.by_country: no replicate scheme for {self.country} = "
                                  f"{absent[:5]} (schemes are given for {list(schemes)[:8]}).")
        else:
            found = [replace(self, country=None)] * len(values)
        order = np.argsort(codes, kind="stable")           # each country's rows, in row order: one sort,
        cuts = np.searchsorted(codes[order], np.arange(len(values) + 1))   # not a pass per country
        return [(v, order[cuts[k]:cuts[k + 1]], sch) for k, (v, sch) in enumerate(zip(values, found))]

    def blocks(self, data: pd.DataFrame, full_weight: np.ndarray) -> list[ReplicateBlock]:
        """The replicates per country (one block over all rows when not nested)."""
        if self.country is None:
            w = self._plain_weights(data, full_weight)
            return [ReplicateBlock(None, None, w, self._factor_vector(w.shape[1]), self._plain_df(data))]
        parts = self.country_schemes(data)
        cols = {sch.columns for _, _, sch in parts}
        if len(cols) == 1 and all(sch.columns and sch.zone is None for _, _, sch in parts):
            # every country reads the same columns (PISA's W_FSTURWT1..80): one conversion of them
            # all (a view of the frame's own block when they are floats there), each country's
            # block its rows of it (a view when they are contiguous); read-only use: the design
            # copies each block into its weight matrix
            names = parts[0][2].columns
            shared = data.loc[:, list(names)].to_numpy(dtype=float, na_value=np.nan)
            _check_replicate_values(shared, names)
            return [ReplicateBlock(value, rows, shared[_span(rows)], sch._factor_vector(len(names)),
                                   sch._plain_df(data)) for value, rows, sch in parts]
        out = []
        for value, rows, sch in parts:
            sub = _take(data, rows, sch.needed_columns)
            w = sch._plain_weights(sub, full_weight[rows])
            out.append(ReplicateBlock(value, rows, w, sch._factor_vector(w.shape[1]), sch._plain_df(sub)))
        return out

    def weights(self, data: pd.DataFrame, full_weight: np.ndarray) -> np.ndarray:
        """The n × R matrix of replicate weights (validated: finite and non-negative)."""
        return assemble(self.blocks(data, full_weight), full_weight)

    def factors(self, data: pd.DataFrame) -> np.ndarray:
        """(R,) variance factor of each replicate (all equal to :attr:`factor` unless by_country)."""
        if self.country is None:
            return self._factor_vector(self.n_replicates(data))
        return np.concatenate([sch._factor_vector(sch.n_replicates(_zones_of(data, rows, sch)))
                               for _, rows, sch in self.country_schemes(data)])

    def n_replicates(self, data: pd.DataFrame) -> int:
        if self.country is not None:
            return sum(sch.n_replicates(_zones_of(data, rows, sch))
                       for _, rows, sch in self.country_schemes(data))
        if self.columns:
            return len(self.columns)
        return len(_zones(data, self.zone)) * (2 if self.both_halves else 1)

    def df(self, data: pd.DataFrame) -> float:
        """Design degrees of freedom: R − 1, or the number of zones for JK2 from zones; nested:
        Σ over countries."""
        if self.country is None:
            return self._plain_df(data)
        return float(sum(sch._plain_df(_zones_of(data, rows, sch))
                         for _, rows, sch in self.country_schemes(data)))

    def _plain_weights(self, data: pd.DataFrame, full_weight: np.ndarray) -> np.ndarray:
        if self.columns:
            w = data.loc[:, list(self.columns)].to_numpy(dtype=float)
            _check_replicate_values(w, self.columns)
            return w
        return _jk2_from_zones(data, self.zone, self.rep, self.both_halves, full_weight)

    def _plain_df(self, data: pd.DataFrame) -> float:
        if self.zone is not None:
            return float(data[self.zone].nunique())
        return float(len(self.columns) - 1)

    def describe(self) -> str:
        if self.schemes:
            parts = "; ".join(f"{v}: {s.describe()}" for v, s in self.schemes[:4])
            more = f"; … ({len(self.schemes)} countries)" if len(self.schemes) > 4 else ""
            return f"a scheme per {self.country} value, nested within {self.country} ({parts}{more})"
        name = {"brr": "BRR", "jk1": "JK1", "jk2": "JK2", "bootstrap": "bootstrap",
                "custom": "custom"}.get(self.method) or f"Fay BRR (k = {self.k:g})"
        if self.zone:
            name += f" from {self.zone}/{self.rep}" + (" (both halves)" if self.both_halves else " (one half per zone)")
        nest = f", nested within {self.country}" if self.country else ""
        if self.rscales:
            return f"{name}{nest}, variance factors {min(self.rscales):.6g}–{max(self.rscales):.6g} per replicate"
        return f"{name}{nest}, variance factor {self.factor:.6g}"


def replicate_variance(theta: np.ndarray, theta_rep: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """V = Σ_r c_r (θ_r − θ)(θ_r − θ)' for a stack of statistics (c_r = c for one scheme).

    Parameters
    ----------
    theta : (..., k) full-sample estimates.
    theta_rep : (..., R, k) replicate estimates.
    factor : the scheme's variance factor c, or (R,) factors c_r, one per replicate (countries
        nested with factors of their own; R's ``svrepdesign(scale = 1, rscales = c_r)``).

    Returns
    -------
    (..., k, k) covariance matrices.
    """
    d = theta_rep - theta[..., None, :]
    f = np.asarray(factor, dtype=float)
    if f.ndim == 0:
        return f * np.einsum("...ri,...rj->...ij", d, d)
    if f.shape != (d.shape[-2],):
        raise DesignError(f"replicate_variance: {f.size} factors for {d.shape[-2]} replicates.")
    return np.einsum("...ri,...rj,r->...ij", d, d, f)


def assemble(blocks: Sequence[ReplicateBlock], full_weight: np.ndarray) -> np.ndarray:
    """The n × Σ R_c replicate weights of ``blocks``: each block's rows take its weights, every
    other row keeps the full weight."""
    if len(blocks) == 1 and blocks[0].rows is None:
        return blocks[0].weights
    total = sum(b.weights.shape[1] for b in blocks)
    out = np.repeat(np.asarray(full_weight, dtype=float)[:, None], total, axis=1)
    j = 0
    for b in blocks:
        r = b.weights.shape[1]
        out[b.rows, j:j + r] = b.weights
        j += r
    return out


# -- helpers ------------------------------------------------------------------------------
_NO_ZONES = pd.DataFrame()          # what a scheme of replicate columns reads for its count and df: nothing


def _zones_of(data: pd.DataFrame, rows: np.ndarray, sch: "Replicates") -> pd.DataFrame:
    """What a country's count of replicates and df read: its zones (JK2 from zones), else nothing."""
    return _take(data, rows, (sch.zone, sch.rep)) if sch.zone else _NO_ZONES


def _span(rows: np.ndarray) -> slice | np.ndarray:
    """Sorted row positions as a slice when they are contiguous (a view, no copy), else themselves."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _take(data: pd.DataFrame, rows: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """The rows and columns a country's scheme reads (not a copy of every column of a wide file)."""
    cols = [c for c in dict.fromkeys(columns) if c is not None]
    return data.iloc[rows, data.columns.get_indexer(cols)]


def _columns(columns: Sequence[str], method: str) -> tuple[str, ...]:
    where = f"Replicates.{method}: columns"
    if isinstance(columns, str):
        raise DesignError(f"{where} must be a list of column names, got the string {columns!r}.")
    if not isinstance(columns, (list, tuple, pd.Index, np.ndarray)):
        raise DesignError(f"{where} must be a list of replicate weight column names; got {type(columns).__name__} "
                          f"{columns!r:.60}.")
    cols = tuple(columns)
    bad = [c for c in cols if not isinstance(c, str)]
    if bad:
        raise DesignError(f"{where} must be column names (strings); got {bad[:3]!r}.")
    if len(cols) < 2:
        raise DesignError(f"{where}: at least 2 replicate weight columns are needed; got {len(cols)}.")
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DesignError(f"replicate weight columns are repeated: {dup}.")
    return cols


def _factor(value: float, method: str) -> float:
    return float(check_number(value, f"Replicates.{method}: factor", low=0, low_open=True))


def _check_replicate_values(w: np.ndarray, columns: Sequence[str]) -> None:
    if not w.size or (w.min() >= 0 and w.max() < np.inf):     # two reductions (a NaN fails both tests)
        return
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        raise DesignError(
            f"replicate weight column {columns[j]!r} has {len(rows)} missing, infinite or negative "
            f"values (first rows: {rows[:5].tolist()}, values {w[rows[:5], j].tolist()}).")


def _country_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise DesignError(f"{where} must be the name of the country column (a string, e.g. 'IDCNTRY', 'CNT'); "
                          f"got {value!r}.")
    return value


def _country_codes(data: pd.DataFrame, country: str) -> tuple[np.ndarray, list]:
    """Row codes 0..C−1 and the sorted country values; a missing country is an error."""
    if country not in data.columns:
        raise DesignError(f"replicates nested within country column {country!r}, which is not in the data.")
    col = data[country]
    if col.isna().any():
        rows = np.flatnonzero(col.isna().to_numpy())
        raise DesignError(f"country column {country!r} (replicates are nested within it) has {len(rows)} missing "
                          f"values (rows {rows[:5].tolist()}); every row needs its country.")
    codes, values = pd.factorize(col, sort=True)
    return codes, list(values)


def _lookup(schemes: Mapping, value: Any) -> "Replicates | None":
    """The scheme of a country value (keys compared as given, then as text: 152 and '152'); None without one."""
    if value in schemes:
        return schemes[value]
    return next((s for k, s in schemes.items() if str(k) == str(value)), None)


def _zones(data: pd.DataFrame, zone: str) -> np.ndarray:
    z = data[zone]
    if z.isna().any():
        raise DesignError(f"zone column {zone!r} has {int(z.isna().sum())} missing values.")
    return np.unique(z.to_numpy())


def _jk2_from_zones(data: pd.DataFrame, zone: str, rep: str, both: bool, w: np.ndarray) -> np.ndarray:
    z = data[zone].to_numpy()
    r = data[rep].to_numpy()
    if pd.isna(r).any() or not np.isin(r, (0, 1)).all():
        bad = pd.unique(r[pd.isna(r) | ~np.isin(r, (0, 1))])[:5]
        raise DesignError(f"replicate indicator column {rep!r} must be 0 or 1; found {bad.tolist()}.")
    zones = _zones(data, zone)
    inzone = z[:, None] == zones[None, :]                       # n × H
    half = np.where(inzone, 2.0 * r[:, None], 1.0)              # JKREP = 1 doubled, 0 dropped
    reps = [w[:, None] * half]
    if both:
        reps.append(w[:, None] * np.where(inzone, 2.0 * (1 - r[:, None]), 1.0))
    return np.concatenate(reps, axis=1)
