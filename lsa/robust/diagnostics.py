"""Level-1 heteroskedasticity diagnostics for two-level models (spec 10.2-10.3).

* :func:`h_test` -- the H statistic of Raudenbush & Bryk (2002, p. 264) as Hoffman (2007)
  computes it (MLMusingR ``Htest``): within-group OLS residual variances compared on the
  log scale, ``H = sum_j d_j^2 ~ chi2(J* - 1)``.
* :func:`ncv_mlm` -- Breusch-Pagan-type (squared residuals) or Levene-type (absolute residuals)
  likelihood-ratio test for a random-intercept model (CR2 package ``ncvMLM``; Huang,
  Wiedermann & Zhang 2023, MBR 58:637).

A significant result says the level-1 variance differs between clusters: model it, or keep the
model and use cluster-robust CR2 SEs (:func:`lsa.robust.robust_mixed`).
The random-slope diagnostic of spec 10.1 is :func:`lsa.robust.mixed.random_slope_diagnostic`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DesignError, LsaError
from ..validation import check_formula, check_frame, check_name, check_number, has_column
from .checks import check_mixed_fit
from .formula import build_design


@dataclass(frozen=True)
class HTestResult:
    """``H``, ``df``, ``p_value``; ``groups``: per group (group, n, df, s2, d, used)."""

    H: float
    df: int
    p_value: float
    groups: pd.DataFrame

    def __str__(self) -> str:
        return f"H test of level-1 homoskedasticity: H = {self.H:.4f}, df = {self.df}, p = {self.p_value:.4g}"


def h_test(data: pd.DataFrame, formula: str, group: str, min_df: int = 10) -> HTestResult:
    """H statistic for level-1 homoskedasticity (MLMusingR ``Htest(data, fml, group)``).

    For each group (sorted ids) whose non-intercept predictors vary within it, OLS ``formula``
    is fitted within the group: residual variance ``s_j^2 = RSS_j / (n_j - rank_j)``. With
    ``df_j = n_j - r`` (``r`` the rank of the last group's fit, as the R code), groups with
    ``df_j >= min_df`` (R: ``df_j > 9``) are kept; ``bar = sum df_j log s_j^2 / sum df_j``,
    ``d_j = sqrt(df_j / 2) (log s_j^2 - bar)``, ``H = sum d_j^2`` on ``J* - 1`` df.
    """
    data = check_frame(data, "data")
    check_formula(formula)
    check_name(group, "group")
    if not has_column(data, group):
        raise DesignError(f"group column {group!r} is not in the data")
    check_number(min_df, "min_df", low=1, integer=True)
    data = data.reset_index(drop=True)
    d = build_design(formula, data)
    g = data[group].to_numpy()[d.rows]
    if pd.isna(g).any():
        raise DesignError(f"group column {group!r} has missing values in rows used by the model")
    codes, labels = pd.factorize(g, sort=True)
    icpt = np.array([t == "(Intercept)" for t in d.terms])
    rows = []
    rank_last = None
    for k, lab in enumerate(labels):
        i = np.flatnonzero(codes == k)
        X, y = d.X[i], d.y[i]
        if len(i) < 2 or not np.any(X[:, ~icpt].var(axis=0) > 0):
            continue
        beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
        rss = float(np.sum((y - X @ beta) ** 2))
        s2 = rss / (len(i) - rank) if len(i) > rank else np.nan
        rows.append((lab, len(i), s2))
        rank_last = rank
    if not rows:
        raise DesignError("no group has within-group variation in the predictors")
    tab = pd.DataFrame(rows, columns=["group", "n", "s2"])
    tab["df"] = tab["n"] - rank_last
    tab["used"] = (tab["df"] >= min_df) & np.isfinite(tab["s2"]) & (tab["s2"] > 0)
    u = tab[tab.used]
    if len(u) < 2:
        raise DesignError(f"fewer than 2 groups have df >= {min_df}; the H test needs more")
    ls = np.log(u["s2"].to_numpy())
    dfj = u["df"].to_numpy(float)
    bar = np.sum(dfj * ls) / dfj.sum()
    dj = np.sqrt(dfj / 2) * (ls - bar)
    tab["d"] = np.nan
    tab.loc[tab.used, "d"] = dj
    H = float(np.sum(dj**2))
    dfH = int(len(u) - 1)
    return HTestResult(H, dfH, float(stats.chi2.sf(H, dfH)), tab[["group", "n", "df", "s2", "d", "used"]])


@dataclass(frozen=True)
class NcvResult:
    """Likelihood-ratio test of the level-1 variance on the predictors: ``statistic`` (chi2),
    ``df``, ``p_value``, ``type`` ("Breusch-Pagan" or "Levene"), the two log-likelihoods."""

    statistic: float
    df: int
    p_value: float
    type: str
    llf_full: float
    llf_null: float

    def __str__(self) -> str:
        return (f"{self.type}-type test of level-1 homoskedasticity (ncvMLM): chi2 = "
                f"{self.statistic:.4f}, df = {self.df}, p = {self.p_value:.4g}")


def ncv_mlm(fit, data: pd.DataFrame | None = None, bp: bool = True) -> NcvResult:
    """Breusch-Pagan (``bp=True``) or Levene-type test for a two-level random-intercept
    ``lsa.mixed`` fit (CR2 ``ncvMLM``; spec 10.3).

    Conditional level-1 residuals ``e = y - X beta - Z b`` (BLUPs) of ``fit`` give the outcome
    ``r = e^2`` (or ``|e|``); ``r ~ X + (1 | group)`` and ``r ~ 1 + (1 | group)`` are fitted by
    ML and compared by a likelihood-ratio test on ``p - 1`` df (lme4 ``anova``). Unweighted
    fits only; random slopes and three levels are rejected (as the R function).
    """
    from lsa.mixed.fit import build_stats, level_weights, optimize
    from lsa.mixed.pml import ThetaMap

    check_mixed_fit(fit)
    if not isinstance(bp, bool):
        raise LsaError(f"bp must be True (Breusch-Pagan) or False (Levene); got {bp!r}")
    if getattr(fit, "weights", None):
        raise LsaError("ncv_mlm is defined for unweighted fits only")
    frame = getattr(fit, "model_frame", None)
    if frame is None:
        if data is None:
            raise LsaError("this fit does not carry its model frame; pass data=")
        from lsa.mixed.formula import model_frame, parse_formula

        frame = model_frame(parse_formula(fit.formula), data, ())
    if len(frame.Z) != 1 or frame.Z[0].shape[1] != 1 or not np.allclose(frame.Z[0], 1.0):
        raise DesignError("ncv_mlm needs a two-level random-intercept model (y ~ x + (1 | g)); "
                          "random slopes and three-level models are not supported")
    g = frame.group_names[0]
    b = fit.ranef[g].iloc[:, 0].reindex(frame.group_ids[0]).to_numpy()
    e = frame.y - frame.X @ fit.params.reindex(frame.xnames).to_numpy() - b[frame.codes[0]]
    r = e**2 if bp else np.abs(e)

    def llf(X, xnames):
        fr = dataclasses.replace(frame, y=r, X=X, xnames=tuple(xnames))
        w = level_weights(fr, None, None)
        opt = optimize(build_stats(fr, w), ThetaMap.from_blocks(fr.blocks), reml=False)
        return opt.profile.loglik

    l1 = llf(np.asarray(frame.X, float), frame.xnames)
    l0 = llf(np.ones((len(r), 1)), ("(Intercept)",))
    df = frame.X.shape[1] - 1
    stat = max(2 * (l1 - l0), 0.0)
    return NcvResult(stat, df, float(stats.chi2.sf(stat, df)), "Breusch-Pagan" if bp else "Levene",
                     l1, l0)
