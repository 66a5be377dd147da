"""Immutable result of a weighted linear mixed-model fit, with statsmodels' names.

``params``, ``bse`` (the covariance type chosen: ``"sandwich"`` by default, as WeMix),
``bse_model``, ``cov_params()``, ``tvalues``, ``pvalues`` (normal reference, as WeMix and
statsmodels MixedLM), ``conf_int()``, ``wald_test()``, ``llf``, ``variance_components``,
``icc``, ``ranef``, ``summary()``, ``tidy()``, ``with_vcov(type)``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.stats

from lsa.errors import LsaError
from lsa.mixed.pml import ThetaMap
from lsa.mixed.vcov import VCOV_TYPES, varcomp_cov

__all__ = ["MixedResult", "make_result", "WaldTestResult"]


@dataclass(frozen=True)
class WaldTestResult:
    """χ² Wald test of R β = r: ``statistic``, ``df``, ``p_value``."""

    statistic: float
    df: int
    p_value: float


@dataclass(frozen=True)
class MixedResult:
    """Weighted linear mixed model fitted by pseudo-maximum likelihood (see ``mixed``)."""

    formula: str
    params: pd.Series
    vcov_type: str
    covs: dict = field(repr=False)
    variance_components: pd.DataFrame = field(repr=False)
    vc_cov: dict = field(repr=False)
    theta: pd.Series = field(repr=False)
    scale: float = 0.0
    llf: float = 0.0
    nobs: int = 0
    ngroups: dict = field(default_factory=dict)
    n_dropped: int = 0
    converged: bool = True
    iterations: int = 0
    grad_norm: float = 0.0
    reml: bool = False
    weights: tuple | None = None
    scaling: str = "none"
    weight_stats: pd.DataFrame | None = field(default=None, repr=False)
    ranef: dict = field(default_factory=dict, repr=False)

    # -- fixed effects --------------------------------------------------------------------
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
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * scipy.stats.norm.sf(np.abs(self.tvalues)), self.params.index)

    @property
    def df_resid(self) -> float:
        return np.inf

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        z = scipy.stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({0: self.params - z * self.bse, 1: self.params + z * self.bse})

    def with_vcov(self, type: str) -> "MixedResult":
        """The same fit reporting another covariance type (``"sandwich"``, ``"model"``)."""
        if type not in self.covs:
            raise LsaError(f"vcov type must be one of {sorted(self.covs)}; got {type!r}")
        return dataclasses.replace(self, vcov_type=type)

    def wald_test(self, R, r=None) -> WaldTestResult:
        """Wald χ² test of R β = r. ``R``: matrix, or list of term names (each = 0)."""
        names = list(self.params.index)
        if isinstance(R, (list, tuple)) and all(isinstance(x, str) for x in R):
            bad = [x for x in R if x not in names]
            if bad:
                raise LsaError(f"unknown term(s) {bad}; terms are {names}")
            R = np.array([[1.0 if n == x else 0.0 for n in names] for x in R])
        R = np.atleast_2d(np.asarray(R, float))
        r = np.zeros(R.shape[0]) if r is None else np.asarray(r, float)
        d = R @ self.params.to_numpy() - r
        V = R @ self.cov_params().to_numpy() @ R.T
        stat = float(d @ np.linalg.solve(V, d))
        return WaldTestResult(stat, R.shape[0], float(scipy.stats.chi2.sf(stat, R.shape[0])))

    # -- random part ----------------------------------------------------------------------
    @property
    def sigma2(self) -> float:
        return self.scale

    @property
    def icc(self) -> float:
        """Σ of all random-effect variances (slopes included) / (that + σ²), as WeMix."""
        vc = self.variance_components
        v = vc.loc[(vc.term2.isna()) & (vc.group != "Residual"), "estimate"].sum()
        return float(v / (v + self.scale))

    @property
    def loglik(self) -> float:
        return self.llf

    # -- tables ---------------------------------------------------------------------------
    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: effect ('fixed' / 'ran_pars'), group, term, estimate,
        std_error, statistic, df, p_value, conf_low, conf_high."""
        ci = self.conf_int(alpha)
        fixed = pd.DataFrame({"effect": "fixed", "group": None, "term": self.params.index,
                              "estimate": self.params.to_numpy(), "std_error": self.bse.to_numpy(),
                              "statistic": self.tvalues.to_numpy(), "df": np.inf,
                              "p_value": self.pvalues.to_numpy(), "conf_low": ci[0].to_numpy(),
                              "conf_high": ci[1].to_numpy()})
        vc = self.variance_components
        term = np.where(vc.term2.isna(), "var__" + vc.term1.fillna("Observation"),
                        "cov__" + vc.term1.fillna("") + "." + vc.term2.fillna(""))
        ran = pd.DataFrame({"effect": "ran_pars", "group": vc.group.to_numpy(), "term": term,
                            "estimate": vc.estimate.to_numpy(), "std_error": vc.std_error.to_numpy(),
                            "statistic": np.nan, "df": np.nan, "p_value": np.nan,
                            "conf_low": np.nan, "conf_high": np.nan})
        return pd.concat([fixed, ran], ignore_index=True)

    def summary(self) -> str:
        """Text summary laid out like WeMix's."""
        vc = self.variance_components
        lines = [f"Linear mixed model fit by {'REML' if self.reml else 'pseudo-ML' if self.weights else 'ML'}",
                 f"Formula: {self.formula}"]
        if self.weights:
            lines.append(f"Weights: {', '.join(self.weights)} (scaling: {self.scaling})")
        lines += ["", "Variance terms:"]
        show = vc.assign(std_dev=np.where(vc.term2.isna(), np.sqrt(vc.estimate.clip(lower=0)), np.nan))
        lines.append(show[["level", "group", "term1", "term2", "estimate", "std_error",
                           "std_dev"]].to_string(index=False, na_rep=""))
        lines += ["", "Groups:"]
        if self.weight_stats is not None:
            lines.append(self.weight_stats.to_string(index=False))
        else:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in self.ngroups.items()))
        lines += ["", f"Fixed effects (std. errors: {self.vcov_type}):"]
        fx = pd.DataFrame({"Estimate": self.params, "Std. Error": self.bse,
                           "t value": self.tvalues})
        lines.append(fx.to_string(float_format=lambda v: f"{v:.4f}"))
        lines += ["", f"lnl = {self.llf:.2f}    ICC = {self.icc:.4f}    nobs = {self.nobs}"
                  + (f"    rows dropped (missing) = {self.n_dropped}" if self.n_dropped else "")]
        if not self.converged:
            lines.append(f"WARNING: not converged (max projected gradient {self.grad_norm:.3g})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# -- packaging --------------------------------------------------------------------------

def _vc_table(frame, tmap: ThetaMap, vcs, sigma2: float, ngroups) -> tuple[pd.DataFrame, dict]:
    rows, covs = [], {}
    lowest = None
    for v in vcs:
        g = frame.group_names[v.level]
        zn = frame.znames[v.level]
        se = np.sqrt(np.clip(np.diag(v.sandwich), 0, None))
        names = []
        for (r, c), est, s in zip(v.pairs, v.estimate, se):
            names.append(f"{g}.{zn[r]}" if r == c else f"{g}.{zn[c]}.{zn[r]}")
        order = sorted(range(len(v.pairs)), key=lambda i: v.pairs[i][0] != v.pairs[i][1])
        for i in order:
            r, c = v.pairs[i]
            rows.append({"level": v.level + 2, "group": g, "term1": zn[c],
                         "term2": None if r == c else zn[r], "estimate": v.estimate[i],
                         "std_error": se[i], "ngroups": ngroups[g]})
        covs[g] = {"sandwich": pd.DataFrame(v.sandwich, names, names),
                   "model": pd.DataFrame(v.model, names, names)}
        lowest = v if lowest is None else lowest
    rows.append({"level": 1, "group": "Residual", "term1": None, "term2": None,
                 "estimate": sigma2, "std_error": lowest.se_sigma2, "ngroups": len(frame.y)})
    return pd.DataFrame(rows), covs


def _weight_stats(frame, w) -> pd.DataFrame | None:
    if w.columns is None:
        return None
    rows = [{"level": 1, "group": "Obs", "n": len(frame.y), "mean_wgt": w.unconditional[0].mean(),
             "sum_wgt": w.unconditional[0].sum()}]
    for k, g in enumerate(frame.group_names):
        u = w.unconditional[k + 1]
        rows.append({"level": k + 2, "group": g, "n": len(u), "mean_wgt": u.mean(),
                     "sum_wgt": u.sum()})
    return pd.DataFrame(rows[::-1])


def conditional_modes(stats, fwd, beta) -> list[np.ndarray]:
    """BLUPs b̂ per level (bottom-up list of (G_l, q_l)), computed top-down:
    b̂_g = Λ M_g⁻¹ T_g ρ_g with ρ_g = (−b̂ of the ancestors, −β̂, 1)."""
    from lsa.mixed.stats import parent_index

    nl = len(fwd.passes)
    rho = np.tile(np.r_[-beta, 1.0], (fwd.passes[-1].T.shape[0], 1))
    out = [None] * nl
    for l in range(nl - 1, -1, -1):
        P = fwd.passes[l]
        b = np.einsum("ab,gbc,gcr,gr->ga", P.lam, P.K, P.T, rho)
        out[l] = b
        if l > 0:
            par = parent_index(stats.hierarchy, l - 1)
            rho = np.hstack([-b[par], rho[par]])
    return out


def make_result(parsed, frame, w, stats, tmap, opt, reml) -> MixedResult:
    pr = opt.profile
    names = list(frame.xnames)
    fwd = pr.fwd
    wtop = stats.weights[-1]
    covs = {k: pd.DataFrame(c.fixed(fwd, pr.beta, pr.sigma2, wtop), names, names)
            for k, c in VCOV_TYPES.items()}
    ngroups = {g: int(n) for g, n in zip(frame.group_names, stats.hierarchy.ngroups)}
    vcs = varcomp_cov(pr.theta, pr.sigma2, pr.beta, stats, tmap)
    vc, vc_cov = _vc_table(frame, tmap, vcs, pr.sigma2, ngroups)
    theta_names = [f"{frame.group_names[l]}.{frame.znames[l][c]}" if r == c else
                   f"{frame.group_names[l]}.{frame.znames[l][r]}.{frame.znames[l][c]}"
                   for l, r, c in zip(tmap.level, tmap.rows, tmap.cols)]
    modes = conditional_modes(stats, fwd, pr.beta)
    ranef = {g: pd.DataFrame(b, index=frame.group_ids[l], columns=frame.znames[l])
             for l, (g, b) in enumerate(zip(frame.group_names, modes))}
    return MixedResult(parsed.formula, pd.Series(pr.beta, names), "sandwich", covs, vc, vc_cov,
                       pd.Series(pr.theta, theta_names), pr.sigma2, pr.loglik, len(frame.y),
                       ngroups, frame.n_dropped, opt.converged, opt.iterations, opt.grad_norm,
                       reml, w.columns, w.scaling, _weight_stats(frame, w), ranef)
