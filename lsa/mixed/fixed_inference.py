"""Inference on the fixed effects of a multilevel fit, shared by :class:`lsa.mixed.MixedResult`
(linear) and :class:`lsa.mixed.glmm_result.GLMMResult` (binomial, Poisson).

A result that mixes in :class:`FixedEffectsInference` holds ``params`` (Series by term),
``covs`` (covariance matrices by type), ``vcov_type`` (the one in use) and ``vcov_estimate``
(None for the model and sandwich covariances, whose reference is the normal; otherwise a
:class:`lsa.mixed.covariance.VcovEstimate` whose ``df`` give a t reference: Satterthwaite for
CR2, the design df for replicates). With V the covariance in use and ν the df:

    SE = √diag(V),  t = β̂ / SE,  p = 2 P(T_ν > |t|) (normal when ν = ∞),
    interval β̂ ∓ q_{1−α/2, ν} SE,
    Wald: Q = (Rβ̂ − r)'(R V R')⁻¹(Rβ̂ − r) on q = rows of R df (χ² reference).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from lsa.formula import constraint_matrix
from lsa.results import ConfInt, WaldTest, conf_int_frame
from lsa.validation import check_number

__all__ = ["FixedEffectsInference"]


class FixedEffectsInference:
    """``cov_params()``, ``bse``, ``bse_model``, ``tvalues``, ``df``, ``df_method``, ``pvalues``,
    ``conf_int()`` and ``wald_test()`` from ``params``, ``covs``, ``vcov_type`` and ``vcov_estimate``;
    ``tidy()``: those rows, then one row per entry of the result's ``variance_components``."""

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the fixed effects (type ``vcov_type``)."""
        return self.covs[self.vcov_type]

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov_params())), self.params.index)

    @property
    def bse_model(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.covs["model"])), self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        return self.params / self.bse

    @property
    def df(self) -> pd.Series:
        """Degrees of freedom of each coefficient's t reference, from the covariance estimator
        (∞ = normal: ``model``, ``sandwich``; Satterthwaite for ``CR2``; design df for
        ``replicate``)."""
        e = self.vcov_estimate
        dfv = np.full(len(self.params), np.inf) if e is None else np.asarray(e.df, float)
        return pd.Series(dfv, self.params.index, name="df")

    @property
    def df_method(self) -> str:
        return "z" if self.vcov_estimate is None else self.vcov_estimate.df_method

    @property
    def pvalues(self) -> pd.Series:
        t, dfv = np.abs(self.tvalues.to_numpy()), self.df.to_numpy()
        p = np.where(np.isinf(dfv), 2 * scipy.stats.norm.sf(t),
                     2 * scipy.stats.t.sf(t, np.where(np.isinf(dfv), 1.0, dfv)))
        return pd.Series(p, self.params.index)

    def conf_int(self, alpha: float = 0.05) -> ConfInt:
        """β̂ ∓ q·SE with q the normal quantile, or the t quantile with the estimator's df;
        columns ``conf_low``, ``conf_high`` (``[0]``/``[1]`` still work, deprecated)."""
        check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
        dfv = self.df.to_numpy()
        q = np.where(np.isinf(dfv), scipy.stats.norm.ppf(1 - alpha / 2),
                     scipy.stats.t.ppf(1 - alpha / 2, np.where(np.isinf(dfv), 1.0, dfv)))
        return conf_int_frame(self.params - q * self.bse, self.params + q * self.bse, index=self.params.index)

    def wald_test(self, R, r=None) -> WaldTest:
        """Wald χ² test of R β = r with the covariance in use: Q = (Rβ̂ − r)'(R V R')⁻¹(Rβ̂ − r)
        on q = rows of R df (``df_den`` = ∞, ``method`` = ``"chi2"``). ``R``: matrix, or list of
        term names (each = 0). Returns :class:`lsa.results.WaldTest`."""
        R, labels = constraint_matrix(R, self.params.index)
        r = np.zeros(R.shape[0]) if r is None else np.asarray(r, float)
        d = R @ self.params.to_numpy() - r
        V = R @ self.cov_params().to_numpy() @ R.T
        stat = float(d @ np.linalg.solve(V, d))
        q = R.shape[0]
        return WaldTest(stat, q, np.inf, float(scipy.stats.chi2.sf(stat, q)), "chi2", Q=stat,
                        hypotheses=tuple(labels))

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: effect ('fixed' / 'ran_pars'), group, term, estimate,
        std_error, statistic, df, p_value, conf_low, conf_high."""
        ci = self.conf_int(alpha)
        fixed = pd.DataFrame({"effect": "fixed", "group": None, "term": self.params.index,
                              "estimate": self.params.to_numpy(), "std_error": self.bse.to_numpy(),
                              "statistic": self.tvalues.to_numpy(), "df": self.df.to_numpy(),
                              "p_value": self.pvalues.to_numpy(), "conf_low": ci["conf_low"].to_numpy(),
                              "conf_high": ci["conf_high"].to_numpy()})
        vc = self.variance_components
        term = np.where(vc.term2.isna(), "var__" + vc.term1.fillna("Observation"),
                        "cov__" + vc.term1.fillna("") + "." + vc.term2.fillna(""))
        ran = pd.DataFrame({"effect": "ran_pars", "group": vc.group.to_numpy(), "term": term,
                            "estimate": vc.estimate.to_numpy(), "std_error": vc.std_error.to_numpy(),
                            "statistic": np.nan, "df": np.nan, "p_value": np.nan,
                            "conf_low": np.nan, "conf_high": np.nan})
        return pd.concat([fixed, ran], ignore_index=True)
