"""Multilevel-aware multiple imputation by chained equations (miceforest / LightGBM).

What it does
------------
``impute(data_or_design, m=20, cluster="cntschid", level2=[...], pvs=[...], weight="w_fstuwt")``
follows the pipeline of Huang & Keller (2025, spec §6.2) with miceforest in place of Blimp:

* every **plausible value** is imputed separately (PVs are themselves imputations): for PV p
  the outcome column is PV p, and m chains give m completed data sets → M × m in all
  (PV-major order), tagged ``pv_index``/``imp_index``; without PVs, m data sets;
* the imputation model contains the outcome (each PV), every analysis variable, and the student
  **weight** as a predictor (Carpenter et al. 2023, p. 279); the school weight only if listed;
* **level-1 variables** are imputed on the student table with, as predictors, the other level-1
  variables, the cluster means of the level-1 variables (outcome, weight and imputed variables;
  shares of the non-reference levels for categorical ones; recomputed from the current completed
  values at every iteration, as mice's ``type = 3`` predictors), the leave-one-out cluster mean
  of the target's own observed values, the cluster size and the cluster's level-2 variables;
* **level-2 variables** are imputed once per cluster on a cluster-level table (one row per
  cluster: the level-2 variables and the cluster means of all level-1 variables) and merged
  back, so a school never gets two values of a school variable; observed values are spread to
  the rows of their cluster where the same variable is missing;
* categorical variables (pandas ``category``; string columns are converted) stay categorical;
  LightGBM fits multiclass/binary models and predictive mean matching draws observed values;
* numeric variables (more than two distinct observed values) are imputed by a **Bayesian
  linear-normal draw** (``numeric="norm"``, the default; mice's ``norm``, Rubin 1987 p. 167):
  the variable is regressed by least squares on the same predictors the tree model would use
  (categorical predictors dummy-coded), σ² = RSS/χ²(n−p) and β ~ N(β̂, σ²(X'X)⁻¹) are drawn,
  and ŷ + N(0, σ²) is imputed. The fit uses all observed cases (the posterior draw is the
  parameter step, so no bootstrap). ``numeric="pmm"`` uses LightGBM + predictive mean matching
  for them too (numeric 0/1 variables always do);
* every tree model is fitted to a **bootstrap** resample of the cases where its target is observed
  (whole clusters resampled on the student table; clusters on the cluster table), and the
  donors of predictive mean matching come from that resample: the bootstrap is the
  parameter-draw step of a proper imputation (approximate Bayesian bootstrap, Rubin 1987).
  Without it the between-imputation variance misses the uncertainty of the fitted imputation
  model and pooled SEs are too small (``bootstrap=False`` switches it off);
* one "iteration" updates the cluster table (level 2) and then the student table (level 1);
  the mean and SD of the imputed values of every variable are traced over iterations for the
  convergence diagnostics (:mod:`lsa.impute.convergence`);
* seeds: one ``numpy.random.SeedSequence(seed)`` is split into one child per chain, so results
  do not depend on ``n_jobs``; joblib runs the M·m chains in parallel; a progress line on stderr
  names the PV and imputation finished.

How this approximates the congenial multilevel imputation model
---------------------------------------------------------------
The analysis model of spec §6 is a random-intercept model ``y_ij = x_ij'β + z_j'γ + u_j + e_ij``.
Its congenial joint imputation model (Blimp, jomo) treats u_j as a latent cluster effect and the
level-2 variables z_j as cluster-level variables correlated with the cluster means of the level-1
variables (the latent between-cluster parts). This pipeline uses the fixed-effects/manifest-mean
approximation studied by Grund, Lüdtke & Robitzsch (2018): including the cluster means of the
level-1 variables (and, for the target, its own observed cluster mean) as predictors reproduces
the between-cluster associations and the random intercept, and imputing z_j on the cluster table
from the cluster means keeps the level-2 relations. It is close to the latent model when clusters
are not tiny (PISA: ~30 students per school); with very small clusters manifest means are noisy
and between-cluster relations are somewhat attenuated.

The choice of method for **numeric** variables: with ``numeric="norm"`` (default) a numeric
level-1 variable is drawn from a single-level linear-normal regression on the outcome (PV),
the weight, the other level-1 variables, the manifest cluster means of the level-1 variables,
its own leave-one-out observed cluster mean, the cluster size and the level-2 variables —
a linear model *without* a random intercept, in which the manifest cluster means stand in for
the cluster effect; a numeric level-2 variable is drawn from a linear regression on the cluster
table. This is the linear, manifest-mean counterpart of the model Blimp (the reference R-6.1)
fits: Blimp's continuous level-1 variables are linear-normal as well, but with a latent cluster
mean (a random intercept, shrunken towards the grand mean according to the cluster's size and
the intraclass correlation) instead of a manifest one, and its parameters come from one joint
MCMC. Being linear, the draw extrapolates where the observed cases imply it: when a variable is
missing mostly in a tail of the outcome (MAR on the PV), tree models + predictive mean matching
can only re-use observed values from the fitted range and steepen the slope of that variable,
the linear draw does not. ``numeric="pmm"`` keeps the trees for numeric variables too: it
captures non-linear relations and interactions that a linear model misses (at the price of that
tail bias) and keeps imputed values inside the observed range (e.g. bounded or integer scales);
categorical and numeric 0/1 variables always use LightGBM + predictive mean matching.

What it cannot capture: **random slopes** (cluster-specific regression slopes of y on x) are not
represented — the imputed values follow a common slope — unless the slope variable is interacted
with cluster means (give such products as extra columns in ``variables``; with
``numeric="pmm"`` trees deep enough may find the interaction, which is not guaranteed, and the
linear draw of ``numeric="norm"`` never does); cross-level interactions and interactions between
level-1 variables in the analysis model need the same care. Three-level data are treated as
two-level (the given cluster). Imputations are "proper" only approximately: the bootstrap stands
in for posterior draws of the tree models' parameters, and predictive mean matching cannot
extrapolate beyond the observed range of a variable, which biases relations where missingness is
concentrated in the tails — for categorical variables in all cases, for numeric ones only with
``numeric="pmm"``. Coverage study in ``tests/test_impute.py`` (40 replications, m = 5; x missing
mostly for high outcomes, g for low ones; truth: slope of x 0.5, effect of g = c 0.3): bias of
the slope of x −0.007 ± 0.006 with ``"norm"`` against +0.023 ± 0.007 with ``"pmm"`` and −0.086
under listwise deletion; the category effect g = c keeps a bias of −0.065 ± 0.019 (pmm:
−0.071 ± 0.020; listwise −0.060); 95 % intervals covered 0.90–1.00 per coefficient, 0.960 on
average (pmm: 0.965). The larger study ``benchmarks/bench_impute.py coverage`` (100
replications, m = 10, 25 students per school): slope of x −0.010 ± 0.003 (complete data
−0.003; pmm +0.016 ± 0.004), intercept +0.018 (complete data +0.019; pmm +0.043), coverage
0.94–0.96 per coefficient (pmm 0.91–0.95).

References
----------
Huang, F. L., & Keller, B. T. (2025). Working with missing data in large-scale assessments.
Large-scale Assessments in Education, 13. doi:10.1186/s40536-025-00248-9.
Grund, S., Lüdtke, O., & Robitzsch, A. (2018). Multiple imputation of missing data for multilevel
models: simulations and recommendations. Organizational Research Methods, 21(1), 111–149.
White, I. R., Royston, P., & Wood, A. M. (2011). Multiple imputation using chained equations.
Statistics in Medicine, 30(4), 377–399.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import MissingDataWarning, warn
from .completed import Imputed, _Fill
from .convergence import Trace
from .spec import Spec, check_arguments, resolve

__all__ = ["impute", "DEFAULT_LGB_PARAMS"]

#: LightGBM settings used for every model (small boosted trees with bagging, one thread per
#: model: the data are small and joblib parallelises over chains). Override with lgb_params=.
DEFAULT_LGB_PARAMS: dict[str, Any] = {
    "boosting": "gbdt", "num_iterations": 50, "learning_rate": 0.1, "num_leaves": 16, "max_depth": -1,
    "min_data_in_leaf": 20, "bagging_fraction": 0.632, "bagging_freq": 1, "feature_fraction_bynode": 0.8,
    "num_threads": 1, "verbosity": -1,
}


# -- the per-chain work ----------------------------------------------------------------------

@dataclass
class _Tables:
    """Everything a chain needs (built once per PV, pickled to workers)."""

    l1: pd.DataFrame                   # student table (internal column names)
    l2: pd.DataFrame                   # cluster table
    codes: np.ndarray                  # cluster code per row
    names: dict[str, str]              # internal name -> original column
    level1: list[str]                  # internal names of level-1 variables
    level2: list[str]
    imputed1: list[str]
    imputed2: list[str]
    cm: dict[str, list[str]]           # level-1 internal var -> its cluster-mean columns
    schema1: dict[str, list[str]]
    schema2: dict[str, list[str]]
    series: list[tuple[str, str | None]]  # traced (internal var, level or None)


def _cm_columns(name: str, s: pd.Series) -> list[str]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [f"{name}_m{k}" for k in range(1, len(s.cat.categories))]
    return [f"{name}_m"]


def _cluster_means(s: pd.Series, codes: np.ndarray, ncl: int) -> np.ndarray:
    """(ncl, ncols) cluster means of the values (shares of non-reference levels if categorical),
    NaN ignored."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        c = s.cat.codes.to_numpy()
        ok = c >= 0
        cnt = np.bincount(codes[ok], minlength=ncl).astype(float)
        out = np.column_stack([np.bincount(codes[ok], weights=(c[ok] == k).astype(float), minlength=ncl)
                               for k in range(1, len(s.cat.categories))])
        with np.errstate(invalid="ignore", divide="ignore"):
            return out / cnt[:, None]
    v = s.to_numpy(dtype=float)
    ok = ~np.isnan(v)
    cnt = np.bincount(codes[ok], minlength=ncl).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.bincount(codes[ok], weights=v[ok], minlength=ncl) / cnt)[:, None]


def _loo_means(s: pd.Series, codes: np.ndarray, ncl: int) -> np.ndarray:
    """(n, ncols) leave-one-out cluster means of the observed values of s (NaN if none)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        c = s.cat.codes.to_numpy()
        ok = (c >= 0).astype(float)
        ind = np.column_stack([(c == k).astype(float) for k in range(1, len(s.cat.categories))])
    else:
        v = s.to_numpy(dtype=float)
        ok = (~np.isnan(v)).astype(float)
        ind = np.nan_to_num(v)[:, None]
    cnt = np.bincount(codes, weights=ok, minlength=ncl)[codes] - ok
    tot = np.column_stack([np.bincount(codes, weights=ind[:, j] * ok, minlength=ncl)[codes] - ind[:, j] * ok
                           for j in range(ind.shape[1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt[:, None] > 0, tot / cnt[:, None], np.nan)


def _build_tables(spec: Spec, pv: str | None) -> _Tables:
    df = spec.data
    codes, uniq = pd.factorize(df[spec.cluster], sort=True)
    ncl = len(uniq)
    names: dict[str, str] = {}
    l1 = {}
    level1 = []
    for j, c in enumerate(spec.level1):
        nm = f"x{j}"
        names[nm] = c
        s = df[c].reset_index(drop=True)
        l1[nm] = s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype("float64")
        level1.append(nm)
    fixed1 = []
    if pv is not None:
        l1["y"] = df[pv].reset_index(drop=True).astype(float)
        names["y"] = pv
        fixed1.append("y")
    if spec.weight and spec.weight not in spec.level1:
        l1["w"] = df[spec.weight].reset_index(drop=True).astype(float)
        names["w"] = spec.weight
        fixed1.append("w")
    l1 = pd.DataFrame(l1)
    # cluster table: level-2 variables (one value per cluster)
    l2 = {}
    level2 = []
    for j, c in enumerate(spec.level2):
        nm = f"z{j}"
        names[nm] = c
        s = df[c].reset_index(drop=True)
        if not isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype("float64")
        first = s.groupby(codes).first()
        l2[nm] = first.reindex(range(ncl)).reset_index(drop=True)
        level2.append(nm)
    l2 = pd.DataFrame(l2, index=range(ncl))
    size = np.bincount(codes, minlength=ncl).astype(float)
    l2["n"] = size
    cm: dict[str, list[str]] = {}
    for nm in level1 + fixed1:
        cols = _cm_columns(nm, l1[nm])
        cm[nm] = cols
        vals = _cluster_means(l1[nm], codes, ncl)
        for k, col in enumerate(cols):
            l2[col] = vals[:, k]
    # student table: cluster means, size, level-2 variables, own leave-one-out means
    for nm, cols in cm.items():
        for col in cols:
            l1[col] = l2[col].to_numpy()[codes]
    l1["n"] = size[codes]
    for nm in level2:
        l1[nm] = l2[nm].iloc[codes].reset_index(drop=True)
    imputed1 = [f"x{spec.level1.index(c)}" for c in spec.imputed1]
    imputed2 = [f"z{spec.level2.index(c)}" for c in spec.imputed2]
    own = {}
    for nm in imputed1:
        lo = _loo_means(l1[nm], codes, ncl)
        own[nm] = [f"{nm}_o{k}" for k in range(lo.shape[1])]
        for k, col in enumerate(own[nm]):
            l1[col] = lo[:, k]
    base1 = [c for c in l1.columns if not re.fullmatch(r"x\d+_o\d+", c)]
    schema1 = {nm: [c for c in base1 if c != nm and c not in cm[nm]] + own[nm] for nm in imputed1}
    schema2 = {nm: [c for c in l2.columns if c != nm] for nm in imputed2}
    series = []
    for nm in imputed1 + imputed2:
        s = l1[nm] if nm in l1 and nm.startswith("x") else l2[nm]
        if isinstance(s.dtype, pd.CategoricalDtype):
            series += [(nm, lev) for lev in s.cat.categories[1:]]
        else:
            series.append((nm, None))
    return _Tables(l1, l2, codes, names, level1, level2, imputed1, imputed2, cm, schema1, schema2, series)


def _stats(values: pd.Series, level) -> tuple[float, float]:
    if level is None:
        v = values.to_numpy(dtype=float)
    else:
        v = (values.astype(object) == level).to_numpy(dtype=float)
    if len(v) == 0:
        return np.nan, np.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


_KERNEL_CLASS = None


def _kernel_class():
    """miceforest's ImputationKernel with a bootstrap step: every model is trained on a
    bootstrap resample of the rows where its target is observed, resampling whole groups
    (clusters on the student table, rows = clusters on the cluster table), and predictive mean
    matching draws donors from that resample. The bootstrap is the parameter-draw step that
    makes the imputations "proper" (Rubin 1987, approximate Bayesian bootstrap): without it the
    between-imputation variance misses the uncertainty of the fitted imputation model and
    pooled standard errors are too small (see the coverage check in ``tests/test_impute.py``)."""
    global _KERNEL_CLASS
    if _KERNEL_CLASS is not None:
        return _KERNEL_CLASS
    import miceforest as mf

    class _BootstrapKernel(mf.ImputationKernel):
        def __init__(self, *args, groups: np.ndarray | None = None, norm: Sequence[str] = (), **kwargs):
            self._lsa_groups = groups
            self._lsa_norm = frozenset(norm)
            super().__init__(*args, **kwargs)

        def _get_nonmissing_subset_index(self, variable: str, seed: int):
            idx = self._get_nonmissing_index(variable=variable)
            groups = self._lsa_groups
            if groups is None or variable in self._lsa_norm:  # norm: the posterior draw is the parameter step
                return idx
            rs = np.random.RandomState(seed)
            g = groups[idx]
            uniq, inv = np.unique(g, return_inverse=True)
            draw = np.bincount(rs.randint(len(uniq), size=len(uniq)), minlength=len(uniq))
            return np.repeat(idx, draw[inv])

        def _mean_match_mice(self, variable, lgbmodel, bachelor_features, candidate_features, candidate_values,
                             dataset, iteration):
            if variable not in self._lsa_norm:
                return super()._mean_match_mice(variable, lgbmodel, bachelor_features, candidate_features,
                                                candidate_values, dataset, iteration)
            vals = _norm_draw(candidate_features, candidate_values.to_numpy(dtype=float), bachelor_features,
                              self._random_state)
            return pd.Series(vals, index=bachelor_features.index, name=variable)

    _KERNEL_CLASS = _BootstrapKernel
    return _KERNEL_CLASS


#: ridge added to the diagonal of X'X (relative to it) in the norm draw, as mice's ``ridge = 1e-5``
_NORM_RIDGE = 1e-5


def _norm_matrix(cand: pd.DataFrame, bach: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Design matrices (intercept first) of the linear-normal model: categorical predictors
    dummy-coded (first level = reference), numeric ones as they are; a missing predictor value
    (e.g. a leave-one-out mean of a cluster with no other observed value) is set to the mean of
    the observed training values plus a missingness indicator; columns constant in the training
    rows are dropped; the rest are standardised with the training mean and SD."""
    xc, xb = [], []
    for col in cand.columns:
        a, b = cand[col], bach[col]
        if isinstance(a.dtype, pd.CategoricalDtype):
            ca, cb = a.cat.codes.to_numpy(), b.cat.codes.to_numpy()
            for k in range(1, len(a.cat.categories)):
                xc.append((ca == k).astype(float))
                xb.append((cb == k).astype(float))
            miss_a, miss_b = ca < 0, cb < 0
        else:
            va, vb = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            miss_a, miss_b = np.isnan(va), np.isnan(vb)
            fill = float(np.nanmean(va)) if (~miss_a).any() else 0.0
            xc.append(np.where(miss_a, fill, va))
            xb.append(np.where(miss_b, fill, vb))
        if miss_a.any() or miss_b.any():
            xc.append(miss_a.astype(float))
            xb.append(miss_b.astype(float))
    n = len(cand)
    if not xc:
        return np.ones((n, 1)), np.ones((len(bach), 1))
    xc_, xb_ = np.column_stack(xc), np.column_stack(xb)
    mu, sd = xc_.mean(axis=0), xc_.std(axis=0)
    keep = sd > 1e-12 * np.maximum(1.0, np.abs(mu))
    xc_ = (xc_[:, keep] - mu[keep]) / sd[keep]
    xb_ = (xb_[:, keep] - mu[keep]) / sd[keep]
    return np.column_stack([np.ones(n), xc_]), np.column_stack([np.ones(len(bach)), xb_])


def _norm_draw(cand: pd.DataFrame, y: np.ndarray, bach: pd.DataFrame, rs: np.random.RandomState) -> np.ndarray:
    """Bayesian linear-normal imputation (mice's ``norm``; Rubin 1987, p. 167): regress y on the
    predictors of the observed rows, draw σ² = RSS/χ²(n−p) and β ~ N(β̂, σ²(X'X)⁻¹), and impute
    x_b'β + N(0, σ²) for the missing rows."""
    xc, xb = _norm_matrix(cand, bach)
    n, p = xc.shape
    xtx = xc.T @ xc
    xtx[np.diag_indices(p)] += _NORM_RIDGE * np.diag(xtx)
    v = np.linalg.inv(xtx)
    v = (v + v.T) / 2
    beta = v @ (xc.T @ y)
    rss = float(np.sum((y - xc @ beta) ** 2))
    sigma = np.sqrt(rss / rs.chisquare(max(n - p, 1)))
    beta_star = beta + np.linalg.cholesky(v) @ rs.standard_normal(p) * sigma
    return xb @ beta_star + rs.standard_normal(len(xb)) * sigma


def _norm_variables(table: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Numeric targets with more than two distinct observed values (binary 0/1 numeric columns
    stay on LightGBM + predictive mean matching, which keeps them 0/1)."""
    return [nm for nm in names if not isinstance(table[nm].dtype, pd.CategoricalDtype)
            and table[nm].dropna().nunique() > 2]


def _run_chain(t: _Tables, iterations: int, seed_state: np.ndarray, lgb1: dict, lgb2: dict, mmc: int,
               bootstrap: bool = True, numeric: str = "norm"):
    """One chain: returns {internal var: imputed values at its missing positions} and the trace
    (iterations + 1, n_series, 2)."""
    kernel = _kernel_class()
    s1, s2 = int(seed_state[0]), int(seed_state[1])
    g1 = t.codes if bootstrap else None
    g2 = np.arange(len(t.l2)) if bootstrap else None
    norm1 = _norm_variables(t.l1, t.imputed1) if numeric == "norm" else []
    norm2 = _norm_variables(t.l2, t.imputed2) if numeric == "norm" else []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*have very rare categories.*")
        k1 = (kernel(t.l1, num_datasets=1, variable_schema=t.schema1, mean_match_candidates=mmc,
                     save_all_iterations_data=False, random_state=s1, groups=g1, norm=norm1) if t.imputed1 else None)
        k2 = (kernel(t.l2, num_datasets=1, variable_schema=t.schema2, mean_match_candidates=mmc,
                     save_all_iterations_data=False, random_state=s2, groups=g2, norm=norm2) if t.imputed2 else None)
    # a norm variable's LightGBM model is not used: one tiny tree keeps miceforest's loop cheap
    vp1 = {nm: {"num_iterations": 1, "num_leaves": 2} for nm in norm1}
    vp2 = {nm: {"num_iterations": 1, "num_leaves": 2} for nm in norm2}
    trace = np.full((iterations + 1, len(t.series), 2), np.nan)
    with warnings.catch_warnings():  # miceforest 6.0.5 uses DataFrame.drop(inplace=True) (pandas 3.1)
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        return _iterate(t, k1, k2, iterations, trace, lgb1, lgb2, vp1, vp2)


def _iterate(t: _Tables, k1, k2, iterations: int, trace: np.ndarray, lgb1: dict, lgb2: dict,
             vp1: dict | None = None, vp2: dict | None = None):
    ncl = len(t.l2)

    def current():
        c1 = k1.complete_data(0) if k1 is not None else t.l1
        c2 = k2.complete_data(0) if k2 is not None else t.l2
        return c1, c2

    def record(it):
        for j, (nm, lev) in enumerate(t.series):
            vals = k1[nm, it, 0] if nm in t.imputed1 else k2[nm, it, 0]
            trace[it, j] = _stats(vals, lev)

    record(0)
    for it in range(1, iterations + 1):
        c1, _ = current()
        if k2 is not None:
            for nm in t.imputed1:  # cluster means of the current level-1 values
                vals = _cluster_means(c1[nm], t.codes, ncl)
                for k, col in enumerate(t.cm[nm]):
                    k2.working_data[col] = vals[:, k]
            k2.mice(1, variable_parameters=vp2 or {}, **lgb2)
        if k1 is not None:
            _, c2 = current()
            for nm in t.imputed2:
                k1.working_data[nm] = c2[nm].iloc[t.codes].reset_index(drop=True)
            for nm in t.imputed1:
                vals = _cluster_means(c1[nm], t.codes, ncl)
                for k, col in enumerate(t.cm[nm]):
                    k1.working_data[col] = vals[t.codes, k]
            k1.mice(1, variable_parameters=vp1 or {}, **lgb1)
        record(it)
    out = {}
    for nm in t.imputed1:
        out[nm] = k1[nm, k1.iteration_count(dataset=0, variable=nm), 0]
    for nm in t.imputed2:
        out[nm] = k2[nm, k2.iteration_count(dataset=0, variable=nm), 0]
    return out, trace


def _chain_task(t: _Tables, iterations, seed_state, lgb1, lgb2, mmc, bootstrap, numeric, pv_no, imp_no):
    out, trace = _run_chain(t, iterations, seed_state, lgb1, lgb2, mmc, bootstrap, numeric)
    return pv_no, imp_no, out, trace


def _fills(spec: Spec, t: _Tables, out: dict[str, pd.Series]) -> dict[str, _Fill]:
    """Imputed cells in original columns: level-1 at their rows; level-2 spread to the cluster."""
    df = spec.data
    fills = {}
    for nm, vals in out.items():
        col = t.names[nm]
        s = df[col]
        cat = isinstance(s.dtype, pd.CategoricalDtype)
        if nm.startswith("x"):
            rows = np.asarray(vals.index, dtype=np.int64)
            v = vals.cat.codes.to_numpy() if cat else vals.to_numpy(dtype=float)
            fills[col] = _Fill(rows, v)
        else:
            per = pd.Series(vals.cat.codes.to_numpy() if cat else vals.to_numpy(dtype=float),
                            index=np.asarray(vals.index))
            fills[col] = per  # completed below
    for nm in t.level2:  # level-2: one value per cluster, for every row missing it
        col = t.names[nm]
        s = df[col]
        cat = isinstance(s.dtype, pd.CategoricalDtype)
        table = t.l2[nm]
        per_cluster = table.cat.codes.to_numpy().copy() if cat else table.to_numpy(dtype=float).copy()
        imp = fills.get(col)
        if isinstance(imp, pd.Series):
            per_cluster[imp.index.to_numpy()] = imp.to_numpy()
        rows = np.flatnonzero(s.isna().to_numpy())
        if len(rows):
            fills[col] = _Fill(rows, per_cluster[t.codes[rows]])
    return fills


# -- entry point ---------------------------------------------------------------------------------

def impute(data, m: int = 20, *, cluster: str | None = None, level2: Sequence[str] | None = None,
           pvs: Sequence[str] | str | None = None, weight: str | None = None,
           variables: Sequence[str] | None = None, seed: int | None = None, iterations: int = 20,
           n_jobs: int = 1, progress: bool = True, pv_column: str | None = None,
           lgb_params: dict | None = None, lgb_params_level2: dict | None = None,
           mean_match_candidates: int = 5, bootstrap: bool = True, numeric: str = "norm") -> Imputed:
    """Multiply impute clustered LSA data, separately for every plausible value.

    Parameters
    ----------
    data : DataFrame, or an :class:`lsa.SurveyDesign` (cluster = its top-level id, weight = its
        observation-level weight, unless given).
    m : imputations per plausible value (≥ 1; White et al. 2011: at least the percentage of
        incomplete cases, see :func:`lsa.impute.diagnose`).
    cluster : level-2 id column (e.g. ``"cntschid"``); must be complete.
    level2 : level-2 variables (constant within clusters), imputed on the cluster table.
    pvs : plausible-value columns of the outcome (``["pv1math", ..., "pv10math"]``) or the name of
        a PV set of the design; each PV is imputed separately. None: no PV loop.
    weight : the student (final) weight, a predictor in every model; must be complete.
    variables : the analysis variables (level 1 and 2) in the imputation model. Default: every
        column except the cluster id, PV columns and design weight/replicate columns. Variables
        without missing values are predictors only.
    seed : None or a non-negative integer; the same seed gives identical completed data, whatever
        ``n_jobs``.
    iterations : chained-equation iterations per chain (each: level-2 step, then level-1 step).
    n_jobs : joblib workers over the M·m chains.
    progress : a progress line on stderr ("PV 3/10, imputation 7/20").
    pv_column : name of the column holding the PV a data set was imputed with (default: the
        PV-set name or the common stem, e.g. ``"math"`` for ``pv1math..pv10math``).
    lgb_params, lgb_params_level2 : LightGBM parameters overriding :data:`DEFAULT_LGB_PARAMS`
        for the student and the cluster models.
    mean_match_candidates : donors for predictive mean matching (miceforest).
    bootstrap : fit every tree model to a (cluster) bootstrap resample of the observed cases, the
        parameter-draw step of a proper imputation (default; ``False`` fits to all observed
        cases, which understates the between-imputation variance).
    numeric : ``"norm"`` (default): numeric variables with more than two distinct observed values
        (level 1 on the student table, level 2 on the cluster table) are imputed by a Bayesian
        linear-normal draw from the same predictors; ``"pmm"``: by LightGBM + predictive mean
        matching like the categorical ones. See the module docstring for the trade-off.

    Every argument and the data are checked before any imputation work starts
    (:mod:`lsa.impute.spec`): ``NaN`` is the missing value that gets imputed, while ``inf``, text
    that holds numbers, a categorical variable with more than 100 (or n/10) levels, a variable with
    every value missing and unknown column names are :mod:`lsa.errors` exceptions naming the
    argument and column.

    Returns
    -------
    :class:`lsa.impute.Imputed` with M·m (or m) completed data sets, PV-major, every original
    row and column (plus ``pv_column`` with PVs), ``.trace`` for convergence diagnostics.
    """
    check_arguments(m=m, iterations=iterations, seed=seed, n_jobs=n_jobs, progress=progress, bootstrap=bootstrap,
                    numeric=numeric, mean_match_candidates=mean_match_candidates, lgb_params=lgb_params,
                    lgb_params_level2=lgb_params_level2, pv_column=pv_column)
    spec = resolve(data, cluster, level2, pvs, weight, variables, pv_column)   # every data check (lsa.impute.spec)
    t0 = time.perf_counter()
    ncl = spec.data[spec.cluster].nunique()
    lgb1 = {**DEFAULT_LGB_PARAMS, **(lgb_params or {})}
    lgb2 = {**DEFAULT_LGB_PARAMS, "num_leaves": 8, "min_data_in_leaf": int(max(3, min(20, ncl // 15))),
            **(lgb_params_level2 or {})}
    pv_list: list[str | None] = list(spec.pv_columns) or [None]
    n_pv = len(pv_list)
    children = np.random.SeedSequence(seed).spawn(n_pv * m)
    entropy = children[0].entropy if children else seed
    tables = [_build_tables(spec, pv) for pv in pv_list]
    tasks = [(p, i) for p in range(n_pv) for i in range(m)]
    nothing = not tables[0].imputed1 and not tables[0].imputed2
    if nothing:
        warn("no variable in the imputation model has missing values: the completed data sets are "
             "copies of the data.", MissingDataWarning)
    results: dict[tuple[int, int], tuple[dict, np.ndarray]] = {}

    def report(done):
        if progress:
            p, i = done
            lab = f"PV {p + 1}/{n_pv}, " if spec.pv_columns else ""
            print(f"\rimputing: {lab}imputation {i + 1}/{m} done ({len(results)}/{len(tasks)} chains, "
                  f"{time.perf_counter() - t0:.0f} s)", end="", file=sys.stderr, flush=True)

    args = [(tables[p], iterations, children[p * m + i].generate_state(2), lgb1, lgb2, mean_match_candidates,
             bootstrap, numeric, p, i)
            for p, i in tasks]
    if n_jobs == 1 or len(tasks) == 1:
        for a in args:
            p, i, out, tr = _chain_task(*a)
            results[(p, i)] = (out, tr)
            report((p, i))
    else:
        from joblib import Parallel, delayed
        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for p, i, out, tr in par(delayed(_chain_task)(*a) for a in args):
            results[(p, i)] = (out, tr)
            report((p, i))
    if progress:
        print(file=sys.stderr)
    fills, traces = [], []
    for p, i in tasks:
        out, tr = results[(p, i)]
        fills.append(_fills(spec, tables[p], out))
        traces.append(tr)
    t = tables[0]
    series_names = [t.names[nm] + (f"[{lev}]" if lev is not None else "") for nm, lev in t.series]
    series_vars = [t.names[nm] for nm, _ in t.series]
    trace = Trace(values=np.stack(traces) if traces else np.empty((0, iterations + 1, 0, 2)),
                  series=series_names, variables=series_vars,
                  pv_index=np.array([p + 1 for p, _ in tasks]), imp_index=np.array([i + 1 for _, i in tasks]))
    base = spec.data
    elapsed = time.perf_counter() - t0
    info = {"seed": seed, "entropy": entropy, "iterations": iterations, "m": m, "n_pvs": n_pv if spec.pv_columns else 0,
            "seconds": elapsed, "n_clusters": int(ncl), "converted_to_category": spec.converted,
            "level2_filled_within_cluster": {k: v for k, v in spec.spread.items() if v},
            "lgb_params": lgb1, "lgb_params_level2": lgb2, "numeric": numeric}
    model_vars = list(spec.level1) + list(spec.level2)
    return Imputed(base=base, fills=fills, pv_index=[p + 1 for p, _ in tasks], imp_index=[i + 1 for _, i in tasks],
                   pv_column=spec.pv_column, pv_columns=spec.pv_columns, variables=model_vars,
                   imputed_variables=spec.imputed1 + spec.imputed2 + [c for c, v in spec.spread.items()
                                                                       if v and c not in spec.imputed2],
                   cluster=spec.cluster, level2=spec.level2, weight=spec.weight, trace=trace, info=info,
                   design=spec.design)
