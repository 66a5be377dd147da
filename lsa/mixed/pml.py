"""The multilevel pseudo-log-likelihood of a weighted linear mixed model and its gradient.

Model (Rabe-Hesketh & Skrondal 2006; Pfeffermann et al. 1998): y = Xβ + Σ_l Z_l b_l + e,
e ~ N(0, σ²), b_l ~ N(0, Σ_l) per level-l group, Σ_l = σ² Λ_l Λ_l' (Λ_l the relative Cholesky
factor, lme4's θ). The pseudo-likelihood raises level-1 densities to the conditional weights
w_{i|j}, level-2 integrals to w_{j|k}, ..., and top-level integrals to the top weight w_k:

    L_j(b_k) = ∫ Π_i N(y_i; x_i'β + z_i'b_j + ..., σ²)^{w_{i|j}} N(b_j; 0, Σ_2) db_j,
    log PL = Σ_k w_k log ∫ Π_{j∈k} L_j(b_k)^{w_{j|k}} N(b_k; 0, Σ_3) db_k     (3 levels).

For Gaussian models each integral is closed form. Integrating out level l in a group with
cross-product matrix S over columns [Z_l | R] (R = higher-level Z's, X, y) gives

    M = I + Λ'S_ZZ Λ,   T = Λ'S_ZR,   S' = S_RR − T'M⁻¹T,   contribution −½ log|M|,

and S' (weighted by the conditional group weight) is summed into the parent. At the top,
S_tot over [X, y] gives β̂ = S_XX⁻¹ S_Xy, Q = S_yy − S_yX β̂ (penalised weighted RSS),
N = Σ unconditional level-1 weights, LD = Σ unconditional-weighted log|M| and

    ML:    σ̂² = Q/N,        ℓ(θ) = −½ N (log 2πσ̂² + 1) − ½ LD
    REML:  σ̂² = Q/(N−p),    ℓ_R(θ) = −½ (N−p)(log 2πσ̂² + 1) − ½ LD − ½ log|S_XX|

(unit weights give lme4's ML and REML criteria; WeMix's D(θ) = −2ℓ). One evaluation costs
O(J q³ + J m² q) for J clusters, independent of the number of rows.

Gradient: reverse-mode through the levels. With adjoints Ḡ = ∂ℓ/∂S' and c = ∂ℓ/∂log|M|,
K = M⁻¹, E = K T Ḡ and F = K T Ḡ T'K + cK:

    ∂ℓ/∂Λ = −2 S_ZR E' + 2 S_ZZ Λ F,   ∂ℓ/∂S_RR = Ḡ,  ∂ℓ/∂S_ZR = −Λ E,  ∂ℓ/∂S_ZZ = Λ F Λ'.

At the top Ḡ = −ρρ'/(2σ²) with ρ = (−β̂, 1) (envelope theorem), plus −½ S_XX⁻¹ for REML;
c = −½. The same pass split by top-level group gives the per-cluster scores of the sandwich.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsa.errors import EstimationError
from lsa.mixed.stats import ClusterStats, group_sum, parent_index

__all__ = ["ThetaMap", "Forward", "forward", "backward", "profiled", "loglik_fixed",
           "grad_fixed", "Profile"]

LOG2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class ThetaMap:
    """Where each θ entry sits in the Λ_l: lme4 order (per term, column-major lower
    triangle), levels bottom-up. ``rows``/``cols``/``level`` give the position of θ_k."""

    q: tuple[int, ...]
    level: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def from_blocks(cls, blocks: tuple[tuple[int, ...], ...]) -> "ThetaMap":
        lev, rows, cols = [], [], []
        for l, bl in enumerate(blocks):
            off = 0
            for size in bl:
                for c in range(size):
                    for r in range(c, size):
                        lev.append(l), rows.append(off + r), cols.append(off + c)
                off += size
        return cls(tuple(sum(b) for b in blocks), np.array(lev), np.array(rows), np.array(cols))

    @property
    def size(self) -> int:
        return len(self.level)

    @property
    def diagonal(self) -> np.ndarray:
        return self.rows == self.cols

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        lams = [np.zeros((q, q), dtype=np.result_type(theta, float)) for q in self.q]
        for k, t in enumerate(theta):
            lams[self.level[k]][self.rows[k], self.cols[k]] = t
        return lams

    def start(self) -> np.ndarray:
        return np.where(self.diagonal, 1.0, 0.0)

    def gather(self, lam_bars: list[np.ndarray]) -> np.ndarray:
        """θ-gradient from Λ-gradients (arrays (..., q, q), leading axes kept)."""
        return np.stack([lam_bars[l][..., r, c] for l, r, c in
                         zip(self.level, self.rows, self.cols)], axis=-1)


@dataclass(frozen=True)
class LevelPass:
    """Intermediates of integrating out one level (arrays over the groups of that level)."""

    S_in: np.ndarray
    K: np.ndarray
    T: np.ndarray
    lam: np.ndarray


@dataclass(frozen=True)
class Forward:
    """Result of the forward pass at one θ: per-level intermediates, per-top-group reduced
    matrices ``S_top`` ((G, p+1, p+1), before the top weight), their log-det sums ``ld_top``
    and weight sums ``n_top``, and the weighted totals ``S_tot``, ``LD``, ``N``."""

    passes: tuple[LevelPass, ...]
    S_top: np.ndarray
    ld_top: np.ndarray
    n_top: np.ndarray
    S_tot: np.ndarray
    LD: float
    N: float


def _integrate_level(S: np.ndarray, lam: np.ndarray):
    q = lam.shape[0]
    B, C = S[:, :q, :q], S[:, :q, q:]
    M = np.eye(q) + np.einsum("ba,gbc,cd->gad", lam, B, lam)
    L = np.linalg.cholesky(M)
    K = np.linalg.inv(M)
    T = np.einsum("ba,gbr->gar", lam, C)
    S_out = S[:, q:, q:] - np.einsum("gar,gab,gbs->grs", T, K, T)
    logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    return S_out, K, T, logdet


def forward(stats: ClusterStats, lams: list[np.ndarray]) -> Forward:
    """Integrate out the random effects level by level (module docstring)."""
    h = stats.hierarchy
    S, ld, ns = stats.S, np.zeros(len(stats.nstar)), stats.nstar
    passes = []
    for l, lam in enumerate(lams):
        S_out, K, T, logdet = _integrate_level(S, lam)
        passes.append(LevelPass(S, K, T, lam))
        ld = ld + logdet
        if l + 1 < len(lams):
            w = stats.weights[l]
            st = h.starts[l + 1]
            S = group_sum(w[:, None, None] * S_out, st)
            ld, ns = group_sum(w * ld, st), group_sum(w * ns, st)
    w = stats.weights[-1]
    S_tot = np.einsum("g,grs->rs", w, S_out)
    return Forward(tuple(passes), S_out, ld, ns, S_tot, float(w @ ld), float(w @ ns))


def backward(stats: ClusterStats, fwd: Forward, G_top: np.ndarray, c_top: float,
             by_top: bool = False) -> list[np.ndarray]:
    """∂ℓ/∂Λ_l for adjoints ``G_top`` = ∂ℓ/∂S_tot and ``c_top`` = ∂ℓ/∂LD.

    Returns per level a (q_l, q_l) array, or with ``by_top`` a (G_top, q_l, q_l) array of the
    contributions of each top-level group (their sum is the total).
    """
    h = stats.hierarchy
    nl = len(fwd.passes)
    w = stats.weights[-1]
    Gbar = w[:, None, None] * G_top
    c = w * c_top
    out = [None] * nl
    for l in range(nl - 1, -1, -1):
        P = fwd.passes[l]
        q = P.lam.shape[0]
        B, C = P.S_in[:, :q, :q], P.S_in[:, :q, q:]
        E = np.einsum("gab,gbr,grs->gas", P.K, P.T, Gbar)
        F = np.einsum("gas,gbs,gbc->gac", E, P.T, P.K) + c[:, None, None] * P.K
        lam_bar = (-2 * np.einsum("gar,gbr->gab", C, E)
                   + 2 * np.einsum("gab,bc,gcd->gad", B, P.lam, F))
        out[l] = group_sum(lam_bar, _top_starts(h, l)) if by_top else lam_bar.sum(axis=0)
        if l > 0:
            Sbar = _input_adjoint(P.lam, E, F, Gbar)
            par = parent_index(h, l - 1)
            wl = stats.weights[l - 1]
            Gbar = wl[:, None, None] * Sbar[par]
            c = wl * c[par]
    return out


def _input_adjoint(lam, E, F, Gbar) -> np.ndarray:
    """∂ℓ/∂S_in (symmetrised) from the adjoints of one level's outputs."""
    q = lam.shape[0]
    g, r = Gbar.shape[0], Gbar.shape[1]
    Sbar = np.empty((g, q + r, q + r))
    Sbar[:, :q, :q] = np.einsum("ab,gbc,dc->gad", lam, F, lam)
    ZR = -np.einsum("ab,gbr->gar", lam, E)
    Sbar[:, :q, q:] = ZR
    Sbar[:, q:, :q] = ZR.transpose(0, 2, 1)
    Sbar[:, q:, q:] = Gbar
    return Sbar


def _top_starts(h, level: int) -> np.ndarray:
    t = h.top[level]
    return np.flatnonzero(np.r_[True, t[1:] != t[:-1]])


@dataclass(frozen=True)
class Profile:
    """β̂, σ̂², Q, the log-likelihood and its θ-gradient at one θ (ML or REML)."""

    theta: np.ndarray
    beta: np.ndarray
    sigma2: float
    Q: float
    loglik: float
    grad: np.ndarray
    fwd: Forward


def _top_solve(S_tot: np.ndarray, p: int):
    XX, Xy = S_tot[:p, :p], S_tot[:p, p]
    try:
        L = np.linalg.cholesky(XX)
    except np.linalg.LinAlgError:
        raise EstimationError("the weighted fixed-effect cross-product matrix is not positive "
                              "definite: the fixed-effect design is singular") from None
    beta = np.linalg.solve(XX, Xy)
    return beta, float(S_tot[p, p] - Xy @ beta), 2 * np.log(np.diag(L)).sum()


def profiled(theta: np.ndarray, stats: ClusterStats, tmap: ThetaMap,
             reml: bool = False, gradient: bool = True) -> Profile:
    """Profiled log-(pseudo-)likelihood ℓ(θ) with β and σ² at their closed-form optimum."""
    lams = tmap.lambdas(theta)
    fwd = forward(stats, lams)
    p = stats.p
    beta, Q, ldx = _top_solve(fwd.S_tot, p)
    dof = fwd.N - p if reml else fwd.N
    if Q <= 0:
        raise EstimationError("the penalised weighted residual sum of squares is not positive")
    sigma2 = Q / dof
    ll = -0.5 * dof * (LOG2PI + np.log(sigma2) + 1) - 0.5 * fwd.LD - (0.5 * ldx if reml else 0)
    grad = np.zeros(tmap.size)
    if gradient:
        rho = np.r_[-beta, 1.0]
        G_top = -np.outer(rho, rho) / (2 * sigma2)
        if reml:
            G_top[:p, :p] -= 0.5 * np.linalg.inv(fwd.S_tot[:p, :p])
        grad = tmap.gather(backward(stats, fwd, G_top, -0.5))
    return Profile(np.asarray(theta, float), beta, sigma2, Q, float(ll), grad, fwd)


def loglik_fixed(fwd: Forward, beta: np.ndarray, sigma: float) -> float:
    """ℓ(β, θ, σ) unprofiled: −½N log 2πσ² − ½LD − ρ'S_tot ρ/(2σ²), ρ = (−β, 1)."""
    rho = np.r_[-beta, 1.0]
    return float(-0.5 * fwd.N * (LOG2PI + 2 * np.log(sigma)) - 0.5 * fwd.LD
                 - rho @ fwd.S_tot @ rho / (2 * sigma**2))


def grad_fixed(theta: np.ndarray, sigma: float, beta: np.ndarray, stats: ClusterStats,
               tmap: ThetaMap, by_top: bool = False) -> np.ndarray:
    """Gradient of ℓ(β, θ, σ) in (θ, σ) at fixed β (analytic). With ``by_top`` the
    (G, len(θ)+1) matrix of per-top-group scores ∂(w_g log L_g)/∂(θ, σ)."""
    fwd = forward(stats, tmap.lambdas(theta))
    rho = np.r_[-beta, 1.0]
    G_top = -np.outer(rho, rho) / (2 * sigma**2)
    g_theta = tmap.gather(backward(stats, fwd, G_top, -0.5, by_top=by_top))
    w = stats.weights[-1]
    if by_top:
        Qg = np.einsum("r,grs,s->g", rho, fwd.S_top, rho)
        g_sigma = w * (-fwd.n_top / sigma + Qg / sigma**3)
        return np.column_stack([g_theta, g_sigma])
    Q = rho @ fwd.S_tot @ rho
    return np.r_[g_theta, -fwd.N / sigma + Q / sigma**3]
