"""Replicate-weight refits of a multilevel model: level weights of one replicate, the
per-cluster statistics that change with them and the refits themselves (used by
:func:`lsa.mix_pv` with ``se="replicate"``; see its Notes for the rule and its reference,
BIFIEsurvey's ``BIFIE.twolevelreg``). The variance of the refits is
:func:`lsa.replicates.replicate_variance`.

Domains (:mod:`lsa.model_inputs`): the rows outside a domain keep their place with full-sample
weight 0, so a school entirely outside it has Σ_i w_i = 0 and its replicate factor
a_k = 0/0. The refits define it as 0 (the school keeps weight 0 in every replicate), give
every row of zero full-sample weight the student factor b_i = 0 (its replicate weight is
ignored) and rescale the level-1 weights (``scaling``) over the rows of positive weight only,
so that a refit on ``design.subset(...)`` equals the refit on the domain's rows."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from lsa.errors import ConvergenceWarning, EstimationError
from lsa.mixed.fit import MixedControl, optimize
from lsa.mixed.pml import ThetaMap
from lsa.threads import single_blas_thread
from lsa.weights import scale_within

__all__ = ["vc_vector", "replicate_level_weights", "stats_for_replicate", "refit_replicates"]


def vc_vector(theta: np.ndarray, sigma2: float, tmap: ThetaMap) -> np.ndarray:
    """Variance components in the order of ``MixedResult.variance_components`` (per level:
    variances then covariances, in θ order; the residual variance last)."""
    lams = tmap.lambdas(theta)
    out = []
    for l in range(len(tmap.q)):
        idx = np.flatnonzero(tmap.level == l)
        pairs = [(int(tmap.rows[k]), int(tmap.cols[k])) for k in idx]
        LL = sigma2 * lams[l] @ lams[l].T
        order = sorted(range(len(pairs)), key=lambda i: pairs[i][0] != pairs[i][1])
        out.extend(LL[pairs[i][0], pairs[i][1]] for i in order)
    out.append(sigma2)
    return np.asarray(out)


def replicate_level_weights(stats, total_w1: np.ndarray, w1_unscaled: np.ndarray, rep: np.ndarray,
                            top_codes: np.ndarray, level2_codes: np.ndarray, scaling: str = "none"):
    """Level weights of one replicate: the replicate factor goes to the top-level weight.

    With b_i = w_i^(r) / w_i (student replicate factor) and, per top-level group k (school),
    a_k = Σ_{i∈k} w_i^(r) / Σ_{i∈k} w_i: the top weight becomes w_k · a_k and the level-1
    conditional weight w_{i|j} · b_i / a_k, so total weights equal the replicate weights
    exactly. When b is constant within every school (replicates built from whole PSUs, as
    PISA's Fay BRR and TIMSS's JK2) the conditional level-1 weights are unchanged and only the
    school weights move. Returns ``(w1_r or None if unchanged, top_weights_r, changed_groups)``.

    Rows of zero full-sample weight (outside a domain) count for nothing: b_i = 0, their
    replicate weight is left out of a_k, and a group without a row of positive weight has
    a_k = 0/0 := 0 (see the module docstring).
    """
    starts = np.flatnonzero(np.r_[True, top_codes[1:] != top_codes[:-1]])
    pos = total_w1 > 0
    rep = np.where(pos, rep, 0.0)
    num = np.add.reduceat(rep, starts)
    den = np.add.reduceat(total_w1, starts)
    a = np.divide(num, den, out=np.zeros(len(den)), where=den > 0)          # 0/0 := 0
    b = np.divide(rep, total_w1, out=np.zeros(len(rep)), where=pos)
    ar = a[top_codes]
    dev = pos & (np.abs(b - ar) > 1e-10 * np.maximum(ar, 1e-300))
    top_r = stats.weights[-1] * a
    if not dev.any():
        return None, top_r, np.zeros(len(a), bool)
    changed = np.zeros(len(a), bool)
    changed[np.unique(top_codes[dev])] = True
    ratio = np.divide(b, ar, out=np.ones(len(ar)), where=ar > 0)
    w1_r = w1_unscaled * ratio
    if scaling != "none":
        w1_r[pos] = scale_within(w1_r[pos], level2_codes[pos], scaling)
    return w1_r, top_r, changed


def stats_for_replicate(stats, w1_r, top_r, changed_top, top_of_cluster):
    """ClusterStats with new weights, recomputing cross-products only where needed."""
    weights = stats.weights[:-1] + (top_r,)
    if w1_r is None:
        return dataclasses.replace(stats, weights=weights)
    S = stats.S.copy()
    nstar = stats.nstar.copy()
    starts = stats.hierarchy.starts[0]
    ends = np.r_[starts[1:], len(stats.w1)]
    for j in np.flatnonzero(changed_top[top_of_cluster]):
        a, b = starts[j], ends[j]
        V = stats.V[a:b]
        w = w1_r[a:b]
        S[j] = (V * w[:, None]).T @ V
        nstar[j] = w.sum()
    return dataclasses.replace(stats, S=S, nstar=nstar, w1=w1_r, weights=weights)


@single_blas_thread
def refit_replicates(fit, frame, w, stats, replicate_weights: np.ndarray, control=None
                     ) -> tuple[np.ndarray, tuple[int, ...]]:
    """Refit a fitted model once per replicate weight set.

    ``fit`` the full-sample :class:`lsa.mixed.MixedResult` of ``frame``/``w``/``stats`` (the
    engine's model frame, level weights and per-cluster statistics); ``replicate_weights``
    (n, R) student replicate weights in frame order. Each refit moves the level weights as
    :func:`replicate_level_weights` says, reuses the cross-products of the clusters whose
    conditional weights did not change (:func:`stats_for_replicate`) and starts the optimiser
    at the full-sample θ̂. Returns the (R, k) estimates — fixed effects, then the variance
    components in the order of ``fit.variance_components`` — and the replicates (0-based)
    whose optimiser did not converge.
    """
    tmap = fit.theta_map
    control = dataclasses.replace(control or MixedControl(), start=tuple(fit.theta.to_numpy()))
    top_codes = frame.codes[-1]
    w1_unscaled = w.unconditional[0] / w.unconditional[1][frame.codes[0]]
    top_of_cluster = top_codes[stats.hierarchy.starts[0]]
    est = np.empty((replicate_weights.shape[1], len(fit.params) + len(fit.variance_components)))
    failed = []
    for r in range(replicate_weights.shape[1]):
        try:
            w1_r, top_r, changed = replicate_level_weights(stats, w.unconditional[0], w1_unscaled,
                                                           replicate_weights[:, r], top_codes, frame.codes[0],
                                                           w.scaling)
            st = stats_for_replicate(stats, w1_r, top_r, changed, top_of_cluster)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                o = optimize(st, tmap, False, control)
        except Exception as exc:                 # name the replicate (lsa.parallel adds the PV)
            raise EstimationError(f"replicate {r + 1}: {type(exc).__name__}: {exc}") from exc
        if not o.converged:
            failed.append(r)
        est[r] = np.r_[o.profile.beta, vc_vector(o.profile.theta, o.profile.sigma2, tmap)]
    return est, tuple(failed)
