"""``lsa.mixed(..., family="binomial" | "poisson")``: the weighted two-level GLMM fit.

Steps (as the linear engine, :mod:`lsa.mixed.fit`): parse the formula and build the model frame
(:func:`lsa.mixed.parse_formula`, :func:`lsa.mixed.model_frame`; a response ``I(expr)`` is
evaluated first) → level weights (:func:`lsa.mixed.level_weights`: total or conditional
weights, ``scaling``, domains, designs) → :class:`lsa.mixed.glmm.GLMMData` → maximise the
adaptive-quadrature log pseudo-likelihood (:func:`lsa.mixed.glmm.evaluate`, exact gradient) by
L-BFGS then Newton steps with the Hessian from central differences of the gradient → covariances
→ :class:`lsa.mixed.glmm_result.GLMMResult`.

Covariances, as WeMix's ``makeSandwich`` (``R/helpers.R``; Rabe-Hesketh & Skrondal 2006, eq. 12):
with H = ∂²ℓ/∂ψ∂ψ' and s_j = w_j ∂A_j/∂ψ the per-cluster scores (ψ = (β, θ)),

    V_sandwich = H⁻¹ J H⁻¹,   J = G/(G − 1) Σ_j s_j s_j'   (G clusters of positive weight),
    V_model = (−H)⁻¹.

WeMix computes them in the parameters (β, variances and covariances); the β block is the same
in any parameterisation of the variance part (at the optimum the Jacobian is block diagonal),
and the variance components' SEs follow by the delta method from θ (log-Cholesky).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from lsa.errors import ConvergenceWarning, DesignError, LsaError, SeparationWarning, warn
from lsa.mixed.fit import FAMILY_ENGINES, MixedControl, build_stats, check_weighted_terms, frame_and_weights
from lsa.mixed.formula import parse_formula
from lsa.mixed.glmm import GLMMData, theta_pairs, variance_components_of
from lsa.mixed.glmm_optimize import optimize_glmm, refit_replicates, replicate_vcov
from lsa.mixed.glmm_family import Family, check_response, get_family, with_response
from lsa.mixed.glmm_result import GLMMResult
from lsa.mixed.quadrature import tensor_rule
from lsa.model_inputs import model_inputs
from lsa.separation import separation_lp

__all__ = ["glmm", "glmm_data", "fit_glmm_prepared", "optimize_glmm", "refit_replicates", "replicate_vcov"]

MAX_POINTS = 20000


def glmm_data(frame, w, family: Family, n_quad: int) -> GLMMData:
    """The objective's data of a two-level model frame and its level weights."""
    if frame.nlevels != 2:
        raise DesignError(f"GLMMs are two-level models: one grouping factor; got {list(frame.group_names)}")
    if not isinstance(n_quad, (int, np.integer)) or isinstance(n_quad, bool) or n_quad < 1:
        raise LsaError(f"n_quad must be a positive integer (1 = Laplace); got {n_quad!r}")
    q = frame.Z[0].shape[1]
    if n_quad ** q > MAX_POINTS:
        raise LsaError(f"n_quad={n_quad} with {q} random effects gives {n_quad ** q} quadrature points "
                       f"per cluster (more than {MAX_POINTS}); use fewer points (n_quad=1 is Laplace)")
    codes = frame.codes[0]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return GLMMData(frame.y, frame.X, frame.Z[0], w.w1, w.groups[0], starts, codes, family,
                    tensor_rule(int(n_quad), q), theta_pairs(frame.blocks[0]))


def _glm_start(data: GLMMData, maxiter: int = 30) -> tuple[np.ndarray, bool]:
    """β of the weighted GLM without random effects (IRLS on the total weights); (β, converged)."""
    wt = data.w * data.wtop[data.codes]
    X, y = data.X, data.y
    beta = np.zeros(data.p)
    if data.family.name == "poisson":
        beta[0] = np.log(max(np.average(y, weights=wt), 1e-8)) if np.allclose(X[:, 0], 1) else 0.0
    for _ in range(maxiter):
        eta = X @ beta
        d1, _, W, _ = data.family.derivatives(y, eta)
        A = (X * (wt * W)[:, None]).T @ X
        try:
            step = np.linalg.solve(A, X.T @ (wt * d1))
        except np.linalg.LinAlgError:
            return beta, False
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8 * (1 + np.max(np.abs(beta))):
            return beta, abs(eta).max() < 30
    return beta, False


def _check_separation(data: GLMMData, frame, glm_ok: bool) -> list[str]:
    """Warnings (as text) about separation: within every cluster (the response is constant in
    each: the random-intercept variance is not identified) or by the fixed effects (LP check of
    :func:`lsa.separation.separation_lp`, run when the start GLM does not converge)."""
    msgs = []
    used = data.w > 0
    y = np.where(used, data.y, np.nan)
    lo = np.fmin.reduceat(y, data.starts)
    hi = np.fmax.reduceat(y, data.starts)
    active = np.isfinite(lo)
    const = active & (lo == hi)
    g = frame.group_names[0]
    if active.sum() > 0 and const[active].all():
        zero, one = int((const & (lo == 0)).sum()), int((const & (lo != 0)).sum())
        what = "all 0" if data.family.name == "poisson" else "all 0, resp. all 1"
        msgs.append(f"complete separation within every cluster of {g!r}: the response {frame.response!r} is "
                    f"constant within each of the {int(active.sum())} clusters ({zero} {what.split(',')[0]}"
                    + (f", {one} all 1" if data.family.name == "binomial" else "") + "), so the random-effect "
                    "variance is not identified (its estimate diverges); the estimates shown are where the "
                    "iterations stopped")
    if not glm_ok:
        sep, complete = separation_lp(data.X, data.y, used, data.family.name)
        if sep:
            msgs.append(f"{'complete ' if complete else ''}separation of the response {frame.response!r} by the "
                        f"fixed effects {list(frame.xnames)}: some coefficients diverge; the estimates shown are "
                        f"where the iterations stopped, not finite maximum-likelihood estimates")
    return msgs


def _vc_rows(frame, data: GLMMData, theta, V_sand, V_model, ngroups) -> tuple[pd.DataFrame, dict]:
    """Variance components (variances first, then covariances) with delta-method SEs."""
    vals, J = variance_components_of(theta, data.pairs, data.q)
    Vs, Vm = J @ V_sand @ J.T, J @ V_model @ J.T
    g, zn = frame.group_names[0], frame.znames[0]
    order = sorted(range(len(data.pairs)), key=lambda i: data.pairs[i][0] != data.pairs[i][1])
    rows = []
    for i in order:
        r, c = data.pairs[i]
        rows.append({"level": 2, "group": g, "term1": zn[c], "term2": None if r == c else zn[r],
                     "estimate": vals[i], "std_error": float(np.sqrt(max(Vs[i, i], 0))),
                     "std_error_model": float(np.sqrt(max(Vm[i, i], 0))), "ngroups": ngroups})
    names = [f"{g}.{zn[data.pairs[i][1]]}" + ("" if data.pairs[i][0] == data.pairs[i][1]
                                             else f".{zn[data.pairs[i][0]]}") for i in order]
    vc_cov = {"sandwich": pd.DataFrame(Vs[np.ix_(order, order)], names, names),
              "model": pd.DataFrame(Vm[np.ix_(order, order)], names, names)}
    return pd.DataFrame(rows), vc_cov


def _covariances(data: GLMMData, ev, H) -> tuple[np.ndarray, np.ndarray, int]:
    """(V_sandwich, V_model, G) over ψ."""
    G = int(np.count_nonzero((data.wtop > 0) & (np.add.reduceat(data.w, data.starts) > 0)))
    try:
        Hinv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        Hinv = np.linalg.pinv(H)
    J = ev.scores.T @ ev.scores * (G / (G - 1) if G > 1 else np.nan)
    return Hinv @ J @ Hinv, -Hinv, G


def fit_glmm_prepared(parsed, frame, w, family: Family, n_quad: int = 13,
                      control: MixedControl | None = None, *, warn_convergence: bool = True) -> GLMMResult:
    """The GLMM fitting step shared by :func:`glmm` and :func:`lsa.mix_pv` (``family=``): checks
    of the response and of separation → :func:`optimize_glmm` → covariances → result."""
    control = control or MixedControl()
    check_response(frame.y[w.w1 > 0], family, frame.response)
    data = glmm_data(frame, w, family, n_quad)
    n = int(np.count_nonzero(w.w1 > 0))
    if n <= data.q * len(data.starts) and family.name == "poisson":
        raise DesignError(f"number of observations ({n}) <= number of random effects ({data.q * len(data.starts)})")
    beta0, glm_ok = _glm_start(data)
    seps = _check_separation(data, frame, glm_ok)
    for m in seps:
        warn(m, SeparationWarning)
    start = np.r_[beta0, np.zeros(len(data.pairs))]
    if control.start is not None:
        s = np.asarray(control.start, float)
        if len(s) == data.n_params:
            start = s
        elif len(s) == len(data.pairs):
            start[data.p:] = s
    psi, ev, H, converged, nit, gnorm = optimize_glmm(data, control, start)
    if not converged and warn_convergence and not seps:
        warn(f"the GLMM optimiser did not converge: max |gradient of l/N| = {gnorm:.3g} (tolerance "
             f"{control.gtol:g}) after {nit} iterations; the estimates may be inaccurate", ConvergenceWarning)
    return _package(parsed, frame, w, data, psi, ev, H, bool(converged), nit, gnorm, bool(seps), n_quad)


def _package(parsed, frame, w, data, psi, ev, H, converged, nit, gnorm, separation, n_quad) -> GLMMResult:
    p = data.p
    V_sand, V_model, G = _covariances(data, ev, H)
    names = list(frame.xnames)
    g, zn = frame.group_names[0], frame.znames[0]
    ngroups = {g: G}
    vc, vc_cov = _vc_rows(frame, data, psi[p:], V_sand[p:, p:], V_model[p:, p:], G)
    L = np.zeros((data.q, data.q))
    for t, (r, c) in zip(psi[p:], data.pairs):
        L[r, c] = np.exp(t) if r == c else t
    b = ev.modes @ L.T
    Cinv = np.linalg.inv(ev.chol)
    cv = np.einsum("ab,jcb,jcd,ed->jae", L, Cinv, Cinv, L)      # L H⁻¹ L'
    se = np.sqrt(np.einsum("jaa->ja", cv))
    notes = []
    if any(psi[p + i] <= -10 for i, (r, c) in enumerate(data.pairs) if r == c):
        notes.append(f"a random-effect variance of {g} is estimated at (near) the boundary 0; its "
                     f"standard error is unreliable")
    theta_names = [f"{g}.{zn[c]}" if r == c else f"{g}.{zn[r]}.{zn[c]}" for r, c in data.pairs]
    ids = frame.group_ids[0]
    return GLMMResult(
        parsed.formula, data.family.name, data.family.link, int(n_quad), pd.Series(psi[:p], names), "sandwich",
        {"sandwich": pd.DataFrame(V_sand[:p, :p], names, names), "model": pd.DataFrame(V_model[:p, :p], names, names)},
        vc, vc_cov, pd.Series(psi[p:], theta_names), ev.loglik, int(np.count_nonzero(w.w1 > 0)), ngroups,
        frame.n_dropped, converged, nit, gnorm, separation, w.columns, w.scaling, tuple(notes),
        {g: pd.DataFrame(b, index=ids, columns=zn)}, {g: pd.DataFrame(se, index=ids, columns=zn)},
        {g: pd.DataFrame(L @ L.T, zn, zn)}, ev.scores, H, frame.frozen(), w, data)


def glmm(formula: str, data, weights: Sequence[str] | None = None, family: str = "binomial",
         link: str | None = None, n_quad: int = 13, conditional_weights: bool = False,
         scaling: str = "none", control: MixedControl | None = None) -> GLMMResult:
    """Fit a weighted two-level GLMM (see :func:`lsa.mixed.mixed`, which dispatches here for
    ``family="binomial"`` or ``"poisson"``)."""
    fam = get_family(family, link)
    if scaling not in ("none", "cluster", "ecluster"):
        raise DesignError(f"scaling must be 'none', 'cluster' or 'ecluster'; got {scaling!r}")
    parsed = parse_formula(formula)
    inp = model_inputs(data, formula, weights, conditional_weights=conditional_weights, groups=parsed.groups)
    frame, w = frame_and_weights(parsed, inp, with_response(inp.data, parsed.response), scaling)
    if inp.has_domain:
        check_weighted_terms(frame, build_stats(frame, w))
    return fit_glmm_prepared(parsed, frame, w, fam, n_quad, control)




FAMILY_ENGINES["glmm"] = glmm
