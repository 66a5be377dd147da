"""Immutable result of a weighted linear mixed-model fit, with statsmodels' names.

``params``, ``bse`` (the covariance type chosen: ``"sandwich"`` by default, as WeMix),
``bse_model``, ``cov_params()``, ``tvalues``, ``pvalues`` (normal reference, as WeMix and
statsmodels MixedLM), ``conf_int()``, ``wald_test()``, ``llf``, ``variance_components``,
``icc``, ``ranef``, ``summary()``, ``tidy()``, ``with_vcov(type, **options)`` (any estimator of
the registry :mod:`lsa.mixed.covariance`: ``model``, ``sandwich``, ``CR0``, ``CR2``,
``replicate``, ...; its df then give the t reference of ``pvalues``, ``conf_int`` and ``tidy``).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lsa.errors import LsaError, warn
from lsa.results import WaldTest
from lsa.threads import single_blas_thread
from lsa.mixed.fixed_inference import FixedEffectsInference
from lsa.mixed.stats import positive_groups
from lsa.mixed.varcomp import Deferred, varcomp_parts
from lsa.mixed.vcov import VCOV_TYPES, fixed_scores, get_vcov_estimator

__all__ = ["MixedResult", "make_result"]

#: the dtype pandas infers for an Index of text labels (``str`` with pandas >= 3, else object)
_TEXT_INDEX = pd.Index(["(Intercept)"]).dtype


@functools.lru_cache(maxsize=256)
def _labels(xnames: tuple, theta_names: tuple) -> pd.Index:
    """The fixed-effect and θ names of a model as one text Index, kept for the next fit of the
    same model (a plausible value, a replicate, a refit): building an Index of text costs more
    than the rest of the result's tables. Its dtype is the one pandas infers, given rather than
    inferred. Callers slice it (a new Index object each time), never hand it out."""
    return pd.Index([*xnames, *theta_names], dtype=_TEXT_INDEX)


def __getattr__(name: str):
    if name == "WaldTestResult":                     # the old name of lsa.results.WaldTest
        warn("lsa.mixed.results.WaldTestResult is deprecated; use lsa.results.WaldTest (the one test "
             "result).", DeprecationWarning)
        return WaldTest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class MixedResult(FixedEffectsInference):
    """Weighted linear mixed model fitted by pseudo-maximum likelihood (see ``mixed``).

    Fixed effects: ``params``, ``bse`` (sandwich), ``bse_model``, ``cov_params()``,
    ``tvalues``, ``pvalues``, ``conf_int()``, ``wald_test()``. Random part:
    ``variance_components`` (one row per variance and covariance, with sandwich SEs),
    ``random_covariances()`` ({group: q×q DataFrame}), ``scale`` (σ̂²), ``theta`` (lme4's θ),
    ``icc``, ``ranef`` (BLUPs). Fit: ``llf``, ``nobs``, ``ngroups``, ``n_dropped``,
    ``converged``, ``iterations``, ``grad_norm``, ``notes``.

    What the fit used (read-only; e.g. for :func:`lsa.robust.robust_mixed`):

    * ``model_frame`` — :class:`lsa.mixed.formula.ModelFrame`: ``y`` (n,), ``X`` (n, p) with
      ``xnames``, ``Z`` (tuple per level, level 2 first, of (n, q_l)) with ``znames`` and
      ``blocks``, ``group_names`` (bottom-up), ``codes`` (per level, 0-based group index of every
      row), ``group_ids`` (per level, the label of every group), ``clusters`` (per level, the
      label of every row), ``row_index`` (= ``rows_used``: index labels of the rows used, in
      the frame's order, sorted by cluster), ``order`` (their positions in the data),
      ``n_dropped``. Arrays are read-only views; copy before modifying.
    * ``level_weights`` — :class:`lsa.mixed.fit.LevelWeights`: ``w1`` (conditional level-1
      weights per row, after scaling), ``groups`` (per level ≥ 2, conditional group weights,
      top level unconditional), ``unconditional``; ``row_weights()`` spreads them over rows.
    * ``theta_map`` (:class:`lsa.mixed.pml.ThetaMap`) — where each ``theta`` entry sits in
      the relative Cholesky factors Λ_l.
    """

    formula: str
    params: pd.Series
    vcov_type: str
    covs: dict = field(repr=False)
    #: ``variance_components``, ``vc_cov`` and ``notes``, computed when first read
    #: (:func:`lsa.mixed.varcomp.varcomp_parts` as a :class:`lsa.mixed.varcomp.Deferred`)
    varcomp: Deferred = field(repr=False, compare=False)
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
    #: ``ranef`` and ``random_cov``, built when first read (:class:`lsa.mixed.varcomp.Deferred`)
    tables: Deferred | None = field(default=None, repr=False, compare=False)
    #: model matrices of the fit (:class:`lsa.mixed.formula.ModelFrame`, arrays read-only)
    model_frame: object = field(default=None, repr=False, compare=False)
    #: weights as used (:class:`lsa.mixed.fit.LevelWeights`, conditional per level)
    level_weights: object = field(default=None, repr=False, compare=False)
    #: position of θ in the Λ_l (:class:`lsa.mixed.pml.ThetaMap`)
    theta_map: object = field(default=None, repr=False, compare=False)
    #: (G, p) fixed-effect scores s_g = ∂(w_g log L_g)/∂β per top-level group (code order)
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: the covariance in use when set by with_vcov (:class:`lsa.mixed.covariance.VcovEstimate`:
    #: its df, df_method and details); None = the fit's sandwich with normal reference
    vcov_estimate: object = field(default=None, repr=False, compare=False)

    @property
    def variance_components(self) -> pd.DataFrame:
        """One row per variance and covariance (and the Residual) with sandwich SEs."""
        return self.varcomp.get()[0]

    @property
    def vc_cov(self) -> dict:
        """Per grouping factor, ``{"sandwich": DataFrame, "model": DataFrame}``: covariance of
        its variance components."""
        return self.varcomp.get()[1]

    @property
    def ranef(self) -> dict:
        """BLUPs per grouping factor: DataFrame (groups × random-effect terms)."""
        return {} if self.tables is None else self.tables.get()[0]

    @property
    def random_cov(self) -> dict:
        """Per group, the q×q random-effect covariance Σ_l = σ²Λ_lΛ_l' (see random_covariances())."""
        return {} if self.tables is None else self.tables.get()[1]

    @property
    def notes(self) -> tuple:
        """Notes about the fit (boundary estimates, ...), also printed by summary()."""
        return self.varcomp.get()[2]

    # -- model frame ----------------------------------------------------------------------
    def random_covariances(self) -> dict:
        """Random-effect covariance matrix per grouping factor, bottom-up (level 2 first):
        ``{group: DataFrame (q_l × q_l)}`` on the variance scale, Σ_l = σ̂²Λ_lΛ_l', rows and
        columns named by the random-effect terms (``(Intercept)``, ``escs``). Zero blocks
        between uncorrelated terms ``(1|g) + (0+x|g)``. Copies: safe to modify."""
        return {g: m.copy() for g, m in self.random_cov.items()}

    @property
    def rows_used(self) -> np.ndarray:
        """Index labels (of the data passed to ``mixed``) of the rows used, in the order of
        the model-frame arrays (sorted by cluster)."""
        return self.model_frame.row_index

    def row_weights(self) -> pd.DataFrame:
        """Weights as used, one row per observation in model-frame order (index =
        ``rows_used``): ``w1_cond`` (level-1 weight conditional on the cluster, after any
        ``scaling``), ``w1`` (unconditional level-1 weight as given/derived, before scaling),
        then for each higher level l: ``w{l}_cond`` (conditional on the parent; the top level
        is unconditional) and ``w{l}`` (unconditional). All 1 for an unweighted fit."""
        fr, w = self.model_frame, self.level_weights
        out = {"w1_cond": w.w1, "w1": w.unconditional[0]}
        for k, codes in enumerate(fr.codes):
            out[f"w{k + 2}_cond"] = w.groups[k][codes]
            out[f"w{k + 2}"] = w.unconditional[k + 1][codes]
        return pd.DataFrame(out, index=fr.row_index)

    # -- fixed effects --------------------------------------------------------------------
    @property
    def df_resid(self) -> float:
        return np.inf

    @single_blas_thread
    def with_vcov(self, type: str, **options) -> "MixedResult":
        """The same fit reporting another covariance of the fixed effects, chosen by name from
        the registry :data:`lsa.mixed.covariance.VCOV_ESTIMATORS` (formulas there):
        ``"model"``, ``"sandwich"``, ``"CR0"``/``"CR2"`` (options ``df_method``, ``cluster``,
        ``target``, ``data``; Satterthwaite df by default) or ``"replicate"`` (option
        ``design=``: refits per replicate weight set; design df). ``fit.with_vcov("CR2")``
        equals :func:`lsa.robust.robust_mixed` (the same estimator)."""
        est = get_vcov_estimator(type)
        unknown = sorted(set(options) - set(est.options))
        if unknown:
            raise LsaError(f"with_vcov({est.name!r}): unknown option(s) {unknown}; allowed: "
                           f"{list(est.options) or 'none'}")
        e = est.compute(self, **options)
        names = list(self.params.index)
        covs = {**self.covs, e.name: pd.DataFrame(e.cov, names, names)}
        return dataclasses.replace(self, vcov_type=e.name, covs=covs, vcov_estimate=e)

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

    def random_effects(self) -> pd.DataFrame:
        """Random effects with conditional SEs (lme4's ``ranef(condVar=TRUE)``), one row per group and
        term: ``group``, ``level``, ``term``, ``estimate``, ``std_error`` (:mod:`lsa.mixed.ranef`)."""
        from lsa.mixed.ranef import random_effects

        return random_effects(self)

    def r2(self, measures=("rights_sterba", "nakagawa")) -> pd.DataFrame:
        """R²: Rights & Sterba (2019) total/within/between and Nakagawa's marginal/conditional
        (:mod:`lsa.mixed.r2`; weighted with the fit's weights)."""
        from lsa.mixed.r2 import r2_table

        return r2_table(self, measures)

    # -- tables ---------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        from ..report.tables import result_html

        return result_html(f"Mixed model: {self.formula}", f"{self.nobs:,} observations; {self.vcov_type} "
                           f"standard errors", self.tidy(), drop=("conf_low", "conf_high"))

    def to_excel(self, path, sheet: str | None = None):
        """Write :meth:`tidy` to a new ``.xlsx`` workbook (:mod:`lsa.report.excel`); returns the path."""
        from ..report.excel import result_to_excel

        return result_to_excel(self, path, sheet, title=f"Mixed model: {self.formula}", note="")

    def summary(self, digits: int = 4) -> str:
        """Text summary laid out and rounded like WeMix's ``summary(mix(...))``.

        Call; "Variance terms" (Level, Group, Name, Variance, Std. Error, Std.Dev., and for
        correlated random effects Corr1, ... rounded to 2 digits); "Groups" (n size, mean and sum
        of the unconditional weights per level); "Fixed Effects" (Estimate, Std. Error,
        t value); ``lnl=``; ``Intraclass Correlation=``. Numbers are formatted as R prints them
        with ``digits`` significant digits (WeMix: ``max(3, getOption("digits") - 3)`` = 4, see
        :mod:`lsa.mixed.rformat`), so they can be compared with WeMix output digit by digit.
        Then the rows dropped for missing values, the notes and any convergence warning.
        """
        from lsa.mixed.rformat import coef_table, format_real, format_table

        lines = ["Call:", self._call(), "", "Variance terms:"]
        lines += format_table(self._varsmat(), digits)
        lines.append("Groups:")
        lines += format_table(self._groups_table(), digits)
        head = "Fixed Effects:" if self.vcov_type == "sandwich" else \
            f"Fixed Effects ({self.vcov_type} standard errors):"
        lines += ["", head]
        lines += coef_table(list(self.params.index), self.params, self.bse, self.tvalues, digits)
        lines += ["", f"lnl= {format_real([self.llf], 7, 2)[0].strip()}",
                  f"Intraclass Correlation= {format_real([self.icc], digits, 2)[0].strip()}"]
        if self.n_dropped:
            lines.append(f"There were {self.n_dropped} rows with missing data. These have been "
                         f"removed ({self.nobs} used).")
        for note in self.notes:
            lines.append(f"Note: {note}")
        if not self.converged:
            lines.append(f"WARNING: not converged (max |projected gradient of l/N| = "
                         f"{self.grad_norm:.3g} after {self.iterations} iterations)")
        return "\n".join(lines)

    def _call(self) -> str:
        args = [f"formula = {self.formula!r}"]
        if self.weights:
            args.append(f"weights = {list(self.weights)!r}")
        lw = self.level_weights
        if lw is not None and getattr(lw, "conditional", False):
            args.append("conditional_weights = True")
        if self.scaling != "none":
            args.append(f"scaling = {self.scaling!r}")
        if self.reml:
            args.append("reml = True")
        return "mixed(" + ", ".join(args) + ")"

    def _varsmat(self) -> dict:
        """WeMix's varsmat: variances by level (highest first), Residual last, correlations."""
        vc = self.variance_components
        rows = []
        fr = self.model_frame
        for lvl in sorted(vc.level.unique(), reverse=True):
            if lvl == 1:
                continue
            sub = vc[(vc.level == lvl) & vc.term2.isna()]
            g = sub.group.iloc[0]
            cov = self.random_cov.get(g)
            terms = list(sub.term1)
            block = _block_of(fr, g, terms)
            for i, (_, r) in enumerate(sub.iterrows()):
                corr = []
                for j in range(i):
                    ok = cov is not None and block[i] == block[j]
                    c = cov.iloc[i, j] / np.sqrt(cov.iloc[i, i] * cov.iloc[j, j]) if ok and \
                        cov.iloc[i, i] > 0 and cov.iloc[j, j] > 0 else np.nan
                    corr.append(c)
                rows.append((int(lvl), g, r.term1, r.estimate, r.std_error, corr))
        res = vc[vc.group == "Residual"].iloc[0]
        rows.append((1, "Residual", None, res.estimate, res.std_error, []))
        out = {"Level": [r[0] for r in rows], "Group": [r[1] for r in rows],
               "Name": [r[2] for r in rows],
               "Variance": [r[3] for r in rows], "Std. Error": [r[4] for r in rows],
               "Std.Dev.": [float(np.sqrt(max(r[3], 0))) for r in rows]}
        ncorr = max(len(r[5]) for r in rows)
        for k in range(ncorr):
            vals = [r[5][k] if k < len(r[5]) else np.nan for r in rows]
            if np.isfinite(vals).any():
                out[f"Corr{k + 1}"] = [None if not np.isfinite(v) else _r_round2(v) for v in vals]
        return out

    def _groups_table(self) -> dict:
        ws = self.weight_stats
        lv = sorted(self.ngroups.items(), key=lambda kv: kv[1])   # top level first
        if ws is not None:
            ws = ws.sort_values("level", ascending=False)
            mean, total = list(ws.mean_wgt), list(ws.sum_wgt)
        else:
            n = [v for _, v in lv] + [self.nobs]
            mean, total = [1.0] * len(n), [float(x) for x in n]
        return {"Level": list(range(len(lv) + 1, 0, -1)), "Group": [g for g, _ in lv] + ["Obs"],
                "n size": [int(v) for _, v in lv] + [int(self.nobs)],
                "mean wgt": mean, "sum wgt": total}

    def __str__(self) -> str:
        return self.summary()


def _block_of(frame, group, terms) -> list:
    """Index of the separate random term ((1|g) + (0+x|g) are two blocks) of each term."""
    if frame is None or group not in frame.group_names:
        return [0] * len(terms)
    l = frame.group_names.index(group)
    ids = np.repeat(np.arange(len(frame.blocks[l])), frame.blocks[l])
    zn = list(frame.znames[l])
    return [int(ids[zn.index(t)]) if t in zn else 0 for t in terms]


def _r_round2(v: float) -> str:
    """R's as.character(round(v, 2)): '0.35', '-0.1', '1'."""
    r = round(float(v), 2) + 0.0
    txt = f"{r:.2f}".rstrip("0").rstrip(".")
    return "0" if txt in ("-0", "") else txt


# -- packaging --------------------------------------------------------------------------

def _weight_stats(frame, w) -> pd.DataFrame | None:
    if w.columns is None:
        return None
    u0 = w.unconditional[0][w.unconditional[0] > 0]          # rows outside a domain weigh 0
    rows = [{"level": 1, "group": "Obs", "n": len(u0), "mean_wgt": u0.mean(), "sum_wgt": u0.sum()}]
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


def make_result(parsed, frame, w, stats, tmap, opt, reml, notes=()) -> MixedResult:
    """The result of a fit at the optimum ``opt``. The variance components, their covariance
    and the notes are computed when first read (:class:`lsa.mixed.varcomp.Deferred`)."""
    pr = opt.profile
    theta_names = [f"{frame.group_names[l]}.{frame.znames[l][c]}" if r == c else
                   f"{frame.group_names[l]}.{frame.znames[l][r]}.{frame.znames[l][c]}"
                   for l, r, c in zip(tmap.level, tmap.rows, tmap.cols)]
    # the term names (one Index shared by every fixed-effect table) and the θ names: new Index
    # objects on the labels' immutable text (setting a ``.name`` on one leaves the others alone)
    labels = _labels(frame.xnames, tuple(theta_names))
    p = len(frame.xnames)
    names, theta_index = labels[:p] if p else pd.Index(frame.xnames), labels[p:]
    fwd = pr.fwd
    wtop = stats.weights[-1]
    covs = {k: pd.DataFrame(c.fixed(fwd, pr.beta, pr.sigma2, wtop), names, names)
            for k, c in VCOV_TYPES.items()}
    scores = fixed_scores(fwd, pr.beta, pr.sigma2, wtop)
    scores.flags.writeable = False
    ngroups = {g: int(n) for g, n in zip(frame.group_names, positive_groups(stats))}
    varcomp = Deferred(varcomp_parts, pr.theta, pr.sigma2, pr.beta, stats, tmap, frame, ngroups, notes)
    return MixedResult(parsed.formula, pd.Series(pr.beta, names), "sandwich", covs, varcomp,
                       pd.Series(pr.theta, theta_index), pr.sigma2, pr.loglik,
                       int(np.count_nonzero(stats.w1 > 0)),
                       ngroups, frame.n_dropped, opt.converged, opt.iterations, opt.grad_norm,
                       reml, w.columns, w.scaling, _weight_stats(frame, w),
                       Deferred(random_tables, frame, tmap, stats, fwd, pr.beta, pr.sigma2, pr.theta),
                       model_frame=frame.frozen(), level_weights=w, theta_map=tmap, scores=scores)


def random_tables(frame, tmap, stats, fwd, beta, sigma2, theta) -> tuple[dict, dict]:
    """``(ranef, random_cov)``: the BLUPs per grouping factor (groups × terms) and the
    random-effect covariance Σ_l = σ²Λ_lΛ_l' per grouping factor."""
    modes = conditional_modes(stats, fwd, beta)
    znames = [pd.Index(z) for z in frame.znames]
    ranef = {g: pd.DataFrame(b, index=frame.group_ids[l], columns=znames[l])
             for l, (g, b) in enumerate(zip(frame.group_names, modes))}
    random_cov = {g: pd.DataFrame(sigma2 * lam @ lam.T, znames[l], znames[l])
                  for l, (g, lam) in enumerate(zip(frame.group_names, tmap.lambdas(theta)))}
    return ranef, random_cov
