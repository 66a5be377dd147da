"""Weighted multilevel models over plausible values, pooled with Rubin's rules (``mix_pv``).

``mix_pv`` fits the weighted linear mixed model of :func:`lsa.mixed.mixed` once per plausible
value (PV) and pools fixed effects and variance components with :func:`lsa.pooling.rubin`, as
``MLMusingR::mixPV`` + ``summary.mixPV`` do (Huang 2024, spec §2), and extends it:

* PVs as outcome, as predictors, or both (spec §4): with a :class:`lsa.SurveyDesign`, a PV-set
  name may appear on either side of the formula; PV m of every set is paired with PV m of the
  others. Transformations of a PV predictor (``scale(MATH)``) are evaluated within each PV data
  set, on the rows analysed.
* Degrees of freedom: Barnard–Rubin with mixPV's complete-data df (default), Rubin (1987), or a
  cluster-based complete-data df.
* Variance components pooled with their own standard errors (the published mixPV random-slope
  table pools the residual variance with the SE of the intercept–slope covariance;
  ``legacy_alignment=True`` reproduces it, spec §2.3 note 2).
* Replicate-weight standard errors (``se="replicate"``) as an alternative to the top-level
  sandwich: every PV is refitted with every replicate weight set and the design's variance
  formula is applied, then the PVs are pooled.

The engine's steps are reused so that the M fits are cheap: the model frame and the per-cluster
sufficient statistics are built once; a new PV outcome changes only the y-parts
(:meth:`lsa.mixed.ClusterStats.with_y`); a replicate weight set that perturbs whole schools
changes only the school weights (no new cross-products); every PV after the first starts the
optimiser at the first PV's θ̂, every replicate refit at its PV's θ̂. The start of each fit does
not depend on ``n_jobs``, so parallel and serial runs give identical results.

References
----------
Huang, F. L. (2024). Using plausible values when fitting multilevel models with large-scale
assessment data using R. Large-scale Assessments in Education 12:7.
Rubin, D. B. (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
Barnard, J., & Rubin, D. B. (1999). Small-sample degrees of freedom with multiple imputation.
Biometrika 86(4), 948–955.
Li, K. H., Meng, X.-L., Raghunathan, T. E., & Rubin, D. B. (1991). Significance levels from
repeated p-values with multiply-imputed data. Statistica Sinica 1, 65–92.
"""
from __future__ import annotations

import dataclasses
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from lsa import pooling
from lsa.errors import (ConvergenceWarning, DesignError, EstimationError, FormulaError, LsaError, MissingDataWarning,
                        PseudoLikelihoodWarning, warn)
from lsa.formula import constraint_matrix
from lsa.mixed import MixedControl, MixedResult, build_stats, level_weights, model_frame, optimize
from lsa.mixed.fit import fit_prepared
from lsa.mixed.formula import parse_formula, split_top
from lsa.mixed.inputs import design_inputs, formula_groups
from lsa.mixed.replicate import replicate_level_weights, stats_for_replicate, vc_vector
from lsa.validation import numeric_column

__all__ = ["mix_pv", "lrt_pv", "MixPVResult", "replicate_level_weights"]

DfRule = Literal["barnard_rubin", "rubin", "cluster"]
_IDENT = r"(?<![\w.]){}(?![\w.])"


# ==========================================================================================
# formula expansion: which columns play the PV roles in draw m
# ==========================================================================================

@dataclass(frozen=True)
class _Draw:
    """One PV data set: its label, the formula fitted and the alias columns to add
    (PV-set name → the PV column of this draw)."""

    label: str
    formula: str
    alias: tuple[tuple[str, str], ...]
    response: str


def _has_ident(text: str, name: str) -> bool:
    return re.search(_IDENT.format(re.escape(name)), text) is not None


def _expand_formula(formula: str, df: pd.DataFrame, pvs: dict[str, tuple[str, ...]]) -> list[_Draw]:
    """Split ``formula`` into the M per-PV formulas (see :func:`mix_pv`)."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"formula must be a string 'y ~ x + (1 | group)'; got {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs:
        raise FormulaError(f"formula {formula!r} has no response on the left of '~'")
    lhs_terms = [t for t in split_top(lhs, "+") if t]
    used_sets = [s for s in pvs if _has_ident(rhs, s)]
    # a PV set together with one of its own PVs is ambiguous
    for s in set(used_sets) | {t for t in lhs_terms if t in pvs}:
        own = [c for c in pvs[s] if _has_ident(formula, c)]
        if own:
            raise FormulaError(f"formula {formula!r} uses the plausible-value set {s!r} and its own "
                               f"plausible value(s) {own}: use either the set name (one fit per PV) "
                               f"or individual columns, not both")
    if len(lhs_terms) > 1:                                      # R form: pv1 + pv2 + ... ~ rhs
        bad = [t for t in lhs_terms if t not in df.columns]
        if bad:
            sets = [t for t in bad if t in pvs]
            hint = (f"; {sets} are PV-set names: write '{sets[0]} ~ ...' instead" if sets else "")
            raise FormulaError(f"plausible-value column(s) {bad} of the left-hand side are not "
                               f"columns of the data{hint}")
        responses = lhs_terms
        response_alias = None
    elif lhs_terms[0] in pvs:                                   # design PV set as outcome
        responses = list(pvs[lhs_terms[0]])
        response_alias = lhs_terms[0]
    else:
        if lhs_terms[0] not in df.columns:
            raise FormulaError(f"response {lhs_terms[0]!r} is neither a column of the data nor a "
                               f"plausible-value set" + (f" (sets: {list(pvs)})" if pvs else ""))
        responses = [lhs_terms[0]]
        response_alias = None
    lengths = {"left-hand side": len(responses)} if (len(lhs_terms) > 1 or response_alias) else {}
    lengths.update({s: len(pvs[s]) for s in used_sets})
    if len(set(lengths.values())) > 1:
        raise FormulaError(f"plausible-value sets of unequal length in {formula!r}: {lengths}; "
                           f"PV m of one set is paired with PV m of the others, so all need the "
                           f"same number of plausible values")
    m = max(lengths.values()) if lengths else 1
    draws = []
    for k in range(m):
        alias = [(s, pvs[s][k]) for s in used_sets]
        if response_alias is not None:
            alias.insert(0, (response_alias, responses[k]))
            resp, f = response_alias, formula
        elif len(responses) > 1:
            resp, f = responses[k], f"{responses[k]} ~ {rhs}"
        else:
            resp, f = responses[0], formula
        parts = ([responses[k]] if (response_alias or len(responses) > 1) else []) + \
                [f"{s}={c}" for s, c in alias if s != response_alias]
        label = ", ".join(parts) if parts else resp
        draws.append(_Draw(label, f, tuple(alias), resp))
    return draws


_SCALE = re.compile(r"(?<![\w.])scale\(([^(),]+)\)")


def _r_scale(formula: str) -> tuple[str, dict[str, str]]:
    """``scale(x)`` → patsy's ``scale(x, ddof=1)`` (R's scale: unweighted, n − 1), with the
    map back to the R names. Evaluated on the rows analysed, within each PV data set."""
    names = {}

    def sub(m):
        new = f"scale({m.group(1).strip()}, ddof=1)"
        names[new] = f"scale({m.group(1).strip()})"
        return new

    return _SCALE.sub(sub, formula), names


def _rename_frame(frame, names: dict[str, str]):
    if not names:
        return frame

    def fix(n):
        for a, b in names.items():
            n = n.replace(a, b)
        return n

    return dataclasses.replace(frame, xnames=tuple(fix(n) for n in frame.xnames),
                               znames=tuple(tuple(fix(n) for n in z) for z in frame.znames))


# ==========================================================================================
# data and weights
# ==========================================================================================

@dataclass(frozen=True)
class _Inputs:
    df: pd.DataFrame
    weights: tuple[str, ...] | None
    conditional: bool
    design: object | None
    rows: np.ndarray          # positions of df's rows in the design data (domain)


def _inputs(data, weights, conditional_weights, formula) -> _Inputs:
    df, w, cond = design_inputs(data, weights, conditional_weights, formula_groups(formula))
    w = None if w is None else tuple(w)
    if isinstance(data, pd.DataFrame):
        missing = [c for c in (w or ()) if c not in data.columns]
        if missing:
            raise DesignError(f"weight column(s) {missing} are not in the data")
        return _Inputs(df, w, cond, None, np.arange(len(df)))
    return _Inputs(df, w, cond, data, np.flatnonzero(np.asarray(data.domain, bool)))


def _draw_frame(draw: _Draw, df: pd.DataFrame, weights):
    """Model frame of one PV data set (alias columns added, R's ``scale``)."""
    dm = df.assign(**{a: df[c] for a, c in draw.alias}) if draw.alias else df
    f, names = _r_scale(draw.formula)
    parsed = parse_formula(f)
    frame = model_frame(parsed, dm, tuple(weights or ()))
    frame = _rename_frame(frame, names)
    return dataclasses.replace(parse_formula(draw.formula), formula=draw.formula), frame, dm


# ==========================================================================================
# fitting
# ==========================================================================================

@dataclass(frozen=True)
class _Task:
    """Everything one worker needs to fit one PV (and its replicate refits)."""

    index: int
    draw: _Draw
    parsed: object
    frame: object
    w: object
    stats: object
    start: tuple | None
    control: MixedControl
    replicates: object | None       # (factor rows (n, R)) in frame order, or None


def _optimize(stats, tmap, control, start):
    ctrl = control if start is None else dataclasses.replace(control, start=tuple(start))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return optimize(stats, tmap, False, ctrl)


def _fit_task(task: _Task):
    """Fit one PV; with replicates, also refit it once per replicate weight set.

    Returns (index, MixedResult, replicate estimates (R, k) or None, failed replicates)."""
    ctrl = task.control if task.start is None else dataclasses.replace(task.control, start=tuple(task.start))
    fit = fit_prepared(task.parsed, task.frame, task.w, task.stats, False, ctrl, warn_convergence=False)
    if task.replicates is None:
        return task.index, fit, None, (), fit.converged
    tmap = fit.theta_map
    rep = task.replicates
    frame, w, stats = task.frame, task.w, task.stats
    top_codes = frame.codes[-1]
    w1_unscaled = w.unconditional[0] / w.unconditional[1][frame.codes[0]]
    cl_first = stats.hierarchy.starts[0]
    top_of_cluster = top_codes[cl_first]
    est = np.empty((rep.shape[1], len(fit.params) + len(fit.variance_components)))
    failed = []
    for r in range(rep.shape[1]):
        w1_r, top_r, changed = replicate_level_weights(stats, w.unconditional[0], w1_unscaled, rep[:, r],
                                                       top_codes, frame.codes[0], w.scaling)
        st = stats_for_replicate(stats, w1_r, top_r, changed, top_of_cluster)
        o = _optimize(st, tmap, task.control, fit.theta.to_numpy())
        if not o.converged:
            failed.append(r)
        est[r] = np.r_[o.profile.beta, vc_vector(o.profile.theta, o.profile.sigma2, tmap)]
    return task.index, fit, est, tuple(failed), fit.converged


class _Progress:
    """A one-line progress counter on stderr."""

    def __init__(self, total: int, show: bool, what: str = "fits"):
        self.total, self.show, self.what = total, show, what
        self.done = 0
        self.t0 = time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.done += k
        if self.show:
            el = time.perf_counter() - self.t0
            sys.stderr.write(f"\rmix_pv: {self.done}/{self.total} {self.what} ({el:.1f} s)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.show:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ==========================================================================================
# result
# ==========================================================================================

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
        ci = pooled.conf_int(alpha)
        return pd.DataFrame({
            "effect": effect, "term": list(terms), "estimate": pooled.estimate,
            "std_error": pooled.std_error, "statistic": pooled.statistic(), "df": pooled.df,
            "p_value": pooled.p_value(), "conf_low": ci[:, 0], "conf_high": ci[:, 1],
            "riv": pooled.riv, "fmi": pooled.fmi})

    def tidy(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: fixed effects, then variance components (``effect`` =
        ``"fixed"`` / ``"ran_pars"``), with term, estimate, std_error, statistic, df, p_value,
        conf_low, conf_high, riv, fmi. (mixPV's ``tidy`` uses the random block's k for every
        row's df; here each block uses its own, as mixPV's ``summary``.)"""
        return pd.concat([self._block(self.fixed, self.fixed_terms, "fixed", alpha),
                          self._block(self.random, self.random_terms, "ran_pars", alpha)],
                         ignore_index=True)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals Q̄ ± t_{df, 1−α/2} · SE for all parameters (index: term)."""
        t = self.tidy(alpha)
        return pd.DataFrame({0: t.conf_low.to_numpy(), 1: t.conf_high.to_numpy()}, index=t.term)

    def glance(self) -> pd.DataFrame:
        """n, M, AICbar and BICbar as mixPV's ``glance``: AICbar = mean(−2 ℓ_m) + 2p,
        BICbar = mean(−2 ℓ_m) + log(n) p, p = fixed effects + variance/covariance terms +
        residual, n = level-1 observations of the first fit."""
        dev = np.mean(-2 * self.loglik)
        p = self.n_params
        return pd.DataFrame({"n": [self.nobs], "M": [self.m], "AICbar": [dev + 2 * p],
                             "BICbar": [dev + np.log(self.nobs) * p]})

    def wald_test(self, R, r=None) -> pooling.WaldTest:
        """Pooled Wald test (D1, Li, Raghunathan & Rubin 1991) of R β = r over the fixed
        effects. ``R``: matrix, or list of term names (each = 0)."""
        R, _ = constraint_matrix(R, self.fixed_terms)
        r = np.zeros(R.shape[0]) if r is None else np.asarray(r, float)
        q = np.array([R @ f.params.to_numpy() - r for f in self.fits])
        if self.se_type == "replicate":
            u = np.array([R @ _fixed_cov(self, k) @ R.T for k in range(self.m)])
        else:
            u = np.array([R @ f.cov_params().to_numpy() @ R.T for f in self.fits])
        return pooling.wald_d1(q, u)

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


def _fixed_cov(res: MixPVResult, k: int) -> np.ndarray:
    p = len(res.fixed_terms)
    est = res.replicate_estimates[k]
    base = np.r_[res.fits[k].params.to_numpy()]
    d = est[:, :p] - base
    return res.replicate_factor * d.T @ d


# ==========================================================================================
# main entry
# ==========================================================================================

def _vc_terms(fit: MixedResult) -> tuple[list[str], list[str]]:
    vc = fit.variance_components
    terms, kind = [], []
    for _, row in vc.iterrows():
        if row.group == "Residual":
            terms.append("Residual"), kind.append("var")
        elif row.term2 is None or (isinstance(row.term2, float) and np.isnan(row.term2)):
            terms.append(f"{row.group}.{row.term1}"), kind.append("var")
        else:
            terms.append(f"{row.group}.{row.term1}.{row.term2}"), kind.append("cov")
    return terms, kind


def _cluster_df(frame) -> float:
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


def _datasets(data) -> list[pd.DataFrame] | None:
    """Completed data sets (a list of DataFrames or an lsa.impute.Imputed), else None."""
    if isinstance(data, pd.DataFrame) or hasattr(data, "replicates"):
        return None
    if isinstance(data, (list, tuple)) or hasattr(data, "pv_index"):
        sets = list(data)
        bad = [i for i, d in enumerate(sets) if not isinstance(d, pd.DataFrame)]
        if bad or not sets:
            raise DesignError(f"completed data sets must be DataFrames; items {bad[:5]} are not")
        return sets
    return None


def _dataset_labels(data, n: int) -> list[str]:
    if hasattr(data, "pv_index") and hasattr(data, "imp_index"):
        return [f"PV {p}, imputation {i}" for p, i in zip(data.pv_index, data.imp_index)]
    return [f"data set {k + 1}" for k in range(n)]


def _nested_shape(data, kept: list[str], labels: list[str]) -> tuple[int, int]:
    """(M PVs, m imputations) of a complete PV-major grid of imputed data sets."""
    if kept != labels:
        raise EstimationError("nested pooling needs every PV x imputation fit; some were dropped")
    pv, imp = np.asarray(data.pv_index), np.asarray(data.imp_index)
    m_pv, m_imp = len(np.unique(pv)), len(np.unique(imp))
    grid = np.repeat(np.unique(pv), m_imp), np.tile(np.unique(imp), m_pv)
    if len(pv) != m_pv * m_imp or not (np.array_equal(pv, grid[0]) and np.array_equal(imp, grid[1])):
        raise LsaError("nested pooling needs the data sets in PV-major order with the same imputations "
                       "for every PV (as lsa.impute.impute returns them)")
    return m_pv, m_imp


def mix_pv(formula: str, data, weights: Sequence[str] | None = None, *,
           conditional_weights: bool = False, scaling: str = "none",
           df: DfRule | float = "barnard_rubin", se: Literal["sandwich", "replicate"] = "sandwich",
           legacy_alignment: bool = False, allow_single: bool = False,
           nonconverged: Literal["error", "warn", "drop"] = "error",
           control: MixedControl | None = None, n_jobs: int = 1,
           progress: bool | None = None, pool: Literal["flat", "nested"] = "flat") -> MixPVResult:
    """Fit a weighted multilevel model once per plausible value and pool (Rubin's rules).

    Parameters
    ----------
    formula : lme4-style formula. Three forms:

        * R form (as ``MLMusingR::mixPV``): ``"pv1math + pv2math + ... + pv5math ~ x +
          (1|schoolid)"`` — one fit per left-hand column;
        * with a :class:`lsa.SurveyDesign`, PV-set names on either side:
          ``"MATH ~ ESCS + (1|school)"``, ``"INTEREST ~ MATH + ESCS + (1|school)"``, or both;
          PV m of every set is used with PV m of the others (sets of unequal length are an
          error). Design level names (``school``) may be used as grouping factors.
        * ``scale(v)`` is R's ``scale`` (unweighted mean and n − 1 SD), computed within each PV
          data set on the rows analysed, so ``scale(MATH)`` standardises every PV separately
          (spec §4.2).
    data : DataFrame (with ``weights``), or an ``lsa.SurveyDesign`` (weights by level, domain,
        PV sets and replicate weights from it; design levels the formula does not use are
        collapsed into the level below, as in :func:`lsa.mixed.mixed`: ``(1 | school)`` on
        TIMSS's school/class/student design uses the school weight and the student's total
        weight / the school weight), or completed data sets: a list of DataFrames or
        an :class:`lsa.impute.Imputed` (multiple imputations, possibly M PVs × m imputations).
        The formula is then fitted once per data set (its response, e.g. ``math``, being the
        PV a set was imputed with) and the fits are pooled as ``pool`` says.
    weights : weight columns, level 1 first (total weights unless ``conditional_weights``);
        ``None`` = unweighted.
    conditional_weights, scaling : as :func:`lsa.mixed.mixed`.
    df : degrees of freedom of the pooled t tests:

        * ``"barnard_rubin"`` (default; mixPV ``dfadj = TRUE``): Barnard & Rubin (1999) with
          complete-data df ν_com = n − k, n = level-1 observations of the first fit and k =
          number of parameters in the block (fixed effects; variances incl. residual). This
          reproduces published mixPV tables. With ``se="replicate"`` ν_com = the design df
          (``design.df``: replicates − 1, or the number of zones) instead.
        * ``"rubin"``: Rubin (1987) ν = (M − 1)/λ² (mixPV ``dfadj = FALSE``; mitml/mice with
          no ``df.com``). Fine when n is large and the fraction of missing information small.
        * ``"cluster"``: Barnard–Rubin with ν_com = G − p₂, G top-level clusters and p₂ the
          level-2 parameters (fixed effects constant within clusters, intercept included, and
          the top-level variance terms). The sandwich (and the replicate variance) is estimated
          from G clusters, so its precision is governed by G, not n: prefer this when there
          are few clusters (≲ 50) or inference is about school-level predictors.
        * a number: Barnard–Rubin with that ν_com for both blocks.
    se : ``"sandwich"`` (default; the top-level cluster-robust sandwich of each fit, as mixPV
        and WeMix) or ``"replicate"``: each PV is refitted with every replicate weight set of
        the design and V_m = c Σ_r (θ̂_mr − θ̂_m)(θ̂_mr − θ̂_m)' is used as the within-PV
        variance (PV1's alone when ``design.pv_variance == "first"``). See Notes.
    legacy_alignment : reproduce mixPV's published variance-component table: covariance rows
        dropped and the first p varDF SEs paired with the p variances, so in random-slope
        models the residual variance carries the SE of the intercept–slope covariance
        (spec §2.3 note 2). Default: every component pooled with its own SE.
    allow_single : permit a single draw (M = 1; then pooled = the one fit, df = ν_com).
    nonconverged : a PV fit that does not converge raises (``"error"``), is pooled with a
        warning naming it (``"warn"``), or is left out with a warning (``"drop"``).
    control : :class:`lsa.mixed.MixedControl` for every fit.
    n_jobs : joblib workers over PVs (results identical to ``n_jobs=1``).
    progress : stderr progress line; default: only for runs of more than 20 fits.
    pool : with completed data sets: ``"flat"`` pools all M·m fits as one set of draws (Huang &
        Keller 2025, spec §6.2; df as ``df`` says), ``"nested"`` applies Rubin's (2003) rules
        for PVs (between) and imputations within PV (needs an ``Imputed`` with ``pv_index``
        and ``imp_index``; ``miceadds::NMIcombine``; its own df).

    Returns
    -------
    :class:`MixPVResult` — ``summary()``, ``tidy()``, ``glance()``, ``conf_int()``,
    ``wald_test()``, ``fits`` (per-PV :class:`~lsa.mixed.MixedResult`).

    Notes
    -----
    **Replicate-weight SEs.** Replicate weights of large-scale assessments are student-level
    total weights in which whole PSUs (schools) are perturbed (Fay BRR in PISA, JK2 in IEA
    studies). A multilevel model needs weights per level, so for replicate r the school
    weight is multiplied by the school's replicate factor a_j = Σ_i w_ij^(r) / Σ_i w_ij and
    the conditional student weight by w_ij^(r) / (w_ij a_j); totals equal the replicate
    weights exactly, and when the factor is constant within schools (PSU-level replication)
    only the school weights move. This is what ``BIFIE.twolevelreg`` (BIFIEsurvey) does: it
    multiplies both the level-2 and the level-1 weight by the student replicate factor
    w_i^(r)/w_i and rescales the level-1 weights within clusters. The approach applies when
    replicate perturbations vary at the school level, i.e. schools are the PSUs of the
    replication scheme; with student-level (within-school) replication zones it still gives
    replicate-consistent totals but the school-level variance components are then not
    replicated in the way the design was. Replicate refits estimate only (β, θ, σ²); they
    reuse the PV's sufficient statistics and start at the PV's θ̂.
    """
    t0 = time.perf_counter()
    if scaling not in ("none", "cluster", "ecluster"):
        raise DesignError(f"scaling must be 'none', 'cluster' or 'ecluster'; got {scaling!r}")
    if se not in ("sandwich", "replicate"):
        raise LsaError(f"se must be 'sandwich' or 'replicate'; got {se!r}")
    if nonconverged not in ("error", "warn", "drop"):
        raise LsaError(f"nonconverged must be 'error', 'warn' or 'drop'; got {nonconverged!r}")
    if not (df in ("barnard_rubin", "rubin", "cluster") or
            (isinstance(df, (int, float)) and not isinstance(df, bool) and df > 0)):
        raise LsaError(f"df must be 'barnard_rubin', 'rubin', 'cluster' or a positive number; got {df!r}")
    control = control or MixedControl()
    datasets = _datasets(data)
    if pool not in ("flat", "nested"):
        raise LsaError(f"pool must be 'flat' or 'nested'; got {pool!r}")
    if pool == "nested" and (datasets is None or not hasattr(data, "pv_index")):
        raise LsaError("pool='nested' needs imputed data sets tagged by PV and imputation (lsa.impute.Imputed)")
    inp = _inputs(datasets[0] if datasets else data, weights, conditional_weights, formula)
    pvs = dict(inp.design.pvs) if inp.design is not None else {}
    if datasets:
        if se == "replicate":
            raise LsaError("se='replicate' needs a design; with imputed data sets use the sandwich")
        one = _expand_formula(formula, inp.df, {})
        if len(one) != 1:
            raise FormulaError(f"with completed data sets the formula has one response; got {formula!r}")
        labels = _dataset_labels(data, len(datasets))
        draws = [dataclasses.replace(one[0], label=lab) for lab in labels]
    else:
        draws = _expand_formula(formula, inp.df, pvs)
    M = len(draws)
    if M < 2 and not allow_single:
        raise LsaError(f"mix_pv needs at least 2 plausible values; formula {formula!r} gives {M} "
                       f"({draws[0].response!r}). Use lsa.mixed for one outcome, or allow_single=True")
    design = inp.design
    rep_all = None
    if se == "replicate":
        if design is None or design.replicates is None:
            raise DesignError("se='replicate' needs an lsa.SurveyDesign with replicate weights")
        rep_all = design.replicate_weights()[inp.rows]

    # -- frames and statistics: once when only the outcome changes ---------------------------
    only_y = not datasets and all(len(d.alias) == (1 if d.alias and d.alias[0][0] == d.response else 0)
                                  for d in draws)
    pv_cols = [dict(d.alias).get(d.response, d.response) for d in draws]
    if only_y and M > 1:
        only_y = not inp.df[pv_cols].isna().to_numpy().any()
    tasks: list[_Task] = []
    dropped = []
    base = None
    for k, d in enumerate(draws):
        if base is None or not only_y:
            parsed, frame, dm = _draw_frame(d, datasets[k] if datasets else inp.df, inp.weights)
            w = level_weights(frame, dm, inp.weights, inp.conditional, scaling)
            stats = build_stats(frame, w)
            base = (frame, w, stats)
        else:
            frame0, w, stats0 = base
            y = numeric_column(inp.df, pv_cols[k], "response")[frame0.order]     # text and inf: errors
            if not np.all(np.isfinite(y)):
                raise FormulaError(f"plausible value {pv_cols[k]!r} must be numeric and finite")
            parsed = dataclasses.replace(parse_formula(d.formula), formula=d.formula)
            frame = dataclasses.replace(frame0, y=y, response=d.response)
            stats = stats0.with_y(y)
        dropped.append(frame.n_dropped)
        reps = rep_all[frame.order] if rep_all is not None else None
        tasks.append(_Task(k, d, parsed, frame, w, stats, None, control, reps))
    if any(dropped):
        if len(set(dropped)) == 1:
            msg = f"{dropped[0]} row(s) with missing values in model variables or weights were removed"
        else:
            msg = ("rows with missing values were removed, differently per PV: "
                   + ", ".join(f"{d.label}: {n}" for d, n in zip(draws, dropped)))
        warn(msg + f" ({len(tasks[0].frame.y)} used in the first PV)", MissingDataWarning)

    n_rep = 0 if rep_all is None else rep_all.shape[1]
    show = progress if progress is not None else M * (1 + n_rep) > 20
    bar = _Progress(M * (1 + n_rep), bool(show))
    out = [None] * M
    first = _fit_task(tasks[0])
    out[0] = first
    bar.update(1 + n_rep)
    start = tuple(first[1].theta.to_numpy())
    rest = [dataclasses.replace(t, start=start) for t in tasks[1:]]
    if n_jobs == 1 or len(rest) <= 1:
        for t in rest:
            out[t.index] = _fit_task(t)
            bar.update(1 + n_rep)
    else:
        from joblib import Parallel, delayed
        gen = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_fit_task)(t) for t in rest)
        for res in gen:
            out[res[0]] = res
            bar.update(1 + n_rep)
    bar.close()

    # -- convergence ---------------------------------------------------------------------------
    bad = [k for k in range(M) if not out[k][4]]
    if bad:
        names = [draws[k].label for k in bad]
        if nonconverged == "error":
            raise EstimationError(f"the fit did not converge for plausible value(s) {names}; not pooled. "
                                  f"Pass nonconverged='warn' to pool anyway or 'drop' to leave them out, "
                                  f"or adjust control=MixedControl(...)")
        warn(f"the fit did not converge for plausible value(s) {names}"
             + ("; they were left out of the pooling" if nonconverged == "drop" else "; pooled anyway"),
             ConvergenceWarning)
        if nonconverged == "drop":
            keep = [k for k in range(M) if k not in bad]
            if len(keep) < (1 if allow_single else 2):
                raise EstimationError(f"too few converged plausible values to pool: {len(keep)} of {M}")
            out = [out[k] for k in keep]
            draws = [draws[k] for k in keep]
            dropped = [dropped[k] for k in keep]
            M = len(out)
    rep_failed = [(draws[k].label, out[k][3]) for k in range(M) if out[k][3]]
    if rep_failed:
        warn("replicate refits did not converge (PV: replicate numbers, 1-based): "
             + "; ".join(f"{l}: {[r + 1 for r in f][:10]}" for l, f in rep_failed),
             ConvergenceWarning)
    fits = tuple(o[1] for o in out)

    # -- pooling -------------------------------------------------------------------------------
    f0 = fits[0]
    fixed_terms = tuple(f0.params.index)
    for k, f in enumerate(fits[1:], 1):
        if tuple(f.params.index) != fixed_terms:
            raise EstimationError(f"the fixed-effect terms differ between PVs: {draws[0].label} has "
                                  f"{list(fixed_terms)}, {draws[k].label} {list(f.params.index)} "
                                  f"(a factor level is empty in one PV data set?)")
    rterms, rkind = _vc_terms(f0)
    p = len(fixed_terms)
    Q_fixed = np.array([f.params.to_numpy() for f in fits])
    Q_vc = np.array([f.variance_components.estimate.to_numpy() for f in fits])
    se_vc = np.array([f.variance_components.std_error.to_numpy() for f in fits])
    is_var = np.array([k == "var" for k in rkind])
    k_var = int(is_var.sum())
    n = int(f0.nobs)
    rep_est = None
    factor = None
    if se == "replicate":
        factor = float(design.replicates.factor)
        rep_est = np.stack([o[2] for o in out])                      # (M, R, k)
        full = np.column_stack([Q_fixed, Q_vc])
        d = rep_est - full[:, None, :]
        V = factor * np.einsum("mri,mrj->mij", d, d)
        U_fixed = V[:, :p, :p]
        U_vc = np.einsum("mii->mi", V[:, p:, p:])
        first_only = getattr(design, "pv_variance", "all") == "first"
    else:
        U_fixed = np.array([f.cov_params().to_numpy() for f in fits])
        U_vc = se_vc**2
        first_only = False
    if legacy_alignment:
        if se == "replicate":
            raise LsaError("legacy_alignment reproduces mixPV's sandwich-SE table; it cannot be "
                           "combined with se='replicate'")
        # mixPV: vars (variances, residual last) paired with the first p SEs of varDF
        # (variances, covariances, residual) — misaligned when covariances exist
        Q_vc = Q_vc[:, is_var]
        U_vc = (se_vc[:, :k_var]) ** 2
        rterms = [t for t, s in zip(rterms, is_var) if s]
        rkind = ["var"] * k_var
    if df == "barnard_rubin":
        nu = (float(design.df), float(design.df)) if se == "replicate" else (float(n - p), float(n - k_var))
        method = "barnard_rubin"
    elif df == "rubin":
        nu = (np.inf, np.inf)
        method = "rubin"
    elif df == "cluster":
        c = _cluster_df(tasks[0].frame)
        if c <= 0:
            raise EstimationError(f"cluster-based complete-data df is {c:g} (too few clusters for the "
                                  f"level-2 parameters); use df='barnard_rubin' or 'rubin'")
        nu = (c, c)
        method = "cluster"
    else:
        nu = (float(df), float(df))
        method = "given"
    within_f = U_fixed[0] if first_only else None
    within_r = np.diag(U_vc[0]) if first_only else None
    if pool == "nested":
        shape = _nested_shape(data, [d.label for d in draws], labels)
        fixed = pooling.nested(Q_fixed.reshape(*shape, -1), U_fixed.reshape(*shape, p, p))
        random = pooling.nested(Q_vc.reshape(*shape, -1), U_vc.reshape(*shape, -1))
        method = "nested"
    else:
        fixed = pooling.rubin(Q_fixed, U_fixed, df_complete=nu[0], within=within_f)
        random = pooling.rubin(Q_vc, U_vc, df_complete=nu[1], within=within_r)
    return MixPVResult(formula, tuple(d.label for d in draws), fits, fixed, random, fixed_terms,
                       tuple(rterms), tuple(rkind), n, tuple(dropped), method, nu, se,
                       bool(legacy_alignment), rep_est, factor, time.perf_counter() - t0)


# ==========================================================================================
# pooled likelihood-ratio test
# ==========================================================================================

def lrt_pv(model_full: MixPVResult, model_reduced: MixPVResult, *, unadjusted: bool = False) -> pooling.WaldTest:
    """Likelihood-ratio test of two nested :func:`mix_pv` models pooled over the PVs by the
    D2 rule (Li, Meng, Raghunathan & Rubin 1991), as ``MLMusingR::lrtPV(full, reduced)``.

    d_m = −2 (ℓ_reduced,m − ℓ_full,m) per PV; k = (θ + fixed effects of the full model) −
    (those of the reduced), counted on the first fits (the residual σ is not counted, as
    lrtPV). The arguments may be given in either order: the model with more parameters is the
    full one. Returns :class:`lsa.pooling.WaldTest` (``statistic`` = F, ``df_num`` = k,
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
