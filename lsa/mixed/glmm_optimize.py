"""The optimiser of the GLMM pseudo-likelihood and the replicate refits (:mod:`lsa.mixed.glmm_fit`).

:func:`optimize_glmm`: L-BFGS-B on −ℓ/N with the exact gradient of :func:`lsa.mixed.glmm.evaluate`,
then chord Newton steps with the Hessian H = ∂²ℓ/∂ψ∂ψ' from differences of the gradient
(:func:`hessian`), H again at ψ̂ for the covariances. :func:`refit_replicates` / :func:`replicate_vcov`: the replicate-weight
covariance c Σ_r (β̂_r − β̂)(β̂_r − β̂)' (:func:`lsa.replicates.replicate_variance`), each refit
with the level weights of :func:`lsa.mixed.replicate.replicate_level_weights`.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize

from lsa.errors import ConvergenceWarning, EstimationError, LsaError, warn
from lsa.mixed.fit import MixedControl
from lsa.mixed.glmm import GLMMData, evaluate, variance_components_of

__all__ = ["optimize_glmm", "hessian", "refit_replicates", "replicate_vcov"]


def hessian(data: GLMMData, psi: np.ndarray, ev, step: float = 1e-7) -> np.ndarray:
    """H = ∂²ℓ/∂ψ∂ψ' by differences of the exact gradient around ψ (``ev``: the evaluation at ψ).

    With one random effect (q = 1) the columns of β are forward differences,
    (∇ℓ(ψ + h e_k) − ∇ℓ(ψ)) / h with h = ``step``·max(1, |ψ_k|); all other columns are central
    differences with h = 1e-5·max(1, |ψ_k|). The β–θ entries, where the third derivatives are
    largest, are taken from the (central) θ columns; the β–β block is symmetrised. Error with
    q = 1: about 1e-8 relative in H and 1e-9 in the SEs on pisa2012, at p + 2 evaluations
    instead of 2(p + 1); for q > 1 (random slopes, where the β–β block's forward differences
    would be off by 1e-6), central differences throughout."""
    P, p = len(psi), data.p
    H = np.empty((P, P))
    for k in range(P):
        e = np.zeros(P)
        if k < p and data.q == 1:
            e[k] = step * max(1.0, abs(psi[k]))
            H[:, k] = (evaluate(data, psi + e, ev.modes).grad - ev.grad) / e[k]
        else:
            e[k] = 1e-5 * max(1.0, abs(psi[k]))
            H[:, k] = (evaluate(data, psi + e, ev.modes).grad - evaluate(data, psi - e, ev.modes).grad) / (2 * e[k])
    H[:p, :p] = (H[:p, :p] + H[:p, :p].T) / 2
    H[p:, p:] = (H[p:, p:] + H[p:, p:].T) / 2
    H[p:, :p] = H[:p, p:].T
    return H


def _newton(data: GLMMData, psi, ev, solve, steps: int):
    """Up to ``steps`` Newton steps ψ ← ψ + solve(∇ℓ), each accepted when ℓ does not decrease
    (else halved, 4 tries). Returns (ψ, evaluation, converged: the last step was negligible)."""
    for _ in range(steps):
        try:
            step = solve(ev.grad)
        except np.linalg.LinAlgError:
            return psi, ev, False
        if not np.all(np.isfinite(step)):
            return psi, ev, False
        if np.max(np.abs(step)) < 1e-12 * (1 + np.max(np.abs(psi))):
            return psi, ev, True
        for t in (1.0, 0.5, 0.25, 0.1):
            cand = psi + t * step
            ec = evaluate(data, cand, ev.modes)
            if ec.loglik >= ev.loglik - 1e-12 * abs(ev.loglik):
                psi, ev = cand, ec
                break
        else:
            return psi, ev, False
    return psi, ev, False


def optimize_glmm(data: GLMMData, control: MixedControl, start: np.ndarray | None = None):
    """Maximise ℓ(ψ): L-BFGS-B on −ℓ/N (θ of the diagonal in [−15, 15]), then up to
    ``control.newton`` chord Newton steps with the Hessian of :func:`hessian` at L-BFGS-B's
    solution, and H again at ψ̂ when they moved ψ by more than 1e-9 (relative; a smaller move
    changes H by less than its finite-difference error, so that equal fits get equal SEs).
    Returns (ψ̂, evaluation, H, converged, iterations, max |∂ℓ/∂ψ|/N)."""
    N = float(data.wtop @ np.add.reduceat(data.w, data.starts))
    cache = {"u": None, "psi": None, "ev": None}

    def fun(psi):
        ev = evaluate(data, psi, cache["u"])
        cache.update(u=ev.modes, psi=np.array(psi), ev=ev)
        return -ev.loglik / N, -ev.grad / N

    diag = np.array([r == c for r, c in data.pairs])
    bounds = [(None, None)] * data.p + [(-15.0, 15.0) if d else (None, None) for d in diag]
    res = scipy.optimize.minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options={"maxiter": control.maxiter, "gtol": 1e-3 * control.gtol, "ftol": 1e-15})
    psi = psi_bfgs = res.x
    ev = cache["ev"] if np.array_equal(cache["psi"], psi) else evaluate(data, psi, cache["u"])
    H = hessian(data, psi, ev)
    if control.newton:                               # chord Newton steps with this H
        psi, ev, _ = _newton(data, psi, ev, lambda g: -np.linalg.solve(H, g), control.newton)
    if np.max(np.abs(psi - psi_bfgs)) > 1e-9 * (1 + np.max(np.abs(psi))):
        H = hessian(data, psi, ev)                  # the covariances need H at ψ̂ (H at ψ_bfgs is off by O(Δψ))
    gnorm = float(np.max(np.abs(ev.grad)) / N) if len(psi) else 0.0
    return psi, ev, H, bool(gnorm < control.gtol and ev.modes_converged), int(res.nit), gnorm


def refit_replicates(fit, replicate_weights: np.ndarray, control: MixedControl | None = None):
    """Refit a GLMM once per replicate weight set ((n, R) student replicate weights in model-frame
    order), moving the level weights as :func:`lsa.mixed.replicate.replicate_level_weights` says
    (school factor a_j to the school weight, the rest to the conditional student weight), each
    started at the full-sample ψ̂. Returns ((R, k) estimates: fixed effects, then the variance
    components in the order of ``fit.variance_components``; failed replicates)."""
    from lsa.mixed.replicate import replicate_level_weights

    data, frame, w = fit.data, fit.model_frame, fit.level_weights
    control = control or MixedControl()
    psi0 = np.r_[fit.params.to_numpy(), fit.theta.to_numpy()]
    w1_unscaled = w.unconditional[0] / w.unconditional[1][frame.codes[0]]

    class _Top:                                    # replicate_level_weights reads stats.weights[-1]
        weights = (data.wtop,)

    order = sorted(range(len(data.pairs)), key=lambda i: data.pairs[i][0] != data.pairs[i][1])
    est = np.empty((replicate_weights.shape[1], data.p + len(data.pairs)))
    failed = []
    for r in range(replicate_weights.shape[1]):
        w1_r, top_r, _ = replicate_level_weights(_Top, w.unconditional[0], w1_unscaled, replicate_weights[:, r],
                                                 frame.codes[0], frame.codes[0], w.scaling)
        d = data.with_weights(data.w if w1_r is None else w1_r, top_r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            psi, _, _, ok, _, _ = optimize_glmm(d, control, psi0)
        if not ok:
            failed.append(r)
        est[r] = np.r_[psi[:data.p], variance_components_of(psi[data.p:], data.pairs, data.q)[0][order]]
    return est, tuple(failed)


def replicate_vcov(fit, design=None, control=None):
    """(V, details) of ``fit.with_vcov("replicate", design=...)``: c Σ_r (β̂_r − β̂)(β̂_r − β̂)'
    (:func:`lsa.replicates.replicate_variance`) over :func:`refit_replicates`; design df."""
    from lsa.design import SurveyDesign
    from lsa.replicates import replicate_variance

    if not isinstance(design, SurveyDesign) or design.replicates is None:
        raise LsaError("with_vcov('replicate') needs design=, the lsa.SurveyDesign with replicate weights the "
                       "model was fitted to")
    frame = fit.model_frame
    if not np.all(fit.level_weights.w1 > 0):
        raise EstimationError("with_vcov('replicate') on a domain fit of a GLMM is not available; "
                              "fit the domain's rows")
    rep = design.replicate_weights()[frame.order]
    est, failed = refit_replicates(fit, rep, control)
    if failed:
        warn(f"{len(failed)} of {rep.shape[1]} replicate refits did not converge", ConvergenceWarning)
    p = len(fit.params)
    cov = replicate_variance(fit.params.to_numpy(), est[:, :p], design.replicate_factors())
    return cov, {"df": np.full(p, float(design.df)), "df_method": "design", "estimates": est,
                 "failed": tuple(failed)}
