"""The weighted two-level GLMM pseudo-likelihood by adaptive Gauss–Hermite quadrature, with its
exact gradient. Pure functions over a frozen :class:`GLMMData`; no loop over rows or clusters.

Model: η_i = x_i'β + z_i'b_j, b_j = L u_j, u_j ~ N(0, I_q), Σ = LL' (L lower triangular,
parameterised by θ: log of its diagonal, its free off-diagonal entries; lme4's column order).
With conditional level-1 weights w_{i|j} and level-2 weights w_j the log pseudo-likelihood is
(Rabe-Hesketh & Skrondal 2006, eq. 4; WeMix ``mix(family=)``)

    ℓ(β, θ) = Σ_j w_j log L_j,   L_j = ∫ exp(h_j(u)) (2π)^{-q/2} du,
    h_j(u) = Σ_{i∈j} w_{i|j} log f(y_i | x_i'β + e_i'u) − ½ u'u,   e_i = L'z_i.

Each L_j is approximated by adaptive quadrature (:mod:`lsa.mixed.quadrature`) centred at the
cluster's mode û_j = argmax h_j (a vectorised, safeguarded Newton over all clusters at once,
:func:`cluster_modes`) and scaled by the Cholesky factor C_j of the curvature
H_j = Σ_i w_{i|j} W_i e_i e_i' + I at the mode (W the working weight, as lme4's PIRLS):

    log L_j ≈ A_j = −log|C_j| + log Σ_k exp(a_k + h_j(û_j + C_j^{-T} z_k)),

summed by log-sum-exp, so that Σ_i w_{i|j} log f of any size never overflows. One point is the
Laplace approximation (lme4 ``nAGQ = 1``); for q = 1 and unit weights this is lme4's ``nAGQ``
approximation, for any weights it is the integrand of WeMix 4's ``main_lnl_container`` /
``lnl_by_group`` (per cluster w_j [log Σ_k … − log|C_j|]).

Gradient (exact, of the approximation A_j, including the dependence of the nodes on the
parameters). With π_jk the normalised node weights, g_jk = ∇_u h_j at node k, M = C^{-T},
Γ = Σ_k π_k g_k z_k', P = I + Γ'M, Ψ = ½(tril(P, −1) + tril(P, −1)' + diag P) and
B = −MΨM' (so that the change of A through C is ⟨B, dH⟩):

    dA = Σ_k π_k ∂h(u_k)/∂ψ  +  Σ_i w_i [α_i ∂η̂_i/∂ψ + b_i' ∂e_i/∂ψ],
    v = Σ_k π_k g_k + Σ_i w_i W'_i (e_i'Be_i) e_i,   r = H_obs^{-1} v  (the mode's implicit derivative),
    α_i = W'_i e_i'Be_i − d2_i r'e_i,   b_i = 2 W_i B e_i + d1_i r,

at the mode (η̂, d1, d2 = −∂² log f, W, W' of :mod:`lsa.mixed.glmm_family`). The per-cluster
scores s_j = w_j ∂A_j/∂ψ give the sandwich (:mod:`lsa.mixed.glmm_fit`).

References: Rabe-Hesketh, S., & Skrondal, A. (2006). Multilevel modelling of complex survey data.
JRSS A 169(4), 805–827. Pinheiro, J. C., & Chao, E. C. (2006). Efficient Laplacian and adaptive
Gaussian quadrature algorithms for multilevel generalized linear mixed models. JCGS 15(1), 58–81.
Bates, D. et al. (2015). lme4, JSS 67(1) (PIRLS, GHrule).
"""
from __future__ import annotations

import numpy as np

from lsa.mixed.glmm_data import Evaluation, GLMMData, cholesky_factor, seg, theta_pairs, variance_components_of
from lsa.mixed.glmm_q1 import evaluate_q1

__all__ = ["GLMMData", "Evaluation", "cholesky_factor", "cluster_modes", "evaluate", "evaluate_general",
           "theta_pairs", "variance_components_of"]




def _h(data: GLMMData, off: np.ndarray, E: np.ndarray, u: np.ndarray) -> np.ndarray:
    eta = off + np.einsum("ia,ia->i", E, u[data.codes])
    return seg(data.w * data.family.loglik(data.y, eta), data.starts) - 0.5 * np.einsum("ja,ja->j", u, u)


def cluster_modes(data: GLMMData, off: np.ndarray, E: np.ndarray, u0: np.ndarray | None = None,
                  tol: float = 1e-10, maxiter: int = 100) -> tuple[np.ndarray, bool]:
    """û_j = argmax_u h_j(u) for every cluster at once: Newton steps with the observed
    curvature, halved (per cluster) until h_j does not decrease. Returns (û (G, q), converged)."""
    G, q = len(data.starts), E.shape[1]
    u = np.zeros((G, q)) if u0 is None else np.array(u0, float)
    eye = np.eye(q)
    hu = _h(data, off, E, u)
    for _ in range(maxiter):
        eta = off + np.einsum("ia,ia->i", E, u[data.codes])
        d1, d2, _, _ = data.family.derivatives(data.y, eta)
        grad = seg((data.w * d1)[:, None] * E, data.starts) - u
        Hobs = seg((data.w * d2)[:, None, None] * E[:, :, None] * E[:, None, :], data.starts) + eye
        step = np.linalg.solve(Hobs, grad[:, :, None])[:, :, 0]
        if np.max(np.abs(step)) <= tol * (1.0 + np.max(np.abs(u))):
            return u + step, True                  # the negligible last step: error O(step²)
        t = np.ones(G)
        for _ in range(40):
            cand = u + t[:, None] * step
            hc = _h(data, off, E, cand)
            bad = ~(hc >= hu - 1e-12 * np.abs(hu))
            if not bad.any():
                break
            t = np.where(bad, t * 0.5, t)
        u, hu = cand, np.where(bad, hu, hc)
    return u, False


def evaluate(data: GLMMData, psi: np.ndarray, u0: np.ndarray | None = None,
             gradient: bool = True) -> Evaluation:
    """The AGQ log pseudo-likelihood (and its exact gradient) at ψ = (β, θ); ``u0`` starts the
    modes (the previous evaluation's). One random effect (q = 1) goes to the faster
    :func:`lsa.mixed.glmm_q1.evaluate_q1` (the same formulas)."""
    if data.q == 1:
        return evaluate_q1(data, psi, u0, gradient)
    return evaluate_general(data, psi, u0, gradient)


def evaluate_general(data: GLMMData, psi: np.ndarray, u0: np.ndarray | None = None,
                     gradient: bool = True) -> Evaluation:
    """:func:`evaluate` for any q (q × q linear algebra per cluster)."""
    p, q = data.p, data.q
    beta, theta = psi[:p], psi[p:]
    L = cholesky_factor(theta, data.pairs, q)
    off = data.X @ beta
    E = data.Z @ L                                         # rows e_i' = z_i'L
    u, ok = cluster_modes(data, off, E, u0)
    fam, w, codes, starts = data.family, data.w, data.codes, data.starts
    eta_hat = off + np.einsum("ia,ia->i", E, u[codes])
    d1h, d2h, Wh, dWh = fam.derivatives(data.y, eta_hat)
    eye = np.eye(q)
    outer = E[:, :, None] * E[:, None, :]
    H = seg((w * Wh)[:, None, None] * outer, starts) + eye
    C = np.sqrt(H) if q == 1 else np.linalg.cholesky(H)
    M = 1.0 / C if q == 1 else np.transpose(np.linalg.inv(C), (0, 2, 1))          # C^{-T}
    nodes, logw = data.rule.nodes, data.rule.log_weights
    U = u[:, None, :] + np.einsum("jab,kb->jka", M, nodes)   # (G, K, q)
    Ur = U[codes]                                              # (n, K, q)
    if q == 1:
        eta = off[:, None] + E * Ur[:, :, 0]
    else:
        eta = off[:, None] + np.einsum("ia,ika->ik", E, Ur)
    if gradient:
        logf, d1 = fam.value_and_d1(data.y[:, None], eta)     # (n, K) each
    else:
        logf = fam.loglik(data.y[:, None], eta)
    S = seg(w[:, None] * logf, starts) - 0.5 * np.einsum("jka,jka->jk", U, U)
    T = logw[None, :] + S
    tmax = T.max(axis=1, keepdims=True)
    ew = np.exp(T - tmax)
    tot = ew.sum(axis=1, keepdims=True)
    logdet = np.log(C[:, 0, 0]) if q == 1 else np.log(np.einsum("jaa->ja", C)).sum(axis=1)
    A = (tmax[:, 0] + np.log(tot[:, 0])) - logdet
    ll = float(data.wtop @ A)
    if not gradient:
        return Evaluation(ll, A, None, None, u, C, ok)
    pi = ew / tot                                              # (G, K)
    pd1 = pi[codes] * d1                                       # (n, K): π_{j(i)k} d1_ik
    # fixed-node part
    R = pd1.sum(axis=1)
    g_beta = seg((w * R)[:, None] * data.X, starts)
    Tn = np.einsum("ik,ikb->ib", pd1, Ur)
    g_L = seg(w[:, None, None] * data.Z[:, :, None] * Tn[:, None, :], starts)
    wd1 = seg(w[:, None] * d1 * E[:, :1], starts)[:, :, None] if q == 1 else \
        seg((w[:, None] * d1)[:, :, None] * E[:, None, :], starts)
    g = wd1 - U                                                # (G, K, q): ∇_u h at the nodes
    gam = np.einsum("jk,jka->ja", pi, g)
    Gam = np.einsum("jk,jka,kb->jab", pi, g, nodes)
    P = eye + np.einsum("jba,jbc->jac", Gam, M)               # I + Γ'M
    if q == 1:
        B = -0.5 * P * M * M                                     # −MΨM' with Ψ = P/2
        Br = B[codes, 0, 0]
        eBe = Br * E[:, 0] ** 2
        BE = Br[:, None] * E
    else:
        low = np.tril(P, -1)
        Psi = 0.5 * (low + np.transpose(low, (0, 2, 1))) + 0.5 * P * eye
        B = -np.einsum("jab,jbc,jdc->jad", M, Psi, M)
        Br = B[codes]
        BE = np.einsum("iab,ib->ia", Br, E)
        eBe = np.einsum("ia,ia->i", E, BE)
    v = gam + seg((w * dWh * eBe)[:, None] * E, starts)
    Hobs = H if fam.link in ("logit", "log") else seg((w * d2h)[:, None, None] * outer, starts) + eye
    r = v / Hobs[:, :, 0] if q == 1 else np.linalg.solve(Hobs, v[:, :, None])[:, :, 0]
    rr = r[codes]
    alpha = dWh * eBe - d2h * np.einsum("ia,ia->i", rr, E)
    bvec = 2.0 * Wh[:, None] * BE + d1h[:, None] * rr
    g_beta = g_beta + seg((w * alpha)[:, None] * data.X, starts)
    inner = alpha[:, None] * u[codes] + bvec
    g_L = g_L + seg(w[:, None, None] * data.Z[:, :, None] * inner[:, None, :], starts)
    rows = np.array([a for a, _ in data.pairs], int)
    cols = np.array([b for _, b in data.pairs], int)
    chain = np.where(rows == cols, L[rows, cols], 1.0)
    g_theta = g_L[:, rows, cols] * chain
    scores = data.wtop[:, None] * np.hstack([g_beta, g_theta])
    return Evaluation(ll, A, scores.sum(axis=0), scores, u, C, ok)
