"""Shared machinery of the design-based estimators.

Each estimator computes, for every plausible value m and every weight column r (r = 0 the full
sample weight, r = 1..R the replicates), a vector of k statistics: an array θ of shape
(M, 1 + R, k). This module turns θ into pooled estimates:

    per PV:  U_m = c Σ_r (θ_{m,r} − θ_{m,0})(θ_{m,r} − θ_{m,0})'       (lsa.replicates)
    pooled:  Rubin's rules over m, with Ū the mean of U_m (``pv_variance="all"``) or U_1
             (``"first"``), T = Ū + (1 + 1/M) B                          (lsa.pooling)

and handles ``by=`` groups (:mod:`lsa.estimators.groups`): as zero-weight masks on the n-row
weight matrix, so a group never drops rows from the design, or — for estimators that take the
rows (``run_by_groups(..., rows=True)``) — as the group's rows and its countries' replicates
only, so that ``by="CNT"`` over a pooled file costs one pass over each country's block.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..design import SurveyDesign
from ..errors import DesignError, LsaWarning, MissingDataWarning, warn
from ..multicountry import RowWeights, group_weights
from ..pooling import DF_METHODS, DfMethod, Pooled, nested, replicate_df, rubin
from ..replicates import replicate_variance
from ..report.rules import NO_RULES, ReportingRules, cell_flags, count_schools, rules_for_design, school_codes
from ..results import ConfInt, WaldTest, conf_int_frame
from ..validation import check_number
from . import influence
from .combinations import combine_groups, wald_group
from .groups import by_groups, group_positions
from .tables import group_tables


@dataclass(frozen=True)
class Draws:
    """Per-PV, per-replicate statistics of one group.

    theta : (M, 1 + R, k) estimates; column 0 uses the full weight.
    terms : k term labels.
    n_obs : (k,) observations used (rows in the domain with positive weight and data).
    n_missing : (k,) rows in the domain excluded for missing values.
    df_complete : complete-data df of the statistic (design df, or design df − p + 1).
    extra : extra per-term columns for the tidy table.
    influence : (M, n, k) linearised values for a Taylor-linearisation design, or None (the hook
        of :mod:`lsa.estimators.influence`; only read when the design has no replicates).
    """

    theta: np.ndarray
    terms: list[str]
    n_obs: np.ndarray
    n_missing: np.ndarray
    df_complete: float
    extra: dict[str, list] = field(default_factory=dict)
    influence: np.ndarray | None = None


def pool_draws(draws: Draws, design: SurveyDesign, df_method: DfMethod,
               factors: np.ndarray | None = None) -> tuple[Pooled, np.ndarray]:
    """Sampling variance per PV — replicate variance, or Taylor linearisation from
    ``draws.influence`` when the design has no replicates (:func:`lsa.estimators.influence.covariance`)
    — then Rubin's rules. Returns the pooled result and the (M, k, k) per-PV sampling covariances.
    ``factors``: the c_r of the replicate columns of ``draws`` (default: every replicate of the
    design, :meth:`SurveyDesign.replicate_factors`)."""
    theta = draws.theta
    m, _, k = theta.shape
    rep = design.replicates
    if rep is None:
        cov = influence.covariance(draws.influence, design, m, k)
    else:
        c = design.replicate_factors() if factors is None else factors
        cov = replicate_variance(theta[:, 0, :], theta[:, 1:, :], c)
    within = cov[0] if design.pv_variance == "first" else None
    df_complete = draws.df_complete if df_method == "barnard_rubin" or m == 1 else np.inf
    pooled = rubin(theta[:, 0, :], cov, df_complete=df_complete, within=within)
    if df_method in ("johnson_rust", "welch_satterthwaite") and rep is not None:   # EdSurvey's replicate df
        used = slice(0, 1) if design.pv_variance == "first" else slice(None)
        pooled = replace(pooled, df=replicate_df(theta[used, 0, :], theta[used, 1:, :], c, df_method))
    return pooled, cov


def with_df(draws: Draws, df_complete: float) -> Draws:
    """The same draws with another complete-data df."""
    return replace(draws, df_complete=df_complete)


def as_list(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def pv_columns(design: SurveyDesign, names: Sequence[str], argument: str = "variables"
               ) -> tuple[int, dict[str, tuple[str, ...]]]:
    """For each name the M columns behind it (a non-PV column repeated M times)."""
    resolved = {n: design.resolve(n, argument) for n in names}
    lengths = {n: len(c) for n, c in resolved.items() if design.is_pv(n)}
    if len(set(lengths.values())) > 1:
        raise DesignError(f"plausible-value sets of unequal length in one analysis: {lengths}.")
    m = next(iter(lengths.values())) if lengths else 1
    return m, {n: (c if design.is_pv(n) else c * m) for n, c in resolved.items()}


def numeric_matrix(design: SurveyDesign, columns: Sequence[str], argument: str = "variables") -> np.ndarray:
    """Columns as a float matrix (NaN = missing). Text, numbers stored as text and inf are errors
    naming the column (:meth:`SurveyDesign.numeric`, checked once per design and column). Column-major,
    so that each column is one contiguous copy."""
    out = np.empty((design.n, len(columns)), order="F")
    for j, col in enumerate(columns):
        out[:, j] = design.numeric(col, argument)
    return out


def weighted_means(y: np.ndarray, valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Σ w y / Σ w over valid rows, for every PV column of y (n, M) and weight column of w
    (n, 1 + R): returns (M, 1 + R). Groups with zero weight give NaN."""
    if valid.all():                                 # no missing values: one product [y, 1]' W
        m = y.shape[1]
        ext = np.empty((y.shape[0], m + 1))
        ext[:, :m] = y
        ext[:, m] = 1.0
        prod = ext.T @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            return prod[:m] / prod[m]
    num = np.where(valid, y, 0.0).T @ w
    den = valid.T.astype(float) @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def counts(valid: np.ndarray, w_full: np.ndarray) -> tuple[int, int]:
    """(used, missing): rows with positive full weight that have data / lack it (first PV)."""
    inside = w_full > 0
    used = int((valid[:, 0] & inside).sum())
    return used, int(inside.sum()) - used


@dataclass(frozen=True)
class GroupDraws:
    """The per-draw estimates (M, k) and sampling covariances (M, k, k) of one group, kept in
    results so that results over completed data sets can be pooled again (:func:`combine`).
    ``theta`` holds the (M, 1 + R, k) replicate draws (None after :func:`combine`) and ``pooled``
    the group's :class:`~lsa.pooling.Pooled`, for contrasts and Wald tests; ``influence`` the
    (M, n, k) linearised values of a Taylor design (None otherwise), for contrasts between groups."""

    labels: dict
    terms: list[str]
    extra: dict
    estimates: np.ndarray
    covariances: np.ndarray
    df_complete: float
    n_obs: np.ndarray
    n_missing: np.ndarray
    n_schools: float = np.nan
    theta: np.ndarray | None = None
    pooled: Pooled | None = None
    influence: np.ndarray | None = None


def run_by_groups(
    design: SurveyDesign,
    by: str | Sequence[str] | None,
    compute: Callable[..., Draws],
    *,
    statistic: str,
    df_method: DfMethod = "barnard_rubin",
    rows: bool = False,
) -> "DesignResult":
    """Run ``compute(W)`` for every group (W: n × (1 + R) weights zero outside domain and group),
    pool each and assemble a :class:`DesignResult`.

    ``rows=True``: ``compute(W, rows)`` takes the weights of the group's rows only (``rows``: their
    positions, a slice when contiguous; W: those rows × (1 + the replicates of the group's
    countries), :class:`lsa.multicountry.RowWeights`), so a group costs its rows, not n. The
    replicate estimates of the other countries' replicates equal the full-sample estimate on
    those rows and are filled in as such (the same draws as the masked n-row computation).
    Taylor-linearisation designs use the n-row path (their influence values are n long)."""
    if df_method not in DF_METHODS:
        raise DesignError(f"df_method must be 'barnard_rubin' or 'rubin' (the multiple-imputation df), or "
                          f"'johnson_rust' or 'welch_satterthwaite' (the replicate df); got {df_method!r}.")
    if rows and not influence.wanted(design):
        return _run_by_rows(design, by, compute, statistic, df_method)
    groups_of_by = by_groups(design, by)                   # checks by= before any work
    _warn_variance(design)
    groups, pooled = [], []
    schools = school_codes(design)
    for labels, mask in groups_of_by:
        gw = group_weights(design, mask)      # nested countries: the domain's countries' replicates
        weights = gw.matrix
        draws = compute(weights)
        if gw.df != design.df:                # the df of the group's countries
            draws = with_df(draws, draws.df_complete + gw.df - design.df)
        _warn_undefined(draws, labels, statistic)
        result, cov = pool_draws(draws, design, df_method, gw.factors)
        pooled.append(result)
        groups.append(GroupDraws(labels, draws.terms, draws.extra, draws.theta[:, 0, :], cov, draws.df_complete,
                                 draws.n_obs, draws.n_missing, count_schools(schools, weights[:, 0]),
                                 theta=draws.theta, pooled=result, influence=draws.influence))
    return _finish(design, statistic, groups, pooled, df_method)


def _run_by_rows(design: SurveyDesign, by, compute: Callable[..., Draws], statistic: str,
                 df_method: DfMethod) -> "DesignResult":
    """:func:`run_by_groups` with ``rows=True``: each group's rows and its countries' replicates."""
    groups_of_by = group_positions(design, by)
    _warn_variance(design)
    plan = RowWeights(design)
    n_rep = plan.n_replicates
    groups, pooled = [], []
    schools = school_codes(design)
    for labels, positions in groups_of_by:
        gw = plan.group(positions)
        draws = compute(gw.matrix, gw.rows)
        if gw.df != design.df:
            draws = with_df(draws, draws.df_complete + gw.df - design.df)
        _warn_undefined(draws, labels, statistic)
        own = gw.columns is not None and len(gw.columns) < n_rep
        if own and df_method in ("barnard_rubin", "rubin"):          # the other replicates add exactly 0
            result, cov = pool_draws(draws, design, df_method, plan.factors[gw.columns])
        if own:                                                      # other countries' replicates: θ_r = θ
            theta = np.repeat(draws.theta[:, :1, :], 1 + n_rep, axis=1)
            theta[:, 1 + gw.columns, :] = draws.theta[:, 1:, :]
            draws = replace(draws, theta=theta)
        if not own or df_method not in ("barnard_rubin", "rubin"):  # Johnson–Rust counts every replicate
            result, cov = pool_draws(draws, design, df_method, plan.factors)
        pooled.append(result)
        n_schools = count_schools(None if schools is None else schools[gw.rows], gw.matrix[:, 0])
        groups.append(GroupDraws(labels, draws.terms, draws.extra, draws.theta[:, 0, :], cov, draws.df_complete,
                                 draws.n_obs, draws.n_missing, n_schools, theta=draws.theta, pooled=result))
    return _finish(design, statistic, groups, pooled, df_method)


def _warn_variance(design: SurveyDesign) -> None:
    if design.variance_method == "taylor":
        design.warn_once(f"the design has no replicate weights: standard errors by "
                         f"{design.taylor().describe()}.", LsaWarning)
    elif design.replicates is None:
        design.warn_once("the design has no replicate weights: standard errors are not available (NaN).",
                         MissingDataWarning)


def _warn_undefined(draws: Draws, labels: dict, statistic: str) -> None:
    if np.isnan(draws.theta[:, 0, :]).any():
        bad = [t for t, b in zip(draws.terms, np.isnan(draws.theta[:, 0, :]).any(axis=0)) if b]
        where = f" in group {labels}" if labels else ""
        warn(f"{statistic} of {bad} is undefined{where} (no observations with data); "
             f"reported as NaN.", MissingDataWarning)


def _finish(design: SurveyDesign, statistic: str, groups: list, pooled: list, df_method: DfMethod) -> "DesignResult":
    out = _assemble(statistic, groups, pooled, _design_note(design, df_method, groups[0].estimates.shape[0]),
                    rules_for_design(design))
    n_missing = int(out.table["n_missing"].max()) if len(out.table) else 0
    if n_missing:
        warn(f"{statistic}: {n_missing} rows in the domain were excluded for missing values "
             f"(see the n_missing column).", MissingDataWarning)
    return out


def _assemble(statistic: str, groups: list[GroupDraws], pooled: list[Pooled], note: str,
              rules: ReportingRules = NO_RULES) -> "DesignResult":
    """The result: per group and term the pooled t-table, ``n_obs``, ``n_missing``, ``n_schools``
    (schools with a row of positive weight in the group), the estimator's extras
    (:func:`lsa.estimators.tables.group_tables`) and the reporting ``flag``
    (:func:`lsa.report.rules.cell_flags` under ``rules``)."""
    table, per_pv, covs, sampling_se = group_tables(groups, pooled)
    if table["n_schools"].notna().all():
        table["n_schools"] = table["n_schools"].astype(int)
    table["flag"] = cell_flags(table, rules, sampling_se)
    return DesignResult(statistic, table, per_pv, covs, groups[0].estimates.shape[0], note, tuple(groups), rules)


def combine(results: Sequence["DesignResult"], pool: str = "flat", shape: tuple[int, int] | None = None,
            df_method: DfMethod = "barnard_rubin") -> "DesignResult":
    """Pool one statistic computed on several completed data sets (multiple imputations).

    ``"flat"`` pools all draws (imputations × PVs within each) by Rubin's rules with the design
    df as complete-data df (Barnard–Rubin; ``df_method="rubin"`` for Rubin 1987); statistics
    of non-PV variables are pooled over one draw per data set;
    ``"nested"`` applies Rubin's (2003) rules with ``shape = (M between, m within)`` draws in
    between-major order (PVs × imputations, as :func:`lsa.impute.impute` returns them; for a
    plain list of designs: data sets × the PVs within each).
    """
    first = results[0]
    pooled_groups, pooled = [], []
    for gi, g in enumerate(first.groups):
        parts = [r.groups[gi] for r in results]
        if any(p.labels != g.labels or p.terms != g.terms for p in parts):
            raise DesignError("the completed data sets give different groups or terms; a category is "
                              "absent from some imputations? Pool them separately.")
        est = np.concatenate([p.estimates for p in parts])
        cov = np.concatenate([p.covariances for p in parts])
        if pool == "nested":
            shape = shape or (len(parts), len(parts[0].estimates))     # data sets × draws within each
            if shape[0] * shape[1] != len(est):
                raise DesignError(f"nested pooling needs shape=(M, m) with M·m = {len(est)} draws; got {shape}.")
            p = nested(est.reshape(*shape, -1), cov.reshape(*shape, *cov.shape[1:]))
        elif pool == "flat":
            p = _flat(parts, g.df_complete if df_method == "barnard_rubin" else np.inf)
        else:
            raise DesignError(f"pool must be 'flat' or 'nested'; got {pool!r}.")
        if df_method in ("johnson_rust", "welch_satterthwaite") and all(q.theta is not None for q in parts):
            th = np.concatenate([q.theta for q in parts])          # replicate df over every draw (common c)
            p = replace(p, df=replicate_df(th[:, 0], th[:, 1:], 1.0, df_method))
        pooled.append(p)
        pooled_groups.append(GroupDraws(g.labels, g.terms, g.extra, est, cov, g.df_complete,
                                        np.max([p.n_obs for p in parts], axis=0),
                                        np.max([p.n_missing for p in parts], axis=0),
                                        np.max([p.n_schools for p in parts]), pooled=p))
    note = f"{len(results)} completed data sets, {len(pooled_groups[0].estimates)} draws pooled ({pool}); " + first.note
    return _assemble(first.statistic, pooled_groups, pooled, note, first.rules)


def _flat(parts: list[GroupDraws], df_complete: float) -> Pooled:
    """Flat Rubin pooling over data sets × within-set draws. A term that is not a PV statistic
    has identical copies within each data set: those terms are pooled over one draw per data
    set (otherwise the copies would shrink B and inflate M). When a group mixes both kinds, each
    kind is pooled on its own and the covariances between them are not estimated (NaN)."""
    # copies agree to rounding (BLAS may order sums differently per column)
    same = np.all([np.all(np.isclose(p.estimates, p.estimates[:1], rtol=1e-12, atol=0), axis=0)
                   for p in parts], axis=0)                                                  # (k,)
    full = (np.concatenate([p.estimates for p in parts]), np.concatenate([p.covariances for p in parts]))
    one = (np.stack([p.estimates[0] for p in parts]), np.stack([p.covariances[0] for p in parts]))
    if same.all() or not same.any():
        est, cov = one if same.all() else full
        return rubin(est, cov, df_complete=df_complete)
    k = len(same)
    out = {f: np.full((k, k), np.nan) for f in ("within", "between", "total")}
    estimate, df = np.empty(k), np.empty(k)
    for idx, (est, cov) in ((np.flatnonzero(same), one), (np.flatnonzero(~same), full)):
        p = rubin(est[:, idx], cov[:, idx][:, :, idx], df_complete=df_complete)
        estimate[idx], df[idx] = p.estimate, p.df
        for f in out:
            out[f][np.ix_(idx, idx)] = getattr(p, f)
    return Pooled(estimate, out["within"], out["between"], out["total"], df, len(full[0]), df_complete)


def over_completed(estimator: Callable) -> Callable:
    """Let an estimator take completed designs (a list of SurveyDesigns, or an
    ``lsa.impute.Imputed`` whose ``designs()`` gives them) and pool the results by
    :func:`combine` (``pool="flat"`` or ``"nested"``)."""

    @functools.wraps(estimator)
    def wrapper(design, *args, pool: str = "flat", **kwargs):
        if isinstance(design, SurveyDesign):
            return estimator(design, *args, **kwargs)
        shape = None
        if hasattr(design, "designs"):
            shape = design.shape if hasattr(design, "shape") else None
            design = design.designs()
        designs = list(design)
        if not designs or not all(isinstance(d, SurveyDesign) for d in designs):
            raise DesignError(f"{estimator.__name__} needs a SurveyDesign or completed designs (a list of "
                              f"SurveyDesigns or an lsa.impute.Imputed); got {type(design).__name__}.")
        results = [estimator(d, *args, **kwargs) for d in designs]
        return combine(results, pool, shape, kwargs.get("df_method", "barnard_rubin"))

    return wrapper


def _design_note(design: SurveyDesign, df_method: DfMethod, m: int) -> str:
    rep = design.replicates
    parts = [f"{design.n:,} rows" + ("" if design.domain.all() else f", domain {int(design.domain.sum()):,}")]
    if rep is not None:
        parts.append(f"{design.n_replicates} replicates: {rep.describe()}")
    elif design.variance_method == "taylor":
        parts.append(design.taylor().describe())
    else:
        parts.append("no replicate weights or ids: no standard errors")
    if m > 1:
        rule = "averaged over PVs" if design.pv_variance == "all" else "from the first PV"
        dfm = {"barnard_rubin": "Barnard–Rubin", "rubin": "Rubin (1987)", "johnson_rust": "Johnson–Rust",
               "welch_satterthwaite": "Welch–Satterthwaite"}[df_method]
        parts.append(f"{m} plausible values, sampling variance {rule}, {dfm} df")
    return "; ".join(parts)


@dataclass(frozen=True)
class DesignResult:
    """Result of a design-based estimator.

    ``tidy()`` is the single source of every table: one row per (group, term) with the ``by``
    columns, then ``term, estimate, std_error, statistic, df, p_value, conf_low, conf_high``
    (:data:`lsa.results.TIDY_COLUMNS`), then ``n_obs, n_missing, n_schools`` (schools with a row
    of positive weight in the group; NaN without school ids), any estimator-specific columns (e.g.
    separation flags) and ``flag``: the reporting flags of the study's rule (``rules``,
    :mod:`lsa.report.rules`: ``"few students"``, ``"few schools"``, ``"SE 0"``, ...; ``""`` when
    none). ``per_pv`` holds the estimate and sampling SE of each PV. ``params``, ``bse``,
    ``cov_params()`` and ``conf_int()`` as every lsa result; ``to_excel(path)`` writes the table.
    """

    statistic: str
    table: pd.DataFrame
    per_pv: pd.DataFrame
    covariances: dict
    n_pvs: int
    note: str
    groups: tuple = ()
    rules: ReportingRules = NO_RULES

    def tidy(self) -> pd.DataFrame:
        out = self.table.copy()
        if "flag" not in out.columns:                      # a result assembled elsewhere
            out["flag"] = cell_flags(out, self.rules)
        return out

    def to_excel(self, path, sheet: str | None = None):
        """Write :meth:`tidy` with its flags and footnotes to a new ``.xlsx`` workbook
        (:func:`lsa.report.excel.result_to_excel`); returns the path."""
        from ..report.excel import result_to_excel

        return result_to_excel(self, path, sheet)

    @property
    def estimate(self) -> pd.Series:
        return self.table["estimate"]

    @property
    def params(self) -> pd.Series:
        """The estimates, indexed by term (by ``(group labels..., term)`` with ``by=``)."""
        return pd.Series(self.table["estimate"].to_numpy(), index=self._index(), name="estimate")

    @property
    def bse(self) -> pd.Series:
        """The standard errors, indexed as :attr:`params`."""
        return pd.Series(self.table["std_error"].to_numpy(), index=self._index(), name="std_error")

    def _index(self) -> pd.Index:
        keys = [c for c in self.table.columns if c in (self.groups[0].labels if self.groups else {})]
        if not keys:
            return pd.Index(self.table["term"], name="term")
        return pd.MultiIndex.from_frame(self.table[[*keys, "term"]])

    @property
    def std_error(self) -> pd.Series:
        return self.table["std_error"]

    def cov_params(self, group: tuple = ()) -> pd.DataFrame:
        """Total (sampling + imputation) covariance of the terms of one group (``group``: its
        ``by`` labels in order; may be omitted when there are no ``by`` groups)."""
        key = tuple(group)
        if key not in self.covariances:
            raise DesignError(f"cov_params: group must be the labels of one by-group, one of "
                              f"{list(self.covariances)}; got {group!r}.")
        return self.covariances[key].copy()

    def conf_int(self, alpha: float = 0.05) -> ConfInt:
        """estimate ∓ t_{df, 1−α/2} · std_error, one row per table row; columns ``conf_low``,
        ``conf_high`` (``["lower"]``/``["upper"]`` still work, deprecated)."""
        check_number(alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
        t = self.table
        q = stats.t.ppf(1 - alpha / 2, t["df"])
        return conf_int_frame(t["estimate"] - q * t["std_error"], t["estimate"] + q * t["std_error"], index=t.index)

    def contrast(self, weights, names: Sequence[str] | None = None) -> "DesignResult":
        """Linear combinations L θ of the terms, in every ``by`` group (also :func:`lsa.contrast`),
        formed per PV and replicate so that the variance is exact
        (:func:`lsa.estimators.combinations.combine_groups` gives the formulas and the forms of
        ``weights``). Returns a :class:`DesignResult` of the combinations."""
        groups, pooled = combine_groups(self.groups, weights, names)
        return _assemble(f"Contrast of {self.statistic}", groups, pooled, self.note, self.rules)

    def wald_test(self, constraints, r=None, group: tuple = ()) -> WaldTest:
        """Pooled Wald test of R θ = r on the terms of one ``by`` group (``group``: its labels, as
        :meth:`cov_params`); ``constraints``: term names (each = 0) or a q × k matrix R. D1 over
        the PVs, the F test with one PV (:func:`lsa.estimators.combinations.wald_group`).
        Returns :class:`lsa.results.WaldTest`."""
        key = tuple(group) if isinstance(group, (tuple, list)) else (group,)
        found = [g for g in self.groups if tuple(g.labels.values()) == key]
        if not found:
            raise DesignError(f"group must be the labels of one by-group, one of "
                              f"{[tuple(g.labels.values()) for g in self.groups]}; got {group!r}.")
        return wald_group(found[0], constraints, r)

    def summary(self) -> str:
        cols = [c for c in self.table.columns if c not in ("conf_low", "conf_high")]
        body = self.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}" if abs(v) < 1e-3 or abs(v) >= 1e6 else f"{v:.4f}")
        return f"{self.statistic}\n{self.note}\n\n{body}"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from ..report.tables import result_html

        return result_html(self.statistic, self.note, self.tidy(), self.rules, drop=("conf_low", "conf_high"))
