"""Immutable result of a weighted GLMM fit (:func:`lsa.mixed.glmm_fit.glmm`), in the vocabulary
of :class:`lsa.mixed.MixedResult` and :mod:`lsa.results`.

``params``, ``bse`` (the covariance in use: ``"sandwich"`` by default, WeMix's
``makeSandwich``), ``bse_model`` (inverse of the negative Hessian of the pseudo-likelihood),
``cov_params()``, ``tvalues`` (z), ``pvalues`` (normal reference, as WeMix and lme4),
``conf_int()``, ``wald_test()``, ``tidy()``, ``summary()``, ``variance_components`` (with
sandwich SEs, delta method from the log-Cholesky parameters), ``random_covariances()``,
``random_effects()`` (conditional modes and conditional SEs, as ``lme4::ranef(condVar=TRUE)``),
``with_vcov("model" | "sandwich" | "replicate", ...)``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lsa.errors import LsaError
from lsa.mixed.fixed_inference import FixedEffectsInference

__all__ = ["GLMMResult"]

_LATENT = {"logit": np.pi ** 2 / 3, "probit": 1.0}


@dataclass(frozen=True)
class GLMMResult(FixedEffectsInference):
    """Weighted two-level GLMM fitted by pseudo-maximum likelihood with adaptive quadrature.

    Fixed effects: ``params``, ``bse``, ``bse_model``, ``cov_params()``, ``tvalues``,
    ``pvalues``, ``conf_int()``, ``wald_test()``. Random part: ``variance_components`` (one row
    per variance and covariance: ``level``, ``group``, ``term1``, ``term2``, ``estimate``,
    ``std_error`` (sandwich), ``std_error_model``), ``random_covariances()``, ``theta``
    (log-Cholesky parameters), ``icc`` (latent scale, binomial only). Fit: ``llf`` (log
    pseudo-likelihood, the quadrature approximation), ``nobs``, ``ngroups``, ``n_dropped``,
    ``converged``, ``iterations``, ``grad_norm`` (max |∂ℓ/∂ψ| / N), ``separation``, ``notes``,
    ``family``, ``link``, ``n_quad``. ``scores`` (G, P): per-cluster scores w_j ∂A_j/∂ψ;
    ``hessian`` (P, P): ∂²ℓ/∂ψ∂ψ' (ψ = (β, θ)).
    """

    formula: str
    family: str
    link: str
    n_quad: int
    params: pd.Series
    vcov_type: str
    covs: dict = field(repr=False)
    variance_components: pd.DataFrame = field(repr=False)
    vc_cov: dict = field(repr=False)
    theta: pd.Series = field(repr=False)
    llf: float = 0.0
    nobs: int = 0
    ngroups: dict = field(default_factory=dict)
    n_dropped: int = 0
    converged: bool = True
    iterations: int = 0
    grad_norm: float = 0.0
    separation: bool = False
    weights: tuple | None = None
    scaling: str = "none"
    notes: tuple = ()
    ranef: dict = field(default_factory=dict, repr=False)
    ranef_se: dict = field(default_factory=dict, repr=False)
    random_cov: dict = field(default_factory=dict, repr=False, compare=False)
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)
    hessian: np.ndarray | None = field(default=None, repr=False, compare=False)
    model_frame: object = field(default=None, repr=False, compare=False)
    level_weights: object = field(default=None, repr=False, compare=False)
    #: :class:`lsa.mixed.glmm.GLMMData` of the fit (for replicate refits)
    data: object = field(default=None, repr=False, compare=False)
    #: the covariance in use when set by ``with_vcov("replicate")`` (:class:`lsa.mixed.covariance.VcovEstimate`:
    #: its df, df_method and the replicate estimates); None = model or sandwich, normal reference
    vcov_estimate: object = field(default=None, repr=False, compare=False)
    reml: bool = False

    # -- fixed effects --------------------------------------------------------------------
    def with_vcov(self, type: str, **options) -> "GLMMResult":
        """The same fit reporting another covariance of the fixed effects: ``"model"``,
        ``"sandwich"`` or ``"replicate"`` (option ``design=``, the :class:`lsa.SurveyDesign`
        with replicate weights the model was fitted to: V = c Σ_r (β̂_r − β̂)(β̂_r − β̂)' over
        refits with every replicate weight set, :func:`lsa.mixed.glmm_optimize.refit_replicates`;
        design df)."""
        if type in ("model", "sandwich"):
            if options:
                raise LsaError(f"with_vcov({type!r}) takes no options; got {sorted(options)}")
            return dataclasses.replace(self, vcov_type=type, vcov_estimate=None)
        if type != "replicate":
            raise LsaError(f"with_vcov: a GLMM fit offers 'model', 'sandwich' or 'replicate'; got {type!r}")
        from lsa.mixed.covariance import VcovEstimate
        from lsa.mixed.glmm_optimize import replicate_vcov

        unknown = sorted(set(options) - {"design", "control"})
        if unknown:
            raise LsaError(f"with_vcov('replicate'): unknown option(s) {unknown}; allowed: ['design', 'control']")
        cov, details = replicate_vcov(self, **options)
        names = list(self.params.index)
        covs = {**self.covs, "replicate": pd.DataFrame(cov, names, names)}
        estimate = VcovEstimate("replicate", cov, details["df"], details["df_method"], details)
        return dataclasses.replace(self, vcov_type="replicate", covs=covs, vcov_estimate=estimate)

    # -- random part ----------------------------------------------------------------------
    def random_covariances(self) -> dict:
        """``{group: DataFrame (q × q)}``: the covariance Σ of the random effects (copies)."""
        return {g: m.copy() for g, m in self.random_cov.items()}

    @property
    def icc(self) -> float:
        """Σ of the random-effect variances / (that + the latent residual variance: π²/3 for the
        logit, 1 for the probit); NaN for the Poisson (no latent scale)."""
        if self.link not in _LATENT:
            return float("nan")
        vc = self.variance_components
        v = vc.loc[vc.term2.isna(), "estimate"].sum()
        return float(v / (v + _LATENT[self.link]))

    def random_effects(self) -> pd.DataFrame:
        """Conditional modes b̂_j = L û_j and their conditional SEs, the square roots of the
        diagonal of L H_j⁻¹ L' with H_j = Σ_i w_{i|j} W_i e_i e_i' + I the curvature at the mode
        (lme4's ``ranef(condVar = TRUE)`` for ``glmer``). Columns ``group`` (grouping factor),
        ``level`` (the cluster id), ``term``, ``estimate``, ``std_error``; one row per cluster
        and random-effect term, clusters in sorted order."""
        rows = []
        for g, b in self.ranef.items():
            se = self.ranef_se[g]
            for t in b.columns:
                rows.append(pd.DataFrame({"group": g, "level": b.index.astype(str), "term": t,
                                          "estimate": b[t].to_numpy(), "std_error": se[t].to_numpy()}))
        return pd.concat(rows, ignore_index=True)

    @property
    def loglik(self) -> float:
        return self.llf

    # -- tables ---------------------------------------------------------------------------
    def summary(self, digits: int = 4) -> str:
        """Text summary: call, family and link, quadrature points, variance terms (with sandwich
        SEs), groups, fixed effects (estimate, SE, z), log pseudo-likelihood, notes, warnings."""
        from lsa.mixed.rformat import coef_table, format_table

        method = "Laplace" if self.n_quad == 1 else f"adaptive Gauss-Hermite quadrature, {self.n_quad} points"
        vc = self.variance_components
        lines = ["Call:", f"mixed(formula = {self.formula!r}, family = {self.family!r}, link = {self.link!r}"
                 + (f", weights = {list(self.weights)!r}" if self.weights else "") + ")",
                 f"Generalized linear mixed model ({method}); "
                 f"{'weighted pseudo-' if self.weights else ''}maximum likelihood", "", "Variance terms:"]
        lines += format_table({"Level": list(vc.level), "Group": list(vc.group), "Name": list(vc.term1),
                               "Name2": [t or "" for t in vc.term2], "Variance": list(vc.estimate),
                               "Std. Error": list(vc.std_error)}, digits)
        lines += ["Groups:", "  " + ", ".join(f"{g}: {n}" for g, n in self.ngroups.items())
                  + f"; observations: {self.nobs}", "",
                  "Fixed Effects:" if self.vcov_type == "sandwich" else
                  f"Fixed Effects ({self.vcov_type} standard errors):"]
        lines += coef_table(list(self.params.index), self.params, self.bse, self.tvalues, digits)
        lines += ["", f"lnl= {self.llf:.2f}"]
        if np.isfinite(self.icc):
            lines.append(f"Intraclass Correlation (latent scale)= {self.icc:.{digits - 1}f}")
        if self.n_dropped:
            lines.append(f"There were {self.n_dropped} rows with missing data. These have been removed "
                         f"({self.nobs} used).")
        lines += [f"Note: {n}" for n in self.notes]
        if not self.converged:
            lines.append(f"WARNING: not converged (max |gradient of l/N| = {self.grad_norm:.3g} after "
                         f"{self.iterations} iterations)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
