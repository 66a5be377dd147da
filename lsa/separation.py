"""Separation and non-convergence checks shared by every logistic and Poisson fit in lsa.

Used by the design-based :func:`lsa.logit` (every PV and every replicate weight column),
:func:`lsa.robust.clustered` (binomial, probit, Poisson; so also
:func:`lsa.robust.modified_poisson`) and :func:`lsa.robust.gee`.

What is detected
----------------
The maximum-likelihood estimate of a logistic (or Poisson) model does not exist when the data
are *separated*: some direction ``d`` of the coefficients satisfies ``(2y_i - 1) x_i'd >= 0``
for every row (logistic; complete separation when every inequality is strict, quasi-complete
otherwise), or ``x_i'd <= 0`` for every row with ``x_i'd < 0`` only where ``y_i = 0``
(Poisson: zero counts perfectly predicted). The log-likelihood then rises towards its supremum
along ``d`` and Newton/IRLS iterates run off to infinity along it (Albert & Anderson 1984,
Biometrika 71:1-10; Santner & Duffy 1986, Biometrika 73:755-758; for Poisson, Santos Silva &
Tenreyro 2010, Economics Letters 107:310-312).

Newton-Raphson (= IRLS for the canonical links) shows this in two ways that cost nothing to
watch, because the fit computes ``eta = X beta`` at every step anyway:

* the step in the linear predictor, ``max_i |eta_i^(k) - eta_i^(k-1)|``, does not shrink: near a
  finite optimum Newton converges quadratically (the step ratio tends to 0), while along a
  separating direction the log-likelihood is ``sum log(1 + e^{-t}) ~ e^{-t}`` and each step adds
  about one unit of ``t`` (ratio about 1; :func:`steps_diverge`);
* fitted probabilities become numerically 0 or 1 (fitted means 0), with R's threshold
  ``10 * .Machine$double.eps`` (``glm.fit``'s warnings "fitted probabilities numerically 0 or 1
  occurred" / "fitted rates numerically 0 occurred"; :func:`fitted_at_bounds`).

The terms named are those that carry the divergence: with ``Delta beta`` the last step, term
``j``'s share is ``|Delta beta_j| * rms(x_j)`` (the size of its change of the linear predictor,
root mean square over the rows used) and terms with at least :data:`SHARE` of the largest share
are named (:func:`diverging_terms`). A singular information matrix is solved by the
pseudo-inverse (:func:`solve_batched`) and reported, never raised as ``LinAlgError``.

What the fits do with separated data
------------------------------------
They keep the point estimates where the iterations stopped (as R's ``glm`` does: large, finite,
and meaningless in magnitude, but their sign shows the direction of separation) and report
no standard error (NaN, and so NaN statistic, p-value and confidence limits) for the terms
named; under complete separation (every fitted value at its bound) for every term, since the
information matrix is then numerically zero. A :class:`~lsa.errors.SeparationWarning` names
the terms, and the result carries a flag (see each fit's docstring). Remedies: drop or merge
the separating categories, or use a penalised (Firth) fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConvergenceWarning, SeparationWarning, warn

#: R's ``glm.fit`` threshold for fitted probabilities (rates) numerically 0 or 1.
EPS = 10 * np.finfo(float).eps
#: a term is named when its share of the divergence is at least this fraction of the largest
SHARE = 0.1
#: a step in the linear predictor smaller than this is taken as converged (no divergence)
ETA_STEP_TOL = 1e-3
#: steps shrinking by less than this factor per iteration are not converging quadratically
RATIO = 0.5


@dataclass(frozen=True)
class GlmCheck:
    """Outcome of the checks on one fit.

    converged : the fit reached its convergence criterion at a finite optimum (False under
        separation, whatever the criterion said, and when the iteration limit was hit).
    separation : terms whose coefficients diverge (empty when there is no separation).
    complete : complete separation (logistic): the linear predictor classifies every row used
        correctly, ``(2y_i - 1) eta_i > 0``, so every fitted probability tends to 0 or 1 and the
        information matrix to zero.
    detail : for non-convergence, the last step size and score norm, to put in a warning.
    """

    converged: bool = True
    separation: tuple = ()
    complete: bool = False
    detail: str = ""


def fitted_at_bounds(mu: np.ndarray, family: str, used: np.ndarray) -> np.ndarray:
    """Rows (of the rows ``used``) whose fitted probability is numerically 0 or 1
    (``family="binomial"``) or whose fitted mean is numerically 0 (``"poisson"``); same shape
    as ``mu`` (``(n,)`` or ``(n, C)`` for C weight columns)."""
    if family == "binomial":
        out = (mu < EPS) | (mu > 1 - EPS)
    elif family == "poisson":
        out = mu < EPS
    else:
        return np.zeros(np.shape(mu), dtype=bool)
    return out & used


def max_step(eta_new: np.ndarray, eta_old: np.ndarray, used: np.ndarray) -> np.ndarray:
    """``max_i |eta_new - eta_old|`` over the rows used: a scalar, or ``(C,)`` for (n, C) input."""
    return np.where(used, np.abs(eta_new - eta_old), 0.0).max(axis=0)


def steps_diverge(steps: np.ndarray) -> np.ndarray:
    """True where the last steps in the linear predictor do not shrink: ``steps`` has the step
    sizes of the last iterations along axis 0 (at least 3 needed), the last one must exceed
    :data:`ETA_STEP_TOL` and each of the last two must be at least :data:`RATIO` times the
    one before it (quadratic convergence makes that ratio tend to 0)."""
    steps = np.asarray(steps, dtype=float)
    if steps.shape[0] < 3:
        return np.zeros(steps.shape[1:], dtype=bool)
    s0, s1, s2 = steps[-3], steps[-2], steps[-1]
    return (s2 > ETA_STEP_TOL) & (s2 >= RATIO * s1) & (s1 >= RATIO * s0)


def diverging_terms(dbeta: np.ndarray, x: np.ndarray, used: np.ndarray, terms) -> list[tuple]:
    """Names of the terms that carry the divergence, per weight column.

    ``dbeta``: (C, p) last steps (or (p,)); ``x``: (n, p); ``used``: (n, C) or (n,) rows used.
    Term ``j``'s share is ``|dbeta_j| * sqrt(mean over used rows of x_j^2)``; terms with at least
    :data:`SHARE` times the largest share are named, in formula order.
    """
    dbeta = np.atleast_2d(dbeta)
    used = used.reshape(len(x), -1).astype(float)
    scale = np.sqrt((x * x).T @ used / np.maximum(used.sum(axis=0), 1.0)).T     # (C, p)
    share = np.abs(dbeta) * scale
    big = share.max(axis=1, keepdims=True)
    keep = (share >= SHARE * big) & (share > 0)
    return [tuple(t for t, k in zip(terms, row) if k) for row in keep]


def solve_batched(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``a x = b`` for stacks ``a`` (C, p, p), ``b`` (C, p); where a matrix is singular
    (LAPACK fails, or its condition number after scaling to unit diagonal exceeds 1e14) use the
    pseudo-inverse instead. Returns ``(x, singular)`` with ``singular`` a (C,) mask. The cheap
    path (one batched solve) is taken when no matrix is singular."""
    d = np.sqrt(np.abs(np.diagonal(a, axis1=1, axis2=2)))
    d = np.where(d > 0, d, 1.0)
    scaled = a / (d[:, :, None] * d[:, None, :])
    with np.errstate(all="ignore"):
        ev = np.linalg.eigvalsh(scaled)
    singular = ~(ev[:, 0] > 1e-14 * np.maximum(ev[:, -1], 1e-300))
    if not singular.any():
        try:
            return np.linalg.solve(a, b[..., None])[..., 0], singular
        except np.linalg.LinAlgError:          # pragma: no cover - caught by the eigenvalues
            singular[:] = True
    x = np.empty_like(b)
    ok = ~singular
    if ok.any():
        x[ok] = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
    pinv = np.linalg.pinv(scaled[singular], rcond=1e-12, hermitian=True)
    x[singular] = (pinv @ (b[singular] / d[singular])[..., None])[..., 0] / d[singular]
    return x, singular


def null_terms(a: np.ndarray) -> np.ndarray:
    """For a stack (K, p, p) of singular information matrices, the (K, p) mask of the terms
    spanning each null space: components of the null eigenvectors (after scaling to unit
    diagonal; a zero diagonal is a term without variation) at least :data:`SHARE` of the
    largest."""
    d = np.sqrt(np.abs(np.diagonal(a, axis1=1, axis2=2)))
    zero = d == 0
    d = np.where(zero, 1.0, d)
    ev, vec = np.linalg.eigh(a / (d[:, :, None] * d[:, None, :]))
    null = ev <= 1e-14 * np.maximum(ev[:, -1:], 1e-300)                 # (K, p) eigenvalue is null
    size = np.abs(vec * null[:, None, :]).max(axis=2)                     # (K, p) per term
    return zero | (size >= SHARE * np.maximum(size.max(axis=1, keepdims=True), 1e-300)) & (size > 0)


def separation_message(model: str, terms, complete: bool, where: str = "", family: str = "binomial") -> str:
    """The text of a :class:`SeparationWarning`."""
    kind = "complete separation" if complete else "separation"
    se = ("no standard error is reported for any term (every row is classified correctly, so "
          "every fitted probability tends to 0 or 1)" if complete
          else "their standard errors are not reported (NaN)")
    bound = "fitted means tending to 0" if family == "poisson" else "fitted probabilities tending to 0 or 1"
    return (f"{model}: {kind}{where}: the coefficients of {list(terms)} diverge ({bound}, "
            f"coefficients growing without bound); the estimates "
            f"shown are where the iterations stopped, not finite maximum-likelihood estimates, and "
            f"{se}. Drop or merge the separating categories, or use a penalised (Firth) fit.")


def correctly_classified(y: np.ndarray, eta: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Complete separation shown by the fit itself: ``(2y - 1) eta > 0`` on every row used (then
    ``eta`` is a strictly separating direction). ``(n,)`` -> bool, ``(n, C)`` -> ``(C,)``."""
    s = (2 * y - 1).reshape(len(y), *([1] * (np.ndim(eta) - 1)))
    return np.where(used, s * eta > 0, True).all(axis=0)


def separation_lp(x: np.ndarray, y: np.ndarray, used: np.ndarray, family: str) -> tuple[bool, bool]:
    """Exact check by linear programming (Konis 2007, DPhil thesis, Oxford; R's
    ``detectseparation``), run only when the iterations point to separation.

    Binomial, with ``s_i = 2 y_i - 1`` over the rows used: separation (complete or quasi) iff
    ``max sum_i s_i x_i'd`` subject to ``s_i x_i'd >= 0`` and ``|d_j| <= 1`` is positive; complete
    separation iff ``s_i x_i'b >= 1`` is feasible. Poisson: separation iff ``max sum_{y_i=0}
    -x_i'd`` subject to ``x_i'd = 0`` where ``y_i > 0``, ``x_i'd <= 0`` where ``y_i = 0`` is
    positive (Santos Silva & Tenreyro 2010). Columns are scaled to unit root mean square.
    Returns ``(separated, complete)``.
    """
    from scipy.optimize import linprog

    xu, yu = x[used], y[used]
    xs = xu / np.maximum(np.sqrt((xu * xu).mean(axis=0)), 1e-300)
    p = xs.shape[1]
    box = [(-1.0, 1.0)] * p
    if family == "poisson":
        pos = yu > 0
        a_eq = xs[pos] if pos.any() else None
        res = linprog(xs[~pos].sum(axis=0), A_ub=xs[~pos], b_ub=np.zeros((~pos).sum()), A_eq=a_eq,
                      b_eq=None if a_eq is None else np.zeros(pos.sum()), bounds=box, method="highs")
        return bool(res.status == 0 and -res.fun > 1e-7 * len(yu)), False
    sx = (2 * yu - 1)[:, None] * xs
    res = linprog(-sx.sum(axis=0), A_ub=-sx, b_ub=np.zeros(len(sx)), bounds=box, method="highs")
    separated = bool(res.status == 0 and -res.fun > 1e-7 * len(yu))
    if not separated:
        return False, False
    full = linprog(np.zeros(p), A_ub=-sx, b_ub=-np.ones(len(sx)), bounds=[(None, None)] * p, method="highs")
    return True, bool(full.status == 0)


def report(model: str, check: GlmCheck, where: str = "", family: str = "binomial") -> None:
    """Issue the warning that ``check`` calls for, if any: :class:`SeparationWarning` naming the
    terms, or :class:`ConvergenceWarning` with the step size and score norm."""
    if check.separation:
        warn(separation_message(model, check.separation, check.complete, where, family), SeparationWarning)
    elif not check.converged:
        warn(f"{model} did not converge{where} ({check.detail}); the estimates are not reliable.",
             ConvergenceWarning)
