"""Multinomial and ordinal (cumulative-link) regression over plausible values × replicates
(issue 13 item 5).

For PV m and weight column r the coefficients maximise the weighted pseudo-log-likelihood
Σ_i w_ir log P(Y_i = y_im | x_i) of

    multinomial logit (``nnet::multinom``):  P(Y = k) = exp(x'β_k) / Σ_j exp(x'β_j), β_1 = 0;
    ordinal (``MASS::polr``):  P(Y ≤ k) = F(ζ_k − x'β), F = expit ("logit") or Φ ("probit"),

(McCullagh 1980; Agresti 2010, *Analysis of Ordinal Categorical Data*, ch. 3 and 5), by Newton's
method for all weight columns at once: the gradient and Hessian of every column come from one
product of per-row terms with the n × C weight matrix, then one batched solve. Both
log-likelihoods are concave. Warm starts as :mod:`lsa.estimators.glm`: the full-sample fit of
each PV starts at 0 (multinomial) or at the thresholds of the weighted margins (ordinal); every
replicate starts at its PV's full-sample estimate (the multinomial's replicates also start from
its inverse Hessian: chord steps, :func:`_mnl_newton`). (statsmodels' ``MNLogit`` and
``OrderedModel`` fit the same models unweighted, one column at a time; they are the baseline of
``benchmarks/bench_models.py``.) Replicate variance and Rubin's rules follow as for every
estimator; the complete-data df is the design df − p + 1, p the columns of the linear predictor.

Terms are named as R names them: ``"<level>:<term>"`` for the multinomial (the first level is
the reference), the coefficients then ``"<level>|<next level>"`` cut points for the ordinal.

The response is a categorical column (its declared level order; an ordinal model needs that
order), a text or numeric column (sorted values), or an expression of a PV set such as
``I((PVLIT > 226) + (PVLIT > 276))``, evaluated for each PV. Documented handling of empty
levels: a level without weight in the full sample of a PV or group, or in any replicate (its
coefficients or cut point are not identified there), is an :class:`~lsa.errors.EstimationError`
naming the level and the fits; merge it with a neighbour or drop it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr, ndtri

from ..design import SurveyDesign
from ..errors import ConvergenceWarning, EstimationError, FormulaError, warn
from ..formula import response_matrix
from ..separation import solve_batched
from ..validation import check_choice, reads_named_columns
from ._core import DesignResult, DfMethod, Draws, over_completed, run_by_groups
from .logistic import where_text
from .regression import check_rank, pv_model_frame, rows_outer

LINKS = ("logit", "probit")
REFRESH = 12         # chord steps per Hessian in the replicate fits (first: the full sample's)


@dataclass(frozen=True)
class CategoryData:
    """``codes`` (n_ok, M) level index per row and PV, ``levels`` names, ``x`` M model matrices,
    ``rows`` used, ``terms`` predictor names."""

    codes: np.ndarray
    levels: list[str]
    x: list[np.ndarray]
    rows: np.ndarray
    terms: list[str]


def category_data(design: SurveyDesign, formula: str, function: str) -> CategoryData:
    """The response of ``formula`` as level codes for every PV and its predictors (by
    :func:`lsa.formula.fixed_matrix`); rows missing any model variable are excluded."""
    pf = pv_model_frame(design, formula, function)
    lhs, lhs_vars, used, m, cols, rows, data = pf.lhs, pf.lhs_vars, pf.used, pf.m, pf.cols, pf.rows, design.data
    frame, xs, names, index = pf.frame, pf.x, pf.terms, design.data.index[pf.rows]
    values = []
    for i in range(m):
        if lhs in used:
            values.append(data[cols[lhs][i]][rows])
            continue
        y = response_matrix(lhs, frame(lhs_vars, i), f"response of {formula!r}")
        if y.shape[1] != 1:
            raise FormulaError(f"{function}: the response {lhs!r} of {formula!r} gives {y.shape[1]} columns; "
                               f"give a categorical column or an expression with one value per row.")
        values.append(pd.Series(y[:, 0], index=index))
    first = values[0]
    if isinstance(first.dtype, pd.CategoricalDtype):
        present = set().union(*(set(v.unique()) for v in values))
        levels = [lv for lv in first.cat.categories if lv in present]
    else:
        levels = sorted(set().union(*(set(v.unique()) for v in values)))
    codes = np.column_stack([pd.Categorical(np.asarray(v, dtype=object), categories=levels).codes for v in values])
    if len(levels) < 2:
        raise FormulaError(f"{function}: the response of {formula!r} has {len(levels)} level "
                           f"({levels}); a categorical model needs at least 2.")
    names_l = [str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v) for v in levels]
    return CategoryData(codes, names_l, xs if len(xs) > 1 else xs * m, rows, names)


def check_levels(onehot: np.ndarray, w: np.ndarray, levels: list[str], pv: int, m: int, function: str) -> None:
    """Every level needs weight in every weight column (documented handling: an error)."""
    counts = onehot.T @ w                                                     # (K, C)
    empty = counts <= 0
    if empty.any():
        k = int(np.flatnonzero(empty.any(axis=1))[0])
        full = bool(empty[k, 0])
        where = "the full sample" if full else f"{int(empty[k, 1:].sum())} of {w.shape[1] - 1} replicates"
        where += f" of PV {pv + 1}" if m > 1 else ""
        raise EstimationError(
            f"{function}: response level {levels[k]!r} has no weight in {where} (in this group or domain); its "
            f"coefficients are not identified there. Merge it with a neighbouring level or drop its rows.")


def _mnl_newton(x, xx, y1, w, beta, max_iter, tol, refresh=1, inv0=None):
    """Newton for the multinomial logit from ``beta`` (C, K−1, p); y1 (n, K−1) indicators of
    the non-reference levels. With ``inv0`` (the full sample's inverse Hessian) the warm-started
    replicates take chord steps β ← β + H₀⁻¹ g_r(β), each costing one gradient (the replicate
    weights move H little), with their own Hessian every ``refresh`` steps. Returns (beta,
    converged (C,), the last inverse Hessian)."""
    c, k1, p = beta.shape
    q = k1 * p
    converged = np.zeros(c, bool)
    active = np.ones(c, bool)
    inv = np.empty((c, q, q)) if inv0 is None else np.repeat(inv0[None], c, axis=0)
    for it in range(max_iter):
        cols = np.flatnonzero(active)
        if cols.size == 0:
            break
        wa = w[:, cols]
        eta = (x @ beta[cols].reshape(-1, p).T).reshape(len(x), cols.size, k1)
        ex = np.exp(np.clip(eta, -300, 300))                                 # no overflow in the sum
        prob = ex / (1 + ex.sum(axis=2, keepdims=True))                       # (n, C', K−1)
        resid = (wa[:, :, None] * (y1[:, None, :] - prob)).reshape(len(x), -1)
        grad = (x.T @ resid).reshape(p, cols.size, k1).transpose(1, 2, 0).reshape(-1, q)
        if (it % refresh == 0) and (it > 0 or inv0 is None):     # chord: refreshed every `refresh` steps
            wp = wa[:, :, None] * prob                          # Σ w x x' ⊗ (diag(π) − π π')
            info = -(xx.T @ (wp[:, :, :, None] * prob[:, :, None, :]).reshape(len(x), -1))
            info = info.reshape(p, p, cols.size, k1, k1)
            diag = np.arange(k1)
            info[:, :, :, diag, diag] += (xx.T @ wp.reshape(len(x), -1)).reshape(p, p, cols.size, k1)
            info = info.transpose(2, 3, 0, 4, 1).reshape(-1, q, q)
            inv[cols] = np.linalg.pinv(info, hermitian=True)
        step = np.einsum("cij,cj->ci", inv[cols], grad).reshape(-1, k1, p)
        beta[cols] += step
        done = np.max(np.abs(step).reshape(cols.size, -1) / (1 + np.abs(beta[cols]).reshape(cols.size, -1)),
                      axis=1) < tol
        converged[cols[done]] = True
        active[cols[done]] = False
    return beta, converged, inv[-1]


def _cdf(z, link):
    """F, f = F', f' = F'' of the link's distribution."""
    if link == "logit":
        big = expit(z)
        dens = big * (1 - big)
        return big, dens, dens * (1 - 2 * big)
    dens = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return ndtr(z), dens, -z * dens


def _ord_loglik_terms(x, upper_at, lower_at, has_u, has_l, theta, link, p):
    """Per row and column: P, ∂l/∂u, ∂l/∂l, and the second derivatives (n, C) each."""
    eta = x @ theta[:, :p].T
    zeta = theta[:, p:]                                                       # (C, K−1)
    u = np.where(has_u[:, None], zeta.T[upper_at] - eta, 0.0)
    lo = np.where(has_l[:, None], zeta.T[lower_at] - eta, 0.0)
    fu, du_, ddu = (np.where(has_u[:, None], v, d) for v, d in zip(_cdf(u, link), (1.0, 0.0, 0.0)))
    fl, dl_, ddl = (np.where(has_l[:, None], v, 0.0) for v in _cdf(lo, link))
    prob = fu - fl
    return prob, du_, ddu, dl_, ddl


def _ord_newton(x, codes, k, w, theta, link, max_iter, tol):
    """Newton for the cumulative-link model from θ = (β, ζ) (C, p + K − 1)."""
    n, p = x.shape
    q = p + k - 1
    has_u, has_l = codes < k - 1, codes > 0
    upper_at, lower_at = np.minimum(codes, k - 2), np.maximum(codes - 1, 0)
    zu = np.hstack([-x, np.eye(k - 1)[upper_at] * has_u[:, None]])
    zl = np.hstack([-x, np.eye(k - 1)[lower_at] * has_l[:, None]])
    uu, ll, ul = rows_outer(zu, zu), rows_outer(zl, zl), rows_outer(zu, zl)
    ul = ul + rows_outer(zl, zu)
    c = theta.shape[0]
    converged = np.zeros(c, bool)
    active = np.ones(c, bool)
    for _ in range(max_iter):
        cols = np.flatnonzero(active)
        if cols.size == 0:
            break
        wa = w[:, cols]
        prob, fu, dfu, fl, dfl = _ord_loglik_terms(x, upper_at, lower_at, has_u, has_l, theta[cols], link, p)
        prob = np.maximum(prob, 1e-300)
        du, dl = fu / prob, -fl / prob
        grad = (zu.T @ (wa * du) + zl.T @ (wa * dl)).T
        neg = -(uu.T @ (wa * (dfu / prob - du**2)) + ll.T @ (wa * (-dfl / prob - dl**2))
                + ul.T @ (wa * (-du * dl)))
        step, _ = solve_batched(neg.T.reshape(-1, q, q), grad)
        for _half in range(30):                                             # keep the cut points ordered
            bad = (np.diff(theta[cols, p:] + step[:, p:], axis=1) <= 0).any(axis=1)
            if not bad.any():
                break
            step[bad] /= 2
        theta[cols] += step
        done = np.max(np.abs(step) / (1 + np.abs(theta[cols])), axis=1) < tol
        converged[cols[done]] = True
        active[cols[done]] = False
    return theta, converged


def _fit(cd: CategoryData, w: np.ndarray, model: str, link: str, function: str, max_iter: int, tol: float):
    """θ (M, C, q) and the (M, C) mask of fits that did not converge."""
    n, m = cd.codes.shape
    k, c = len(cd.levels), w.shape[1]
    out, failed = [], np.zeros((m, c), bool)
    for i in range(m):
        codes = cd.codes[:, i]
        onehot = np.eye(k)[codes]
        check_levels(onehot, w, cd.levels, i, m, function)
        x = cd.x[i]
        if model == "multinom":
            p = x.shape[1]
            xx = rows_outer(x, x)
            check_rank((xx.T @ w[:, 0]).reshape(p, p), cd.terms)
            full, ok, inv0 = _mnl_newton(x, xx, onehot[:, 1:], w[:, :1], np.zeros((1, k - 1, p)), max_iter, tol)
            reps, ok_r, _ = _mnl_newton(x, xx, onehot[:, 1:], w[:, 1:], np.repeat(full, c - 1, axis=0), max_iter, tol,
                                        refresh=REFRESH, inv0=inv0)
            theta = np.concatenate([full, reps]).reshape(c, -1)
        else:
            share = np.cumsum(onehot.T @ w[:, 0])[:-1] / w[:, 0].sum()
            inv = np.log(share / (1 - share)) if link == "logit" else ndtri(share)
            start = np.concatenate([np.zeros(x.shape[1]), inv])[None, :]
            full, ok = _ord_newton(x, codes, k, w[:, :1], start, link, max_iter, tol)
            reps, ok_r = _ord_newton(x, codes, k, w[:, 1:], np.repeat(full, c - 1, axis=0), link, max_iter, tol)
            theta = np.concatenate([full, reps])
        out.append(theta)
        failed[i, 0], failed[i, 1:] = ~ok[0], ~ok_r
    return np.stack(out), failed


def _categorical(design, formula, by, df_method, model, link, max_iter, tol) -> DesignResult:
    function = "lsa.multinom" if model == "multinom" else "lsa.ordinal"
    cd = category_data(design, formula, function)
    if model == "multinom":
        terms = [f"{lv}:{t}" for lv in cd.levels[1:] for t in cd.terms]
    else:
        if "(Intercept)" not in cd.terms:
            raise FormulaError(f"{function}: {formula!r} removes the intercept; the cut points of an ordinal model "
                               f"take its place, so leave it in.")
        keep = [j for j, t in enumerate(cd.terms) if t != "(Intercept)"]
        cd = CategoryData(cd.codes, cd.levels, [x[:, keep] for x in cd.x], cd.rows, [cd.terms[j] for j in keep])
        terms = cd.terms + [f"{a}|{b}" for a, b in zip(cd.levels[:-1], cd.levels[1:])]
    q, p = len(terms), cd.x[0].shape[1] + (model != "multinom")

    def compute(w: np.ndarray) -> Draws:
        wr = w[cd.rows]
        theta, failed = _fit(cd, wr, model, link, function, max_iter, tol)
        if failed.any():
            warn(f"{function}({formula!r}) did not converge {where_text(failed)} in {max_iter} steps; the "
                 f"estimates are not reliable.", ConvergenceWarning)
        used = int((wr[:, 0] > 0).sum())
        missing = int((w[:, 0] > 0).sum()) - used
        return Draws(theta, terms, np.full(q, used), np.full(q, missing), design.df - p + 1,
                     {"converged": [not failed.any()] * q})

    name = "Multinomial logit" if model == "multinom" else f"Ordinal {link} regression"
    return run_by_groups(design, by, compute, statistic=f"{name}: {formula}", df_method=df_method)


@over_completed
@reads_named_columns
def multinom(design: SurveyDesign, formula: str, by=None, *, df_method: DfMethod = "barnard_rubin",
             max_iter: int = 100, tol: float = 1e-10) -> DesignResult:
    """Weighted multinomial logit of a categorical response (first level the reference), as
    ``nnet::multinom`` with case weights under ``survey::withReplicates``, over PVs and replicates
    (module docstring). Terms ``"<level>:<term>"``."""
    return _categorical(design, formula, by, df_method, "multinom", "logit", max_iter, tol)


@over_completed
@reads_named_columns
def ordinal(design: SurveyDesign, formula: str, by=None, *, link: str = "logit",
            df_method: DfMethod = "barnard_rubin", max_iter: int = 100, tol: float = 1e-10) -> DesignResult:
    """Weighted cumulative-link (proportional-odds) model P(Y ≤ k) = F(ζ_k − x'β) with ``link``
    ``"logit"`` or ``"probit"``, as ``MASS::polr`` (method "logistic"/"probit") with weights under
    ``survey::withReplicates``; the response's level order is the ordering (module docstring)."""
    check_choice(link, LINKS, "link")
    return _categorical(design, formula, by, df_method, "ordinal", link, max_iter, tol)
