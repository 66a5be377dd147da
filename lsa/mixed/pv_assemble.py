"""From the per-PV fits of :func:`lsa.mix_pv` to a :class:`lsa.mixed.pv_result.MixPVResult`.

Gathers per PV m the estimates Q_m (fixed effects; variance components) and their within-PV
variances U_m — the top-level sandwich of each fit, or with ``se="replicate"`` the replicate
variance V_m = c Σ_r (θ̂_mr − θ̂_m)(θ̂_mr − θ̂_m)' of :func:`lsa.replicates.replicate_variance`
— chooses the complete-data df and hands them to :mod:`lsa.pooling` (Rubin's rules, flat or
nested). No pooling arithmetic lives here.
"""
from __future__ import annotations

import numpy as np

from lsa import pooling
from lsa.errors import EstimationError
from lsa.mixed.pv_formula import PVPlan
from lsa.mixed.pv_options import PVOptions
from lsa.mixed.pv_refits import PVFit
from lsa.mixed.pv_result import MixPVResult
from lsa.replicates import replicate_variance

__all__ = ["pool_fits", "cluster_df", "complete_df"]


def cluster_df(frame) -> float:
    """Top-level clusters − level-2 parameters (fixed effects constant within the top-level
    clusters, intercept included, + the top-level variance/covariance terms)."""
    codes = frame.codes[-1]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    G = len(starts)
    X = frame.X
    mx = np.maximum.reduceat(X, starts, axis=0)
    mn = np.minimum.reduceat(X, starts, axis=0)
    scale = np.maximum(np.abs(X).max(axis=0), 1e-300)
    p2 = int(np.sum(np.all((mx - mn) <= 1e-10 * scale, axis=0)))
    q = frame.Z[-1].shape[1]
    return float(G - p2 - q * (q + 1) // 2)


def complete_df(opts: PVOptions, plan: PVPlan, nobs: int, n_fixed: int, n_variances: int,
                first_frame) -> tuple[tuple[float, float], str]:
    """(ν_com of the fixed and of the random block, df method name) for ``opts.df``:
    Barnard–Rubin with :func:`lsa.pooling.mixed_df_complete` (the design df with
    ``se="replicate"``), Rubin (∞), cluster-based (:func:`cluster_df`) or a given number."""
    if opts.df == "barnard_rubin":
        if opts.replicate:
            return (float(plan.design.df),) * 2, "barnard_rubin"
        return pooling.mixed_df_complete(nobs, n_fixed, n_variances), "barnard_rubin"
    if opts.df == "rubin":
        return (np.inf, np.inf), "rubin"
    if opts.df == "cluster":
        c = cluster_df(first_frame)
        if c <= 0:
            raise EstimationError(f"cluster-based complete-data df is {c:g} (too few clusters for the "
                                  f"level-2 parameters); use df='barnard_rubin' or 'rubin'")
        return (c, c), "cluster"
    return (float(opts.df),) * 2, "given"


def _within(fits: list[PVFit], plan: PVPlan, opts: PVOptions, q_fixed, q_vc):
    """(U_fixed (M, p, p), U_vc (M, v), replicate estimates or None, factor or None)."""
    if not opts.replicate:
        u_fixed = np.array([f.fit.cov_params().to_numpy() for f in fits])
        u_vc = np.array([f.fit.variance_components.std_error.to_numpy() for f in fits]) ** 2
        return u_fixed, u_vc, None, None
    p = q_fixed.shape[1]
    factor = plan.design.replicate_factors()      # c_r per replicate (countries may differ)
    rep_est = np.stack([f.replicates for f in fits])                      # (M, R, k)
    V = replicate_variance(np.column_stack([q_fixed, q_vc]), rep_est, factor)
    return V[:, :p, :p], np.einsum("mii->mi", V[:, p:, p:]), rep_est, factor


def pool_fits(formula: str, plan: PVPlan, fits: list[PVFit], keep: list[int], dropped: list[int],
              first_frame, opts: PVOptions, elapsed: float) -> MixPVResult:
    """Pool the kept fits (``keep``: indices into ``plan.draws``) into a :class:`MixPVResult`."""
    draws = [plan.draws[k] for k in keep]
    fits = [fits[k] for k in keep]
    f0 = fits[0].fit
    fixed_terms = tuple(f0.params.index)
    for d, f in zip(draws[1:], fits[1:]):
        if tuple(f.fit.params.index) != fixed_terms:
            raise EstimationError(f"the fixed-effect terms differ between PVs: {draws[0].label} has "
                                  f"{list(fixed_terms)}, {d.label} {list(f.fit.params.index)} "
                                  f"(a factor level is empty in one PV data set?)")
    rterms, is_var = pooling.variance_component_rows(f0.variance_components)
    q_fixed = np.array([f.fit.params.to_numpy() for f in fits])
    q_vc = np.array([f.fit.variance_components.estimate.to_numpy() for f in fits])
    u_fixed, u_vc, rep_est, factor = _within(fits, plan, opts, q_fixed, q_vc)
    if opts.legacy_alignment:
        # mixPV: vars (variances, residual last) paired with the first v SEs of varDF
        # (variances, covariances, residual) — misaligned when covariances exist
        k_var = int(is_var.sum())
        q_vc, u_vc = q_vc[:, is_var], u_vc[:, :k_var]
        rterms, is_var = [t for t, s in zip(rterms, is_var) if s], is_var[is_var]
    n = int(f0.nobs)
    nu, method = complete_df(opts, plan, n, len(fixed_terms), int(is_var.sum()), first_frame)
    first_only = opts.replicate and getattr(plan.design, "pv_variance", "all") == "first"
    grid = None
    if opts.pool == "nested":
        if len(keep) != len(plan.draws):
            raise EstimationError("nested pooling needs every PV x imputation fit; some were dropped")
        grid, method = plan.grid, "nested"
    fixed = pooling.pool_estimates(q_fixed, u_fixed, method=opts.pool, df_complete=nu[0],
                                   within=u_fixed[0] if first_only else None, grid=grid)
    random = pooling.pool_estimates(q_vc, u_vc, method=opts.pool, df_complete=nu[1],
                                    within=np.diag(u_vc[0]) if first_only else None, grid=grid)
    rkind = tuple("var" if v else "cov" for v in is_var)
    return MixPVResult(formula, tuple(d.label for d in draws), tuple(f.fit for f in fits), fixed, random,
                       fixed_terms, tuple(rterms), rkind, n, tuple(dropped[k] for k in keep), method, nu,
                       opts.se, bool(opts.legacy_alignment), rep_est, factor, elapsed)
