"""Taylor-series linearisation: the sampling variance of a design without replicate weights.

A statistic θ̂ = θ(w) of the weights is, to first order, a weighted total of its *linearised*
values (influence values) ``z_i = w_i ∂θ/∂w_i``:  θ̂ − θ ≈ Σ_i z_i (Binder 1983; Woodruff 1971).
Its variance under with-replacement sampling of the first-stage units (PSUs: the top-level id of
the design, e.g. schools) within strata is the variance of a total of the PSU totals
``z_hj = Σ_{i ∈ PSU j of stratum h} z_i``:

    V(θ̂) = Σ_h (1 − f_h) n_h / (n_h − 1) Σ_j (z_hj − z̄_h)(z_hj − z̄_h)'

with n_h the number of PSUs in stratum h, z̄_h their mean and f_h the first-stage sampling
fraction (1 − f_h = 1 without a finite-population correction). This is ``survey::svyrecvar``
for ``svydesign(ids = ~PSU, strata = ~STRATUM, weights = ~w, fpc = ~N_h)`` with the default
``survey.ultimate.cluster`` (Lumley 2010, §2.2 and appendix C). PSUs are taken as nested
within strata (``nest = TRUE``); the design df is the number of PSUs − the number of strata
(``survey::degf``).

A stratum with one PSU (a *lonely* PSU) has no within-stratum variance; ``lonely_psu`` chooses
survey's rule (``options(survey.lonely.psu = )``):

| rule | the stratum contributes |
|---|---|
| ``"fail"`` | an error naming the stratum (survey's default) |
| ``"remove"``, ``"certainty"`` | 0 |
| ``"adjust"`` | (1 − f_h) z_h z_h', the PSU centred at the grand mean 0 of the linearised values |
| ``"average"`` | nothing, and the sum over the other strata is scaled by H / (H − lonely strata) |

Estimators supply the linearised values through :attr:`lsa.estimators.Draws.influence`
(:mod:`lsa.estimators.influence` states the protocol and the formulas per estimator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import DesignError
from .validation import check_choice

LonelyPsu = Literal["fail", "remove", "adjust", "certainty", "average"]
LONELY_PSU = ("fail", "remove", "adjust", "certainty", "average")


def check_lonely_psu(value: Any) -> str:
    """``value`` if it is one of :data:`LONELY_PSU`, else a :class:`~lsa.errors.DesignError`."""
    return check_choice(value, list(LONELY_PSU), "lonely_psu")


@dataclass(frozen=True, eq=False)
class TaylorStructure:
    """The first stage of a design, ready for :func:`taylor_variance`.

    order : (n,) row positions sorted by PSU (PSUs numbered within strata, strata in order).
    starts : (P,) position in ``order`` where each PSU's rows begin.
    stratum_of_psu : (P,) stratum number 0..H−1 of each PSU (non-decreasing).
    n_psu : (H,) PSUs per stratum.   fraction : (H,) 1 − f_h (1 without an fpc).
    strata : (H,) stratum labels.    lonely_psu : the rule for strata with one PSU.
    """

    order: np.ndarray
    starts: np.ndarray
    stratum_of_psu: np.ndarray
    n_psu: np.ndarray
    fraction: np.ndarray
    strata: tuple
    lonely_psu: str
    psu_column: str | None
    strata_column: str | None

    @property
    def n_psus(self) -> int:
        return int(self.n_psu.sum())

    @property
    def df(self) -> float:
        """Number of PSUs − number of strata (``survey::degf``)."""
        return float(self.n_psus - len(self.n_psu))

    @property
    def lonely(self) -> list:
        """Labels of the strata holding a single PSU."""
        return [s for s, k in zip(self.strata, self.n_psu) if k == 1]

    def describe(self) -> str:
        st = f" in {len(self.n_psu)} strata ({self.strata_column})" if self.strata_column else ""
        fpc = ", finite-population correction" if np.any(self.fraction < 1) else ""
        lone = f", {len(self.lonely)} strata with one PSU ({self.lonely_psu!r})" if self.lonely else ""
        return (f"Taylor linearisation: {self.n_psus} PSUs ({self.psu_column or 'rows'}){st}, with-replacement "
                f"first stage{fpc}{lone}, df {self.df:g}")


def _codes(data: pd.DataFrame, column: str | None, what: str) -> tuple[np.ndarray, list]:
    if column is None:
        return np.zeros(len(data), dtype=np.int64), [None]
    col = data[column]
    if col.isna().any():
        rows = np.flatnonzero(col.isna().to_numpy())
        raise DesignError(f"{what} column {column!r} has {len(rows)} missing values (rows {rows[:5].tolist()}); "
                          f"Taylor linearisation needs every row's {what}.")
    codes, labels = pd.factorize(col, sort=True)
    return codes.astype(np.int64), list(labels)


def taylor_structure(data: pd.DataFrame, psu: str | None, strata: str | None = None, fpc: str | None = None,
                     lonely_psu: str = "fail") -> TaylorStructure:
    """The first-stage structure of ``data``: PSUs ``psu`` (None: every row is a PSU) nested within
    ``strata`` (None: one stratum), with ``fpc`` a column holding per stratum either the number of
    PSUs in the population (values > 1) or the first-stage sampling fraction (values ≤ 1), as
    ``survey::svydesign(fpc = )``. ``lonely_psu="fail"`` raises here for a stratum with one PSU."""
    lonely_psu = check_lonely_psu(lonely_psu)
    h, labels = _codes(data, strata, "stratum")
    p = np.arange(len(data), dtype=np.int64) if psu is None else _codes(data, psu, "PSU")[0]
    pair = h * (int(p.max()) + 1) + p                       # PSU nested within stratum
    psu_code = np.unique(pair, return_inverse=True)[1].reshape(-1)
    order = np.argsort(psu_code, kind="stable")
    sorted_codes = psu_code[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    stratum_of_psu = h[order][starts]
    n_psu = np.bincount(stratum_of_psu, minlength=len(labels))
    fraction = _fraction(data, fpc, h, n_psu, labels, strata)
    out = TaylorStructure(order, starts, stratum_of_psu, n_psu, fraction, tuple(labels), lonely_psu, psu, strata)
    if lonely_psu == "fail" and out.lonely:
        raise DesignError(f"lonely_psu='fail': stratum {strata} = {out.lonely[:5]} has only one PSU "
                          f"({len(out.lonely)} such strata); choose lonely_psu= one of {list(LONELY_PSU[1:])} "
                          f"(as survey's options(survey.lonely.psu = ...)) or merge the stratum with another.")
    return out


def _fraction(data, fpc, h, n_psu, labels, strata) -> np.ndarray:
    """1 − f_h per stratum from the fpc column (population PSUs N_h > 1, or a fraction ≤ 1)."""
    if fpc is None:
        return np.ones(len(n_psu))
    from .validation import numeric_column

    v = numeric_column(data, fpc, "fpc")
    if np.isnan(v).any() or (v <= 0).any():
        bad = np.flatnonzero(np.isnan(v) | (v <= 0))
        raise DesignError(f"fpc column {fpc!r} has {len(bad)} missing or non-positive values (rows "
                          f"{bad[:5].tolist()}); it must hold the population number of PSUs (or the sampling "
                          f"fraction) of each stratum.")
    lo, hi = np.full(len(n_psu), np.inf), np.full(len(n_psu), -np.inf)
    np.minimum.at(lo, h, v)
    np.maximum.at(hi, h, v)
    if np.any(lo != hi):
        s = labels[int(np.flatnonzero(lo != hi)[0])]
        raise DesignError(f"fpc column {fpc!r} is not constant within stratum {strata} = {s!r}; give one "
                          f"value per stratum.")
    if np.all(lo <= 1):
        return 1.0 - lo                                         # sampling fractions
    if np.any(lo < n_psu):
        k = int(np.flatnonzero(lo < n_psu)[0])
        raise DesignError(f"fpc column {fpc!r}: stratum {labels[k]!r} has {int(n_psu[k])} sampled PSUs but a "
                          f"population of {lo[k]:g}; the population number of PSUs cannot be smaller.")
    return (lo - n_psu) / lo


def psu_totals(influence: np.ndarray, structure: TaylorStructure) -> np.ndarray:
    """(..., P, k) sums of the (..., n, k) linearised values over the rows of each PSU."""
    return np.add.reduceat(np.take(influence, structure.order, axis=-2), structure.starts, axis=-2)


def taylor_variance(influence: np.ndarray, structure: TaylorStructure) -> np.ndarray:
    """V = Σ_h (1 − f_h) n_h/(n_h − 1) Σ_j (z_hj − z̄_h)(z_hj − z̄_h)' (see the module docstring).

    influence : (..., n, k) linearised values, rows aligned with the data (NaN-free; rows outside
    a domain or group hold 0). Returns (..., k, k).
    """
    z = psu_totals(np.asarray(influence, dtype=float), structure)            # (..., P, k)
    s = structure
    h = s.stratum_of_psu
    sums = np.add.reduceat(z, np.flatnonzero(np.r_[True, h[1:] != h[:-1]]), axis=-2)   # (..., H', k)
    present = np.unique(h)
    means = np.zeros(z.shape[:-2] + (len(s.n_psu), z.shape[-1]))
    means[..., present, :] = sums / s.n_psu[present][:, None]
    n_h = s.n_psu[h].astype(float)
    lonely = n_h == 1
    centre = means[..., h, :]
    if s.lonely_psu == "adjust":
        centre = np.where(lonely[:, None], 0.0, centre)        # lonely PSU centred at 0
    d = z - centre
    scale = s.fraction[h] * np.where(lonely, 1.0, n_h / np.maximum(n_h - 1, 1))
    if s.lonely_psu == "average":
        scale = np.where(lonely, 0.0, scale)
    v = np.einsum("...pi,...pj,p->...ij", d, d, scale)
    if s.lonely_psu == "average" and lonely.any():
        n_strata = len(s.n_psu)
        v = v * n_strata / (n_strata - int((s.n_psu == 1).sum()))
    return v
