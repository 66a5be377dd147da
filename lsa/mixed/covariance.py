"""Covariance estimators of the fixed effects of a :class:`lsa.mixed.MixedResult`: one registry.

``fit.with_vcov(name, **options)`` looks ``name`` up in the registry
(:data:`lsa.mixed.vcov.VCOV_ESTIMATORS`, filled here when ``lsa.mixed`` is imported) and returns the
same fit reporting that covariance and its degrees of freedom; :func:`lsa.robust.robust_mixed`
is a thin alias over the same estimators. Every estimator is a small class with ``name``,
the ``options`` it accepts and ``compute(fit, **options) -> VcovEstimate``:

================  ===============================================================  ============
name              V(β̂)                                                             df
================  ===============================================================  ============
``model``         M = σ̂² S_XX⁻¹ (inverse pseudo-Hessian; lme4's ``vcov``)           ∞ (normal)
``sandwich``      G/(G−1) · CR0 (WeMix's ``SE``)                                   ∞ (normal)
``CR0``           M (Σ_c u_c u_c') M, u_c the cluster's fixed-effect scores        Satterthwaite
``CR1``, ``CR1S`` CR0 times G/(G−1), resp. G(n−1)/((G−1)(n−p))                     Satterthwaite
``CR2``           M (Σ_c X_c'W_c A_c e_c e_c' A_c' W_c X_c) M, Bell-McCaffrey A_c    Satterthwaite
``CR3``, ``CR3J`` jackknife adjustments (:mod:`lsa.robust.cr`)                      Satterthwaite
``replicate``     c Σ_r (β̂_r − β̂)(β̂_r − β̂)', β̂_r the refit with replicate r        design df
================  ===============================================================  ============

The cluster-robust types use the per-cluster blocks of :mod:`lsa.mixed.cluster_blocks`
(working covariance, CR2 working model ``target``; formulas in :mod:`lsa.robust.mixed`) and the
estimators of :mod:`lsa.robust.cr` / :mod:`lsa.robust.satterthwaite`; CR0 and the WeMix
sandwich share one formula, :func:`lsa.mixed.vcov.cr0_cov`, on the scores the fit stored.
The replicate type refits the model once per replicate weight set
(:func:`lsa.mixed.replicate.refit_replicates`) and takes the variance from
:func:`lsa.replicates.replicate_variance`, the only replicate-variance formula.

References: Pustejovsky & Tipton (2018, JBES 36:672) for CR2 and its Satterthwaite df
(clubSandwich ``vcovCR`` + ``coef_test``); Rabe-Hesketh & Skrondal (2006, JRSS A 169:805) for
the pseudo-likelihood sandwich; BIFIEsurvey ``BIFIE.twolevelreg`` for replicate refits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lsa.errors import ConvergenceWarning, DesignError, LsaError, warn
from lsa.mixed.cluster_blocks import TARGETS, fit_blocks, mixed_df_method
from lsa.mixed.vcov import VCOV_ESTIMATORS, cr0_cov, get_vcov_estimator, register_vcov
from lsa.robust.cr import COVARIANCE_TYPES, get_covariance_type
from lsa.validation import check_choice

__all__ = ["VcovEstimate", "ClusterRobustPieces", "MixedVcov", "ModelVcov", "SandwichVcov",
           "ClusterRobustVcov", "ReplicateVcov", "VCOV_ESTIMATORS", "get_vcov_estimator"]


@dataclass(frozen=True)
class ClusterRobustPieces:
    """What a cluster-robust estimate was computed from: ``blocks``
    (:class:`lsa.robust.blocks.ClusterBlocks`), the GLS ``beta`` given the variance components,
    the estimating matrices ``estimating`` of the covariance type, ``weighted`` and ``target``."""

    blocks: object
    beta: np.ndarray
    estimating: tuple
    weighted: bool
    target: str


@dataclass(frozen=True)
class VcovEstimate:
    """One covariance of the fixed effects: ``name``, ``cov`` (p × p), ``df`` (p; ∞ = normal
    reference), ``df_method``, and ``details`` (:class:`ClusterRobustPieces`, or for
    ``replicate`` the (R, k) refit estimates as a dict)."""

    name: str
    cov: np.ndarray = field(repr=False)
    df: np.ndarray = field(repr=False)
    df_method: str
    details: object = field(default=None, repr=False)


class MixedVcov:
    """One covariance estimator of a mixed fit (subclasses: ``name``, ``options``, ``compute``)."""

    name: str = ""
    options: tuple[str, ...] = ()

    def compute(self, fit, **options) -> VcovEstimate:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _normal(fit, name: str) -> VcovEstimate:
    p = len(fit.params)
    return VcovEstimate(name, fit.covs[name].to_numpy(), np.full(p, np.inf), "z")


class ModelVcov(MixedVcov):
    """V = M = σ̂² S_XX⁻¹ = H_ββ⁻¹, the inverse pseudo-Hessian at (θ̂, σ̂) (lme4's ``vcov`` for
    unit weights, WeMix's ``invHessian``); normal reference. Computed by the fit
    (:class:`lsa.mixed.vcov.ModelCov`)."""

    name = "model"

    def compute(self, fit, **options) -> VcovEstimate:
        return _normal(fit, self.name)


class SandwichVcov(MixedVcov):
    """V = G/(G−1) M (Σ_g s_g s_g') M over the G top-level groups, s_g = ∂(w_g log L_g)/∂β:
    WeMix's sandwich (Rabe-Hesketh & Skrondal 2006, eq. 12), i.e. G/(G−1) · CR0; normal
    reference. Computed by the fit (:class:`lsa.mixed.vcov.SandwichCov` over
    :func:`lsa.mixed.vcov.cr0_cov`)."""

    name = "sandwich"

    def compute(self, fit, **options) -> VcovEstimate:
        return _normal(fit, self.name)


def _cluster_scores(fit, blocks, E, cl) -> np.ndarray:
    """u_c per cluster: the fit's top-level scores (summed over a coarser ``cl``), or from the
    blocks (u_c = X_c'W_c e_c = M⁻¹E_c'e_c) for a fit that did not store them."""
    s = getattr(fit, "scores", None)
    if s is None:
        return np.vstack([np.linalg.solve(blocks.bread, Ej.T @ ej) for Ej, ej in zip(E, blocks.e)])
    if cl is None:
        return s
    frame = fit.model_frame
    top = frame.codes[-1]
    first = np.flatnonzero(np.r_[True, top[1:] != top[:-1]])
    return pd.DataFrame(s).groupby(pd.factorize(np.asarray(cl)[first], sort=True)[0]).sum().to_numpy()


class ClusterRobustVcov(MixedVcov):
    """Cluster-robust covariance ``CRx`` of :mod:`lsa.robust.cr` at the top level (or a coarser
    clustering that nests it), V = c M (Σ_c E_c'e_c e_c'E_c) M with E_c = A_c'W_c X_c M, and
    the df of ``df_method`` (default Satterthwaite, Bell & McCaffrey 2002 / Pustejovsky &
    Tipton 2018 eq. 11, under the working model ``target``). For the types without an
    adjustment (A_c = I: CR0, CR1, CR1S) V = c · :func:`lsa.mixed.vcov.cr0_cov` on the fit's
    scores, the computation behind the WeMix sandwich.

    Options: ``df_method`` ("satterthwaite", "between-within", "naive", "z", ...),
    ``cluster`` (a coarser clustering; column name with ``data``, or values in model-frame
    order), ``target`` ("model" or "weighted", weighted fits), ``data`` (for fits without a
    model frame, or to look up ``cluster``).
    """

    options = ("df_method", "cluster", "target", "data")

    def __init__(self, name: str, identity_adjustment: bool):
        self.name = name
        self.identity_adjustment = identity_adjustment

    def compute(self, fit, df_method="satterthwaite", cluster=None, target: str = "model",
                data=None) -> VcovEstimate:
        ct = get_covariance_type(self.name)
        dm = mixed_df_method(df_method)
        check_choice(target, TARGETS, "target")
        b, beta, _, cl = fit_blocks(fit, data, cluster, target)
        E = ct.estimating_matrices(b)
        if self.identity_adjustment:
            cov = ct.factor(b) * cr0_cov(b.bread, _cluster_scores(fit, b, E, cl))
        else:
            cov = ct.vcov(b, E)
        dfv = np.asarray(dm.df(b, ct, E), float)
        pieces = ClusterRobustPieces(b, np.asarray(beta, float), tuple(E),
                                     fit_is_weighted(fit), target)
        return VcovEstimate(ct.name, np.asarray(cov, float), dfv, dm.name, pieces)


def fit_is_weighted(fit) -> bool:
    return bool(getattr(fit, "weights", None))


def _design_rows(design, frame) -> np.ndarray:
    """Positions in ``design.data`` of the fit's rows (model-frame order)."""
    idx = design.data.index
    if idx.is_unique:
        pos = idx.get_indexer(frame.row_index)
        if (pos < 0).any():
            raise DesignError(f"design: {int((pos < 0).sum())} row(s) the model was fitted to "
                              f"(e.g. index {list(frame.row_index[pos < 0][:3])}) are not in the "
                              "design's data; pass the design the model was fitted to")
        return pos
    rows = np.flatnonzero(np.asarray(design.domain, bool))
    if len(rows) <= int(np.max(frame.order, initial=-1)):
        raise DesignError("design: its rows do not match the fit (and its data index is not "
                          "unique); pass the design the model was fitted to")
    return rows[frame.order]


class ReplicateVcov(MixedVcov):
    """Replicate-weight covariance: V = c Σ_r (β̂_r − β̂)(β̂_r − β̂)' with c the design's
    variance factor (Fay BRR: 1/(R(1−k)²)) and β̂_r the fit refitted with replicate weight set
    r (:func:`lsa.replicates.replicate_variance`); df = the design df (``design.df``).

    For replicate r the top-level weight is multiplied by the group's replicate factor
    a_k = Σ_{i∈k} w_i^(r) / Σ_{i∈k} w_i and the conditional level-1 weight by
    w_i^(r) / (w_i a_k), so total weights equal the replicate weights
    (:func:`lsa.mixed.replicate.replicate_level_weights`). Options: ``design`` (required; the
    :class:`lsa.SurveyDesign` with replicate weights whose rows the model was fitted to),
    ``control`` (:class:`lsa.mixed.MixedControl` of the refits). ``details`` holds the (R, k)
    refit estimates (fixed effects, then variance components) and the variance factor.
    """

    name = "replicate"
    options = ("design", "control")

    def compute(self, fit, design=None, control=None) -> VcovEstimate:
        from lsa.design import SurveyDesign
        from lsa.mixed.fit import build_stats, weighted_rows
        from lsa.mixed.replicate import refit_replicates
        from lsa.replicates import replicate_variance

        if not isinstance(design, SurveyDesign):
            raise LsaError(f"with_vcov('replicate') needs design=, the lsa.SurveyDesign with "
                           f"replicate weights the model was fitted to; got {type(design).__name__}")
        if design.replicates is None:
            raise DesignError("with_vcov('replicate'): the design has no replicate weights "
                              "(SurveyDesign(..., replicates=lsa.Replicates.fay(...)))")
        if not fit_is_weighted(fit):
            raise DesignError("with_vcov('replicate') needs a weighted fit: replicate weights "
                              "perturb the sampling weights the model was fitted with")
        frame, w = weighted_rows(fit.model_frame, fit.level_weights)   # a domain's rows
        pos = _design_rows(design, frame)
        full = design.full_weight()[pos]
        if not np.allclose(full, w.unconditional[0], rtol=1e-8, atol=0):
            raise DesignError(f"with_vcov('replicate'): the design's full weight differs from "
                              f"the level-1 total weight the fit used ({list(w.columns or ())}); "
                              "fit the model with the design's weights")
        rep = design.replicate_weights()[pos]
        est, failed = refit_replicates(fit, frame, w, build_stats(frame, w), rep, control)
        if failed:
            warn(f"{len(failed)} of {rep.shape[1]} replicate refits did not converge (replicates "
                 f"{[r + 1 for r in failed[:10]]}); their estimates are used as they are",
                 ConvergenceWarning)
        p = len(fit.params)
        factor = design.replicate_factors()      # c_r per replicate (countries may differ)
        cov = replicate_variance(fit.params.to_numpy(), est[:, :p], factor)
        details = {"estimates": est, "factor": factor, "failed": tuple(failed)}
        return VcovEstimate(self.name, cov, np.full(p, float(design.df)), "design", details)


for _estimator in (ModelVcov(), SandwichVcov(), ReplicateVcov(),
                   *(ClusterRobustVcov(n, n in ("CR0", "CR1", "CR1S")) for n in COVARIANCE_TYPES)):
    register_vcov(_estimator)
