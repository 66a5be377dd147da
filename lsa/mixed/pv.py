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

The driver runs the steps, each in its own module:

1. :class:`lsa.mixed.pv_options.PVOptions` — the keyword arguments, checked once;
2. :func:`lsa.mixed.pv_formula.plan_draws` — data, weights and one formula per PV;
3. :func:`lsa.mixed.pv_refits.prepare_tasks` / :func:`~lsa.mixed.pv_refits.run_tasks` — model
   frames and per-cluster statistics (built once when only the outcome changes), one
   :func:`lsa.mixed.fit.fit_prepared` per PV and its replicate refits
   (:func:`lsa.mixed.replicate.refit_replicates`); :func:`~lsa.mixed.pv_refits.check_convergence`;
4. :func:`lsa.mixed.pv_assemble.pool_fits` — within-PV variances (sandwich, or
   :func:`lsa.replicates.replicate_variance`), complete-data df
   (:func:`lsa.pooling.mixed_df_complete`) and :mod:`lsa.pooling`, giving a
   :class:`lsa.mixed.pv_result.MixPVResult`.

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

import time
from typing import Literal, Sequence

from lsa.mixed.fit import MixedControl, weighted_rows
from lsa.mixed.pv_assemble import pool_fits
from lsa.mixed.pv_formula import plan_draws
from lsa.mixed.pv_options import DfRule, PVOptions, check_df_rule
from lsa.mixed.pv_refits import check_convergence, prepare_tasks, run_tasks
from lsa.mixed.pv_result import MixPVResult
from lsa.results import renamed_option
from lsa.validation import reads_named_columns

__all__ = ["mix_pv"]


@reads_named_columns
def mix_pv(formula: str, data, weights: Sequence[str] | None = None, *,
           conditional_weights: bool = False, scaling: str = "none",
           df_method: DfRule | float = "barnard_rubin", se: Literal["sandwich", "replicate"] = "sandwich",
           legacy_alignment: bool = False, allow_single: bool = False,
           nonconverged: Literal["error", "warn", "drop"] = "error",
           control: MixedControl | None = None, n_jobs: int | None = None,
           progress: bool | None = None, pool: Literal["flat", "nested"] = "flat",
           df: DfRule | float | None = None, family: str = "gaussian", link: str | None = None,
           n_quad: int = 13, by: str | Sequence[str] | None = None) -> MixPVResult:
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
        PV sets and replicate weights from it, through :func:`lsa.model_inputs`; design levels
        the formula does not use are collapsed into the level below, as in
        :func:`lsa.mixed.mixed`: ``(1 | school)`` on TIMSS's school/class/student design uses
        the school weight and the student's total weight / the school weight). A domain
        (``design.subset(...)``) keeps every row, with weight 0 outside it (the domain rule of
        :mod:`lsa.model_inputs`): estimates, SEs (sandwich or replicate) and df equal those of
        the fit on the domain's rows; ``nobs``, the groups and the ``"cluster"`` df count rows
        and clusters of positive weight, and ``scale()`` uses the domain's rows. Or completed
        data sets: a list of DataFrames or an :class:`lsa.impute.Imputed` (multiple
        imputations, possibly M PVs × m imputations).
        The formula is then fitted once per data set (its response, e.g. ``math``, being the
        PV a set was imputed with) and the fits are pooled as ``pool`` says.
    weights : weight columns, level 1 first (total weights unless ``conditional_weights``);
        ``None`` = unweighted.
    conditional_weights, scaling : as :func:`lsa.mixed.mixed`.
    df_method : degrees of freedom of the pooled t tests (``df=`` is its deprecated name):

        * ``"barnard_rubin"`` (default; mixPV ``dfadj = TRUE``): Barnard & Rubin (1999) with
          complete-data df ν_com = n − k, n = level-1 observations of the first fit and k =
          number of parameters in the block (fixed effects; variances incl. residual, covariances
          not counted: :func:`lsa.pooling.mixed_df_complete`, the rule :func:`lsa.impute.pool`
          uses too). This reproduces published mixPV tables. With ``se="replicate"`` ν_com = the design df
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
    family, link, n_quad : a GLMM per PV (``family="binomial"`` or ``"poisson"``; see
        :func:`lsa.mixed.mixed`), e.g. ``"I(MATH < 420.07) ~ ESCS + (1|school)"``: a response
        ``I(expr)`` using a PV-set name is evaluated within each PV data set. Fixed effects and
        variance components (with their sandwich or replicate SEs) are pooled as for linear
        models; with ``se="replicate"`` every PV's GLMM is refitted per replicate weight set
        (:func:`lsa.mixed.glmm_optimize.refit_replicates`).
    n_jobs : joblib workers over PVs (results identical to ``n_jobs=1``); ``None``: the enclosing
        ``joblib.parallel_config``'s (e.g. a Dask cluster, :mod:`lsa.parallel`), else 1.
    progress : stderr progress line; default: only for runs of more than 20 fits.
    pool : with completed data sets: ``"flat"`` pools all M·m fits as one set of draws (Huang &
        Keller 2025, spec §6.2; df as ``df_method`` says), ``"nested"`` applies Rubin's (2003) rules
        for PVs (between) and imputations within PV (needs an ``Imputed`` with ``pv_index``
        and ``imp_index``; ``miceadds::NMIcombine``; its own df).
    by : a column (or columns) whose groups are fitted separately — ``by="CNT"``: every country
        of an international file, each on its own rows, in parallel over countries with
        ``n_jobs`` (:func:`lsa.mixed.pv_by.mix_pv_by`); returns a
        :class:`lsa.mixed.pv_by.MixPVByResult` whose ``tidy()`` has the ``by`` columns first.

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
    if by is not None:
        from lsa.mixed.pv_by import mix_pv_by
        return mix_pv_by(mix_pv, formula, data, by, weights, n_jobs=n_jobs, conditional_weights=conditional_weights,
                         scaling=scaling, df_method=df_method, se=se, legacy_alignment=legacy_alignment,
                         allow_single=allow_single, nonconverged=nonconverged, control=control,
                         progress=progress, pool=pool, df=df, family=family, link=link, n_quad=n_quad)
    t0 = time.perf_counter()
    if df is not None:
        check_df_rule(df, "df")
    df_method = renamed_option("mix_pv", "df", "df_method", df, df_method, "barnard_rubin")
    opts = PVOptions(conditional_weights=conditional_weights, scaling=scaling, df=df_method, se=se,
                     legacy_alignment=legacy_alignment, allow_single=allow_single, nonconverged=nonconverged,
                     control=control or MixedControl(), n_jobs=n_jobs, progress=progress, pool=pool,
                     family=family, link=link, n_quad=n_quad)
    plan = plan_draws(formula, data, weights, opts)
    tasks, dropped = prepare_tasks(plan, opts)
    fits = run_tasks(tasks, opts)
    keep = check_convergence(fits, plan.draws, opts)
    first = weighted_rows(tasks[0].frame, tasks[0].w)[0]             # a domain's rows (df="cluster")
    return pool_fits(formula, plan, fits, keep, dropped, first, opts, time.perf_counter() - t0)
