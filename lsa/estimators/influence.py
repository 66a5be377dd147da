"""Linearised (influence) values of the design-based estimators, for Taylor-series variances.

The protocol
------------
An estimator's ``compute(W)`` returns :class:`~lsa.estimators._core.Draws`. When the design's
variance is by linearisation (:func:`wanted`: no replicate weights, ids or strata; then ``W``
has the single full-weight column) it may also set ``Draws.influence``: an array (M, n, k) of
the linearised values of its k statistics for each of the M plausible values, rows aligned with
the design's data (0 for rows outside the domain, the group or the rows used),

    z_i = w_i ∂θ/∂w_i        so that θ̂ − θ ≈ Σ_i z_i                      (Binder 1983)

computed with the full weight ``W[:, 0]``. :func:`lsa.estimators._core.pool_draws` turns them
into the per-PV covariance with :func:`lsa.taylor.taylor_variance` and pools the PVs by Rubin's
rules as for replicates. An estimator that leaves ``influence`` None gets NaN standard errors
(and a warning pointing at ``design.with_replicates``). For an estimator defined by estimating
equations Σ_i w_i ψ_i(θ) = 0 the linearised values are z_i = −H⁻¹ w_i ψ_i(θ̂) with
H = Σ_i w_i ∂ψ_i/∂θ' — survey's ``estfun %*% Ainv`` (``svy.varcoef``); helpers below give the
forms used by lsa's estimators:

| statistic | z_i (valid rows; W = Σ w over valid rows) |
|---|---|
| mean, share (:func:`ratio`) | w_i (y_i − ȳ) / W  (×100 for percentages) |
| standard deviation (:func:`sd`) | w_i ((y_i − ȳ)² − σ²) / (2 σ W) |
| Pearson r (:func:`pearson`) | u_xy/√(s_xx s_yy) − r/2 (u_xx/s_xx + u_yy/s_yy), u_ab = w_i ((a_i − ā)(b_i − b̄) − s_ab) / W |
| regression / GLM (:func:`estimating_equation`) | (Σ w x x' v)⁻¹ x_i w_i r_i: r = y − x'β (lm), y − μ (logit) |
| CDF F̂(q) = Σ w 1[y ≤ q] / W (:func:`cdf`) | w_i (1[y_i ≤ q] − F̂(q)) / W |
| quantile q̂, Woodruff (:func:`woodruff`) | the CDF's values at q̂ divided by f̂ = 2t√V(F̂)/(upper − lower) |

Each formula is the derivative of the estimator with respect to the i-th weight, times w_i;
``tests/test_taylor.py`` checks every one against numerical derivatives and the R references
against ``survey``'s ``svymean``/``svyglm``.
"""

from __future__ import annotations

import numpy as np

from ..errors import LsaWarning, MissingDataWarning
from ..taylor import taylor_variance


def wanted(design) -> bool:
    """The design's variance is by Taylor linearisation: estimators should supply ``influence``."""
    return design.variance_method == "taylor"


def ratio(y: np.ndarray, valid: np.ndarray, w: np.ndarray, theta: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Linearised values of ȳ = Σ w y / Σ w over valid rows, for each column of y (n, M) and its
    estimate theta (M,) (full weight w (n,)): returns (M, n). ``scale``: 100 for percentages."""
    wv = np.where(valid, w[:, None], 0.0)
    total = wv.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = wv * (np.where(valid, y, 0.0) - theta[None, :] / scale) / total
    return scale * z.T


def sd(y: np.ndarray, valid: np.ndarray, w: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Linearised values of the population-form SD σ (M,) of y (n, M) with means ``mean`` (M,)."""
    wv = np.where(valid, w[:, None], 0.0)
    dev2 = np.where(valid, y - mean[None, :], 0.0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return (wv * (dev2 - sigma[None, :] ** 2) / (2 * sigma[None, :] * wv.sum(axis=0))).T


def pearson(x: np.ndarray, y: np.ndarray, valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Linearised values (M, n) of the weighted Pearson r of the columns of x and y (n, M)."""
    wv = np.where(valid, w[:, None], 0.0)
    total = wv.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(valid, x, 0.0) - (wv * np.where(valid, x, 0.0)).sum(axis=0) / total
        yc = np.where(valid, y, 0.0) - (wv * np.where(valid, y, 0.0)).sum(axis=0) / total
        sxx, syy, sxy = ((wv * a * b).sum(axis=0) / total for a, b in ((xc, xc), (yc, yc), (xc, yc)))
        r = sxy / np.sqrt(sxx * syy)

        def u(a, b, s):
            return wv * (a * b - s) / total

        z = u(xc, yc, sxy) / np.sqrt(sxx * syy) - r / 2 * (u(xc, xc, sxx) / sxx + u(yc, yc, syy) / syy)
    return z.T


def estimating_equation(x: np.ndarray, w: np.ndarray, residual: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """z_i = H⁻¹ x_i w_i r_i for one fit: x (n, p), w (n,), residual r (n,), H = Σ w v x x' (p, p)
    (the information, positive definite). Returns (n, p)."""
    score = x * (w * residual)[:, None]
    return np.linalg.solve(hessian, score.T).T


def cdf(y: np.ndarray, valid: np.ndarray, w: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F̂(q_j) = Σ w 1[y ≤ q_j] / Σ w over the valid rows of y (n,) at the points q (k,), full weight
    w (n,), and its linearised values (a mean of indicators, :func:`ratio`). Returns F̂ (k,), z (n, k)."""
    below = (np.where(valid, y, np.inf)[:, None] <= q[None, :]).astype(float)
    wv = np.where(valid, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = wv @ below / wv.sum()
    return f, ratio(below, np.broadcast_to(valid[:, None], below.shape), w, f).T


def woodruff(z_cdf: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Linearised values (n, k) of quantiles with Woodruff's variance: those of the CDF at the
    estimates, z_cdf (n, k), times 1/f̂ = (upper − lower)/(2t√V(F̂)) (``slope``, (k,); 0 where V is 0),
    so that their variance is ((upper − lower)/(2t))², survey's ``SE()`` of ``svyquantile``
    (Woodruff 1952; Francisco & Fuller 1991 for the covariances)."""
    return z_cdf * slope[None, :]


def scatter(values: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """(..., n_used, k) values of the rows ``rows`` (a boolean mask) placed in (..., n, k), 0 elsewhere."""
    out = np.zeros(values.shape[:-2] + (n, values.shape[-1]))
    out[..., rows, :] = values
    return out


def covariance(influence: np.ndarray | None, design, m: int, k: int) -> np.ndarray:
    """(M, k, k) Taylor covariances from ``influence`` (M, n, k); NaN when the estimator gives no
    linearised values or the design has no first stage (no ids, strata or replicates)."""
    if not wanted(design):
        return np.full((m, k, k), np.nan)
    structure = design.taylor()
    if structure.lonely:
        design.warn_once(f"Taylor linearisation: stratum {design.strata} = {structure.lonely[:5]} has one PSU "
                         f"({len(structure.lonely)} such strata); lonely_psu={structure.lonely_psu!r} "
                         f"({_LONELY_TEXT[structure.lonely_psu]}).", LsaWarning)
    if influence is None:
        design.warn_once("this estimator gives no linearised values, so without replicate weights its standard "
                         "errors are not available (NaN); build replicates with design.with_replicates('jk1').",
                         MissingDataWarning)
        return np.full((m, k, k), np.nan)
    return taylor_variance(influence, structure)


_LONELY_TEXT = {
    "fail": "an error",
    "remove": "the stratum adds nothing to the variance",
    "certainty": "the PSU is taken as sampled with certainty and adds nothing",
    "adjust": "the PSU is centred at the grand mean",
    "average": "the variance of the other strata is scaled up by their share",
}
