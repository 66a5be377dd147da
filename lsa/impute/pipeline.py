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

Where the code is
-----------------
This module is the driver of :func:`impute`; each step has its own module:
:mod:`lsa.impute.spec` (the arguments and data checked and resolved),
:mod:`lsa.impute.tables` (the student and cluster tables, their predictor schemas, and the
imputed cells mapped back to the original columns), :mod:`lsa.impute.chains` (the chain loop,
seeds, parallelism, progress), :mod:`lsa.impute.kernel` (every contact with miceforest and
LightGBM, and why LightGBM is pinned) and :mod:`lsa.impute.norm` (the linear-normal draw).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..errors import MissingDataWarning, warn
from .chains import run_chains
from .completed import Imputed
from .convergence import Trace
from .kernel import DEFAULT_LGB_PARAMS, lgb_parameters
from .norm import norm_draw
from .spec import Spec, check_arguments, resolve
from .tables import Tables, build_tables, to_fills

__all__ = ["impute", "DEFAULT_LGB_PARAMS"]

#: the former private name of :func:`lsa.impute.norm.norm_draw` (``tests/test_impute.py`` imports it)
_norm_draw = norm_draw



def impute(data, m: int = 20, *, cluster: str | None = None, level2: Sequence[str] | None = None,
           pvs: Sequence[str] | str | None = None, weight: str | None = None,
           variables: Sequence[str] | None = None, seed: int | None = None, iterations: int = 20,
           n_jobs: int | None = None, progress: bool = True, pv_column: str | None = None,
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
    n_jobs : joblib workers over the M·m chains under the active backend (``None``: the enclosing
        ``joblib.parallel_config``'s, else 1; :mod:`lsa.parallel`).
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
    lgb1, lgb2 = lgb_parameters(lgb_params, lgb_params_level2, ncl)
    pv_list: list[str | None] = list(spec.pv_columns) or [None]
    tables = [build_tables(spec, pv) for pv in pv_list]
    if tables[0].empty:
        warn("no variable in the imputation model has missing values: the completed data sets are "
             "copies of the data.", MissingDataWarning)
    tasks, chains, entropy = run_chains(tables, m, seed=seed, iterations=iterations, lgb1=lgb1, lgb2=lgb2,
                                        mean_match_candidates=mean_match_candidates, bootstrap=bootstrap,
                                        numeric=numeric, n_jobs=n_jobs, progress=progress,
                                        with_pvs=bool(spec.pv_columns))
    fills = [to_fills(spec, tables[p], out) for (p, _), (out, _) in zip(tasks, chains)]
    trace = _trace(tables[0], tasks, [tr for _, tr in chains], iterations)
    info = {"seed": seed, "entropy": entropy, "iterations": iterations, "m": m,
            "n_pvs": len(pv_list) if spec.pv_columns else 0, "seconds": time.perf_counter() - t0,
            "n_clusters": int(ncl), "converted_to_category": spec.converted,
            "level2_filled_within_cluster": {k: v for k, v in spec.spread.items() if v},
            "lgb_params": lgb1, "lgb_params_level2": lgb2, "numeric": numeric}
    return Imputed(base=spec.data, fills=fills, pv_index=[p + 1 for p, _ in tasks],
                   imp_index=[i + 1 for _, i in tasks], pv_column=spec.pv_column, pv_columns=spec.pv_columns,
                   variables=list(spec.level1) + list(spec.level2), imputed_variables=_imputed_columns(spec),
                   cluster=spec.cluster, level2=spec.level2, weight=spec.weight, trace=trace, info=info,
                   design=spec.design)


def _trace(t: Tables, tasks: list[tuple[int, int]], traces: list[np.ndarray], iterations: int) -> Trace:
    """The chains' traces stacked, with the series named after the original columns."""
    series_names = [t.names[nm] + (f"[{lev}]" if lev is not None else "") for nm, lev in t.series]
    series_vars = [t.names[nm] for nm, _ in t.series]
    return Trace(values=np.stack(traces) if traces else np.empty((0, iterations + 1, 0, 2)),
                 series=series_names, variables=series_vars,
                 pv_index=np.array([p + 1 for p, _ in tasks]), imp_index=np.array([i + 1 for _, i in tasks]))


def _imputed_columns(spec: Spec) -> list[str]:
    """The columns that had missing values and were imputed (a level-2 variable filled only from
    an observed value of its own cluster counts too)."""
    return spec.imputed1 + spec.imputed2 + [c for c, v in spec.spread.items() if v and c not in spec.imputed2]
