"""R² for linear multilevel models: Rights & Sterba (2019) and Nakagawa & Schielzeth (2013).

For a fit with fixed effects β̂ (model matrix X), random-effect covariance T (q × q, on the
variance scale) of the design Z = [1, z] of the clusters and residual variance σ̂², the
model-implied total variance of the outcome splits into (Rights & Sterba 2019, eq. 8–12)

    f  = var(Xβ̂)               fixed part            f = f1 + f2
    f1 = var(X_w β̂)            within-cluster part   X_w = X − X_b (deviations from cluster means)
    f2 = var(X_b β̂)            between-cluster part  X_b = cluster means of every column of X
    v  = tr(T Σ_z)             random-slope variation (Σ_z the covariance of Z's columns)
    m  = μ_z' T μ_z            random-intercept (mean) variation (μ_z the mean of Z's columns)

and σ̂². The covariance of X_w β̂ and X_b β̂ is exactly zero (deviations sum to zero in every
cluster), so f1 + f2 = f. When the level-1 predictors are cluster-mean centred (Rights &
Sterba's setting) f1 and f2 are their γ_w'Φ_wγ_w and γ_b'Φ_bγ_b; a level-1 predictor that is
not centred contributes to both. The measures (``decomposition``/``component``):

* ``total``: f1, f2, v, m over f + v + m + σ², and the sums f = f1 + f2, fv = f + v, fvm = f + v + m;
* ``within``: f1, v, fv over f1 + v + σ²; ``between``: f2, m over f2 + m. These need v to be
  purely within and m purely between clusters, i.e. every random-slope covariate cluster-mean
  centred (its cluster means zero); otherwise they are NaN (Rights & Sterba 2019, §"Extensions").
* ``nakagawa``: marginal R² = f / (f + r + σ²) and conditional R² = (f + r) / (f + r + σ²) with
  r = mean_i Σ_l z_li' T_l z_li over every random term (Johnson 2014's extension to random
  slopes; as ``performance::r2_nakagawa``). Defined for 3 levels too.

**Weighted fits.** Means, variances and covariances are taken over the observations with their
total (unconditional) level-1 weight u_i (zero outside a domain), cluster means with the same
weights, so every measure refers to the population the weights represent:
mean = Σu x / Σu, and var / cov with the divisor Σu · (n − 1)/n (n rows of positive weight;
the analytic-weight convention of Stata, which with unit weights is R's ``var``, as r2mlm and
performance use). The Johnson term r is a weighted mean (divisor Σu), as performance's plain
mean. Unweighted fits give the lme4-based numbers exactly.

References
----------
Rights, J. D., & Sterba, S. K. (2019). Quantifying explained variance in multilevel models: An
integrative framework for defining R-squared measures. Psychological Methods 24(3), 309–338.
Nakagawa, S., & Schielzeth, H. (2013). A general and simple method for obtaining R² from
generalized linear mixed-effects models. Methods in Ecology and Evolution 4(2), 133–142.
Johnson, P. C. D. (2014). Extension of Nakagawa & Schielzeth's R²_GLMM to random slopes models.
Methods in Ecology and Evolution 5(9), 944–946.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lsa.errors import LsaError
from lsa.validation import check_choice

__all__ = ["R2_MEASURES", "r2_parts", "r2_table"]

R2_MEASURES = ("rights_sterba", "nakagawa")


def _cluster_means(V: np.ndarray, u: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Weighted cluster mean of every column of V, spread back over the rows (rows with
    weight 0 only: the unweighted mean, which then never enters a weighted moment)."""
    G = int(codes.max()) + 1
    sw = np.bincount(codes, u, G)
    s = np.stack([np.bincount(codes, u * v, G) for v in V.T], axis=1) if V.shape[1] else np.zeros((G, 0))
    n = np.bincount(codes, None, G)
    s0 = np.stack([np.bincount(codes, v, G) for v in V.T], axis=1) if V.shape[1] else np.zeros((G, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(sw[:, None] > 0, s / sw[:, None], s0 / n[:, None])
    return means[codes]


def _moments(V: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and covariance (divisor Σu (n−1)/n) of the columns of V."""
    n = np.count_nonzero(u > 0)
    su = u.sum()
    mu = u @ V / su
    D = V - mu
    return mu, (D * u[:, None]).T @ D / (su * (n - 1) / n)


def _fit_parts(fit):
    frame, lw = fit.model_frame, fit.level_weights
    if frame is None or lw is None:
        raise LsaError("r2() needs the model frame and weights of the fit (a MixedResult returned by "
                       "lsa.mixed / lsa.mix_pv of this version); refit the model")
    u = np.asarray(lw.unconditional[0], float)
    keep = u > 0
    T = [np.asarray(fit.random_cov[g].loc[list(zn), list(zn)], float)
         for g, zn in zip(frame.group_names, frame.znames)]
    return frame, u[keep], keep, T


def r2_parts(fit) -> pd.Series:
    """The variances behind :func:`r2_table` (module docstring): ``f``, ``f1``, ``f2``, ``v``,
    ``m`` (NaN for 3-level fits), ``sigma2``, ``r`` (Johnson's random-effect variance) and
    ``centred`` (1.0 when every random-slope covariate is cluster-mean centred, else 0.0)."""
    frame, u, keep, T = _fit_parts(fit)
    X = np.asarray(frame.X, float)[keep]
    beta = fit.params.to_numpy()
    yf = X @ beta
    _, vf = _moments(yf[:, None], u)
    Zs = [np.asarray(z, float)[keep] for z in frame.Z]
    r = sum(float(u @ np.einsum("ik,kl,il->i", Z, Tl, Z)) for Z, Tl in zip(Zs, T)) / u.sum()
    out = {"f": float(vf[0, 0]), "f1": np.nan, "f2": np.nan, "v": np.nan, "m": np.nan,
           "sigma2": float(fit.scale), "r": r, "centred": 0.0}
    if len(Zs) == 1:
        codes = np.asarray(frame.codes[0])[keep]
        Xb = _cluster_means(X, u, codes)
        _, v12 = _moments(np.column_stack([(X - Xb) @ beta, Xb @ beta]), u)
        mu, S = _moments(Zs[0], u)
        Zb = _cluster_means(Zs[0], u, codes)
        scale = np.sqrt(np.diag(S)) + np.abs(mu)
        constant = np.diag(S) <= 1e-24 * np.maximum(mu**2, 1e-300)
        centred = np.all(constant | np.all(np.abs(Zb) <= 1e-10 * np.maximum(scale, 1e-300), axis=0))
        out.update(f1=float(v12[0, 0]), f2=float(v12[1, 1]), v=float(np.trace(T[0] @ S)),
                   m=float(mu @ T[0] @ mu), centred=float(centred))
    return pd.Series(out)


def r2_table(fit, measures=R2_MEASURES) -> pd.DataFrame:
    """R² of a linear :class:`lsa.mixed.MixedResult`: columns ``decomposition`` (``total``,
    ``within``, ``between``, ``nakagawa``), ``component`` (f1, f2, v, m, f, fv, fvm; marginal,
    conditional) and ``estimate``. ``measures``: ``"rights_sterba"``, ``"nakagawa"`` or both
    (default); Rights & Sterba's decomposition is for two-level models (an :class:`lsa.LsaError`
    for three levels: ask for ``measures="nakagawa"``)."""
    measures = (measures,) if isinstance(measures, str) else tuple(measures)
    if not measures:
        raise LsaError(f"measures must name at least one of {list(R2_MEASURES)}; got an empty list")
    for m in measures:
        check_choice(m, R2_MEASURES, "measures")
    p = r2_parts(fit)
    rows = []
    if "rights_sterba" in measures:
        if not np.isfinite(p.f1):
            raise LsaError(f"r2(): Rights & Sterba's decomposition is defined for two-level models; this fit "
                           f"has {len(fit.model_frame.group_names) + 1} levels. Use r2(measures='nakagawa')")
        tot = p.f + p.v + p.m + p.sigma2
        total = {"f1": p.f1, "f2": p.f2, "v": p.v, "m": p.m, "f": p.f, "fv": p.f + p.v, "fvm": p.f + p.v + p.m}
        rows += [("total", k, x / tot) for k, x in total.items()]
        wi, bw = p.f1 + p.v + p.sigma2, p.f2 + p.m
        ok = p.centred == 1.0
        rows += [("within", k, x / wi if ok else np.nan) for k, x in (("f1", p.f1), ("v", p.v), ("fv", p.f1 + p.v))]
        rows += [("between", k, (x / bw if bw > 0 else np.nan) if ok else np.nan)
                 for k, x in (("f2", p.f2), ("m", p.m))]
    if "nakagawa" in measures:
        tot = p.f + p.r + p.sigma2
        rows += [("nakagawa", "marginal", p.f / tot), ("nakagawa", "conditional", (p.f + p.r) / tot)]
    return pd.DataFrame(rows, columns=["decomposition", "component", "estimate"])
