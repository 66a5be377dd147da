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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from .errors import DesignError
from .validation import check_choice, check_number

Method = Literal["fay", "brr", "jk1", "jk2", "bootstrap", "custom"]


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
    """

    method: Method
    columns: tuple[str, ...] = ()
    factor: float = 1.0
    k: float | None = None
    zone: str | None = None
    rep: str | None = None
    both_halves: bool = False

    def __post_init__(self) -> None:
        check_choice(self.method, ["fay", "brr", "jk1", "jk2", "bootstrap", "custom"], "Replicates: method")
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
    def custom(cls, columns: Sequence[str], factor: float) -> "Replicates":
        """Any replicate weights with a user-given factor c."""
        return cls("custom", _columns(columns, "custom"), _factor(factor, "custom"))

    # -- use ----------------------------------------------------------------------------
    @property
    def needed_columns(self) -> tuple[str, ...]:
        """Columns of the data this scheme reads."""
        return self.columns if self.columns else (self.zone, self.rep)  # type: ignore[return-value]

    def weights(self, data: pd.DataFrame, full_weight: np.ndarray) -> np.ndarray:
        """The n × R matrix of replicate weights (validated: finite and non-negative)."""
        if self.columns:
            w = data.loc[:, list(self.columns)].to_numpy(dtype=float)
            _check_replicate_values(w, self.columns)
            return w
        return _jk2_from_zones(data, self.zone, self.rep, self.both_halves, full_weight)

    def n_replicates(self, data: pd.DataFrame) -> int:
        if self.columns:
            return len(self.columns)
        zones = _zones(data, self.zone)
        return len(zones) * (2 if self.both_halves else 1)

    def describe(self) -> str:
        name = {"brr": "BRR", "jk1": "JK1", "jk2": "JK2", "bootstrap": "bootstrap",
                "custom": "custom"}.get(self.method) or f"Fay BRR (k = {self.k:g})"
        if self.zone:
            name += f" from {self.zone}/{self.rep}" + (" (both halves)" if self.both_halves else " (one half per zone)")
        return f"{name}, variance factor {self.factor:.6g}"


def replicate_variance(theta: np.ndarray, theta_rep: np.ndarray, factor: float) -> np.ndarray:
    """V = c Σ_r (θ_r − θ)(θ_r − θ)' for a stack of statistics.

    Parameters
    ----------
    theta : (..., k) full-sample estimates.
    theta_rep : (..., R, k) replicate estimates.
    factor : the scheme's variance factor c.

    Returns
    -------
    (..., k, k) covariance matrices.
    """
    d = theta_rep - theta[..., None, :]
    return factor * np.einsum("...ri,...rj->...ij", d, d)


# -- helpers ------------------------------------------------------------------------------
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
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        raise DesignError(
            f"replicate weight column {columns[j]!r} has {len(rows)} missing, infinite or negative "
            f"values (first rows: {rows[:5].tolist()}, values {w[rows[:5], j].tolist()}).")


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
