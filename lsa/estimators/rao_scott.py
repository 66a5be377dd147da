"""Rao–Scott corrections of Pearson's χ² test of independence in a two-way table under a complex
design, as ``survey::svychisq`` computes them (Rao & Scott 1981, 1984; Thomas & Rao 1987;
Lumley 2010, sec. 6.2).

For an r × c table with estimated cell proportions p (row-major, length rc) and their design
covariance V (here the replicate covariance), n the number of observations and ν the design df:

    X²  = n Σ_ij (p_ij − p_i· p_·j)² / (p_i· p_·j)                    Pearson on the table scaled to n
    C   = (I − X₁(X₁'X₁)⁻¹X₁') X₁₂                                     the (r−1)(c−1) interaction
                                                                         contrasts, X₁ the main-effects
                                                                         matrix of the cells
    Δ   = (C' D⁻ C / n)⁻¹ (C' D⁻ V D⁻ C),  D⁻ = diag(1/p_ij, 0 where p_ij = 0)   design-effect matrix
    δ̄   = tr(Δ) / k,  k = (r − 1)(c − 1)
    d₀  = tr(Δ)² / tr(Δ²)

* first order (``svychisq(statistic = "Chisq")``): X²/δ̄ referred to χ²(k);
* second order (``svychisq(statistic = "F")``): F = X²/tr(Δ) referred to F(d₀, d₀ ν). (X²·d₀/tr(Δ)
  is Rao and Scott's second-order χ² = X² / (δ̄ (1 + â²)) on d₀ = k / (1 + â²) df.)

A zero cell gets weight 0 in D⁻ (as ``svychisq``): the test is computed, not NaN. Rows or columns
of the table with no weight are dropped before the test (the table is then smaller).

Over plausible values the per-draw statistics are pooled by the D2 rule of Li, Meng, Raghunathan &
Rubin (1991) (:func:`lsa.pooling.lrt_d2`): on the first-order χ²s with k df, and on the
second-order χ²s d₀ₘFₘ with k = mean d₀ₘ. lsa's choice for the second order: the denominator df
is the smaller of the D2 df and mean(d₀) ν, so that the design's finite df still bounds it (no
published rule pools Rao–Scott F tests; RALSA and EdSurvey test background variables only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from ..pooling import lrt_d2
from ..results import WaldTest

ORDERS = ("first_order", "second_order")


@dataclass(frozen=True)
class RaoScott:
    """The pieces of one Rao–Scott test (one draw): Pearson's X², tr(Δ), tr(Δ²), k and ν."""

    pearson: float
    trace: float
    trace2: float
    k: int
    nu: float

    @property
    def mean_deff(self) -> float:
        """δ̄ = tr(Δ)/k, the mean generalised design effect."""
        return self.trace / self.k

    @property
    def d0(self) -> float:
        return self.trace ** 2 / self.trace2

    def first_order(self) -> WaldTest:
        stat = self.pearson / self.mean_deff
        return WaldTest(float(stat), float(self.k), np.inf, float(stats.chi2.sf(stat, self.k)),
                        "Rao-Scott first order", Q=float(self.pearson), delta=float(self.mean_deff))

    def second_order(self) -> WaldTest:
        stat, d0 = self.pearson / self.trace, self.d0
        return WaldTest(float(stat), float(d0), float(d0 * self.nu), float(stats.f.sf(stat, d0, d0 * self.nu)),
                        "Rao-Scott second order", Q=float(self.pearson), delta=float(self.mean_deff))

    def test(self, order: str) -> WaldTest:
        return self.first_order() if order == "first_order" else self.second_order()


def used_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the rows and columns of the (r, c) table ``p`` that hold weight."""
    return p.sum(axis=1) > 0, p.sum(axis=0) > 0


def interaction_contrasts(nr: int, nc: int) -> np.ndarray:
    """C: the interaction columns of the saturated model of an nr × nc table (cells row-major)
    made orthogonal to the main effects; shape (nr nc, (nr − 1)(nc − 1))."""
    rows = np.repeat(np.arange(nr), nc)
    cols = np.tile(np.arange(nc), nr)
    x1 = np.column_stack([np.ones(nr * nc)] + [rows == i for i in range(1, nr)]
                         + [cols == j for j in range(1, nc)]).astype(float)
    x12 = np.column_stack([(rows == i) & (cols == j) for j in range(1, nc) for i in range(1, nr)]).astype(float)
    coef, *_ = np.linalg.lstsq(x1, x12, rcond=None)
    return x12 - x1 @ coef


def rao_scott(p: np.ndarray, cov: np.ndarray, n: float, nu: float) -> RaoScott | None:
    """The test pieces for the (r, c) table of cell proportions ``p`` (summing to 1) and the
    (rc, rc) covariance ``cov`` of its row-major cells; ``n`` observations, design df ``nu``.
    Empty rows and columns are dropped; None when fewer than 2 × 2 remain."""
    keep_r, keep_c = used_table(p)
    if keep_r.sum() < 2 or keep_c.sum() < 2:
        return None
    cells = np.outer(keep_r, keep_c).ravel()
    p = p[np.ix_(keep_r, keep_c)]
    v = cov[np.ix_(cells, cells)]
    nr, nc = p.shape
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    pearson = n * float(((p - expected) ** 2 / expected).sum())
    flat = p.ravel()
    inv = np.divide(1.0, flat, out=np.zeros_like(flat), where=flat > 0)
    c = interaction_contrasts(nr, nc)
    ci = c * inv[:, None]                                  # D⁻ C
    denom = c.T @ ci / n
    numer = ci.T @ v @ ci
    try:
        delta = np.linalg.solve(denom, numer)
    except np.linalg.LinAlgError:
        delta = np.linalg.pinv(denom) @ numer
    return RaoScott(pearson, float(np.trace(delta)), float(np.trace(delta @ delta)), (nr - 1) * (nc - 1), nu)


def pooled_test(draws: list[RaoScott], order: str) -> WaldTest:
    """D2 (Li, Meng, Raghunathan & Rubin 1991) over the draws' Rao–Scott χ² statistics: the
    first-order X²ₘ/δ̄ₘ on k df, or the second-order d₀ₘ Fₘ on k = mean d₀ₘ df with denominator df
    min(ν_D2, mean(d₀) ν). One draw: its own test."""
    if len(draws) == 1:
        return draws[0].test(order)
    if order == "first_order":
        chi2, k, design_df = [d.pearson / d.mean_deff for d in draws], float(draws[0].k), np.inf
    else:
        chi2 = [d.d0 * d.pearson / d.trace for d in draws]
        k = float(np.mean([d.d0 for d in draws]))
        design_df = k * draws[0].nu
    with np.errstate(divide="ignore"):
        test = lrt_d2(np.asarray(chi2), k)
    df_den = min(test.df_den, design_df)
    name = "Rao-Scott first order" if order == "first_order" else "Rao-Scott second order"
    return replace(test, df_den=float(df_den), p_value=float(stats.f.sf(test.statistic, k, df_den)),
                   method=f"D2 of {name}")
