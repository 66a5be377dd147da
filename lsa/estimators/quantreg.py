"""Quantile regression over plausible values × replicates (issue 13 item 5).

For quantile τ, PV m and weight column r the coefficients minimise the weighted check loss

    Σ_i w_ir ρ_τ(y_im − x_i'β),   ρ_τ(u) = u (τ − 1[u < 0])          (Koenker & Bassett 1978),

as ``quantreg::rq(weights = w)`` (an LP; ``method = "br"``). The minimum is attained at a vertex:
β = X_h⁻¹ y_h for a basis h of p rows with zero residual, optimal when the subgradient condition
holds (Koenker 2005, *Quantile Regression*, §2.2, weighted):

    s_h = −(X_h')⁻¹ Σ_{i∉h} w_i ψ_τ(r_i) x_i / w_h  ∈  [τ − 1, τ]^p,   ψ_τ(r) = τ − 1[r < 0].

All weight columns are solved at once by a simplex descent along the edges of the LP
(:func:`_descend`, batched over columns: one basis solve, one gradient product and one partial
sort of the breakpoints per pivot), exact and certified by the condition above. Warm starts: the
full-sample fit of each PV starts at the basis nearest the least-squares fit; every replicate
starts at its PV's full-sample basis, a few pivots from its own optimum (the replicate weights
move one zone). A column the descent does not certify (a singular basis from a degenerate
design) gets a few reweighted least-squares steps (the approximation of ``statsmodels.QuantReg``)
and a second descent, and if still not certified is solved by HiGHS (``scipy.optimize.linprog``).
Terms are named ``"<term>"`` with one quantile, ``"q0.25:<term>"`` with
several. Replicate variance and Rubin's rules as for every estimator; df = design df − p + 1.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ..design import SurveyDesign
from ..errors import EstimationError
from ..validation import check_numbers, reads_named_columns
from ._core import DesignResult, DfMethod, Draws, over_completed, run_by_groups
from .regression import check_rank, model_data, rows_outer

_TOL = 1e-9
_NEAR = 64            # breakpoints examined per pivot before a full sort


def _nearest_basis(x, y, w, beta):
    """Per column the p positive-weight rows with the smallest absolute residuals (C, p)."""
    p = x.shape[1]
    resid = np.abs(y[:, None] - x @ beta.T)
    resid[w <= 0] = np.inf
    return np.argpartition(resid, p, axis=0)[:p].T


def _descend(x, y, w, h, tau, max_pivots):
    """Simplex descent along the edges of the LP from the bases ``h`` (C, p): at a vertex the
    multipliers s_h (module docstring) outside [τ − 1, τ] name the basis row to release and the
    direction (s_j > τ: its residual turns positive; s_j < τ − 1: negative); the step goes to the
    breakpoint where the directional derivative of the loss, D = w_j(τ − s_j) (resp.
    w_j(1 − τ + s_j)) plus w_i |x_i'δ| per residual crossed, turns ≥ 0, and that row enters
    (Barrodale & Roberts 1973; Koenker 2005, §6.2). Returns (vertex (C, p), optimal (C,))."""
    n, p = x.shape
    c = h.shape[0]
    h = h.copy()
    vert = np.zeros((c, p))
    optimal = np.zeros(c, bool)
    active = np.ones(c, bool)
    for _ in range(max_pivots):
        cols = np.flatnonzero(active)
        if cols.size == 0:
            break
        xh = x[h[cols]]                                                       # (A, p, p)
        scale = np.prod(np.abs(xh).max(axis=2) + 1e-300, axis=1)
        bad = ~(np.abs(np.linalg.det(xh)) > 1e-10 * scale)
        if bad.any():                                                         # a singular basis: give up there
            active[cols[bad]] = False
            cols, xh = cols[~bad], xh[~bad]
            if cols.size == 0:
                break
        hc, wk = h[cols], w[:, cols]
        inv = np.linalg.inv(xh)
        beta = np.einsum("aij,aj->ai", inv, y[hc])
        vert[cols] = beta
        r = y[:, None] - x @ beta.T                                           # (n, A)
        idx = np.arange(cols.size)
        r[hc.T, idx] = 0.0
        psi = np.where(r < 0, tau - 1.0, tau) * wk
        psi[hc.T, idx] = 0.0
        wh = wk[hc.T, idx].T                                                  # (A, p)
        s = -np.einsum("aji,aj->ai", inv, (x.T @ psi).T) / wh                 # (X_h')⁻¹ g / w_h
        up, down = s - tau, tau - 1 - s
        worst = np.maximum(up, down)
        j = np.argmax(worst, axis=1)
        done = worst[idx, j] <= _TOL
        optimal[cols[done]] = True
        active[cols[done]] = False
        go = ~done
        if not go.any():
            break
        cols, idx, j, inv, r, wk, hc = cols[go], np.arange(go.sum()), j[go], inv[go], r[:, go], wk[:, go], hc[go]
        sign = np.where(up[go, j] > down[go, j], 1.0, -1.0)
        slope0 = np.where(sign > 0, tau - s[go, j], 1 - tau + s[go, j]) * wh[go, j]
        delta = -sign[:, None] * inv[idx, :, j]                               # X_h δ = −sign e_j
        xd = x @ delta.T                                                      # (n, A)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = r / xd
        cross = (wk > 0) & (((r > 0) & (xd > 0)) | ((r < 0) & (xd < 0)) | ((r == 0) & (xd > 0)))
        cross[hc.T, idx] = False
        t = np.where(cross, t, np.inf)
        jump = wk * np.abs(xd)
        k = min(_NEAR, n - 1)
        near = np.argpartition(t, k, axis=0)[:k]                              # (k, A)
        order = np.take_along_axis(near, np.argsort(np.take_along_axis(t, near, axis=0), axis=0), axis=0)
        cum = slope0 + np.cumsum(np.take_along_axis(jump, order, axis=0), axis=0)
        hit = cum >= 0
        found = hit.any(axis=0) & np.isfinite(np.take_along_axis(t, order, axis=0)).any(axis=0)
        enter = order[np.argmax(hit, axis=0), idx]
        for a in np.flatnonzero(~found):                                      # the step passes more than k rows
            o = np.argsort(t[:, a])
            cu = slope0[a] + np.cumsum(jump[o, a])
            pos = np.flatnonzero((cu >= 0) & np.isfinite(t[o, a]))
            if pos.size == 0:
                active[cols[a]] = False                                       # unbounded: left to the LP
                continue
            enter[a] = o[pos[0]]
        h[cols, j] = enter
    return vert, optimal


def _lp(x, y, w, tau):
    """The weighted LP by HiGHS (the fallback)."""
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    n, p = x.shape
    a = sp.hstack([sp.csr_matrix(x), sp.eye(n), -sp.eye(n)]).tocsc()
    cost = np.concatenate([np.zeros(p), tau * w, (1 - tau) * w])
    res = linprog(cost, A_eq=a, b_eq=y, bounds=[(None, None)] * p + [(0, None)] * (2 * n), method="highs")
    if res.status != 0:
        raise EstimationError(f"lsa.quantreg: the linear programme for q = {tau:g} failed ({res.message}).")
    return res.x[:p]


def rq_fit(x, y, w, beta, tau, max_pivots=200, irls=8):
    """Exact weighted quantile regression for the columns of ``w`` (n, C) from ``beta`` (C, p): the
    simplex descent from the basis nearest ``beta`` (a replicate started at its PV's full-sample
    vertex starts at that basis); a column not certified gets a few reweighted least-squares steps
    and a second descent, then the LP."""
    n, p = x.shape
    beta = np.array(beta, dtype=float)
    out = np.empty_like(beta)
    vert, optimal = _descend(x, y, w, _nearest_basis(x, y, w, beta), tau, max_pivots)
    out[optimal] = vert[optimal]
    rest = np.flatnonzero(~optimal)
    if rest.size:
        xx = rows_outer(x, x)
        b = beta[rest]
        for it in range(irls):
            r = y[:, None] - x @ b.T
            floor = np.maximum(np.abs(r).mean(axis=0) * 0.5**it, 1e-6)
            a = w[:, rest] * np.where(r < 0, 1 - tau, tau) / np.maximum(np.abs(r), floor)
            b = np.linalg.solve((xx.T @ a).T.reshape(-1, p, p), (x.T @ (a * y[:, None])).T[:, :, None])[:, :, 0]
        vert, ok = _descend(x, y, w[:, rest], _nearest_basis(x, y, w[:, rest], b), tau, max_pivots)
        out[rest[ok]] = vert[ok]
        for j in rest[~ok]:
            out[j] = _lp(x, y, w[:, j], tau)
    return out


@over_completed
@reads_named_columns
def quantreg(design: SurveyDesign, formula: str, q=0.5, by=None, *,
             df_method: DfMethod = "barnard_rubin") -> DesignResult:
    """Weighted quantile regression at the quantile(s) ``q`` (each in (0, 1)), with replicate SEs
    for every quantile and PVs anywhere in the formula (module docstring)."""
    taus = check_numbers(q, "q", low=0, high=1, low_open=True, high_open=True)
    if len(set(taus)) != len(taus):
        raise EstimationError(f"lsa.quantreg: q holds a quantile twice; got {q!r}.")
    md = model_data(design, formula)
    p = len(md.terms)
    terms = md.terms if len(taus) == 1 else [f"q{t:g}:{term}" for t in taus for term in md.terms]

    def compute(w: np.ndarray) -> Draws:
        wr = w[md.rows]
        m, c = md.y.shape[1], wr.shape[1]
        theta = np.empty((m, c, len(terms)))
        for i in range(m):
            x, y = md.x[i], md.y[:, i]
            check_rank((rows_outer(x, x).T @ wr[:, 0]).reshape(p, p), md.terms)
            ols = np.linalg.lstsq(x * np.sqrt(wr[:, :1]), y * np.sqrt(wr[:, 0]), rcond=None)[0]
            for j, tau in enumerate(taus):
                full = rq_fit(x, y, wr[:, :1], ols[None, :], tau)
                reps = rq_fit(x, y, wr[:, 1:], np.repeat(full, c - 1, axis=0), tau)
                theta[i, :, j * p:(j + 1) * p] = np.concatenate([full, reps])
        used = int((wr[:, 0] > 0).sum())
        missing = int((w[:, 0] > 0).sum()) - used
        k = len(terms)
        return Draws(theta, terms, np.full(k, used), np.full(k, missing), design.df - p + 1)

    label = ", ".join(f"{t:g}" for t in taus)
    return run_by_groups(design, by, compute, statistic=f"Quantile regression (q = {label}): {formula}",
                         df_method=df_method)
