"""The GLMM objective of :mod:`lsa.mixed.glmm` for one random effect per cluster (q = 1: a random
intercept, or one random slope), arranged for speed; the same formulas as
:func:`lsa.mixed.glmm.evaluate`, which checks it (tests/test_glmm_speed.py, 1e-10).

With q = 1 every q × q quantity is a scalar per cluster: the curvature H_j, its root C_j = √H_j,
M_j = 1/C_j. The linear predictor at node k of row i is

    η_ik = η̂_i + c_i z_k,   η̂_i = x_i'β + e_i û_j,   c_i = e_i M_j   (e_i = z_i L),

so the n × K table costs one multiply-add, and every cluster sum over the rows of a table is a
product with a sparse (G × n) matrix whose row j holds w_i (or w_i x_ia, w_i z_i) on the rows of
cluster j (:func:`tables`, built once per :class:`GLMMData`). The fixed-node part of the gradient
then needs only D_ajk = Σ_i w_i x_ia d1_ik and D_zjk = Σ_i w_i z_i d1_ik:

    Σ_i w_i x_ia Σ_k π_jk d1_ik = Σ_k π_jk D_ajk,   Σ_i w_i z_i Σ_k π_jk d1_ik U_jk = Σ_k π_jk U_jk D_zjk.

For the logit link the table is computed on ζ = s η (s = 2y − 1), where log f = log σ(ζ) =
min(ζ, 0) − log(1 + e^{−|ζ|}) and d1 = s σ(−ζ) = s exp(log f − ζ): three transcendental passes and
no overflow for any η; the sign s goes into the sparse matrices.

The cluster modes (:func:`modes`) are Newton steps with the observed curvature, the value h_j
computed with the derivatives at each iterate; a cluster whose h_j decreased goes back half its
step (at most 40 times), as :func:`lsa.mixed.glmm.cluster_modes`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse

from lsa.mixed.glmm_data import Evaluation, GLMMData, seg

__all__ = ["evaluate_q1", "modes", "tables"]


def _sum_matrix(values: np.ndarray, starts: np.ndarray, n: int) -> scipy.sparse.csr_array:
    """(G, n) matrix with ``values[i]`` at (cluster of i, i): its product with an (n, K) table
    gives the cluster sums of ``values[:, None] * table``."""
    return scipy.sparse.csr_array((values, np.arange(n), np.r_[starts, n]), shape=(len(starts), n))


def tables(data: GLMMData) -> dict:
    """The fixed tables of the q = 1 evaluation (cached on ``data``): ``sum_w`` (G × n, w_i),
    ``sum_grad`` ((p + 1) G × n: w_i s_i x_ia for every column a, then w_i s_i z_i), ``sign`` s_i
    (±1 for the logit, where the table is in ζ = s η; 1 otherwise), ``logit``, ``z``."""
    t = data.cache.get("q1")
    if t is None:
        n, starts = len(data.y), data.starts
        logit = data.family.name == "binomial" and data.family.link == "logit"
        sign = 2.0 * data.y - 1.0 if logit else np.ones(n)
        z = np.ascontiguousarray(data.Z[:, 0], dtype=float)
        ws = data.w * sign
        cols = [ws * data.X[:, a] for a in range(data.p)] + [ws * z]
        t = {"sum_w": _sum_matrix(data.w, starts, n),
             "sum_grad": scipy.sparse.csr_array(scipy.sparse.vstack([_sum_matrix(c, starts, n) for c in cols])),
             "sign": sign, "logit": logit, "z": z}
        data.cache["q1"] = t
    return t


def modes(data: GLMMData, off: np.ndarray, e: np.ndarray, u0: np.ndarray | None = None,
          tol: float = 1e-10, maxiter: int = 100) -> tuple[np.ndarray, bool]:
    """û_j = argmax h_j(u), h_j(u) = Σ_i w_i log f(y_i | off_i + e_i u) − u²/2, for every
    cluster at once (Newton, steps halved per cluster while h_j decreases). Returns (û (G,), converged)."""
    fam, w, y, codes, starts = data.family, data.w, data.y, data.codes, data.starts
    G = len(starts)
    u = np.zeros(G) if u0 is None else np.array(u0, float).reshape(G)
    u_old, step, t = u, np.zeros(G), np.ones(G)
    h_old = np.full(G, -np.inf)
    for _ in range(maxiter):
        eta = off + e * u[codes]
        h = seg(w * fam.loglik(y, eta), starts) - 0.5 * u * u
        bad = ~(h >= h_old - 1e-12 * np.abs(h_old)) & (t > 2.0 ** -40)
        if bad.any():                                  # back half the step in those clusters
            t = np.where(bad, 0.5 * t, t)
            u = np.where(bad, u_old + t * step, u)
            continue
        d1, d2, _, _ = fam.derivatives(y, eta)
        we = w * e
        step = (seg(we * d1, starts) - u) / (seg(we * e * d2, starts) + 1.0)
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(u))):
            return u + step, True                      # (its error is O(step²))
        u_old, h_old, t = u, h, np.ones(G)
        u = u + step
    return u, False


def _node_table(tab: dict, fam, y: np.ndarray, eta_hat: np.ndarray, c: np.ndarray,
                nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log f, d) at η_ik = η̂_i + c_i z_k: d = d1 for a general family; for the logit d = σ(−ζ)
    with ζ = s η (d1 = s d: s is in ``sum_grad``)."""
    if not tab["logit"]:
        eta = eta_hat[:, None] + c[:, None] * nodes[None, :]
        return fam.value_and_d1(y[:, None], eta)
    s = tab["sign"]
    zeta = np.multiply((s * c)[:, None], nodes[None, :])
    zeta += (s * eta_hat)[:, None]
    d = np.abs(zeta)
    np.negative(d, out=d)
    np.exp(d, out=d)
    np.log1p(d, out=d)                                  # log(1 + e^{−|ζ|})
    logf = np.minimum(zeta, 0.0)
    logf -= d
    np.subtract(logf, zeta, out=d)
    np.exp(d, out=d)                                    # σ(−ζ)
    return logf, d


def evaluate_q1(data: GLMMData, psi: np.ndarray, u0: np.ndarray | None = None,
                gradient: bool = True) -> Evaluation:
    """:func:`lsa.mixed.glmm.evaluate` for q = 1 (same value, gradient and scores)."""
    p, fam, w, codes, starts = data.p, data.family, data.w, data.codes, data.starts
    tab = tables(data)
    ell = float(np.exp(psi[p]))                         # L = exp(θ)
    off = data.X @ psi[:p]
    z = tab["z"]
    e = z * ell
    u, ok = modes(data, off, e, None if u0 is None else np.ravel(u0))
    ur = u[codes]
    eta_hat = off + e * ur
    d1h, d2h, Wh, dWh = fam.derivatives(data.y, eta_hat)
    H = seg(w * Wh * e * e, starts) + 1.0
    C = np.sqrt(H)
    M = 1.0 / C
    nodes, logw = data.rule.nodes[:, 0], data.rule.log_weights
    U = u[:, None] + M[:, None] * nodes[None, :]              # (G, K)
    logf, d = _node_table(tab, fam, data.y, eta_hat, e * M[codes], nodes)
    T = (tab["sum_w"] @ logf) - 0.5 * U * U
    T += logw[None, :]
    tmax = T.max(axis=1, keepdims=True)
    ew = np.exp(T - tmax)
    tot = ew.sum(axis=1, keepdims=True)
    A = (tmax[:, 0] + np.log(tot[:, 0])) - np.log(C)
    ll = float(data.wtop @ A)
    chol = C[:, None, None]
    if not gradient:
        return Evaluation(ll, A, None, None, u[:, None], chol, ok)
    pi = ew / tot
    D = (tab["sum_grad"] @ d).reshape(p + 1, len(starts), -1)  # Σ_i w_i x_ia d1_ik, Σ_i w_i z_i d1_ik
    g_beta = np.einsum("jk,ajk->ja", pi, D[:p])
    piU = pi * U
    g_L = np.einsum("jk,jk->j", piU, D[p])
    g = ell * D[p] - U                                         # ∇_u h at the nodes
    pig = pi * g
    gam = pig.sum(axis=1)
    P = 1.0 + (pig @ nodes) * M                                # 1 + Γ M
    B = (-0.5 * P * M * M)[codes]                              # −M Ψ M with Ψ = P/2
    eBe = B * e * e
    v = gam + seg(w * dWh * eBe * e, starts)
    Hobs = H if fam.link in ("logit", "log") else seg(w * d2h * e * e, starts) + 1.0
    rr = (v / Hobs)[codes]
    alpha = dWh * eBe - d2h * rr * e
    wa = w * alpha
    g_beta += seg(wa[:, None] * data.X, starts)
    g_L += seg(w * z * (alpha * ur + 2.0 * Wh * B * e + d1h * rr), starts)
    scores = data.wtop[:, None] * np.column_stack([g_beta, g_L * ell])
    return Evaluation(ll, A, scores.sum(axis=0), scores, u[:, None], chol, ok)
