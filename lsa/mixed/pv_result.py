"""The result of :func:`lsa.mix_pv` (:class:`MixPVResult`) and the pooled likelihood-ratio
test of two such results (:func:`lrt_pv`, D2 of Li, Meng, Raghunathan & Rubin 1991).

Tables are built by :func:`lsa.pooling.t_table`; tests by :func:`lsa.pooling.wald_d1` and
:func:`lsa.pooling.lrt_d2`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lsa import pooling
from lsa.errors import EstimationError, LsaError, PseudoLikelihoodWarning, warn
from lsa.formula import constraint_matrix
from lsa.mixed.results import MixedResult
from lsa.replicates import replicate_variance
from lsa.results import ConfInt, WaldTest, conf_int_frame

__all__ = ["MixPVResult", "lrt_pv"]


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    if p < 2e-16:
        return "<2e-16"
    return f"{p:.1e}" if p < 1e-4 else f"{p:.4f}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


@dataclass(frozen=True)
class MixPVResult:
    """Pooled weighted multilevel model over M plausible values (see :func:`mix_pv`).

    Attributes
    ----------
    formula : the formula as given.
    fits : the M per-PV :class:`lsa.mixed.MixedResult` fits (``labels`` name them).
    fixed, random : :class:`lsa.pooling.Pooled` of the fixed effects and of the variance
        components (terms ``fixed_terms`` / ``random_terms``).
    nobs : level-1 observations of the first fit (mixPV's ``ns2``).
    df_method : ``"barnard_rubin"``, ``"rubin"``, ``"cluster"`` or ``"given"``;
        ``df_complete`` the complete-data df of the fixed and of the random block.
    se_type : ``"sandwich"`` or ``"replicate"``; ``replicate_estimates`` (M, R, k) the
        replicate refits (fixed effects then variance components) when ``"replicate"``.
    """

    formula: str
    labels: tuple[str, ...]
    fits: tuple[MixedResult, ...] = field(repr=False)
    fixed: pooling.Pooled = field(repr=False)
    random: pooling.Pooled = field(repr=False)
    fixed_terms: tuple[str, ...]
    random_terms: tuple[str, ...]
    random_kind: tuple[str, ...] = field(repr=False)
    nobs: int
    n_dropped: tuple[int, ...]
    df_method: str
    df_complete: tuple[float, float]
    se_type: str = "sandwich"
    legacy_alignment: bool = False
    replicate_estimates: np.ndarray | None = field(default=None, repr=False)
    replicate_factor: float | None = None
    elapsed: float = 0.0

    # -- basic accessors -------------------------------------------------------------------
    @property
    def m(self) -> int:
        """Number of plausible values (draws) pooled."""
        return len(self.fits)

    @property
    def params(self) -> pd.Series:
        return pd.Series(self.fixed.estimate, self.fixed_terms)

    @property
    def bse(self) -> pd.Series:
        return pd.Series(self.fixed.std_error, self.fixed_terms)

    def cov_params(self) -> pd.DataFrame:
        """Pooled total covariance T of the fixed effects."""
        return pd.DataFrame(self.fixed.total, self.fixed_terms, self.fixed_terms)

    @property
    def loglik(self) -> np.ndarray:
        """Log pseudo-likelihood of every PV fit."""
        return np.array([f.llf for f in self.fits])

    @property
    def notes(self) -> tuple[str, ...]:
        """Notes of the per-PV fits (boundary estimates, ...), each naming the PVs it concerns."""
        by_note: dict[str, list[str]] = {}
        for label, fit in zip(self.labels, self.fits):
            for note in fit.notes:
                by_note.setdefault(note, []).append(label)
        return tuple(f"{n} ({'every PV' if len(l) == self.m else ', '.join(l)})" for n, l in by_note.items())

    @property
    def n_params(self) -> int:
        """Fixed effects + variance/covariance terms + residual (mixPV's p for AICbar)."""
        return len(self.fits[0].params) + len(self.fits[0].variance_components)

    # -- tables ----------------------------------------------------------------------------
    def _block(self, pooled: pooling.Pooled, terms, effect: str, alpha: float) -> pd.DataFrame:
        table = pooling.t_table(pooled, terms, alpha=alpha, columns=pooling.MODEL_TABLE_COLUMNS)
        table.insert(0, "effect", effect)
        return table

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: fixed effects, then variance components (``effect`` =
        ``"fixed"`` / ``"ran_pars"``), with term, estimate, std_error, statistic, df, p_value,
        conf_low, conf_high, riv, fmi. (mixPV's ``tidy`` uses the random block's k for every
        row's df; here each block uses its own, as mixPV's ``summary``.)"""
        return pd.concat([self._block(self.fixed, self.fixed_terms, "fixed", alpha),
                          self._block(self.random, self.random_terms, "ran_pars", alpha)],
                         ignore_index=True)

    def _repr_html_(self) -> str:
        from ..report.tables import result_html

        return result_html(f"Mixed model over {self.m} plausible values: {self.formula}",
                           f"{self.nobs:,} observations; {self.se_type} standard errors; {self.df_method} df",
                           self.tidy(), drop=("conf_low", "conf_high"))

    def to_excel(self, path, sheet: str | None = None):
        """Write :meth:`tidy` to a new ``.xlsx`` workbook (:mod:`lsa.report.excel`); returns the path."""
        from ..report.excel import result_to_excel

        return result_to_excel(self, path, sheet, title=f"Mixed model over {self.m} PVs: {self.formula}", note="")

    def r2(self, measures=("rights_sterba", "nakagawa")) -> pd.DataFrame:
        """R² of the model pooled over the PVs (:meth:`lsa.mixed.MixedResult.r2` per PV): ``estimate``
        is the mean of the per-PV values, ``sd_between_pvs`` their SD (the rule and why:
        :func:`lsa.pooling.mean_over_draws`)."""
        tables = [f.r2(measures) for f in self.fits]
        est, sd = pooling.mean_over_draws(np.array([t["estimate"].to_numpy() for t in tables]))
        return tables[0].assign(estimate=est, sd_between_pvs=sd)

    def conf_int(self, alpha: float = 0.05) -> ConfInt:
        """Confidence intervals Q̄ ± t_{df, 1−α/2} · SE for all parameters (index: term); columns
        ``conf_low``, ``conf_high`` (``[0]``/``[1]`` still work, deprecated)."""
        t = self.tidy(alpha)
        return conf_int_frame(t.conf_low, t.conf_high, index=t.term)

    def glance(self) -> pd.DataFrame:
        """n, M, AICbar and BICbar as mixPV's ``glance``: AICbar = mean(−2 ℓ_m) + 2p,
        BICbar = mean(−2 ℓ_m) + log(n) p, p = fixed effects + variance/covariance terms +
        residual, n = level-1 observations of the first fit."""
        dev = np.mean(-2 * self.loglik)
        p = self.n_params
        return pd.DataFrame({"n": [self.nobs], "M": [self.m], "AICbar": [dev + 2 * p],
                             "BICbar": [dev + np.log(self.nobs) * p]})

    def wald_test(self, R, r=None) -> WaldTest:
        """Pooled Wald test (D1, Li, Raghunathan & Rubin 1991) of R β = r over the fixed
        effects. ``R``: matrix, or list of term names (each = 0). Returns
        :class:`lsa.results.WaldTest` (``method`` = ``"D1"``, ``riv``)."""
        R, labels = constraint_matrix(R, self.fixed_terms)
        r = np.zeros(R.shape[0]) if r is None else np.asarray(r, float)
        q = np.array([R @ f.params.to_numpy() - r for f in self.fits])
        if self.se_type == "replicate":
            u = np.array([R @ cov @ R.T for cov in self.replicate_covariances()])
        else:
            u = np.array([R @ f.cov_params().to_numpy() @ R.T for f in self.fits])
        return dataclasses.replace(pooling.wald_d1(q, u), hypotheses=tuple(labels))

    def replicate_covariances(self) -> np.ndarray:
        """(M, p, p) replicate covariance of the fixed effects of every PV,
        c Σ_r (β̂_mr − β̂_m)(β̂_mr − β̂_m)' (:func:`lsa.replicates.replicate_variance`);
        ``se="replicate"`` results only."""
        if self.replicate_estimates is None:
            raise LsaError("replicate covariances exist only for mix_pv(..., se='replicate') results")
        p = len(self.fixed_terms)
        beta = np.array([f.params.to_numpy() for f in self.fits])
        return replicate_variance(beta, self.replicate_estimates[:, :, :p], self.replicate_factor)

    def summary(self, digits: int = 3) -> str:
        """Text laid out like ``summary.mixPV``."""
        def block(pooled, terms):
            tab = pd.DataFrame({"estimate": pooled.estimate, "std.error": pooled.std_error,
                                "statistic": pooled.statistic(), "df": pooled.df}, index=list(terms))
            p = pooled.p_value()
            s = tab.to_string(float_format=lambda v: f"{v:.{max(digits - 1, 0)}f}",
                              formatters={"df": lambda v: f"{v:.1f}"})
            lines = s.split("\n")
            width = max(len(x) for x in lines)
            out = [lines[0].ljust(width) + "  Pr(>t)"]
            for line, pv in zip(lines[1:], p):
                out.append(line.ljust(width) + f"  {_fmt_p(pv):>6} {_stars(pv)}".rstrip())
            return out

        lines = [f"Results of multilevel analyses with {self.m} plausible values.",
                 f"Number of observations: {self.nobs}", "",
                 "Estimates for random effects:"]
        lines += block(self.random, self.random_terms)
        lines += ["", "Estimates for fixed effects:"]
        lines += block(self.fixed, self.fixed_terms)
        df_txt = {"barnard_rubin": "Barnard-Rubin", "rubin": "Rubin (1987)", "cluster": "Barnard-Rubin, cluster-based",
                  "given": "Barnard-Rubin"}[self.df_method]
        nu = ", ".join("inf" if np.isinf(v) else f"{v:g}" for v in self.df_complete)
        lines += ["---", "Signif. codes: 0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
                  f"df: {df_txt} (complete-data df fixed, random: {nu}); "
                  f"std. errors: {'replicate weights' if self.se_type == 'replicate' else 'sandwich (top level)'}"
                  + ("; LEGACY mixPV alignment of variance-component SEs" if self.legacy_alignment else "")]
        g = self.glance().iloc[0]
        lines.append(f"AICbar = {g.AICbar:.4f}   BICbar = {g.BICbar:.4f}")
        if any(self.n_dropped):
            lines.append(f"Rows dropped for missing values per PV: {list(self.n_dropped)}")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def lrt_pv(model_full: MixPVResult, model_reduced: MixPVResult, *, unadjusted: bool = False) -> WaldTest:
    """Likelihood-ratio test of two nested :func:`mix_pv` models pooled over the PVs by the
    D2 rule (Li, Meng, Raghunathan & Rubin 1991), as ``MLMusingR::lrtPV(full, reduced)``.

    d_m = −2 (ℓ_reduced,m − ℓ_full,m) per PV; k = (θ + fixed effects of the full model) −
    (those of the reduced), counted on the first fits (the residual σ is not counted, as
    lrtPV). The arguments may be given in either order: the model with more parameters is the
    full one. Returns :class:`lsa.results.WaldTest` (``statistic`` = F, ``df_num`` = k,
    ``df_den``, ``riv`` = r, ``p_value``, ``method``).

    **Weighted fits.** A weighted pseudo-log-likelihood is a sum over the population (weights
    sum to N, not n), and even rescaled, −2 log Λ is not χ²_k but a weighted sum of χ²_1
    (Lumley & Scott 2014), so D2 on it is no test (PISA 2012, ``st04q01`` dropped from the
    five-PV model: D2 F = 46.7 on (1, 4.05) df where the pooled t² is 7.32). On weighted fits
    a :class:`lsa.errors.PseudoLikelihoodWarning` is issued and

    * models that differ in fixed effects only get the pooled Wald test D1 of the same
      constraints (the full model's extra fixed effects = 0), ``model_full.wald_test(terms)``,
      with ``method`` = ``"D1 (pooled Wald test, replaces the LRT on weighted fits)"``;
    * models that differ in their random part are refused (:class:`lsa.EstimationError`): no
      Wald test of a variance at its boundary 0 is offered; judge the component by its pooled
      estimate and SE (``tidy()``) or compare unweighted fits. ``unadjusted=True`` returns
      lrtPV's D2 anyway, for comparison with MLMusingR only, with ``method`` =
      ``"D2 on pseudo-likelihoods (not a valid test)"`` and the warning.

    Lumley, T., & Scott, A. J. (2014). Tests for regression models fitted to survey data.
    Australian & New Zealand Journal of Statistics 56(1), 1–14.
    """
    for mname, mod in (("model_full", model_full), ("model_reduced", model_reduced)):
        if not isinstance(mod, MixPVResult):
            raise LsaError(f"{mname} must be a mix_pv result; got {type(mod).__name__}")

    def npar(mod):
        return len(mod.fits[0].theta) + len(mod.fits[0].params)

    full, red = model_full, model_reduced
    if npar(full) < npar(red):
        full, red = red, full
    k = npar(full) - npar(red)
    if k == 0:
        raise LsaError("the two models have the same number of parameters: they are not nested")
    if full.m != red.m:
        raise LsaError(f"the models pool different numbers of plausible values ({full.m} vs {red.m})")
    if full.nobs != red.nobs:
        raise LsaError(f"the models use different observations (n = {full.nobs} vs {red.nobs}); "
                       f"a likelihood-ratio test needs the same rows")
    weighted = [mod.fits[0].weights is not None for mod in (full, red)]
    if weighted[0] != weighted[1]:
        raise LsaError("one model is weighted and the other is not: their likelihoods cannot be compared")
    d = -2 * (red.loglik - full.loglik)
    if not weighted[0]:
        return pooling.lrt_d2(d, k)
    extra = [t for t in full.fixed_terms if t not in red.fixed_terms]
    if full.random_terms == red.random_terms:
        if not extra or not set(red.fixed_terms) <= set(full.fixed_terms):
            raise LsaError(f"the models are not nested: the fixed effects of the smaller model "
                           f"{list(red.fixed_terms)} are not among those of the larger {list(full.fixed_terms)}")
        warn(f"lrt_pv: a likelihood-ratio test is not valid on weighted (pseudo-likelihood) fits; "
             f"returning the pooled Wald test (D1) of {extra} = 0 instead, as model.wald_test({extra})",
             PseudoLikelihoodWarning)
        return dataclasses.replace(full.wald_test(extra),
                                   method="D1 (pooled Wald test, replaces the LRT on weighted fits)")
    if not unadjusted:
        raise EstimationError("lrt_pv: a likelihood-ratio test is not valid on weighted (pseudo-likelihood) "
                              "fits, and the models differ in their random part, for which no Wald test is "
                              "offered; judge the variance component by its pooled estimate and SE (tidy()), "
                              "or pass unadjusted=True for MLMusingR::lrtPV's D2 number (not a valid test)")
    warn("lrt_pv: a likelihood-ratio test is not valid on weighted (pseudo-likelihood) fits; the models "
         "differ in their random part, for which no Wald test is offered: the D2 statistic returned "
         "(MLMusingR::lrtPV's) is on the population-weight scale and its F reference does not hold",
         PseudoLikelihoodWarning)
    return dataclasses.replace(pooling.lrt_d2(d, k), method="D2 on pseudo-likelihoods (not a valid test)")
