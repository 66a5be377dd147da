"""R's ``glm.fit`` IRLS for the GLMs of :mod:`lsa.robust`, with the separation and convergence
checks of :mod:`lsa.separation`.

IRLS (McCullagh & Nelder 1989, sec. 2.5): with ``eta = X beta``, ``mu = g^{-1}(eta)``, working
response ``z = eta + (y - mu) g'(mu)`` and working weights ``w = prior / (V(mu) g'(mu)^2)``, each
step is the weighted least-squares fit of ``z`` on ``X``; it stops when
``|dev - dev_old| / (|dev| + 0.1) < epsilon`` (R's criterion and start values).
"""

from __future__ import annotations

import numpy as np

from ..separation import (ETA_STEP_TOL, GlmCheck, diverging_terms, fitted_at_bounds, max_step,
                          separation_lp, steps_diverge)


def family_kind(fam) -> str | None:
    """``"binomial"`` or ``"poisson"`` for the families whose fits can separate, else None."""
    import statsmodels.api as sm

    if isinstance(fam, sm.families.Binomial):
        return "binomial"
    if isinstance(fam, sm.families.Poisson):
        return "poisson"
    return None


def irls(y, X, fam, prior, epsilon: float = 1e-8, maxit: int = 25, terms=None):
    """R's ``glm.fit`` IRLS (same start, same deviance criterion
    ``|dev - dev_old| / (|dev| + 0.1) < epsilon``), so results equal R's ``glm`` to rounding.

    Returns ``(beta, working_weights, scale, check)``; as in R the working weights are those of
    the last weighted least-squares step (``weights(fit, "working")``). ``check`` is a
    :class:`lsa.separation.GlmCheck`: for binomial and Poisson families the steps in the linear
    predictor and the fitted values are watched for separation (:mod:`lsa.separation`), which
    R's criterion can report as converged; it names the diverging ``terms``. Nothing is
    warned here: the caller reports ``check`` (:func:`lsa.separation.report`).
    """
    import statsmodels.api as sm

    if isinstance(fam, sm.families.Binomial):
        mu = (prior * y + 0.5) / (prior + 1)
    elif isinstance(fam, sm.families.Poisson):
        mu = y + 0.1
    else:
        mu = y.copy()
    kind = family_kind(fam)
    used = prior > 0
    terms = tuple(terms) if terms is not None else tuple(f"x{j}" for j in range(X.shape[1]))
    eta = fam.link(mu)
    dev_old = np.sum(fam.resid_dev(y, mu, var_weights=prior) ** 2)
    converged = False
    steps, beta_prev, beta, crit = [], None, None, np.inf
    with np.errstate(over="ignore", under="ignore"):
        for _ in range(maxit):
            dmu = 1.0 / fam.link.deriv(mu)  # d mu / d eta
            z = eta + (y - mu) / dmu
            ww = prior * dmu**2 / fam.variance(mu)
            sw = np.sqrt(ww)
            beta_prev = beta
            beta, *_ = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)
            eta_new = X @ beta
            steps.append(float(max_step(eta_new, eta, used)))
            eta = eta_new
            mu = fam.link.inverse(eta)
            dev = np.sum(fam.resid_dev(y, mu, var_weights=prior) ** 2)
            crit = abs(dev - dev_old) / (abs(dev) + 0.1)
            if crit < epsilon:
                converged = True
                break
            dev_old = dev
    check = irls_check(kind, y, X, fam, prior, mu, beta, beta_prev, steps, used, terms, converged,
                        f"{len(steps)} iterations of at most {maxit}; last relative change in deviance "
                        f"{crit:.3g}")
    n, p = X.shape
    if isinstance(fam, (sm.families.Binomial, sm.families.Poisson)):
        scale = 1.0
    else:
        scale = float(np.sum(prior * (y - mu) ** 2 / fam.variance(mu)) / (n - p))
    return beta, ww, scale, check


def irls_check(kind, y, X, fam, prior, mu, beta, beta_prev, steps, used, terms, converged, detail):
    """Separation (steps in the linear predictor that do not shrink, or fitted values at their
    bounds while still moving) or non-convergence of one IRLS fit; O(n p), vectorised."""
    if kind is not None and beta_prev is not None:
        at = fitted_at_bounds(mu, kind, used)
        if steps_diverge(np.array(steps[-3:])) or (at.any() and steps[-1] > ETA_STEP_TOL):
            separated, complete = separation_lp(X, y, used, kind)
            if separated:
                named = diverging_terms(beta - beta_prev, X, used, terms)[0] or tuple(terms)
                return GlmCheck(False, named, complete)
    if converged:
        return GlmCheck()
    with np.errstate(all="ignore"):
        score = X.T @ (prior * (y - mu) / (fam.link.deriv(mu) * fam.variance(mu)))
    return GlmCheck(False, detail=f"{detail}; last step in the linear predictor "
                                  f"{steps[-1] if steps else np.nan:.3g}; score norm {np.linalg.norm(score):.3g}")
