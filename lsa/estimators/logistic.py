"""Weighted logistic ML for every PV and every weight column at once, with separation and
convergence checks (used by :func:`lsa.logit`).

For PV m and weight column r, Newton–Raphson solves the score equations
``X' W_r (y_m − expit(X β)) = 0`` with the information ``X' W_r diag(μ(1 − μ)) X``; all columns
of one PV are iterated together (one product of the n × p² row-wise outer products with the
n × C weight matrix per step, then a batched solve). With ``e = exp(−|η|)``, ``μ`` and
``μ(1 − μ) = e / (1 + e)²`` come from one exponential and do not underflow to 0 before
``|η| ≈ 745``.

Separation (:mod:`lsa.separation`): a column whose last three steps in the linear predictor
(measured as ``Σ_j |Δβ_j| rms(x_j)``, a bound on its root-mean-square change that costs
O(p) per column) do not shrink while some fitted probability is numerically 0 or 1 is stopped there (R's
``glm`` keeps such estimates too) and the terms carrying the divergence are named; a column
that classifies every used row correctly is complete separation (all terms). A singular
information matrix is solved by the pseudo-inverse, never raised as ``LinAlgError``. A column
that reaches ``max_iter`` without either is a non-convergence.

The estimator then keeps the point estimates and sets the replicate estimates of the named
terms (all terms under complete separation) to NaN for that PV, so their replicate variance,
standard error, statistic, p-value and confidence limits are NaN: a diverging coefficient has
no meaningful sampling variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ..separation import (correctly_classified, diverging_terms, fitted_at_bounds, null_terms,
                          separation_lp, solve_batched, steps_diverge)


@dataclass(frozen=True)
class LogitChecks:
    """Per-PV, per-column outcome of :func:`logit_fit` (M PVs, C weight columns, p terms).

    separated : (M, C, p) term diverges in that fit. complete : (M, C) complete separation.
    failed : (M, C) no convergence and no separation. singular : (M, C, p) terms not identified
    in that column (its information matrix is singular from the start: a replicate without
    variation in a term). detail : text on the worst non-converged fit (step size, score norm).
    """

    separated: np.ndarray
    complete: np.ndarray
    failed: np.ndarray
    singular: np.ndarray
    detail: str = ""

    @property
    def withheld(self) -> np.ndarray:
        """(M, p) terms whose replicate estimates are set to NaN for each PV."""
        return (self.separated.any(axis=1) | self.complete.any(axis=1)[:, None]
                | self.singular.any(axis=1))


def logit_fit(x_list, y, w, terms, check_rank=None, max_iter: int = 100, tol: float = 1e-10):
    """β for every PV (``x_list[m]``, ``y[:, m]``) and weight column of ``w`` (n, C):
    returns ``(theta (M, C, p), LogitChecks)``. ``check_rank(a, terms)`` is called with the
    full-sample information at β = 0 (it raises for a singular design)."""
    n, m = y.shape
    p, c = len(terms), w.shape[1]
    used = w > 0
    theta = np.empty((m, c, p))
    sep = np.zeros((m, c, p), bool)
    complete = np.zeros((m, c), bool)
    failed = np.zeros((m, c), bool)
    singular = np.zeros((m, c, p), bool)
    detail = ""
    for i in range(m):
        x, yi = x_list[i], y[:, i]
        xx = (x[:, :, None] * x[:, None, :]).reshape(n, p * p)
        beta, eta = np.zeros((c, p)), np.zeros((n, c))
        rms = np.sqrt((x * x).T @ used / np.maximum(used.sum(axis=0), 1)).T          # (C, p)
        active, converged = np.ones(c, bool), np.zeros(c, bool)
        steps, step, last = [], np.zeros((c, p)), np.zeros((c, p))
        for it in range(max_iter):
            e = np.exp(-np.abs(eta))                        # one exp: μ and μ(1 − μ) without underflow
            mu = np.where(eta >= 0, 1.0, e) / (1 + e)
            if it >= 3:                                 # diverging while at the bounds: stop there
                div = active & steps_diverge(np.array(steps[-3:])) & \
                    fitted_at_bounds(mu, "binomial", used).any(axis=0)
                sep[i, div] = True
                active &= ~div
            cols = np.flatnonzero(active)
            if cols.size == 0:
                break
            wa = w if cols.size == c else w[:, cols]
            grad = (x.T @ (wa * (yi[:, None] - mu[:, cols]))).T
            ea = e[:, cols]
            hess = (xx.T @ (wa * (ea / (1 + ea) ** 2))).T.reshape(-1, p, p)
            if it == 0 and check_rank is not None:
                check_rank(hess[0], terms)
            st, sing = solve_batched(hess, grad)
            if it == 0 and sing.any():                  # a column without variation in a term
                singular[i, cols[sing]] = null_terms(hess[sing])
            step = np.zeros((c, p))
            step[cols] = st
            last[cols] = st
            beta = beta + step
            eta = x @ beta.T
            steps.append(np.where(active, (np.abs(step) * rms).sum(axis=1), 0.0))
            rel = np.max(np.abs(st) / (1 + np.abs(beta[cols])), axis=1)
            converged[cols] = rel < tol
            if rel.max() < tol:
                break
        open_ = active & ~converged & ~singular[i].any(axis=1)
        if open_.any():                                 # iteration limit: separated or not converged
            mu = expit(eta)
            div = open_ & (steps_diverge(np.array(steps[-3:]))
                           | fitted_at_bounds(mu, "binomial", used).any(axis=0))
            sep[i, div] = True
            failed[i] = open_ & ~div
            if failed[i].any():
                k = int(np.flatnonzero(failed[i])[0])
                score = x.T @ (w[:, k] * (yi - mu[:, k]))
                detail = (f"{max_iter} iterations; largest relative step "
                          f"{np.max(np.abs(last[k]) / (1 + np.abs(beta[k]))):.3g}, score norm "
                          f"{np.linalg.norm(score):.3g}")
        hit = sep[i].any(axis=1)
        if hit.any():
            named = diverging_terms(last[hit], x, used[:, hit], terms)
            sep[i, hit] = np.array([np.isin(terms, t) for t in named]).reshape(-1, p)
            complete[i, hit] = correctly_classified(yi, eta[:, hit], used[:, hit])
        if hit[0]:          # the full sample, checked exactly; a replicate uses a subset of its rows
            separated, whole = separation_lp(x, yi, used[:, 0], "binomial")
            if not separated:                   # diverging steps without separation: not converged
                failed[i, 0], sep[i, 0] = True, False
            complete[i, hit] |= whole
        theta[i] = beta
    return theta, LogitChecks(sep, complete, failed, singular, detail)


def where_text(mask: np.ndarray) -> str:
    """Where an (M, C) mask of fits holds: the full-sample fit of which PVs, how many replicate
    fits (e.g. ``"in the full-sample fit and in 12 of 80 replicate fits"``)."""
    m, c = mask.shape
    parts = []
    full = np.flatnonzero(mask[:, 0]) + 1
    if full.size:
        parts.append("the full-sample fit" + (f" of PV {', '.join(map(str, full))}" if m > 1 else ""))
    reps = int(mask[:, 1:].sum())
    if reps:
        pvs = np.flatnonzero(mask[:, 1:].any(axis=1)) + 1
        parts.append(f"{reps} of {m * (c - 1)} replicate fits" + ("" if m == 1 else f" (PV {', '.join(map(str, pvs))})"))
    return "in " + " and in ".join(parts)


def withhold(theta: np.ndarray, checks: LogitChecks) -> np.ndarray:
    """``theta`` with the replicate estimates of the withheld terms (per PV) set to NaN."""
    out = theta.copy()
    bad = checks.withheld                                           # (M, p)
    out[:, 1:, :] = np.where(bad[:, None, :], np.nan, out[:, 1:, :])
    return out


def flags(checks: LogitChecks) -> dict[str, list]:
    """Per-term columns for the result table: ``separation`` (the term's coefficient diverges in
    some PV or replicate fit) and ``converged`` (every fit of the group reached a finite optimum)."""
    sep = checks.separated.any(axis=(0, 1)) | checks.complete.any()
    ok = not (checks.failed.any() or checks.separated.any() or checks.complete.any())
    return {"separation": sep.tolist(), "converged": [ok] * sep.size}


def report_fits(result, checks: list, model: str):
    """Warn for each group whose fits separated (:class:`~lsa.errors.SeparationWarning`, naming
    the terms and where), did not converge (:class:`~lsa.errors.ConvergenceWarning`) or had
    terms not identified in some replicate (:class:`~lsa.errors.MissingDataWarning`), and return
    ``result`` with the same text in its ``note`` and the ``separation`` and ``converged``
    columns after the others."""
    from dataclasses import replace

    from ..errors import ConvergenceWarning, MissingDataWarning, SeparationWarning, warn
    from ..separation import separation_message

    notes = []
    for g, ck in zip(result.groups, checks):
        group = f" in group {g.labels}" if g.labels else ""
        terms = np.array(g.terms)
        hit = ck.separated.any(axis=2) | ck.complete
        if hit.any():
            named = terms[ck.separated.any(axis=(0, 1))].tolist()
            text = separation_message(model, named, bool(ck.complete.any()), group + " " + where_text(hit))
            warn(text, SeparationWarning)
            notes.append(f"separation{group}: coefficients of {named} diverge {where_text(hit)}; "
                         f"standard errors of {terms[ck.withheld.any(axis=0)].tolist()} not reported (NaN)")
        if ck.failed.any():
            warn(f"{model} did not converge{group} {where_text(ck.failed)} ({ck.detail}); the estimates "
                 f"are not reliable.", ConvergenceWarning)
            notes.append(f"not converged{group} {where_text(ck.failed)}")
        lost = ck.singular.any(axis=(0, 1))
        if lost.any():
            warn(f"{model}{group}: {terms[lost].tolist()} have no weighted variation "
                 f"{where_text(ck.singular.any(axis=2))} (a category absent from a replicate); their "
                 f"replicate variance and standard errors are not reported (NaN).", MissingDataWarning)
            notes.append(f"{terms[lost].tolist()} not identified {where_text(ck.singular.any(axis=2))}")
    table = result.table
    table = table[[c for c in table.columns if c not in ("separation", "converged")] + ["separation", "converged"]]
    note = result.note + "".join(f"; {n}" for n in notes)
    return replace(result, table=table, note=note)
