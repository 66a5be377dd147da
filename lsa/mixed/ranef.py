"""Random-effect predictions of a linear mixed fit with their conditional variances.

Given θ̂, β̂ and σ̂², the random effects of a level-l group g have, conditionally on the data
and on the random effects of the groups above it (the ancestors a_g), the Gaussian posterior
(the forward pass of :mod:`lsa.mixed.pml`: M = I + Λ'S_ZZΛ, K = M⁻¹, T = Λ'S_ZR, ρ = (−a, −β̂, 1))

    b_g | a_g, y ~ N(Λ K T ρ,  σ² Λ K Λ').

At the top level there are no ancestors: this is lme4's conditional mode and ``condVar``
(Bates et al. 2015, §3.3; ``ranef(fit, condVar = TRUE)``). Below the top the ancestors are
integrated out, top-down: with A = Λ K T_a (T_a the columns of T for the ancestors' random
effects) and C_g the joint posterior covariance of the ancestors,

    Var(b_g | y) = σ² Λ K Λ' + A C_g A',      Cov(b_g, a_g | y) = −A C_g,

which are the diagonal blocks of σ² Λ (Λ'Z'ZΛ + I)⁻¹ Λ' that lme4 reports for nested factors.
All of it is conditional on β̂ (as lme4), and computed for every group at once (einsum over
groups, one pass per level).

Weighted fits: S_ZZ, S_ZR are the weighted cross-products of the pseudo-likelihood (level-1
conditional weights, group weights at the level above), so the posterior is the one of the
weighted pseudo-likelihood: the random effects' prior times each cluster's pseudo-likelihood.
Its variances describe the uncertainty of a school's effect given the model; they are not
design-based. They depend on the scale of the level-1 weights: conditional weights that sum to
the school's population size (PISA's w_fstuwt/w_fschwt unscaled) make the posterior as precise
as if every student of the school had been tested (PISA 2012 extract: median SD 5.5 against
14.6 unweighted). Fit with ``scaling="cluster"`` (weights summing to the cluster's sample size;
median SD 14.4) for SEs on the information of the sample. A group outside a domain (no row of
positive weight) gets its prior: estimate 0, variance Σ_l.

Reference: Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear
mixed-effects models using lme4. JSS 67(1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lsa.errors import LsaError
from lsa.mixed.pml import forward
from lsa.mixed.stats import build_stats, parent_index

__all__ = ["RANEF_COLUMNS", "posterior", "conditional_covariances", "random_effects"]

#: the columns of a tidy random-effects table (shared with the GLMM results and the plot)
RANEF_COLUMNS = ("group", "level", "term", "estimate", "std_error")


def posterior(stats, fwd, beta: np.ndarray, sigma2: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Posterior means (bottom-up list of (G_l, q_l)) and covariances ((G_l, q_l, q_l)) of the
    random effects of every level (module docstring), top-down over the levels."""
    nl = len(fwd.passes)
    rho = np.tile(np.r_[-beta, 1.0], (fwd.passes[-1].T.shape[0], 1))
    C = np.zeros((rho.shape[0], 0, 0))                       # ancestors' joint covariance
    means, covs = [None] * nl, [None] * nl
    for l in range(nl - 1, -1, -1):
        P = fwd.passes[l]
        LK = np.einsum("ab,gbc->gac", P.lam, P.K)             # Λ K
        b = np.einsum("gac,gcr,gr->ga", LK, P.T, rho)
        V = sigma2 * np.einsum("gac,dc->gad", LK, P.lam)
        a = C.shape[1]
        A = np.einsum("gac,gcr->gar", LK, P.T[:, :, :a])
        V = V + np.einsum("gar,grs,gbs->gab", A, C, A)
        means[l], covs[l] = b, V
        if l > 0:
            par = parent_index(stats.hierarchy, l - 1)
            cross = -np.einsum("gar,grs->gas", A, C)
            top = np.concatenate([V, cross], axis=2)
            bottom = np.concatenate([cross.transpose(0, 2, 1), C], axis=2)
            C = np.concatenate([top, bottom], axis=1)[par]
            rho = np.hstack([-b[par], rho[par]])
    return means, covs


def _posterior_of(fit):
    frame, w, tmap = fit.model_frame, fit.level_weights, fit.theta_map
    if frame is None or w is None or tmap is None:
        raise LsaError("random_effects() needs the model frame and weights of the fit (a MixedResult "
                       "returned by lsa.mixed / lsa.mix_pv of this version); refit the model")
    stats = build_stats(frame, w)
    fwd = forward(stats, tmap.lambdas(fit.theta.to_numpy()))
    return frame, posterior(stats, fwd, fit.params.to_numpy(), float(fit.scale))


def conditional_covariances(fit) -> dict[str, np.ndarray]:
    """``{group: (G, q, q)}``: the posterior covariance of each group's random effects (groups in
    the order of ``fit.ranef[group].index``, terms in its column order)."""
    frame, (_, covs) = _posterior_of(fit)
    return {g: c for g, c in zip(frame.group_names, covs)}


def random_effects(fit) -> pd.DataFrame:
    """Tidy table of the random effects of a :class:`lsa.mixed.MixedResult`: one row per grouping
    factor (``group``), group (``level``: its id) and random-effect term (``term``), with the
    posterior mean (``estimate``, = ``fit.ranef``) and the posterior SD (``std_error``: the
    square root of the diagonal of the conditional covariance; module docstring). Rows by group
    (level 2 first), then term, then group id."""
    frame, (means, covs) = _posterior_of(fit)
    parts = []
    for g, ids, terms, b, V in zip(frame.group_names, frame.group_ids, frame.znames, means, covs):
        G, q = b.shape
        se = np.sqrt(np.clip(np.einsum("gkk->gk", V), 0, None))
        parts.append(pd.DataFrame({"group": g, "level": np.tile(np.asarray(ids), q),
                                   "term": np.repeat(np.asarray(terms, dtype=object), G),
                                   "estimate": b.T.ravel(), "std_error": se.T.ravel()}))
    return pd.concat(parts, ignore_index=True)
