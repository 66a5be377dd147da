"""Probit and Poisson regression over plausible values × replicates (issue 13 item 5).

For PV m and weight column r the coefficients solve the weighted quasi-likelihood score
equations of ``survey::svyglm``:

    X' W_r diag(μ'(η) / V(μ)) (y_m − μ) = 0,
    probit:  μ = Φ(η), μ' = φ(η), V = μ(1 − μ);     Poisson (log link): μ = exp(η), μ' = V = μ,

solved by Fisher scoring, β ← β + (X' W_r diag(μ'²/V) X)⁻¹ X' W_r diag(μ'/V)(y − μ), for all
weight columns at once (one product of the n × p² row-wise outer products with the n × C weight
matrix per step, then a batched solve). Warm starts: the full-sample fit of each PV starts at
0 (probit) or at log(ȳ_w) in the intercept (Poisson); every replicate starts at that PV's
full-sample estimate, so it needs two or three steps (the replicate weights perturb one zone).
The replicate variance and Rubin's rules follow as for every estimator; the complete-data df is
the design df − p + 1 (as :func:`lsa.logit`).

A 0/1 response with the Poisson model gives log risk ratios (Zou 2004's modified Poisson;
:func:`lsa.risk_ratios`). Terms without weighted variation in a replicate get NaN replicate
estimates (their SEs are NaN) and a :class:`~lsa.errors.MissingDataWarning`; a fit that does not
reach the tolerance in ``max_iter`` steps gives a :class:`~lsa.errors.ConvergenceWarning`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from ..design import SurveyDesign
from ..errors import ConvergenceWarning, FormulaError, MissingDataWarning, warn
from ..separation import null_terms, solve_batched
from ..validation import reads_named_columns
from ._core import DesignResult, DfMethod, Draws, over_completed, run_by_groups
from .logistic import where_text
from .regression import ModelData, check_rank, group_model, model_data, rows_outer

_EPS = 1e-12


def _moments(eta: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """μ, μ'(η)/V(μ) (score weight) and μ'²/V (information weight) for every entry of η."""
    if family == "poisson":
        mu = np.exp(np.clip(eta, -700, 700))
        return mu, np.ones_like(mu), mu
    mu = np.clip(ndtr(eta), _EPS, 1 - _EPS)
    dens = np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi)
    var = mu * (1 - mu)
    return mu, dens / var, dens**2 / var


def _newton(x, xx, y, w, beta, family, max_iter, tol):
    """Fisher scoring from ``beta`` (C, p) for the columns of ``w`` (n, C). Returns
    (beta, converged (C,), singular (C, p))."""
    c, p = beta.shape
    converged = np.zeros(c, bool)
    singular = np.zeros((c, p), bool)
    active = np.ones(c, bool)
    for it in range(max_iter):
        cols = np.flatnonzero(active)
        if cols.size == 0:
            break
        wa = w[:, cols]
        eta = x @ beta[cols].T
        mu, score_w, info_w = _moments(eta, family)
        grad = (x.T @ (wa * score_w * (y[:, None] - mu))).T
        info = (xx.T @ (wa * info_w)).T.reshape(-1, p, p)
        step, sing = solve_batched(info, grad)
        if it == 0 and sing.any():
            singular[cols[sing]] = null_terms(info[sing])
        beta[cols] += step
        done = np.max(np.abs(step) / (1 + np.abs(beta[cols])), axis=1) < tol
        converged[cols[done]] = True
        active[cols[done]] = False
    return beta, converged, singular


def glm_draws(md: ModelData, w: np.ndarray, family: str, max_iter: int = 50, tol: float = 1e-10):
    """β for every PV and weight column, (M, C, p), and the masks (M, C) not converged and
    (M, C, p) terms not identified. Replicates are warm-started at the PV's full-sample β."""
    n, m = md.y.shape
    p, c = len(md.terms), w.shape[1]
    theta = np.empty((m, c, p))
    failed = np.zeros((m, c), bool)
    lost = np.zeros((m, c, p), bool)
    for i in range(m):
        x, y = md.x[i], md.y[:, i]
        xx = rows_outer(x, x)
        check_rank((xx.T @ w[:, 0]).reshape(p, p), md.terms)
        start = np.zeros((1, p))
        if family == "poisson" and "(Intercept)" in md.terms:
            ybar = (w[:, 0] @ y) / w[:, 0].sum()
            start[0, md.terms.index("(Intercept)")] = np.log(max(ybar, _EPS))
        full, ok, _ = _newton(x, xx, y, w[:, :1], start, family, max_iter, tol)
        reps, ok_r, sing = _newton(x, xx, y, w[:, 1:], np.repeat(full, c - 1, axis=0), family, max_iter, tol)
        theta[i, 0], theta[i, 1:] = full[0], reps
        failed[i, 0], failed[i, 1:] = ~ok[0], ~ok_r
        lost[i, 1:] = sing
    return theta, failed, lost


def _glm(design, formula, by, df_method, family: str, name: str, max_iter: int, tol: float) -> DesignResult:
    md = model_data(design, formula, binary=family == "probit")
    if family == "poisson" and (md.y < 0).any():
        raise FormulaError(f"lsa.poisson: the response of {formula!r} has negative values; Poisson regression "
                           f"needs counts or a 0/1 outcome (≥ 0).")
    p = len(md.terms)
    notes = []

    position = np.cumsum(md.rows) - 1

    def compute(w: np.ndarray, rows=None) -> Draws:
        sub, wr = (md, w[md.rows]) if rows is None else group_model(md, position, rows, w)
        theta, failed, lost = glm_draws(sub, wr, family, max_iter, tol)
        if lost.any():
            terms = np.array(md.terms)[lost.any(axis=(0, 1))].tolist()
            warn(f"lsa.{family}: {terms} have no weighted variation {where_text(lost.any(axis=2))} (a category "
                 f"absent from a replicate); their replicate variance and standard errors are not reported (NaN).",
                 MissingDataWarning)
            theta[:, 1:, :] = np.where(lost.any(axis=1)[:, None, :], np.nan, theta[:, 1:, :])
        if failed.any():
            warn(f"lsa.{family}({formula!r}) did not converge {where_text(failed)} in {max_iter} steps; the "
                 f"estimates are not reliable.", ConvergenceWarning)
            notes.append(f"not converged {where_text(failed)}")
        used = int((wr[:, 0] > 0).sum())
        missing = int((w[:, 0] > 0).sum()) - used
        extra = {"converged": [not failed.any()] * p}
        return Draws(theta, md.terms, np.full(p, used), np.full(p, missing), design.df - p + 1, extra)

    result = run_by_groups(design, by, compute, statistic=f"{name}: {formula}", df_method=df_method, rows=True)
    if notes:
        from dataclasses import replace
        result = replace(result, note=result.note + "".join(f"; {n}" for n in notes))
    return result


@over_completed
@reads_named_columns
def probit(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin",
           max_iter: int = 50, tol: float = 1e-10) -> DesignResult:
    """Weighted probit regression (response 0/1, logical, a two-level factor or an expression such
    as ``I(MATH < 420.07)``), as ``survey::svyglm(family = quasibinomial(link = "probit"))``, over
    PVs and replicates (module docstring)."""
    return _glm(design, formula, by, df_method, "probit", "Probit regression", max_iter, tol)


@over_completed
@reads_named_columns
def poisson(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin",
            max_iter: int = 50, tol: float = 1e-10) -> DesignResult:
    """Weighted Poisson (log-link) regression of a count or 0/1 response, as ``survey::svyglm(family =
    quasipoisson)``; with a 0/1 response exp(β) are risk ratios (:func:`lsa.risk_ratios`)."""
    return _glm(design, formula, by, df_method, "poisson", "Poisson regression", max_iter, tol)
