"""The variance-component part of a :class:`lsa.mixed.MixedResult`, built on first use.

``variance_components`` (estimates of Σ_l = σ²Λ_lΛ_l' and σ² with sandwich SEs), ``vc_cov``
(their sandwich and model covariance matrices per grouping factor) and the fit's ``notes``
(boundary estimates, a Hessian that is not positive definite) all come from
:func:`lsa.mixed.vcov.varcomp_cov`: a Hessian of ℓ in (θ_l, σ) from 4(q_l + 1) evaluations of the
analytic gradient, level by level. That is most of the work of a small fit after the optimiser
and is not needed for the fixed effects, so the result holds :func:`varcomp_parts` as a
:class:`Deferred`: computed once, when one of the three is first read (as statsmodels' cached
properties), from the optimum the fit stored. The values are the ones an eager computation gives
(the same function on the same arrays); pickling a result (to or from a worker) computes them
first, so a result travels complete. The result's other tables that only cost pandas
construction (``ranef``, ``random_cov``) are deferred the same way.
"""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from lsa.mixed.pml import ThetaMap
from lsa.mixed.vcov import varcomp_cov
from lsa.threads import single_blas_thread

__all__ = ["Deferred", "varcomp_parts", "vc_table", "boundary_notes"]


def vc_table(frame, vcs, sigma2: float, ngroups) -> tuple[pd.DataFrame, dict]:
    """One row per variance and covariance (level, group, term1, term2, estimate, std_error,
    ngroups; variances first within a level), the Residual last; and per group the sandwich and
    model covariance of its components."""
    rows, covs = [], {}
    lowest = None
    for v in vcs:
        g = frame.group_names[v.level]
        zn = frame.znames[v.level]
        se = np.sqrt(np.clip(np.diag(v.sandwich), 0, None))
        names = []
        for (r, c), est, s in zip(v.pairs, v.estimate, se):
            names.append(f"{g}.{zn[r]}" if r == c else f"{g}.{zn[c]}.{zn[r]}")
        order = sorted(range(len(v.pairs)), key=lambda i: v.pairs[i][0] != v.pairs[i][1])
        for i in order:
            r, c = v.pairs[i]
            rows.append({"level": v.level + 2, "group": g, "term1": zn[c],
                         "term2": None if r == c else zn[r], "estimate": v.estimate[i],
                         "std_error": se[i], "ngroups": ngroups[g]})
        index = pd.Index(names)
        covs[g] = {"sandwich": pd.DataFrame(v.sandwich, index, index),
                   "model": pd.DataFrame(v.model, index, index)}
        lowest = v if lowest is None else lowest
    rows.append({"level": 1, "group": "Residual", "term1": None, "term2": None,
                 "estimate": sigma2, "std_error": lowest.se_sigma2, "ngroups": len(frame.y)})
    return pd.DataFrame(rows), covs


def boundary_notes(vc: pd.DataFrame, frame, tmap: ThetaMap, theta: np.ndarray, vcs):
    """Notes for estimates on the boundary of the parameter space; SEs of zero variances
    (and of covariances with them) are NaN, as WeMix reports NA for them."""
    notes = []
    vc = vc.copy()
    for l, g in enumerate(frame.group_names):
        lam = tmap.lambdas(theta)[l]
        zn = frame.znames[l]
        var = np.diag(lam @ lam.T)
        zero = [zn[k] for k in range(len(zn)) if var[k] <= 1e-14 * max(var.max(), 1.0)]
        diag0 = [k for k in np.flatnonzero((tmap.level == l) & tmap.diagonal)
                 if theta[k] == 0.0]
        if zero:
            notes.append(f"the variance of {', '.join(zero)} | {g} is estimated at the boundary "
                         f"0 (a singular fit); its standard error is not reported (NaN)")
            hit = (vc.group == g) & (vc.term1.isin(zero) | vc.term2.isin(zero))
            vc.loc[hit, "std_error"] = np.nan
        elif diag0:
            notes.append(f"the random-effect covariance matrix of {g} is singular (a boundary "
                         f"fit: some random effects are perfectly correlated); standard errors of "
                         f"its components may be unreliable")
        if not vcs[l].hessian_pd:
            notes.append(f"the Hessian of the pseudo-likelihood in the variance parameters of "
                         f"{g} is not positive definite; their standard errors are unreliable")
    return vc, notes


def varcomp_parts(theta, sigma2, beta, stats, tmap, frame, ngroups, notes=()) -> tuple[pd.DataFrame, dict, tuple]:
    """``(variance_components, vc_cov, notes)`` of a fit at the optimum (θ̂, σ̂², β̂): ``notes``
    are the caller's notes followed by the boundary notes."""
    vcs = varcomp_cov(theta, sigma2, beta, stats, tmap)
    vc, vc_cov = vc_table(frame, vcs, sigma2, ngroups)
    vc, extra = boundary_notes(vc, frame, tmap, theta, vcs)
    return vc, vc_cov, tuple(notes) + tuple(extra)


class Deferred:
    """A value computed by ``fn(*args)`` on the first :meth:`get` (under one BLAS thread, as
    the fit), then kept and the arguments released. Pickling computes it first and sends the
    value only (a result sent from a worker arrives complete)."""

    def __init__(self, fn, *args):
        self._call = (fn, args)
        self._value = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._call is not None:
                fn, args = self._call
                with single_blas_thread():
                    self._value = fn(*args)
                self._call = None
            return self._value

    def __getstate__(self):
        return {"value": self.get()}

    def __setstate__(self, state):
        self._value, self._call, self._lock = state["value"], None, threading.Lock()
