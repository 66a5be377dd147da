"""Regression extras over plausible values × replicates (issue 13 item 4): R² and adjusted R²,
standardised coefficients, odds ratios and risk ratios.

R² and standardised coefficients are statistics like any other: computed for every PV m and
weight column r (so each has a replicate variance), then pooled by Rubin's rules over the PVs —
the pooled R² is the mean of the PVs' R², as EdSurvey's ``lm.sdf`` reports it, and its SE
adds the replicate and the between-PV variance. With weights w (column r), fitted values
ŷ = X β_{m,r} and ȳ_w the weighted mean of y_m:

    R² = 1 − Σ w (y − ŷ)² / Σ w (y − ȳ_w)²,      adjusted R² = 1 − (1 − R²)(n − 1)/(n − p)

with n the rows used (positive full-sample weight) and p the number of coefficients (R's
``summary.lm`` rule, n fixed across replicates). A standardised coefficient is
b_j · sd_w(x_j) / sd_w(y) with the weighted SDs of model-matrix column j and of the response under
the same weight column (EdSurvey's ``standardizeCoef`` with replicate SEs; the intercept has none).

Odds ratios (a logistic fit) and risk ratios (a Poisson/log-link fit of a 0/1 outcome, the
"modified Poisson" of Zou 2004) are exp(β) with the interval exp(β ∓ t·SE) and, as R's
``emmeans``/Stata's ``or``, the delta-method SE exp(β)·SE(β); statistic and p-value are those of β.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import EstimationError, LsaError
from ..validation import check_number
from ._core import DesignResult, DfMethod, Draws, over_completed, run_by_groups
from .regression import group_model, model_data, wls_draws


def _weighted_sd(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted SD (divisor Σw) of every column of v (n, k) under every weight column w (n, C):
    returns (C, k)."""
    sw = w.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w.T @ v) / sw
        return np.sqrt(np.clip((w.T @ (v * v)) / sw - mean**2, 0, None))


def _fit_stats(design, formula, by, df_method, kind: str) -> DesignResult:
    md = model_data(design, formula)
    p = len(md.terms)
    slopes = [j for j, t in enumerate(md.terms) if t != "(Intercept)"]
    if kind == "standardized" and not slopes:
        raise EstimationError(f"lsa.standardized: {formula!r} has no predictor to standardise.")
    terms = ["r_squared", "adj_r_squared"] if kind == "r_squared" else [md.terms[j] for j in slopes]

    position = np.cumsum(md.rows) - 1

    def compute(w: np.ndarray, rows=None) -> Draws:
        sub, wr = (md, w[md.rows]) if rows is None else group_model(md, position, rows, w)
        beta = wls_draws(sub, wr)                                   # (M, C, p)
        n_used = int((wr[:, 0] > 0).sum())
        out = []
        for i in range(sub.y.shape[1]):
            x, y = sub.x[i], sub.y[:, i]
            if kind == "r_squared":
                resid = y[:, None] - x @ beta[i].T                   # (n, C)
                sse = (wr * resid**2).sum(axis=0)
                sst = (_weighted_sd(y[:, None], wr)[:, 0] ** 2) * wr.sum(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    r2 = 1 - sse / sst
                adj = 1 - (1 - r2) * (n_used - 1) / (n_used - p)
                out.append(np.column_stack([r2, adj]))
            else:
                sd_x = _weighted_sd(x[:, slopes], wr)                # (C, p')
                sd_y = _weighted_sd(y[:, None], wr)                  # (C, 1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out.append(beta[i][:, slopes] * sd_x / sd_y)
        theta = np.stack(out)
        k = len(terms)
        missing = int((w[:, 0] > 0).sum()) - n_used
        return Draws(theta, terms, np.full(k, n_used), np.full(k, missing), design.df - p + 1)

    name = "R-squared" if kind == "r_squared" else "Standardised coefficients"
    return run_by_groups(design, by, compute, statistic=f"{name}: {formula}", df_method=df_method, rows=True)


@over_completed
def r_squared(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """R² and adjusted R² of the weighted linear regression ``formula`` (as :func:`lsa.lm`), with
    replicate SEs, pooled over PVs (terms ``r_squared``, ``adj_r_squared``; formulas in the module
    docstring).

    Examples
    --------
    >>> lsa.r_squared(design, "MATH ~ ESCS + gender").tidy()              # doctest: +SKIP
    """
    return _fit_stats(design, formula, by, df_method, "r_squared")


@over_completed
def standardized(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin"
                 ) -> DesignResult:
    """Standardised coefficients b_j · sd_w(x_j) / sd_w(y) of the weighted linear regression
    ``formula`` (every slope of :func:`lsa.lm`, no intercept), with replicate SEs pooled over PVs."""
    return _fit_stats(design, formula, by, df_method, "standardized")


def _exponentiated(result: DesignResult, alpha: float, kinds: tuple[str, ...], name: str) -> pd.DataFrame:
    if not isinstance(result, DesignResult) or not result.statistic.startswith(kinds):
        got = result.statistic if isinstance(result, DesignResult) else type(result).__name__
        raise LsaError(f"{name} needs the result of {' or '.join(kinds)} (a log-odds or log-link model); "
                       f"got {got!r}.")
    check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
    table = result.tidy()
    ci = result.conf_int(alpha)
    keys = [c for c in table.columns if c in (result.groups[0].labels if result.groups else {})]
    est = np.exp(table["estimate"].to_numpy())
    out = table[keys + ["term"]].copy()
    out["estimate"] = est
    out["std_error"] = est * table["std_error"].to_numpy()
    out["statistic"], out["df"], out["p_value"] = table["statistic"], table["df"], table["p_value"]
    out["conf_low"] = np.exp(ci["conf_low"].to_numpy())
    out["conf_high"] = np.exp(ci["conf_high"].to_numpy())
    return out


def odds_ratios(result: DesignResult, alpha: float = 0.05) -> pd.DataFrame:
    """Odds ratios exp(β) of an :func:`lsa.logit` result: the tidy columns with ``estimate`` the
    odds ratio, ``std_error`` the delta-method exp(β)·SE(β), ``conf_low``/``conf_high`` =
    exp(β ∓ t_{df,1−α/2} SE(β)); ``statistic``, ``df`` and ``p_value`` those of β = 0."""
    return _exponentiated(result, alpha, ("Logistic regression",), "odds_ratios")


def risk_ratios(result: DesignResult, alpha: float = 0.05) -> pd.DataFrame:
    """Risk ratios exp(β) of a log-link fit of a 0/1 outcome (:func:`lsa.poisson`, the modified
    Poisson regression of Zou 2004), in the columns of :func:`odds_ratios`."""
    return _exponentiated(result, alpha, ("Poisson regression",), "risk_ratios")
