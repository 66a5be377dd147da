"""The Bayesian linear-normal draw for numeric variables (``numeric="norm"``; mice's ``norm``).

For a numeric target y with observed rows X_c (candidates) and missing rows X_b (bachelors),
the draw of Rubin (1987, p. 167) is

    β̂ = (X_c'X_c)⁻¹ X_c'y,   σ*² = RSS / χ²(n − p),   β* ~ N(β̂, σ*² (X_c'X_c)⁻¹),
    y_b = X_b β* + N(0, σ*²),

with a ridge of 1e-5 × diag(X_c'X_c) added to the diagonal, as mice's ``ridge = 1e-5``. The
posterior draw of (β, σ) is the parameter step of a proper imputation, so the fit uses every
observed case (no bootstrap). Nothing here depends on miceforest or LightGBM: the kernel
(:mod:`lsa.impute.kernel`) calls :func:`norm_draw` in place of predictive mean matching.

Reference: Rubin, D. B. (1987). Multiple Imputation for Nonresponse in Surveys. Wiley, p. 167;
van Buuren, S., & Groothuis-Oudshoorn, K. (2011). mice. Journal of Statistical Software, 45(3).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["NORM_RIDGE", "norm_draw", "norm_matrix", "norm_variables"]

#: ridge added to the diagonal of X'X (relative to it) in the norm draw, as mice's ``ridge = 1e-5``
NORM_RIDGE = 1e-5


def norm_matrix(cand: pd.DataFrame, bach: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Design matrices (intercept first) of the linear-normal model: categorical predictors
    dummy-coded (first level = reference), numeric ones as they are; a missing predictor value
    (e.g. a leave-one-out mean of a cluster with no other observed value) is set to the mean of
    the observed training values plus a missingness indicator; columns constant in the training
    rows are dropped; the rest are standardised with the training mean and SD."""
    xc, xb = [], []
    for col in cand.columns:
        a, b = cand[col], bach[col]
        if isinstance(a.dtype, pd.CategoricalDtype):
            ca, cb = a.cat.codes.to_numpy(), b.cat.codes.to_numpy()
            for k in range(1, len(a.cat.categories)):
                xc.append((ca == k).astype(float))
                xb.append((cb == k).astype(float))
            miss_a, miss_b = ca < 0, cb < 0
        else:
            va, vb = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            miss_a, miss_b = np.isnan(va), np.isnan(vb)
            fill = float(np.nanmean(va)) if (~miss_a).any() else 0.0
            xc.append(np.where(miss_a, fill, va))
            xb.append(np.where(miss_b, fill, vb))
        if miss_a.any() or miss_b.any():
            xc.append(miss_a.astype(float))
            xb.append(miss_b.astype(float))
    n = len(cand)
    if not xc:
        return np.ones((n, 1)), np.ones((len(bach), 1))
    xc_, xb_ = np.column_stack(xc), np.column_stack(xb)
    mu, sd = xc_.mean(axis=0), xc_.std(axis=0)
    keep = sd > 1e-12 * np.maximum(1.0, np.abs(mu))
    xc_ = (xc_[:, keep] - mu[keep]) / sd[keep]
    xb_ = (xb_[:, keep] - mu[keep]) / sd[keep]
    return np.column_stack([np.ones(n), xc_]), np.column_stack([np.ones(len(bach)), xb_])


def norm_draw(cand: pd.DataFrame, y: np.ndarray, bach: pd.DataFrame, rs: np.random.RandomState) -> np.ndarray:
    """Bayesian linear-normal imputation (mice's ``norm``; Rubin 1987, p. 167): regress y on the
    predictors of the observed rows, draw σ² = RSS/χ²(n−p) and β ~ N(β̂, σ²(X'X)⁻¹), and impute
    x_b'β + N(0, σ²) for the missing rows."""
    xc, xb = norm_matrix(cand, bach)
    n, p = xc.shape
    xtx = xc.T @ xc
    xtx[np.diag_indices(p)] += NORM_RIDGE * np.diag(xtx)
    v = np.linalg.inv(xtx)
    v = (v + v.T) / 2
    beta = v @ (xc.T @ y)
    rss = float(np.sum((y - xc @ beta) ** 2))
    sigma = np.sqrt(rss / rs.chisquare(max(n - p, 1)))
    beta_star = beta + np.linalg.cholesky(v) @ rs.standard_normal(p) * sigma
    return xb @ beta_star + rs.standard_normal(len(xb)) * sigma


def norm_variables(table: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Numeric targets with more than two distinct observed values (binary 0/1 numeric columns
    stay on LightGBM + predictive mean matching, which keeps them 0/1)."""
    return [nm for nm in names if not isinstance(table[nm].dtype, pd.CategoricalDtype)
            and table[nm].dropna().nunique() > 2]
